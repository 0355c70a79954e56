//! Lenient byte-level decoding shared by header and body reading: what is
//! malformed is skipped or kept as it is, never an error.

use std::borrow::Cow;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use charset::Charset;

pub(crate) fn find_byte(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|&b| b == needle)
        .map(|i| from + i)
}

/// The value of a hex digit (either case).
pub(crate) fn hex(byte: Option<&u8>) -> Option<u8> {
    let b = *byte?;
    (b as char).to_digit(16).map(|d| d as u8)
}

pub(crate) fn is_base64_symbol(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// Lenient base64: anything outside the alphabet (line breaks, padding,
/// stray characters) is skipped, a lone trailing symbol dropped.  Python's
/// `email` package reads bodies and encoded words the same way.
pub(crate) fn decode_base64(encoded: &[u8]) -> Vec<u8> {
    let mut symbols: Vec<u8> = encoded
        .iter()
        .copied()
        .filter(|&b| is_base64_symbol(b))
        .collect();
    if symbols.len() % 4 == 1 {
        symbols.pop();
    }
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    // Cannot fail on such input; empty is the harmless fallback.
    engine.decode(&symbols).unwrap_or_default()
}

/// Text whose charset is not declared (or declared ASCII, see
/// [`is_ascii_label`]): UTF-8 when the bytes are valid UTF-8 (RFC 6532 allows
/// it in headers), else windows-1252, the usual meaning of stray 8-bit bytes.
pub(crate) fn undeclared_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => match Charset::for_label(b"windows-1252") {
            Some(windows_1252) => windows_1252.decode_without_bom_handling(bytes).0,
            None => String::from_utf8_lossy(bytes),
        },
    }
}

/// `us-ascii` and its aliases: encoding_rs maps them to windows-1252, which
/// would garble the undeclared UTF-8 that many mailers send, so they are
/// read as [`undeclared_text`] instead.
pub(crate) fn is_ascii_label(label: &str) -> bool {
    ["us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", ""]
        .iter()
        .any(|ascii| label.eq_ignore_ascii_case(ascii))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_lenient() {
        assert_eq!(decode_base64(b"Y2Fm\r\nw6k=\r\n"), "café".as_bytes());
        assert_eq!(decode_base64(b"Y2Fmw6k"), "café".as_bytes());
        assert_eq!(decode_base64(b"Y2Fm!!w6k"), "café".as_bytes());
    }

    #[test]
    fn undeclared_text_is_utf8_when_valid_else_windows_1252() {
        assert_eq!(undeclared_text("Zoé".as_bytes()), "Zoé");
        assert_eq!(undeclared_text(b"caf\xe9 \x80 \x81"), "café € \u{81}");
    }
}
