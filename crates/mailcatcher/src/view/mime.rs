//! The MIME side of a message: what `Content-Type` and
//! `Content-Disposition` say, multipart bodies split into parts, transfer
//! encodings undone and body charsets decoded.

use std::borrow::Cow;

use charset::Charset;
use mailparse::DispositionType;

use super::MAX_PARTS;
use crate::bytes::{
    decode_base64, find_byte, hex, is_ascii_label, is_base64_symbol, undeclared_text,
};
use crate::headers::{clean, decode_words, header_text, Entity};

/// Longest `Content-Type`/`Content-Disposition` value handed to the
/// parameter parser; longer values are cut.  RFC 2231 file names of a few
/// hundred characters take a few KiB.
const MAX_PARAMETER_HEADER: usize = 16 * 1024;

/// RFC 2046 allows 70 characters; some mailers write more.
const MAX_BOUNDARY: usize = 200;

/// What `Content-Type` and `Content-Disposition` say about an entity.
pub(super) struct PartInfo {
    /// Lower case; `text/plain` when missing or malformed (RFC 2045 §5.2).
    pub mime_type: String,
    pub charset: Option<String>,
    pub boundary: Option<String>,
    /// `Content-Disposition: attachment`.
    pub attachment: bool,
    pub filename: Option<String>,
}

impl PartInfo {
    pub fn of(entity: &Entity<'_>) -> PartInfo {
        let content_type = entity
            .first(b"content-type")
            .map(|v| mailparse::parse_content_type(&parameter_text(v)));
        let disposition = entity
            .first(b"content-disposition")
            .map(|v| mailparse::parse_content_disposition(&parameter_text(v)));
        let mut mime_type = content_type
            .as_ref()
            .map(|ct| ct.mimetype.trim().to_owned())
            .unwrap_or_default();
        if !mime_type.contains('/') || mime_type.contains(char::is_whitespace) {
            mime_type = "text/plain".to_owned();
        }
        let ct_param = |name: &str| content_type.as_ref()?.params.get(name).cloned();
        let filename = disposition
            .as_ref()
            .and_then(|d| d.params.get("filename").cloned())
            .or_else(|| ct_param("name"))
            // Odoo 14 and others write RFC 2047 words inside the quotes.
            .map(|name| clean(&decode_words(&name)))
            .filter(|name| !name.is_empty());
        PartInfo {
            mime_type,
            charset: ct_param("charset"),
            boundary: ct_param("boundary")
                .filter(|b| (1..=MAX_BOUNDARY).contains(&b.len()) && !b.contains(['\r', '\n'])),
            attachment: disposition.is_some_and(|d| d.disposition == DispositionType::Attachment),
            filename,
        }
    }
}

/// A parameterised header value as text for `mailparse`: unfolded, capped.
fn parameter_text(value: &[u8]) -> String {
    let mut text = header_text(value);
    if text.len() > MAX_PARAMETER_HEADER {
        let mut cut = MAX_PARAMETER_HEADER;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// The parts of a multipart body: what lies between its delimiter lines
/// (`--boundary`, maybe followed by blanks), the line break before each
/// delimiter belonging to the delimiter.  The preamble and epilogue are
/// dropped; a missing close delimiter ends the last part at the end, and
/// parts past [`MAX_PARTS`] are dropped.  One pass over the lines:
/// comparing a line costs at most the boundary length.
pub(super) fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let boundary = boundary.as_bytes();
    let mut parts = Vec::new();
    let mut part_start: Option<usize> = None;
    let mut at = 0;
    while at < body.len() {
        let end = find_byte(body, at, b'\n').unwrap_or(body.len());
        let line = &body[at..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let rest = line
            .strip_prefix(b"--")
            .and_then(|l| l.strip_prefix(boundary));
        if let Some(rest) = rest {
            let closing = rest.starts_with(b"--");
            if closing || rest.iter().all(|&b| b == b' ' || b == b'\t') {
                if let Some(start) = part_start {
                    let mut stop = at;
                    if stop > start && body[stop - 1] == b'\n' {
                        stop -= 1;
                        if stop > start && body[stop - 1] == b'\r' {
                            stop -= 1;
                        }
                    }
                    parts.push(&body[start..stop]);
                }
                if closing || parts.len() >= MAX_PARTS {
                    return parts;
                }
                part_start = Some((end + 1).min(body.len()));
            }
        }
        at = end + 1;
    }
    if let Some(start) = part_start {
        parts.push(&body[start..]);
    }
    parts
}

/// The `Content-Transfer-Encoding` mechanism, lower case, without a
/// trailing comment or junk; empty when missing.
pub(super) fn transfer_encoding(entity: &Entity<'_>) -> String {
    let Some(value) = entity.first(b"content-transfer-encoding") else {
        return String::new();
    };
    let value = header_text(value).to_ascii_lowercase();
    let mechanism = value.split([' ', '\t', ';', '(']).find(|w| !w.is_empty());
    mechanism.unwrap_or_default().to_owned()
}

/// Undoes `base64` and `quoted-printable`; other encodings (`7bit`, `8bit`,
/// `binary`, unknown ones) are taken as they are.
pub(super) fn undo_transfer_encoding<'a>(body: &'a [u8], encoding: &str) -> Cow<'a, [u8]> {
    match encoding {
        "base64" => Cow::Owned(decode_base64(body)),
        "quoted-printable" => Cow::Owned(decode_quoted_printable(body)),
        _ => Cow::Borrowed(body),
    }
}

/// The size of a body once decoded, without decoding base64.
pub(super) fn decoded_size(body: &[u8], encoding: &str) -> usize {
    match encoding {
        // As decode_base64 counts: 4 symbols make 3 bytes.
        "base64" => body.iter().filter(|&&b| is_base64_symbol(b)).count() * 3 / 4,
        _ => undo_transfer_encoding(body, encoding).len(),
    }
}

/// Lenient quoted-printable (RFC 2045 §6.7): `=XX` is a byte, `=` before a
/// line break (blanks allowed between) is a soft break, any other `=` is
/// kept, and so are raw 8-bit bytes, which the `quoted_printable` crate
/// drops.
fn decode_quoted_printable(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        let b = encoded[i];
        i += 1;
        if b != b'=' {
            out.push(b);
            continue;
        }
        if let (Some(hi), Some(lo)) = (hex(encoded.get(i)), hex(encoded.get(i + 1))) {
            out.push(hi << 4 | lo);
            i += 2;
            continue;
        }
        let mut j = i;
        while j < encoded.len() && (encoded[j] == b' ' || encoded[j] == b'\t') {
            j += 1;
        }
        match &encoded[j..] {
            [b'\r', b'\n', ..] => i = j + 2,
            [b'\n', ..] => i = j + 1,
            [] => i = j,
            _ => out.push(b'='),
        }
    }
    out
}

/// Decodes a body in `charset`.  A missing, ASCII (see [`is_ascii_label`])
/// or unknown label means [`undeclared_text`]: UTF-8 when the bytes are
/// valid UTF-8, else windows-1252.  Line endings
/// become `\n`; control characters other than tab are dropped.
pub(super) fn decode_text(bytes: &[u8], charset: Option<&str>) -> String {
    let declared = charset
        .map(str::trim)
        .filter(|label| !is_ascii_label(label))
        .and_then(|label| Charset::for_label_no_replacement(label.as_bytes()));
    let text = match declared {
        Some(charset) => charset.decode(bytes).0,
        None => undeclared_text(bytes),
    };
    display_lines(&text)
}

fn display_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_soft_breaks_and_bad_escapes() {
        assert_eq!(
            decode_quoted_printable(b"caf=C3=A9 =\r\nsuite=  \r\nfin =ZZ =3d=\n"),
            "café suitefin =ZZ =".as_bytes()
        );
        assert_eq!(decode_quoted_printable(b"a="), b"a");
    }

    #[test]
    fn decoded_size_counts_base64_symbols_without_decoding() {
        assert_eq!(decoded_size(b"Y2Fm\r\nw6k=\r\n", "base64"), 5);
        assert_eq!(decoded_size(b"Y2Fm!!w6k", "base64"), 5);
    }

    #[test]
    fn multipart_split_respects_longer_inner_boundaries() {
        let body = b"preamble\r\n--ab\r\none\r\n--abc\r\nnot a delimiter\r\n--ab \r\ntwo\r\n--ab--\r\nepilogue";
        let parts = split_multipart(body, "ab");
        assert_eq!(
            parts,
            vec![&b"one\r\n--abc\r\nnot a delimiter"[..], &b"two"[..]]
        );
    }
}
