//! Header reading shared by the mail list ([`crate::summarize`]) and the
//! mail view ([`crate::MailView`]), so that both show a message alike.
//!
//! Lenient, as a catcher must be: lines may end in CRLF or bare LF, folded
//! fields are unfolded, raw 8-bit values are UTF-8 when valid and
//! windows-1252 otherwise, and RFC 2047 encoded-words are decoded wherever
//! they appear, in any charset encoding_rs knows (every WHATWG label).
//! Every scan is linear in the input.
//!
//! Why not `mailparse` (0.18), which the crate uses for MIME parameters:
//! its header values (`MailHeader::get_value`, which `addrparse_header` and
//! `parse_mail` use too) decode encoded-words in quadratic time — measured
//! at opt-level 1, a subject of 40 000 unfinished words (`=?utf-8?q?` each)
//! took 7 s, 40 000 valid words 4 s, so a build's one mail with a header of
//! a few MiB would stall the catcher for hours (the regression tests below
//! pin linear time).  It also decodes adjacent words one by one, so a
//! character split across two of them (as Python folds long subjects)
//! becomes two U+FFFD; reads `us-ascii` words as windows-1252 and ignores
//! RFC 2231 language tags (`=?utf-8*fr?…`); reads raw 8-bit values as
//! Latin-1 (`\x80` a control character, not `€`); and keeps reading
//! headers past a line that is no field, where Python's `email` (and this
//! module) starts the body.  Its `addrparse` fails a whole address list on
//! one address without `@` (`undisclosed-recipients` and local names), and
//! leaves display names encoded.

use charset::Charset;

use crate::bytes::{decode_base64, find_byte, hex, is_ascii_label, undeclared_text};

/// Longest charset label of an encoded word.
const MAX_CHARSET: usize = 64;

/// A MIME entity (the message or one part): its header fields and body.
pub(crate) struct Entity<'a> {
    /// Name and raw value (folds included) of each field, in order.
    pub fields: Vec<(&'a [u8], &'a [u8])>,
    pub body: &'a [u8],
}

impl<'a> Entity<'a> {
    /// Splits `raw` into header fields and body; reads no further than the
    /// header section.  It ends at the first empty line, or, as in Python's
    /// `email` package, at the first line that is neither a field nor a
    /// continuation: that line starts the body, so text without headers is
    /// all body.
    pub fn split(raw: &'a [u8]) -> Entity<'a> {
        // (name, value start, value end) as indices into `raw`.
        let mut fields: Vec<(&'a [u8], usize, usize)> = Vec::new();
        let mut at = 0;
        let mut body_start = raw.len();
        while at < raw.len() {
            let end = find_byte(raw, at, b'\n').unwrap_or(raw.len());
            let line = &raw[at..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let next = (end + 1).min(raw.len());
            if line.is_empty() {
                body_start = next;
                break;
            }
            if line[0] == b' ' || line[0] == b'\t' {
                match fields.last_mut() {
                    Some(field) => field.2 = at + line.len(),
                    None => {
                        body_start = at;
                        break;
                    }
                }
            } else if let Some(colon) = field_name_end(line) {
                fields.push((trim_end_ws(&line[..colon]), at + colon + 1, at + line.len()));
            } else if !(at == 0 && line.starts_with(b"From ")) {
                // Not a header line (an mbox "From " first line is skipped).
                body_start = at;
                break;
            }
            at = next;
        }
        Entity {
            fields: fields
                .into_iter()
                .map(|(name, start, end)| (name, &raw[start..end]))
                .collect(),
            body: &raw[body_start.min(raw.len())..],
        }
    }

    /// The raw value of the first field called `name` (any case).
    pub fn first(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.all(name).next()
    }

    /// The raw values of the fields called `name` (any case), in order.
    pub fn all<'s>(&'s self, name: &'s [u8]) -> impl Iterator<Item = &'a [u8]> + 's {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, value)| value)
    }
}

/// Where the name of a header field line ends (the colon), if the line is
/// one: a non-empty name of printable ASCII, maybe followed by blanks.
fn field_name_end(line: &[u8]) -> Option<usize> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = trim_end_ws(&line[..colon]);
    (!name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b))).then_some(colon)
}

fn trim_end_ws(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// A raw header value as text: unfolded (line breaks removed, the blanks
/// after them kept, RFC 5322 §2.2.3), UTF-8 when valid (RFC 6532), else
/// windows-1252.
pub(crate) fn header_text(value: &[u8]) -> String {
    let unfolded: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    match String::from_utf8(unfolded) {
        Ok(text) => text,
        Err(error) => undeclared_text(error.as_bytes()).into_owned(),
    }
}

/// A header value for display: [`header_text`], encoded-words decoded,
/// [`clean`]ed.
pub(crate) fn decoded_text(value: &[u8]) -> String {
    clean(&decode_words(&header_text(value)))
}

/// Trims, turns tabs into spaces and drops other control characters (a
/// decoded word may hold anything, CR and LF included).
pub(crate) fn clean(text: &str) -> String {
    text.trim()
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

pub(crate) fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// Splits an address list (RFC 5322 §3.4) on its top-level commas, leaving
/// commas inside quoted strings, comments and angle brackets alone, and
/// flattening groups (`name: a@b, c@d;`).  Items are split before being
/// decoded, so an encoded display name holding a comma stays whole; each
/// is decoded and [`clean`]ed, and empty ones are dropped.
pub(crate) fn mailboxes(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped, mut in_angle) = (false, false, false);
    let mut comment_depth = 0usize;
    let mut push = |current: &mut String| {
        let item = clean(&decode_words(current));
        if !item.is_empty() {
            items.push(item);
        }
        current.clear();
    };
    for c in value.chars() {
        let plain = !quoted && comment_depth == 0;
        match c {
            _ if escaped => escaped = false,
            '\\' if !plain => escaped = true,
            '"' if comment_depth == 0 => quoted = !quoted,
            '(' if !quoted => comment_depth += 1,
            ')' if !quoted && comment_depth > 0 => comment_depth -= 1,
            '<' if plain => in_angle = true,
            '>' if plain => in_angle = false,
            ',' | ';' if plain && !in_angle => {
                push(&mut current);
                continue;
            }
            // A group's display name: drop it, keep its members.
            ':' if plain && !in_angle => {
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    push(&mut current);
    items
}

/// How the bytes of an encoded word become text: in its declared charset,
/// or, for an ASCII label, as [`undeclared_text`].
type WordCharset = Option<Charset>;

/// Decodes the RFC 2047 encoded-words of `text`.  Whitespace between two
/// adjacent encoded-words is dropped (§6.2), and adjacent words in the same
/// charset are decoded together, so a character split across two words
/// survives.  A word in an unknown charset, or one that does not parse, is
/// left as written.  Linear: each attempt stops at the second `?` after its
/// `=?` (or sooner), and the next attempt starts after the first.
pub(crate) fn decode_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Charset and bytes of the adjacent words not yet decoded.
    let mut pending: Option<(WordCharset, Vec<u8>)> = None;
    let flush = |out: &mut String, pending: &mut Option<(WordCharset, Vec<u8>)>| {
        if let Some((charset, bytes)) = pending.take() {
            out.push_str(&match charset {
                Some(charset) => charset.decode_without_bom_handling(&bytes).0,
                None => undeclared_text(&bytes),
            });
        }
    };
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text.get(search..).and_then(|rest| rest.find("=?")) {
        let start = search + found;
        let Some((charset, bytes, end)) = parse_word(text, start) else {
            search = start + 2;
            continue;
        };
        let between = &text[copied..start];
        let adjacent = pending.is_some() && between.chars().all(char::is_whitespace);
        match &mut pending {
            Some((current, pending_bytes)) if adjacent && *current == charset => {
                pending_bytes.extend_from_slice(&bytes);
            }
            _ => {
                flush(&mut out, &mut pending);
                if !adjacent {
                    out.push_str(between);
                }
                pending = Some((charset, bytes));
            }
        }
        copied = end;
        search = end;
    }
    flush(&mut out, &mut pending);
    out.push_str(&text[copied..]);
    out
}

/// Parses `=?charset?encoding?text?=` at `start` (which holds `=?`):
/// charset, decoded bytes and the index just past `?=`.
fn parse_word(text: &str, start: usize) -> Option<(WordCharset, Vec<u8>, usize)> {
    let bytes = text.as_bytes();
    let label_start = start + 2;
    // Searches stop where a word cannot go on (a blank, past the label's
    // length limit), so that no `=?` scans far.
    let label_len = bytes
        .get(label_start..)?
        .iter()
        .take(MAX_CHARSET + 1)
        .position(|&b| b == b'?' || b.is_ascii_whitespace())?;
    let label_end = label_start + label_len;
    if !(1..=MAX_CHARSET).contains(&label_len) || bytes[label_end] != b'?' {
        return None;
    }
    let encoding = bytes.get(label_end + 1)?.to_ascii_uppercase();
    if bytes.get(label_end + 2) != Some(&b'?') {
        return None;
    }
    let text_start = label_end + 3;
    let text_end = text_start
        + bytes
            .get(text_start..)?
            .iter()
            .position(|&b| b == b'?' || b.is_ascii_whitespace())?;
    if bytes.get(text_end..text_end + 2) != Some(b"?=") {
        return None;
    }
    let encoded = &bytes[text_start..text_end];
    let decoded = match encoding {
        b'B' => decode_base64(encoded),
        b'Q' => decode_q(encoded),
        _ => return None,
    };
    // RFC 2231 §5: `charset*language`.
    let label = text[label_start..label_end]
        .split('*')
        .next()
        .unwrap_or_default();
    let charset = match label {
        "" => return None,
        label if is_ascii_label(label) => None,
        label => Some(Charset::for_label_no_replacement(label.as_bytes())?),
    };
    Some((charset, decoded, text_end + 2))
}

/// RFC 2047 §4.2 "Q": `_` is a space, `=XX` a byte.
fn decode_q(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        match encoded[i] {
            b'_' => out.push(b' '),
            b'=' => match (hex(encoded.get(i + 1)), hex(encoded.get(i + 2))) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn words_in_any_whatwg_charset_are_decoded() {
        assert_eq!(decode_words("=?koi8-r?b?8NLJ18XU?="), "Привет");
        assert_eq!(decode_words("=?shift_jis?b?k/qWew==?="), "日本");
    }

    #[test]
    fn ascii_labelled_words_holding_8bit_bytes_are_utf8_or_windows_1252() {
        // encoding_rs would read us-ascii as windows-1252 and garble UTF-8.
        assert_eq!(decode_words("=?us-ascii?q?caf=C3=A9?="), "café");
        assert_eq!(decode_words("=?us-ascii?q?caf=E9?="), "café");
        assert_eq!(decode_words("=?ascii?q?plain?="), "plain");
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
        assert_eq!(decode_words("=?x-unknown?q?abc?="), "=?x-unknown?q?abc?=");
        assert_eq!(
            decode_words("=?x-unknown?q?a?= =?x-unknown?q?b?="),
            "=?x-unknown?q?a?= =?x-unknown?q?b?="
        );
        assert_eq!(decode_words("=?utf-8?x?abc?="), "=?utf-8?x?abc?=");
        assert_eq!(decode_words("=?utf-8?q?no end"), "=?utf-8?q?no end");
        assert_eq!(decode_words("=?*fr?q?abc?="), "=?*fr?q?abc?=");
        let long_label = format!("=?{}?q?abc?=", "u".repeat(MAX_CHARSET + 1));
        assert_eq!(decode_words(&long_label), long_label);
        assert_eq!(decode_words("2+2=?"), "2+2=?");
        assert_eq!(decode_words("=?"), "=?");
        assert_eq!(decode_words("=?=?utf-8?q?a?="), "=?a");
        // A bad "=XX" escape is kept literally.
        assert_eq!(decode_words("=?utf-8?q?a=ZZ=?="), "a=ZZ=");
        // Base64 is read as Python's email package reads it: characters
        // outside the alphabet are skipped.
        assert_eq!(decode_words("=?utf-8?b?!!!?="), "");
        assert_eq!(decode_words("=?utf-8?b?Y2Fm!!w6k?="), "café");
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
    fn encoded_word_decoding_stays_linear_on_unterminated_words() {
        // Quadratic scanning would take minutes here.
        let text = "=?a?q?".repeat(200_000) + " " + &"=?".repeat(300_000);
        let started = std::time::Instant::now();
        let decoded = decode_words(&text);
        assert_eq!(decoded, text);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn the_header_section_ends_at_a_blank_line_or_a_line_that_is_no_field() {
        let entity = Entity::split(b"From x Mon\r\nA: 1\r\n  2\r\nB : 3\r\n\r\nC: body\r\n");
        assert_eq!(
            entity.fields,
            vec![(&b"A"[..], &b" 1\r\n  2"[..]), (&b"B"[..], &b" 3"[..])]
        );
        assert_eq!(entity.body, b"C: body\r\n");
        let entity = Entity::split(b"A: 1\nno field here\nB: 2\n");
        assert_eq!(entity.fields.len(), 1);
        assert_eq!(entity.body, b"no field here\nB: 2\n");
        let entity = Entity::split(b" indented\nA: 1\n");
        assert!(entity.fields.is_empty());
        assert_eq!(entity.body, b" indented\nA: 1\n");
    }

    #[test]
    fn header_text_is_unfolded_and_8bit_values_are_utf8_or_windows_1252() {
        assert_eq!(header_text(b" a\r\n b\n\tc"), " a b\tc");
        assert_eq!(header_text("Zoé".as_bytes()), "Zoé");
        assert_eq!(header_text(b"caf\xe9 \x80"), "café €");
    }
}
