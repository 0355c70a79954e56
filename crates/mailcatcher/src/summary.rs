//! What a mail list shows of a message: From, To, Cc, Subject, Date and
//! Message-ID, read from the header section of the raw RFC 5322 bytes.
//!
//! Reading is lenient, as a catcher must be: header lines may end in CRLF or
//! bare LF, folded lines are unfolded, raw 8-bit values are taken as UTF-8
//! when they are valid UTF-8 (RFC 6532) and as windows-1252 otherwise, and
//! RFC 2047 encoded-words are decoded wherever they appear.  Nothing here
//! fails: what cannot be read is left out.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The headers of a caught message, decoded for display.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The `From` header, decoded (e.g. `Zoé <zoe@example.com>`); empty when
    /// missing.
    pub from: String,
    /// The mailboxes of every `To` header, each decoded and trimmed
    /// (e.g. `Zoé <zoe@example.com>` or `zoe@example.com`); group syntax is
    /// flattened.
    pub to: Vec<String>,
    /// The mailboxes of every `Cc` header, as for [`Summary::to`].
    pub cc: Vec<String>,
    /// The `Subject` header, unfolded and decoded; empty when missing.
    pub subject: String,
    /// The `Date` header as written (unfolded, trimmed), if any.
    pub date: Option<String>,
    /// The `Message-ID` header as written (unfolded, trimmed), if any.
    pub message_id: Option<String>,
}

/// Reads the header section of `raw` (everything before the first empty
/// line) into a [`Summary`].  Never fails; garbage gives empty fields.
pub fn summarize(raw: &[u8]) -> Summary {
    let mut summary = Summary::default();
    for (name, value) in header_fields(raw) {
        let value = text_of(&value);
        match name.to_ascii_lowercase().as_str() {
            "from" if summary.from.is_empty() => summary.from = clean(&decode_words(&value)),
            "to" => summary.to.extend(mailboxes(&value)),
            "cc" => summary.cc.extend(mailboxes(&value)),
            "subject" if summary.subject.is_empty() => {
                summary.subject = clean(&decode_words(&value))
            }
            "date" if summary.date.is_none() => summary.date = non_empty(clean(&value)),
            "message-id" if summary.message_id.is_none() => {
                summary.message_id = non_empty(clean(&value))
            }
            _ => {}
        }
    }
    summary
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// The header fields of a message, unfolded: name and raw value bytes (line
/// breaks of folded lines removed, the leading whitespace kept, as RFC 5322
/// §2.2.3 says).
fn header_fields(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
    // Whether the last line started a field we keep, so that its
    // continuation lines belong to it.
    let mut open = false;
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break; // end of the header section
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if open {
                if let Some((_, value)) = fields.last_mut() {
                    value.extend_from_slice(line);
                }
            }
            continue;
        }
        open = false;
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue; // not a header field (e.g. an mbox "From " line)
        };
        let name = trim_end_ws(&line[..colon]);
        if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b)) {
            continue;
        }
        // The name is printable ASCII, hence valid UTF-8.
        let name = String::from_utf8_lossy(name).into_owned();
        fields.push((name, line[colon + 1..].to_vec()));
        open = true;
    }
    fields
}

fn trim_end_ws(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// Raw header bytes as text: UTF-8 when valid (RFC 6532 allows it), else
/// windows-1252, the usual meaning of stray 8-bit bytes.
fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&b| windows_1252(b)).collect(),
    }
}

/// Trims, turns tabs into spaces and drops other control characters (a
/// decoded word may hold anything, CR and LF included).
fn clean(text: &str) -> String {
    text.trim()
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// Splits an address list (RFC 5322 §3.4) on its top-level commas, leaving
/// commas inside quoted strings, comments and angle brackets alone, and
/// flattening groups (`name: a@b, c@d;`).  Each item is decoded and trimmed.
fn mailboxes(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    let mut comment_depth = 0usize;
    let mut in_angle = false;
    let mut push = |current: &mut String| {
        let item = clean(&decode_words(current));
        if !item.is_empty() {
            items.push(item);
        }
        current.clear();
    };
    for c in value.chars() {
        if escaped {
            escaped = false;
            current.push(c);
            continue;
        }
        match c {
            '\\' if quoted || comment_depth > 0 => {
                escaped = true;
                current.push(c);
            }
            '"' if comment_depth == 0 => {
                quoted = !quoted;
                current.push(c);
            }
            '(' if !quoted => {
                comment_depth += 1;
                current.push(c);
            }
            ')' if !quoted && comment_depth > 0 => {
                comment_depth -= 1;
                current.push(c);
            }
            '<' if !quoted && comment_depth == 0 => {
                in_angle = true;
                current.push(c);
            }
            '>' if !quoted && comment_depth == 0 => {
                in_angle = false;
                current.push(c);
            }
            ',' | ';' if !quoted && comment_depth == 0 && !in_angle => push(&mut current),
            // A group's display name: drop it, keep its members.
            ':' if !quoted && comment_depth == 0 && !in_angle => current.clear(),
            c => current.push(c),
        }
    }
    push(&mut current);
    items
}

/// Decodes the RFC 2047 encoded-words of `text`.  Whitespace between two
/// adjacent encoded-words is dropped (§6.2), and adjacent words in the same
/// charset are decoded together, so a multi-byte character split across two
/// words survives.  A word in an unknown charset, or one that does not
/// parse, is left as written.
pub(crate) fn decode_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending: Option<Pending<'_>> = None;
    let mut at = 0;
    while let Some(relative) = text[at..].find("=?") {
        let start = at + relative;
        let Some(word) = parse_word(text, start) else {
            flush(&mut out, pending.take());
            out.push_str(&text[at..start + 2]);
            at = start + 2;
            continue;
        };
        let between = &text[at..start];
        let adjacent = pending.is_some() && between.chars().all(char::is_whitespace);
        if !adjacent {
            flush(&mut out, pending.take());
            out.push_str(between);
        }
        match &mut pending {
            Some(p) if p.charset == word.charset => {
                p.bytes.extend_from_slice(&word.bytes);
                p.written.push(&text[start..word.end]);
            }
            _ => {
                flush(&mut out, pending.take());
                pending = Some(Pending {
                    charset: word.charset,
                    bytes: word.bytes,
                    written: vec![&text[start..word.end]],
                });
            }
        }
        at = word.end;
    }
    flush(&mut out, pending);
    out.push_str(&text[at..]);
    out
}

struct Pending<'a> {
    charset: String,
    bytes: Vec<u8>,
    written: Vec<&'a str>,
}

fn flush(out: &mut String, pending: Option<Pending<'_>>) {
    if let Some(p) = pending {
        match decode_charset(&p.charset, &p.bytes) {
            Some(text) => out.push_str(&text),
            None => out.push_str(&p.written.join(" ")),
        }
    }
}

struct Word {
    /// Lower-case, RFC 2231 language suffix removed.
    charset: String,
    bytes: Vec<u8>,
    /// Byte index just past the closing `?=`.
    end: usize,
}

/// Parses `=?charset?encoding?text?=` at `start` (which holds `=?`).
/// Longest charset label of an encoded word.
const MAX_CHARSET: usize = 40;

fn parse_word(text: &str, start: usize) -> Option<Word> {
    let rest = &text[start + 2..];
    // Every search stops where a word cannot go on (a blank, the label's
    // length limit): scanning to the end of the text for each `=?` made a
    // header of unfinished words quadratic.
    let q1 = rest
        .bytes()
        .take(MAX_CHARSET + 1)
        .position(|b| b == b'?' || b.is_ascii_whitespace())?;
    let charset = &rest[..q1];
    if charset.is_empty() || rest.as_bytes()[q1] != b'?' {
        return None;
    }
    let rest = &rest[q1 + 1..];
    let mut chars = rest.chars();
    let encoding = chars.next()?.to_ascii_uppercase();
    if chars.next()? != '?' {
        return None;
    }
    let rest = &rest[2..];
    let close = rest
        .bytes()
        .position(|b| b == b'?' || b.is_ascii_whitespace())?;
    if !rest[close..].starts_with("?=") {
        return None;
    }
    let encoded = &rest[..close];
    let bytes = match encoding {
        'B' => lenient_base64().decode(encoded).ok()?,
        'Q' => decode_q(encoded),
        _ => return None,
    };
    let charset = charset.split('*').next().unwrap_or("").to_ascii_lowercase();
    let end = start + 2 + q1 + 1 + 2 + close + 2;
    Some(Word {
        charset,
        bytes,
        end,
    })
}

fn lenient_base64() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
}

/// RFC 2047 §4.2 "Q": `_` is a space, `=XX` a byte.
fn decode_q(encoded: &str) -> Vec<u8> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => out.push(b' '),
            b'=' => match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'='),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

fn hex(byte: Option<&u8>) -> Option<u8> {
    let b = *byte?;
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes `bytes` in `charset` (lower-case); `None` for a charset this
/// crate does not know.
fn decode_charset(charset: &str, bytes: &[u8]) -> Option<String> {
    let text = match charset {
        "utf-8" | "utf8" | "us-ascii" | "ascii" => String::from_utf8_lossy(bytes).into_owned(),
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" | "cp819" => {
            bytes.iter().map(|&b| char::from(b)).collect()
        }
        "iso-8859-15" | "iso8859-15" | "iso_8859-15" | "latin9" | "latin-9" => {
            bytes.iter().map(|&b| iso_8859_15(b)).collect()
        }
        "windows-1252" | "cp1252" => bytes.iter().map(|&b| windows_1252(b)).collect(),
        _ => return None,
    };
    Some(text)
}

fn iso_8859_15(b: u8) -> char {
    match b {
        0xA4 => '€',
        0xA6 => 'Š',
        0xA8 => 'š',
        0xB4 => 'Ž',
        0xB8 => 'ž',
        0xBC => 'Œ',
        0xBD => 'œ',
        0xBE => 'Ÿ',
        b => char::from(b),
    }
}

/// windows-1252: latin-1 with printable characters in 0x80–0x9F (the five
/// unassigned bytes map to the C1 control of the same value, as WHATWG does).
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '\u{2018}', '\u{2019}', '“', '”', '•', '–', '—', '˜', '™', 'š', '›',
        'œ', '\u{9D}', 'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9F => HIGH[usize::from(b - 0x80)],
        b => char::from(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_headers_are_read() {
        let raw = b"From: Alice <alice@example.com>\r\n\
                    To: bob@example.com, \"Doe, John\" <john@example.com>\r\n\
                    Cc: carol@example.com\r\n\
                    Subject: Hello there\r\n\
                    Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
                    Message-Id: <123@example.com>\r\n\
                    \r\n\
                    Subject: not a header, the body\r\n";
        let s = summarize(raw);
        assert_eq!(s.from, "Alice <alice@example.com>");
        assert_eq!(
            s.to,
            vec!["bob@example.com", "\"Doe, John\" <john@example.com>"]
        );
        assert_eq!(s.cc, vec!["carol@example.com"]);
        assert_eq!(s.subject, "Hello there");
        assert_eq!(s.date.as_deref(), Some("Mon, 1 Jan 2024 10:00:00 +0000"));
        assert_eq!(s.message_id.as_deref(), Some("<123@example.com>"));
    }

    #[test]
    fn header_names_are_case_insensitive_and_the_first_subject_wins() {
        let s = summarize(b"SUBJECT: first\nsubject: second\nfrom : x@y\n\nbody");
        assert_eq!(s.subject, "first");
        assert_eq!(s.from, "x@y");
    }

    #[test]
    fn folded_lines_are_unfolded() {
        let raw = b"Subject: a long\r\n subject\r\n\tcontinued\r\nTo: a@example.com,\r\n b@example.com\r\n\r\n";
        let s = summarize(raw);
        assert_eq!(s.subject, "a long subject continued");
        assert_eq!(s.to, vec!["a@example.com", "b@example.com"]);
    }

    #[test]
    fn q_and_b_encoded_words_in_utf8_and_latin1_are_decoded() {
        assert_eq!(
            decode_words("=?utf-8?q?caf=C3=A9_cr=C3=A8me?="),
            "café crème"
        );
        assert_eq!(decode_words("=?UTF-8?B?Y2Fmw6k=?="), "café");
        assert_eq!(decode_words("=?iso-8859-1?q?caf=E9?="), "café");
        assert_eq!(decode_words("=?ISO-8859-1?B?Y2Fm6Q==?="), "café");
        assert_eq!(decode_words("=?iso-8859-15?q?=A4?="), "€");
        assert_eq!(decode_words("=?windows-1252?q?=80_=93x=94?="), "€ “x”");
        // Missing base64 padding, lower-case encoding letter, language tag.
        assert_eq!(decode_words("=?utf-8?b?Y2Fmw6k?="), "café");
        assert_eq!(decode_words("=?utf-8*fr?q?caf=C3=A9?="), "café");
    }

    #[test]
    fn whitespace_between_adjacent_encoded_words_is_dropped_but_not_elsewhere() {
        assert_eq!(decode_words("=?utf-8?q?a?= =?utf-8?q?b?="), "ab");
        assert_eq!(decode_words("=?utf-8?q?a?=\r\n =?utf-8?q?b?="), "ab");
        assert_eq!(decode_words("Re: =?utf-8?q?caf=C3=A9?= ok"), "Re: café ok");
        assert_eq!(decode_words("=?utf-8?q?a?= x =?utf-8?q?b?="), "a x b");
        // Mixed charsets, adjacent.
        assert_eq!(
            decode_words("=?iso-8859-1?q?=E9?= =?utf-8?q?=C3=A9?="),
            "éé"
        );
    }

    #[test]
    fn a_character_split_across_two_words_survives() {
        // "é" is C3 A9: one byte in each word.
        assert_eq!(decode_words("=?utf-8?q?caf=C3?= =?utf-8?q?=A9?="), "café");
        assert_eq!(decode_words("=?utf-8?b?w6k=?= =?utf-8?b?w6k=?="), "éé");
    }

    #[test]
    fn malformed_or_unknown_words_are_left_as_written() {
        assert_eq!(decode_words("=?koi8-r?q?abc?="), "=?koi8-r?q?abc?=");
        assert_eq!(decode_words("=?utf-8?x?abc?="), "=?utf-8?x?abc?=");
        assert_eq!(decode_words("=?utf-8?q?no end"), "=?utf-8?q?no end");
        assert_eq!(decode_words("=?utf-8?b?!!!?="), "=?utf-8?b?!!!?=");
        assert_eq!(decode_words("2+2=?"), "2+2=?");
        assert_eq!(decode_words("=?"), "=?");
        // A bad "=XX" escape is kept literally.
        assert_eq!(decode_words("=?utf-8?q?a=ZZ=?="), "a=ZZ=");
    }

    #[test]
    fn python_folded_encoded_subject_is_decoded() {
        // What Python's email.policy.SMTP writes for a long non-ASCII subject.
        let raw = "Subject: =?utf-8?q?Facture_n=C2=B0_42_=E2=80=94_caf=C3=A9_cr=C3=A8me_br=C3=BBl?=\r\n =?utf-8?q?=C3=A9e_pour_Zo=C3=A9?=\r\n\r\n";
        assert_eq!(
            summarize(raw.as_bytes()).subject,
            "Facture n° 42 — café crème brûlée pour Zoé"
        );
    }

    #[test]
    fn encoded_display_names_in_address_lists_are_decoded_after_splitting() {
        // The encoded name holds a comma: it must not split the list.
        let raw = b"To: =?utf-8?q?Doe=2C_Zo=C3=A9?= <zoe@example.com>, plain@example.com\r\n\r\n";
        let s = summarize(raw);
        assert_eq!(
            s.to,
            vec!["Doe, Zoé <zoe@example.com>", "plain@example.com"]
        );
    }

    #[test]
    fn groups_and_comments_in_address_lists() {
        let raw = b"To: friends: a@example.com, (x, y) b@example.com;, c@example.com\r\n\
                    Cc: undisclosed-recipients:;\r\n\r\n";
        let s = summarize(raw);
        assert_eq!(
            s.to,
            vec!["a@example.com", "(x, y) b@example.com", "c@example.com"]
        );
        assert!(s.cc.is_empty());
    }

    #[test]
    fn several_to_headers_add_up() {
        let s = summarize(b"To: a@x\r\nTo: b@x\r\n\r\n");
        assert_eq!(s.to, vec!["a@x", "b@x"]);
    }

    #[test]
    fn missing_headers_give_empty_fields() {
        let s = summarize(b"X-Other: 1\r\n\r\nbody\r\n");
        assert_eq!(s, Summary::default());
        assert_eq!(summarize(b""), Summary::default());
        // Blank Date is no Date.
        assert_eq!(summarize(b"Date:   \r\n\r\n").date, None);
    }

    #[test]
    fn raw_utf8_headers_are_read_and_other_8bit_bytes_as_windows_1252() {
        let s = summarize("Subject: Zoé\r\n\r\n".as_bytes());
        assert_eq!(s.subject, "Zoé");
        let s = summarize(b"Subject: caf\xe9 \x80\r\n\r\n");
        assert_eq!(s.subject, "café €");
    }

    #[test]
    fn garbage_does_not_panic_and_yields_nothing_useful() {
        let mut garbage: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        garbage.extend_from_slice(b"\xff\xfe:\x00\r\n \xc3\r\n=?utf-8?b?\xff?=");
        let _ = summarize(&garbage);
        let s = summarize(b"\x00\x01\x02 no colon here\r\n\xff\xff\r\n");
        assert_eq!(s, Summary::default());
        // Continuation lines before any field are ignored.
        let s = summarize(b" Subject: indented\r\nSubject: real\r\n\r\n");
        assert_eq!(s.subject, "real");
        // A continuation of an ignored (malformed) field does not leak into
        // the previous one.
        let s = summarize(b"Subject: a\r\nbad name: x\r\n more\r\n\r\n");
        assert_eq!(s.subject, "a");
    }

    #[test]
    fn regression_a_header_of_unfinished_encoded_words_is_decoded_in_linear_time() {
        // Each `=?` used to scan to the end of the text for `?=`: 40 000 of
        // them took seconds, a stall a build could inflict on the catcher.
        let subject = "=?a?q?x ".repeat(40_000);
        let started = std::time::Instant::now();
        let decoded = decode_words(&subject);
        assert_eq!(decoded, subject, "left as written");
        let unfinished = "=?utf-8?q?".repeat(40_000);
        assert_eq!(decode_words(&unfinished), unfinished);
        // Generous: linear work here takes milliseconds, the quadratic one
        // took seconds even in a release build.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn control_characters_from_decoded_words_are_dropped() {
        let s = summarize(b"Subject: =?utf-8?q?a=0D=0Ab=00c=09d?=\r\n\r\n");
        assert_eq!(s.subject, "abc d");
    }

    #[test]
    fn bare_lf_messages_are_read() {
        let s = summarize(b"From: a@x\nSubject: one\n two\n\nSubject: body\n");
        assert_eq!(s.subject, "one two");
        assert_eq!(s.from, "a@x");
    }
}
