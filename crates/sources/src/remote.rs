//! A repository's address as a user gives it, split in two: the address
//! without credentials (shown, logged, stored in a mirror's config) and the
//! credentials, which reach git only through its environment.

use std::fmt;

use base64::Engine as _;

use crate::SourceError;

/// The address of a git repository, its credentials held apart.
#[derive(Clone, PartialEq, Eq)]
pub struct Remote {
    /// The address without user info when it carried credentials.
    plain: String,
    credentials: Option<Credentials>,
}

/// `user:password` of an https address (a token alone is a user without
/// password, as GitHub's and GitLab's tokens are given).
#[derive(Clone, PartialEq, Eq)]
struct Credentials {
    user: String,
    password: String,
}

impl Remote {
    /// Reads an address: an http(s) URL (its user info is taken out as
    /// credentials), an ssh or git URL, `user@host:path`, or a local path.
    pub fn parse(address: &str) -> Result<Remote, SourceError> {
        let address = address.trim();
        if address.is_empty() {
            return Err(SourceError::BadAddress {
                address: String::new(),
                why: "it is empty".into(),
            });
        }
        if address.starts_with('-') || address.contains("::") {
            // An option for git, or a remote helper (`ext::` runs commands).
            return Err(SourceError::BadAddress {
                address: slipway_redact::redact(address).into_owned(),
                why: "git would read it as an option or a remote helper".into(),
            });
        }
        let is_http = address.starts_with("http://") || address.starts_with("https://");
        if !is_http {
            return Ok(Remote {
                plain: address.to_string(),
                credentials: None,
            });
        }
        let mut url = url::Url::parse(address).map_err(|error| SourceError::BadAddress {
            address: slipway_redact::redact(address).into_owned(),
            why: error.to_string(),
        })?;
        let credentials = (!url.username().is_empty()).then(|| Credentials {
            user: percent_decoded(url.username()),
            password: url.password().map(percent_decoded).unwrap_or_default(),
        });
        // Both succeed on an http(s) URL, which always has a host.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(Remote {
            plain: url.to_string(),
            credentials,
        })
    }

    /// The address without credentials: what is shown, logged and stored.
    pub fn plain(&self) -> &str {
        &self.plain
    }

    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// A local repository (a path or `file://`): nothing to authenticate,
    /// and git's file protocol must be allowed for it.
    pub fn is_local(&self) -> bool {
        self.plain.starts_with('/') || self.plain.starts_with("file://")
    }

    /// The environment that gives git the credentials for this address only
    /// (`http.<address>.extraHeader`, through `GIT_CONFIG_*`): never a
    /// command-line argument, never written to a config file.
    pub fn git_env(&self) -> Vec<(String, String)> {
        let Some(credentials) = &self.credentials else {
            return Vec::new();
        };
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", credentials.user, credentials.password));
        vec![
            ("GIT_CONFIG_COUNT".into(), "1".into()),
            (
                "GIT_CONFIG_KEY_0".into(),
                format!("http.{}.extraHeader", self.plain),
            ),
            (
                "GIT_CONFIG_VALUE_0".into(),
                format!("Authorization: Basic {basic}"),
            ),
        ]
    }
}

/// Shows the address without credentials.
impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.plain)
    }
}

/// Never prints credentials, even in a debug dump.
impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("plain", &self.plain)
            .field("has_credentials", &self.credentials.is_some())
            .finish()
    }
}

fn percent_decoded(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_taken_out_of_https_addresses() {
        let remote = Remote::parse("https://TOKEN123@git.example.com/org/enterprise.git").unwrap();
        assert_eq!(remote.plain(), "https://git.example.com/org/enterprise.git");
        assert_eq!(remote.to_string(), remote.plain());
        assert!(!format!("{remote:?}").contains("TOKEN123"));
        let env = remote.git_env();
        assert_eq!(
            env[1].1,
            "http.https://git.example.com/org/enterprise.git.extraHeader"
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("TOKEN123:");
        assert_eq!(env[2].1, format!("Authorization: Basic {basic}"));

        let remote = Remote::parse("https://bot:p%40ss@git.example.com/o/r.git").unwrap();
        assert_eq!(remote.plain(), "https://git.example.com/o/r.git");
        let basic = base64::engine::general_purpose::STANDARD.encode("bot:p@ss");
        assert_eq!(
            remote.git_env()[2].1,
            format!("Authorization: Basic {basic}")
        );
    }

    #[test]
    fn other_addresses_are_kept_as_given() {
        for address in [
            "/srv/git/odoo",
            "file:///srv/git/odoo",
            "git@github.com:odoo/odoo.git",
            "ssh://git@host/odoo.git",
        ] {
            let remote = Remote::parse(address).unwrap();
            assert_eq!(remote.plain(), address);
            assert!(remote.git_env().is_empty());
        }
        assert!(Remote::parse("/srv/git/odoo").unwrap().is_local());
    }

    #[test]
    fn options_and_remote_helpers_are_refused() {
        for address in ["", "--upload-pack=touch /tmp/x", "ext::sh -c touch% /tmp/x"] {
            assert!(Remote::parse(address).is_err(), "{address}");
        }
    }
}
