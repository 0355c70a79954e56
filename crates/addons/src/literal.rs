//! Python literal values and the parser that builds them.
//!
//! Odoo evaluates `__manifest__.py` with `ast.literal_eval`, so the manifest
//! grammar is exactly "one Python literal expression": strings (with implicit
//! concatenation of adjacent strings), bytes, numbers, `True`/`False`/`None`,
//! tuples, lists, dicts, sets and `set()`, with `+`/`-` allowed only as a sign
//! directly on a number. This module implements that grammar so manifests can
//! be read without a Python interpreter, and reports the same things Python
//! would reject — at the line where the problem is, with a message aimed at
//! the person who has to fix the file.
//!
//! Deliberate gaps, all reported as errors rather than guessed at: complex
//! numbers, integers beyond 64 bits, `...`, `\N{NAME}` escapes (they need the
//! Unicode name table) and lone surrogates (not representable in a Rust
//! `String`). None of them has a use in a manifest.

use std::fmt;

use crate::lexer::{Bracket, Lexer, Number, StrContent, Tok, Token};
use crate::manifest::{ManifestError, ManifestErrorKind as ErrorKind};

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A Python literal together with where it starts in the source, so that
/// callers validating its *type* can still point at the offending line.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: ValueKind,
    pub pos: Position,
}

/// The Python types `ast.literal_eval` can produce (minus complex numbers).
///
/// Containers keep source order; dicts keep duplicate keys (Python keeps the
/// last one, see [`Value::get`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Set(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

impl Value {
    /// The Python type name, for error messages (`str`, `list`, ...).
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ValueKind::None => "NoneType",
            ValueKind::Bool(_) => "bool",
            ValueKind::Int(_) => "int",
            ValueKind::Float(_) => "float",
            ValueKind::Str(_) => "str",
            ValueKind::Bytes(_) => "bytes",
            ValueKind::List(_) => "list",
            ValueKind::Tuple(_) => "tuple",
            ValueKind::Set(_) => "set",
            ValueKind::Dict(_) => "dict",
        }
    }

    /// The string content if this is a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ValueKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Looks a string key up in a dict. Like Python, when a key is repeated
    /// the last occurrence wins.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match &self.kind {
            ValueKind::Dict(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses a whole source file holding one Python literal, with the rules of
/// `ast.literal_eval` (see the module documentation).
pub fn parse_literal(source: &str) -> Result<Value, ManifestError> {
    let mut parser = Parser {
        lexer: Lexer::new(source)?,
        peeked: None,
        open: Vec::new(),
        last_string_parts: Vec::new(),
        last_end: Position { line: 1, column: 1 },
    };
    parser.parse_file()
}

/// Deeper nesting than this is rejected instead of risking the stack;
/// CPython itself gives up at 200 nested brackets.
const MAX_NESTING: usize = 200;

struct Parser {
    lexer: Lexer,
    peeked: Option<Token>,
    /// Brackets currently open, to report where an unclosed one started.
    open: Vec<(Bracket, Position)>,
    /// (start, end) of each string token making up the value just parsed,
    /// when it was a string; used to explain a missing comma that implicit
    /// string concatenation turned into a confusing error.
    last_string_parts: Vec<(Position, Position)>,
    /// End of the last consumed token: where a missing ',' belongs.
    last_end: Position,
}

fn error(pos: Position, kind: ErrorKind, message: impl Into<String>) -> ManifestError {
    ManifestError::new(pos, kind, message)
}

fn operator_hint(tok: &Tok) -> &'static str {
    match tok {
        Tok::Op(_) => {
            " (operators are not evaluated: a manifest must be a plain literal, \
             Odoo reads it with ast.literal_eval)"
        }
        Tok::Open(Bracket::Paren) => {
            " (calls are not evaluated: a manifest must be a plain literal)"
        }
        _ => "",
    }
}

impl Parser {
    fn peek(&mut self) -> Result<&Token, ManifestError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn next(&mut self) -> Result<Token, ManifestError> {
        let token = match self.peeked.take() {
            Some(token) => token,
            None => self.lexer.next_token()?,
        };
        self.last_end = token.end;
        Ok(token)
    }

    fn peek_is(&mut self, wanted: &Tok) -> Result<bool, ManifestError> {
        Ok(&self.peek()?.tok == wanted)
    }

    fn parse_file(&mut self) -> Result<Value, ManifestError> {
        let first = self.peek()?.clone();
        if first.tok == Tok::Eof {
            return Err(error(
                first.pos,
                ErrorKind::Syntax,
                "the file holds no literal (it is empty or only has comments)",
            ));
        }
        if first.indented {
            return Err(error(first.pos, ErrorKind::Syntax, "unexpected indent"));
        }
        let mut value = self.parse_value()?;
        if self.peek_is(&Tok::Comma)? {
            // A bare tuple (`1, 2`) is a valid eval-mode expression.
            let mut items = vec![value];
            while self.peek_is(&Tok::Comma)? {
                self.next()?;
                if matches!(self.peek()?.tok, Tok::Newline | Tok::Eof) {
                    break;
                }
                items.push(self.parse_value()?);
            }
            let pos = items[0].pos;
            value = Value {
                kind: ValueKind::Tuple(items),
                pos,
            };
        }
        let mut after = self.next()?;
        let new_line = after.tok == Tok::Newline;
        if new_line {
            after = self.next()?;
        }
        if after.tok == Tok::Eof {
            return Ok(value);
        }
        Err(self.trailing_error(&value, &after, new_line))
    }

    fn trailing_error(&self, value: &Value, after: &Token, new_line: bool) -> ManifestError {
        let is_string = matches!(value.kind, ValueKind::Str(_) | ValueKind::Bytes(_));
        if is_string && (new_line || after.tok == Tok::Open(Bracket::Curly)) {
            return error(
                value.pos,
                ErrorKind::Syntax,
                "a string (docstring?) precedes the rest of the file: Odoo evaluates the \
                 manifest with ast.literal_eval, which accepts exactly one literal; \
                 turn the string into # comments",
            );
        }
        if after.indented {
            return error(after.pos, ErrorKind::Syntax, "unexpected indent");
        }
        error(
            after.pos,
            ErrorKind::Syntax,
            format!(
                "expected end of file after the literal, found {}: the file must hold exactly \
                 one expression{}",
                after.tok.describe(),
                operator_hint(&after.tok)
            ),
        )
    }

    /// Error for a premature end of file: blame the innermost open bracket,
    /// which is where the fix usually belongs.
    fn eof_error(&self, eof: Position) -> ManifestError {
        match self.open.last() {
            Some((bracket, pos)) => {
                let what = match bracket {
                    Bracket::Curly => "dict",
                    Bracket::Square => "list",
                    Bracket::Paren => "parenthesis",
                };
                error(
                    *pos,
                    ErrorKind::Syntax,
                    format!(
                        "unterminated {what}: '{}' was never closed",
                        bracket.open_char()
                    ),
                )
            }
            None => error(
                eof,
                ErrorKind::Syntax,
                "unexpected end of file, expected a value",
            ),
        }
    }

    fn mismatch_error(&self, found: Bracket, pos: Position) -> ManifestError {
        match self.open.last() {
            Some((open, open_pos)) => error(
                pos,
                ErrorKind::Syntax,
                format!(
                    "closing '{}' does not match '{}' opened on line {}",
                    found.close_char(),
                    open.open_char(),
                    open_pos.line
                ),
            ),
            None => error(
                pos,
                ErrorKind::Syntax,
                format!("unmatched '{}'", found.close_char()),
            ),
        }
    }

    fn parse_value(&mut self) -> Result<Value, ManifestError> {
        let token = self.next()?;
        let pos = token.pos;
        let is_string = matches!(token.tok, Tok::Str(_));
        let value = match token.tok {
            Tok::Str(content) => self.parse_strings(content, pos, token.end),
            Tok::Number(number) => Ok(Value {
                kind: number_kind(number),
                pos,
            }),
            Tok::Name(name) => self.parse_name(name, pos),
            Tok::Op(sign @ ("-" | "+")) => self.parse_signed(sign, pos),
            Tok::Op("...") => Err(error(
                pos,
                ErrorKind::Unsupported,
                "Ellipsis ('...') is not supported in manifests",
            )),
            Tok::Open(bracket) => {
                if self.open.len() >= MAX_NESTING {
                    return Err(error(
                        pos,
                        ErrorKind::Unsupported,
                        "too many nested brackets",
                    ));
                }
                self.open.push((bracket, pos));
                let value = match bracket {
                    Bracket::Square => self.parse_list(pos),
                    Bracket::Paren => self.parse_paren(pos),
                    Bracket::Curly => self.parse_curly(pos),
                };
                self.open.pop();
                value
            }
            Tok::Eof => Err(self.eof_error(pos)),
            other => Err(error(
                pos,
                ErrorKind::Syntax,
                format!("expected a value, found {}", other.describe()),
            )),
        }?;
        if !is_string {
            self.last_string_parts.clear();
        }
        Ok(value)
    }

    /// Implicit concatenation: adjacent string tokens form one value, also
    /// across lines inside brackets (the lexer drops those newlines).
    fn parse_strings(
        &mut self,
        first: StrContent,
        pos: Position,
        end: Position,
    ) -> Result<Value, ManifestError> {
        let mut parts = vec![(pos, end)];
        let mut acc = first;
        while matches!(self.peek()?.tok, Tok::Str(_)) {
            let token = self.next()?;
            let end = token.end;
            let Tok::Str(content) = token.tok else {
                unreachable!("peeked a string token");
            };
            match (&mut acc, content) {
                (StrContent::Str(a), StrContent::Str(b)) => a.push_str(&b),
                (StrContent::Bytes(a), StrContent::Bytes(b)) => a.extend_from_slice(&b),
                _ => {
                    return Err(error(
                        token.pos,
                        ErrorKind::Syntax,
                        "cannot mix bytes and nonbytes literals",
                    ))
                }
            }
            parts.push((token.pos, end));
        }
        self.last_string_parts = parts;
        let kind = match acc {
            StrContent::Str(s) => ValueKind::Str(s),
            StrContent::Bytes(b) => ValueKind::Bytes(b),
        };
        Ok(Value { kind, pos })
    }

    fn parse_name(&mut self, name: String, pos: Position) -> Result<Value, ManifestError> {
        let kind = match name.as_str() {
            "True" => ValueKind::Bool(true),
            "False" => ValueKind::Bool(false),
            "None" => ValueKind::None,
            "set" if self.peek_is(&Tok::Open(Bracket::Paren))? => {
                self.next()?;
                if self.peek_is(&Tok::Close(Bracket::Paren))? {
                    self.next()?;
                    ValueKind::Set(Vec::new())
                } else {
                    return Err(error(
                        pos,
                        ErrorKind::Unsupported,
                        "only an empty set() is a literal; write the set as {...}",
                    ));
                }
            }
            _ => {
                let message = match &self.peek()?.tok {
                    Tok::Open(Bracket::Paren) => format!(
                        "function call '{name}(...)' cannot be evaluated: a manifest must be \
                         a plain literal, Odoo reads it with ast.literal_eval"
                    ),
                    Tok::Op(".") => format!(
                        "attribute access on '{name}' cannot be evaluated: a manifest must be \
                         a plain literal, Odoo reads it with ast.literal_eval"
                    ),
                    _ => {
                        let hint = match name.to_ascii_lowercase().as_str() {
                            "true" => " (did you mean True?)",
                            "false" => " (did you mean False?)",
                            "none" | "null" => " (did you mean None?)",
                            _ => "",
                        };
                        format!(
                            "name '{name}' cannot be evaluated: variables are not literals{hint}"
                        )
                    }
                };
                return Err(error(pos, ErrorKind::Unsupported, message));
            }
        };
        Ok(Value { kind, pos })
    }

    /// `ast.literal_eval` accepts a sign only when applied directly to a
    /// number constant; parentheses around the number are transparent.
    fn parse_signed(&mut self, sign: &str, pos: Position) -> Result<Value, ManifestError> {
        let mut parens = 0usize;
        let number = loop {
            let token = self.next()?;
            match token.tok {
                Tok::Open(Bracket::Paren) => {
                    self.open.push((Bracket::Paren, token.pos));
                    parens += 1;
                }
                Tok::Number(number) => break number,
                Tok::Eof => return Err(self.eof_error(token.pos)),
                _ => {
                    return Err(error(
                        pos,
                        ErrorKind::Unsupported,
                        format!("unary '{sign}' is only allowed directly on a number"),
                    ))
                }
            }
        };
        for _ in 0..parens {
            let token = self.next()?;
            match token.tok {
                Tok::Close(Bracket::Paren) => {
                    self.open.pop();
                }
                Tok::Eof => return Err(self.eof_error(token.pos)),
                other => {
                    return Err(error(
                        token.pos,
                        ErrorKind::Unsupported,
                        format!(
                            "expected ')' after the signed number, found {}{}",
                            other.describe(),
                            operator_hint(&other)
                        ),
                    ))
                }
            }
        }
        let kind = match (sign, number) {
            ("-", Number::Int(i)) => ValueKind::Int(-i),
            ("-", Number::Float(f)) => ValueKind::Float(-f),
            (_, number) => number_kind(number),
        };
        Ok(Value { kind, pos })
    }

    /// Parses comma-separated items up to `close`. When `items` is not
    /// empty, its last element was just parsed and a separator is expected.
    fn parse_items(
        &mut self,
        close: Bracket,
        what: &str,
        mut items: Vec<Value>,
        hashable: bool,
    ) -> Result<Vec<Value>, ManifestError> {
        let mut expect_item = items.is_empty();
        loop {
            if expect_item {
                if self.peek_is(&Tok::Close(close))? {
                    self.next()?;
                    return Ok(items);
                }
                let item = self.parse_value()?;
                if hashable {
                    check_hashable(&item, "a set element")?;
                }
                items.push(item);
            }
            let item_end = self.last_end;
            let token = self.next()?;
            match token.tok {
                Tok::Comma => expect_item = true,
                Tok::Close(bracket) if bracket == close => return Ok(items),
                Tok::Close(bracket) => return Err(self.mismatch_error(bracket, token.pos)),
                Tok::Eof => return Err(self.eof_error(token.pos)),
                other => {
                    return Err(separator_error(
                        &format!(
                            "expected ',' or '{}' after {what} element",
                            close.close_char()
                        ),
                        &other,
                        token.pos,
                        item_end,
                    ))
                }
            }
        }
    }

    fn parse_list(&mut self, pos: Position) -> Result<Value, ManifestError> {
        let items = self.parse_items(Bracket::Square, "list", Vec::new(), false)?;
        Ok(Value {
            kind: ValueKind::List(items),
            pos,
        })
    }

    /// `()` is an empty tuple, `(x)` is just `x`, `(x,)` and `(x, y)` are tuples.
    fn parse_paren(&mut self, pos: Position) -> Result<Value, ManifestError> {
        if self.peek_is(&Tok::Close(Bracket::Paren))? {
            self.next()?;
            return Ok(Value {
                kind: ValueKind::Tuple(Vec::new()),
                pos,
            });
        }
        let first = self.parse_value()?;
        if self.peek_is(&Tok::Close(Bracket::Paren))? {
            self.next()?;
            return Ok(first);
        }
        let items = self.parse_items(Bracket::Paren, "tuple", vec![first], false)?;
        Ok(Value {
            kind: ValueKind::Tuple(items),
            pos,
        })
    }

    /// `{}` is an empty dict; the first entry decides between dict and set.
    fn parse_curly(&mut self, pos: Position) -> Result<Value, ManifestError> {
        if self.peek_is(&Tok::Close(Bracket::Curly))? {
            self.next()?;
            return Ok(Value {
                kind: ValueKind::Dict(Vec::new()),
                pos,
            });
        }
        let first = self.parse_value()?;
        if !self.peek_is(&Tok::Colon)? {
            check_hashable(&first, "a set element")?;
            let items = self.parse_items(Bracket::Curly, "set", vec![first], true)?;
            return Ok(Value {
                kind: ValueKind::Set(items),
                pos,
            });
        }
        let mut entries = Vec::new();
        let mut key = first;
        loop {
            check_hashable(&key, "a dict key")?;
            let colon = self.next()?;
            match colon.tok {
                Tok::Colon => {}
                Tok::Eof => return Err(self.eof_error(colon.pos)),
                other => {
                    return Err(error(
                        colon.pos,
                        ErrorKind::Syntax,
                        format!("expected ':' after dict key, found {}", other.describe()),
                    ))
                }
            }
            let value = self.parse_value()?;
            let value_parts = std::mem::take(&mut self.last_string_parts);
            entries.push((key, value));
            let value_end = self.last_end;
            let token = self.next()?;
            match token.tok {
                Tok::Comma => {
                    if self.peek_is(&Tok::Close(Bracket::Curly))? {
                        self.next()?;
                        break;
                    }
                    key = self.parse_value()?;
                }
                Tok::Close(Bracket::Curly) => break,
                Tok::Close(bracket) => return Err(self.mismatch_error(bracket, token.pos)),
                Tok::Eof => return Err(self.eof_error(token.pos)),
                Tok::Colon if value_parts.len() >= 2 => {
                    // `'a': 'x'  'b': 1` — the next key was glued onto the
                    // value by implicit concatenation; the comma is missing
                    // right after the string before the last one.
                    let (_, missing_at) = value_parts[value_parts.len() - 2];
                    let (glued, _) = value_parts[value_parts.len() - 1];
                    return Err(error(
                        missing_at,
                        ErrorKind::Syntax,
                        format!(
                            "expected ',' or '}}' after dict value: the string on line {} was \
                             joined to it by implicit string concatenation (missing ',')",
                            glued.line
                        ),
                    ));
                }
                other => {
                    return Err(separator_error(
                        "expected ',' or '}' after dict value",
                        &other,
                        token.pos,
                        value_end,
                    ))
                }
            }
        }
        Ok(Value {
            kind: ValueKind::Dict(entries),
            pos,
        })
    }
}

/// Error for a token that cannot follow an item. When that token starts a
/// new value, the item separator is most likely missing: point right after
/// the previous item, where the ',' belongs (often the end of the previous
/// line), rather than at the next item.
fn separator_error(
    expected: &str,
    found: &Tok,
    found_pos: Position,
    item_end: Position,
) -> ManifestError {
    let starts_value = matches!(
        found,
        Tok::Str(_) | Tok::Number(_) | Tok::Name(_) | Tok::Open(_)
    );
    if starts_value {
        error(
            item_end,
            ErrorKind::Syntax,
            format!("{expected}, found {} (missing ',')", found.describe()),
        )
    } else {
        error(
            found_pos,
            ErrorKind::Syntax,
            format!(
                "{expected}, found {}{}",
                found.describe(),
                operator_hint(found)
            ),
        )
    }
}

fn number_kind(number: Number) -> ValueKind {
    match number {
        Number::Int(i) => ValueKind::Int(i),
        Number::Float(f) => ValueKind::Float(f),
    }
}

/// Python raises `TypeError: unhashable type` for mutable dict keys and set
/// elements; mirror it so such files are not silently accepted.
fn check_hashable(value: &Value, role: &str) -> Result<(), ManifestError> {
    match &value.kind {
        ValueKind::List(_) | ValueKind::Dict(_) | ValueKind::Set(_) => Err(error(
            value.pos,
            ErrorKind::Unsupported,
            format!("unhashable type '{}' cannot be {role}", value.type_name()),
        )),
        ValueKind::Tuple(items) => items.iter().try_for_each(|item| check_hashable(item, role)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
