//! Parsing of SMTP command arguments (RFC 5321 §4.1), leniently: the
//! keywords are case-insensitive and a space after `FROM:`/`TO:` is
//! tolerated.

/// Longest address accepted in MAIL FROM / RCPT TO (RFC 5321 §4.5.3.1.3
/// allows 256 octets for a path; some slack for international addresses).
const MAX_ADDRESS: usize = 512;

/// An ESMTP parameter: upper-cased keyword and optional value.
pub(crate) type Param = (String, Option<String>);

/// Splits a command line into its verb (upper-cased) and its arguments.
pub(crate) fn split_verb(line: &str) -> (String, &str) {
    let line = line.trim_start();
    match line.split_once([' ', '\t']) {
        Some((verb, args)) => (verb.to_ascii_uppercase(), args.trim()),
        None => (line.to_ascii_uppercase(), ""),
    }
}

/// Parses the argument of `MAIL` (`keyword` = `FROM:`) or `RCPT`
/// (`keyword` = `TO:`): the address inside the angle brackets, without any
/// source route, and the ESMTP parameters after it.  The null path `<>`
/// gives an empty address.
pub(crate) fn parse_path(args: &str, keyword: &str) -> Result<(String, Vec<Param>), &'static str> {
    let args = args.trim_start();
    let head = args.get(..keyword.len()).unwrap_or("");
    if !head.eq_ignore_ascii_case(keyword) {
        return Err("Syntax error in parameters");
    }
    let rest = args[keyword.len()..].trim_start();
    let (address, after) = if let Some(inner) = rest.strip_prefix('<') {
        let close = closing_bracket(inner).ok_or("Syntax error: missing '>'")?;
        (&inner[..close], &inner[close + 1..])
    } else {
        // Not RFC 5321, but some clients omit the brackets.
        match rest.find(char::is_whitespace) {
            Some(end) => (&rest[..end], &rest[end..]),
            None => (rest, ""),
        }
    };
    if !after.is_empty() && !after.starts_with(char::is_whitespace) {
        return Err("Syntax error after address");
    }
    // Source routes (`<@relay1,@relay2:user@domain>`) are obsolete: ignore
    // them (RFC 5321 §4.1.1.3 / appendix C).
    let address = match address.strip_prefix('@') {
        Some(route) => route.split_once(':').map_or(address, |(_, a)| a),
        None => address,
    };
    if address.len() > MAX_ADDRESS {
        return Err("Address too long");
    }
    // Spaces only inside a quoted local part.
    if address.chars().any(char::is_control) || (address.contains(' ') && !address.starts_with('"'))
    {
        return Err("Syntax error in address");
    }
    let mut params = Vec::new();
    for param in after.split_whitespace() {
        let (key, value) = match param.split_once('=') {
            Some((key, value)) => (key, Some(value.to_owned())),
            None => (param, None),
        };
        if key.is_empty() {
            return Err("Syntax error in parameters");
        }
        params.push((key.to_ascii_uppercase(), value));
    }
    Ok((address.to_owned(), params))
}

/// The index of the `>` closing a path, skipping quoted strings.
fn closing_bracket(inner: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == '>' && !quoted {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_upper_cased_and_split_from_their_arguments() {
        assert_eq!(split_verb("mail FROM:<a@b>"), ("MAIL".into(), "FROM:<a@b>"));
        assert_eq!(split_verb("QUIT"), ("QUIT".into(), ""));
        assert_eq!(split_verb("ehlo  host  "), ("EHLO".into(), "host"));
    }

    #[test]
    fn paths_and_parameters() {
        assert_eq!(
            parse_path("FROM:<a@b.c> size=42 BODY=8BITMIME SMTPUTF8", "FROM:"),
            Ok((
                "a@b.c".into(),
                vec![
                    ("SIZE".into(), Some("42".into())),
                    ("BODY".into(), Some("8BITMIME".into())),
                    ("SMTPUTF8".into(), None),
                ]
            ))
        );
        assert_eq!(
            parse_path("from: <a@b>", "FROM:"),
            Ok(("a@b".into(), vec![]))
        );
        assert_eq!(parse_path("FROM:<>", "FROM:"), Ok((String::new(), vec![])));
        assert_eq!(parse_path("TO:a@b", "TO:"), Ok(("a@b".into(), vec![])));
        assert_eq!(
            parse_path("TO:<@r1,@r2:user@d>", "TO:"),
            Ok(("user@d".into(), vec![]))
        );
        assert_eq!(
            parse_path("TO:<\"odd >name\"@d>", "TO:"),
            Ok(("\"odd >name\"@d".into(), vec![]))
        );
        assert_eq!(
            parse_path("TO:<zoé@exämple.com>", "TO:"),
            Ok(("zoé@exämple.com".into(), vec![]))
        );
    }

    #[test]
    fn malformed_paths_are_refused() {
        assert!(parse_path("<a@b>", "FROM:").is_err());
        assert!(parse_path("TO:<a@b>", "FROM:").is_err());
        assert!(parse_path("FROM:<a@b", "FROM:").is_err());
        assert!(parse_path("FROM:<a@b>x", "FROM:").is_err());
        assert!(parse_path("FROM:<a\u{1}@b>", "FROM:").is_err());
        assert!(parse_path("FROM:<a b@c>", "FROM:").is_err());
        assert!(parse_path("FROM:<a@b> =x", "FROM:").is_err());
        assert!(parse_path(&format!("FROM:<{}@b>", "a".repeat(600)), "FROM:").is_err());
        assert!(parse_path("", "TO:").is_err());
    }
}
