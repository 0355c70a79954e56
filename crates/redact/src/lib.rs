//! Credentials hidden wherever a URL may be shown.
//!
//! Repository URLs carry credentials (`https://user:password@host/...`, or an
//! access token as the user name: `https://<token>@github.com/...`), and they
//! reach users through many paths: a build's reason, git's own messages
//! (`fatal: unable to access 'https://<token>@host/r.git/'`), logs, pages and
//! API answers. [`redact`] is the one rule for all of them: it finds every URL
//! inside a text, so callers never have to know where a URL starts.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// What replaces a hidden secret.
pub const HIDDEN: &str = "***";

/// `scheme://authority`: the authority ends where the path, query or fragment
/// starts, or where the text quoting the URL goes on (blank, quote, bracket).
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<authority>[^\s/?#'"<>`\\]*)"#)
        .expect("the URL pattern compiles")
});

/// `text` with the credentials of every URL in it hidden:
/// - `scheme://user:password@host` becomes `scheme://user:***@host` (any
///   scheme: git's, PostgreSQL's...);
/// - over http(s) a user name without password becomes `***` too, as that is
///   how access tokens are given (`https://***@github.com/o/r`);
/// - everything else is kept: `ssh://git@host/r`, scp-like `git@host:o/r.git`
///   and local paths carry no secret.
///
/// A password may itself contain `@`: everything up to the authority's last
/// `@` is the user info.
pub fn redact(text: &str) -> Cow<'_, str> {
    URL.replace_all(text, |captures: &Captures<'_>| {
        let (scheme, authority) = (&captures["scheme"], &captures["authority"]);
        match authority.rfind('@') {
            Some(at) => format!(
                "{scheme}://{}{}",
                hide_userinfo(scheme, &authority[..at]),
                &authority[at..]
            ),
            None => captures[0].to_string(),
        }
    })
}

/// The user info as it may be shown.
fn hide_userinfo<'a>(scheme: &str, userinfo: &'a str) -> Cow<'a, str> {
    match userinfo.split_once(':') {
        Some((user, _password)) => Cow::Owned(format!("{user}:{HIDDEN}")),
        None if !userinfo.is_empty() && carries_tokens_as_user(scheme) => Cow::Borrowed(HIDDEN),
        None => Cow::Borrowed(userinfo),
    }
}

/// http(s), also as the transport of a compound scheme (`git+https`).
fn carries_tokens_as_user(scheme: &str) -> bool {
    let transport = scheme.rsplit('+').next().unwrap_or(scheme);
    transport.eq_ignore_ascii_case("http") || transport.eq_ignore_ascii_case("https")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn hides_passwords_and_http_tokens_in_urls() {
        let cases = [
            ("https://user:pw@host/r.git", "https://user:***@host/r.git"),
            (
                "https://user:p@ss@host/r.git",
                "https://user:***@host/r.git",
            ),
            (
                "https://ghp_token@github.com/o/r",
                "https://***@github.com/o/r",
            ),
            ("HTTP://token@host", "HTTP://***@host"),
            ("git+https://token@host/r", "git+https://***@host/r"),
            ("ssh://git:pw@host:22/r", "ssh://git:***@host:22/r"),
            (
                "postgresql://admin:s3cret@db:5432/postgres",
                "postgresql://admin:***@db:5432/postgres",
            ),
            ("https://user:@host/r", "https://user:***@host/r"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn keeps_what_carries_no_secret() {
        for text in [
            "ssh://git@host/r.git",
            "postgresql://slipway@db/postgres",
            "git@github.com:o/r.git",
            "deploy@git.example.com:acme/addons.git",
            "https://host/a@b",
            "https://host/r?user=a@b",
            "https://@host/r",
            "/srv/git/r.git",
            "file:///srv/git/r.git",
            "mail ada@example.com about it",
            "",
        ] {
            assert_eq!(redact(text), text, "{text}");
        }
    }

    #[test]
    fn regression_a_token_url_inside_a_message_is_hidden() {
        // The defect: the whole message went to a URL redactor, which read the
        // scheme as `fetching https` and hid nothing.
        let message = "fetching https://ghp_SECRET@github.com/o/r.git: `git clone --mirror` \
                       failed: fatal: unable to access 'https://ghp_SECRET@github.com/o/r.git/': \
                       Could not resolve host: github.com";
        let shown = redact(message);
        assert!(!shown.contains("ghp_SECRET"), "{shown}");
        assert_eq!(
            shown,
            "fetching https://***@github.com/o/r.git: `git clone --mirror` failed: fatal: \
             unable to access 'https://***@github.com/o/r.git/': Could not resolve host: \
             github.com"
        );
    }

    #[test]
    fn every_url_of_a_text_is_hidden_whatever_quotes_it() {
        let text = "from <https://a:1@h/x> and \"http://tok@h\", then (ssh://u:2@h/y)\n\
                    and `https://tok2@h/z`";
        assert_eq!(
            redact(text),
            "from <https://a:***@h/x> and \"http://***@h\", then (ssh://u:***@h/y)\n\
             and `https://***@h/z`"
        );
    }
}
