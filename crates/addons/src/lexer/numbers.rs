//! Number literals: Python's integer and float grammar (PEP 515
//! underscores, radix prefixes, no leading zeros), with CPython's errors.

use super::{err, is_ident_continue, Lexer, Number, Tok};
use crate::literal::Position;
use crate::manifest::{ManifestError, ManifestErrorKind as ErrorKind};

impl Lexer {
    /// Lexes a number following Python's grammar (PEP 515 underscores,
    /// `0x`/`0o`/`0b` prefixes, no leading zeros on decimal integers).
    pub(super) fn lex_number(&mut self, start: Position) -> Result<Tok, ManifestError> {
        let invalid = |what: &str| err(start, ErrorKind::Syntax, format!("invalid {what} literal"));
        let first = self.peek_char().expect("caller saw a digit");
        if first == '0' {
            let radix = match self.peek_char_at(1) {
                Some('x' | 'X') => Some((16, "hexadecimal")),
                Some('o' | 'O') => Some((8, "octal")),
                Some('b' | 'B') => Some((2, "binary")),
                _ => None,
            };
            if let Some((radix, what)) = radix {
                self.bump();
                self.bump();
                let mut digits = String::new();
                // An underscore may follow the prefix, then digits with
                // single underscores between them.
                let mut last_underscore = false;
                if self.peek_char() == Some('_') {
                    self.bump();
                    last_underscore = true;
                }
                while let Some(c) = self.peek_char() {
                    if c == '_' {
                        if last_underscore {
                            return Err(invalid(what));
                        }
                        last_underscore = true;
                    } else if c.is_digit(radix) {
                        digits.push(c);
                        last_underscore = false;
                    } else if is_ident_continue(c) {
                        return Err(invalid(what));
                    } else {
                        break;
                    }
                    self.bump();
                }
                if digits.is_empty() || last_underscore {
                    return Err(invalid(what));
                }
                return integer(&digits, radix, start);
            }
        }

        let mut text = String::new();
        let int_part = self.decimal_digits(&mut text, start)?;
        let mut is_float = false;
        if self.peek_char() == Some('.') {
            self.bump();
            text.push('.');
            is_float = true;
            if self.peek_char().is_some_and(|c| c.is_ascii_digit()) {
                self.decimal_digits(&mut text, start)?;
            } else if self.peek_char() == Some('_') {
                return Err(invalid("decimal"));
            }
        }
        if matches!(self.peek_char(), Some('e' | 'E')) {
            let sign = matches!(self.peek_char_at(1), Some('+' | '-'));
            let digit_at = if sign { 2 } else { 1 };
            if !self
                .peek_char_at(digit_at)
                .is_some_and(|c| c.is_ascii_digit())
            {
                return Err(invalid("decimal"));
            }
            text.push('e');
            self.bump();
            if sign {
                text.push(self.bump().expect("sign"));
            }
            self.decimal_digits(&mut text, start)?;
            is_float = true;
        }
        if matches!(self.peek_char(), Some('j' | 'J')) {
            return Err(err(
                start,
                ErrorKind::Unsupported,
                "complex numbers are not supported in manifests",
            ));
        }
        if self.peek_char().is_some_and(is_ident_continue) {
            return Err(invalid("decimal"));
        }
        if is_float {
            let value: f64 = text.parse().map_err(|_| invalid("decimal"))?;
            return Ok(Tok::Number(Number::Float(value)));
        }
        if int_part.len() > 1 && int_part.bytes().any(|b| b != b'0') && int_part.starts_with('0') {
            return Err(err(
                start,
                ErrorKind::Syntax,
                "leading zeros in decimal integer literals are not permitted; \
                 use an 0o prefix for octal integers",
            ));
        }
        integer(&text, 10, start)
    }

    /// Reads `digit (['_'] digit)*`, appending the digits to `text` and
    /// returning them. The current character must be a digit.
    pub(super) fn decimal_digits(
        &mut self,
        text: &mut String,
        start: Position,
    ) -> Result<String, ManifestError> {
        let mut digits = String::new();
        loop {
            match self.peek_char() {
                Some(c) if c.is_ascii_digit() => {
                    self.bump();
                    digits.push(c);
                }
                Some('_') if self.peek_char_at(1).is_some_and(|c| c.is_ascii_digit()) => {
                    self.bump();
                }
                Some('_') => {
                    return Err(err(start, ErrorKind::Syntax, "invalid decimal literal"));
                }
                _ => break,
            }
        }
        text.push_str(&digits);
        Ok(digits)
    }
}

/// The integer token of `digits` (validated by the caller) in `radix`.
fn integer(digits: &str, radix: u32, start: Position) -> Result<Tok, ManifestError> {
    i64::from_str_radix(digits, radix)
        .map(|v| Tok::Number(Number::Int(v)))
        .map_err(|_| {
            err(
                start,
                ErrorKind::Unsupported,
                "integer literal does not fit in 64 bits",
            )
        })
}
