//! String and bytes literals: quotes, prefixes (raw, bytes) and Python's
//! escapes, with CPython's errors.

use super::{err, Lexer, StrContent, Tok};
use crate::literal::Position;
use crate::manifest::{ManifestError, ManifestErrorKind as ErrorKind};

impl Lexer {
    /// Lexes a string token starting at the opening quote.
    pub(super) fn lex_string(
        &mut self,
        start: Position,
        raw: bool,
        bytes: bool,
    ) -> Result<Tok, ManifestError> {
        let quote = self.bump().expect("caller saw a quote");
        let triple = self.peek_char() == Some(quote) && self.peek_char_at(1) == Some(quote);
        if triple {
            self.bump();
            self.bump();
        }
        let unterminated = || {
            let what = if triple {
                "unterminated triple-quoted string literal"
            } else {
                "unterminated string literal"
            };
            err(start, ErrorKind::Syntax, what)
        };
        let mut text = String::new();
        let mut data: Vec<u8> = Vec::new();
        loop {
            let char_pos = self.pos();
            let Some(c) = self.bump() else {
                return Err(unterminated());
            };
            if c == quote {
                if !triple {
                    break;
                }
                if self.peek_char() == Some(quote) && self.peek_char_at(1) == Some(quote) {
                    self.bump();
                    self.bump();
                    break;
                }
            }
            if c == '\n' && !triple {
                return Err(unterminated());
            }
            if c == '\\' {
                let Some(next) = self.bump() else {
                    return Err(unterminated());
                };
                if raw {
                    // In raw strings the backslash stays, but it still
                    // prevents the next character from closing the string.
                    push_char(&mut text, &mut data, bytes, '\\', char_pos)?;
                    push_char(&mut text, &mut data, bytes, next, char_pos)?;
                    continue;
                }
                self.escape(next, bytes, char_pos, &mut text, &mut data)?;
                continue;
            }
            push_char(&mut text, &mut data, bytes, c, char_pos)?;
        }
        let content = if bytes {
            StrContent::Bytes(data)
        } else {
            StrContent::Str(text)
        };
        Ok(Tok::Str(content))
    }

    /// Decodes one backslash escape (the backslash is already consumed).
    pub(super) fn escape(
        &mut self,
        c: char,
        bytes: bool,
        pos: Position,
        text: &mut String,
        data: &mut Vec<u8>,
    ) -> Result<(), ManifestError> {
        let simple = match c {
            '\n' => return Ok(()), // backslash-newline: line continuation
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            'a' => Some('\u{07}'),
            'b' => Some('\u{08}'),
            'f' => Some('\u{0C}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{0B}'),
            _ => None,
        };
        if let Some(decoded) = simple {
            return push_char(text, data, bytes, decoded, pos);
        }
        match c {
            '0'..='7' => {
                let mut value = c.to_digit(8).expect("octal digit");
                for _ in 0..2 {
                    match self.peek_char().and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            self.bump();
                            value = value * 8 + d;
                        }
                        None => break,
                    }
                }
                if bytes {
                    // CPython keeps the low byte of out-of-range octal escapes.
                    data.push((value & 0xFF) as u8);
                } else {
                    text.push(char::from_u32(value).expect("at most 0o777"));
                }
                Ok(())
            }
            'x' => {
                let value = self.hex_digits(2, pos, "truncated \\xXX escape")?;
                if bytes {
                    data.push(value as u8);
                } else {
                    text.push(char::from_u32(value).expect("at most 0xFF"));
                }
                Ok(())
            }
            'u' | 'U' if !bytes => {
                let (count, what) = if c == 'u' {
                    (4, "truncated \\uXXXX escape")
                } else {
                    (8, "truncated \\UXXXXXXXX escape")
                };
                let value = self.hex_digits(count, pos, what)?;
                match char::from_u32(value) {
                    Some(decoded) => {
                        text.push(decoded);
                        Ok(())
                    }
                    None if (0xD800..=0xDFFF).contains(&value) => Err(err(
                        pos,
                        ErrorKind::Unsupported,
                        format!("lone surrogate \\u{value:04x} cannot be represented"),
                    )),
                    None => Err(err(pos, ErrorKind::Syntax, "illegal Unicode character")),
                }
            }
            'N' if !bytes => Err(err(
                pos,
                ErrorKind::Unsupported,
                "\\N{...} escapes need the Unicode character name database, \
                 which this parser does not carry; write the character itself",
            )),
            other => {
                // Unknown escapes are kept verbatim (CPython only warns).
                push_char(text, data, bytes, '\\', pos)?;
                push_char(text, data, bytes, other, pos)
            }
        }
    }

    pub(super) fn hex_digits(
        &mut self,
        count: usize,
        pos: Position,
        what: &str,
    ) -> Result<u32, ManifestError> {
        let mut value: u32 = 0;
        for _ in 0..count {
            match self.peek_char().and_then(|d| d.to_digit(16)) {
                Some(d) => {
                    self.bump();
                    value = value.wrapping_mul(16).wrapping_add(d);
                }
                None => return Err(err(pos, ErrorKind::Syntax, what)),
            }
        }
        Ok(value)
    }
}

/// Appends a literal character to a str or bytes literal being built.
fn push_char(
    text: &mut String,
    data: &mut Vec<u8>,
    bytes: bool,
    c: char,
    pos: Position,
) -> Result<(), ManifestError> {
    if bytes {
        if !c.is_ascii() {
            return Err(err(
                pos,
                ErrorKind::Syntax,
                "bytes can only contain ASCII literal characters",
            ));
        }
        data.push(c as u8);
    } else {
        text.push(c);
    }
    Ok(())
}
