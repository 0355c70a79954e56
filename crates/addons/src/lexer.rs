//! Tokenizer for the subset of Python that `ast.literal_eval` accepts.
//!
//! Odoo loads `__manifest__.py` with `ast.literal_eval(f.read())`, so a
//! manifest is one Python *expression* in `eval` mode: no statements, no
//! names, no calls. This lexer reproduces the parts of CPython's tokenizer
//! that matter for such files (string prefixes and escapes, numbers with
//! underscores, comments, line continuations, implicit line joining inside
//! brackets, the "unexpected indent" rule) so that what we accept and reject
//! matches what Odoo will accept and reject, without running Python.
//!
//! Positions are 1-based; columns count Unicode scalar values, like the
//! `offset` of a CPython `SyntaxError`.

mod numbers;
mod strings;

use crate::literal::Position;
use crate::manifest::{ManifestError, ManifestErrorKind as ErrorKind};

/// Which kind of bracket a token opens or closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bracket {
    Paren,
    Square,
    Curly,
}

impl Bracket {
    pub(crate) fn open_char(self) -> char {
        match self {
            Bracket::Paren => '(',
            Bracket::Square => '[',
            Bracket::Curly => '{',
        }
    }

    pub(crate) fn close_char(self) -> char {
        match self {
            Bracket::Paren => ')',
            Bracket::Square => ']',
            Bracket::Curly => '}',
        }
    }
}

/// The decoded content of one string token (before implicit concatenation).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StrContent {
    Str(String),
    Bytes(Vec<u8>),
}

/// A numeric literal. Complex numbers are rejected by the lexer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Open(Bracket),
    Close(Bracket),
    Colon,
    Comma,
    /// One string token (before implicit concatenation).
    Str(StrContent),
    Number(Number),
    Name(String),
    /// Any operator or delimiter that has no meaning in a literal
    /// (`+`, `-`, `.`, `=`, `...`). `+`/`-` are valid as unary signs.
    Op(&'static str),
    /// End of a logical line at bracket depth 0.
    Newline,
    Eof,
}

impl Tok {
    /// How the token is named in error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Open(b) => format!("'{}'", b.open_char()),
            Tok::Close(b) => format!("'{}'", b.close_char()),
            Tok::Colon => "':'".to_owned(),
            Tok::Comma => "','".to_owned(),
            Tok::Str(_) => "a string".to_owned(),
            Tok::Number(_) => "a number".to_owned(),
            Tok::Name(name) => format!("name '{name}'"),
            Tok::Op(op) => format!("'{op}'"),
            Tok::Newline => "end of line".to_owned(),
            Tok::Eof => "end of file".to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) pos: Position,
    /// Position just after the token's last character.
    pub(crate) end: Position,
    /// True when the token starts a logical line (at depth 0) whose
    /// indentation is not zero. CPython rejects that with "unexpected indent".
    pub(crate) indented: bool,
}

pub(crate) struct Lexer {
    /// Source with `\r\n` and `\r` normalised to `\n`, as CPython does.
    chars: Vec<char>,
    idx: usize,
    line: usize,
    column: usize,
    /// Open brackets; newlines inside brackets are not significant.
    depth: usize,
    /// At least one token was produced on the current logical line.
    line_has_token: bool,
}

fn err(pos: Position, kind: ErrorKind, message: impl Into<String>) -> ManifestError {
    ManifestError::new(pos, kind, message)
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Characters CPython refuses outside string literals with "invalid
/// non-printable character". `str.isprintable()` needs the Unicode general
/// category, which std does not expose; controls, non-ASCII white space and
/// the common invisible format characters (BOM, zero-width spaces, bidi
/// marks, soft hyphen) cover what actually shows up in files.
fn is_non_printable(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
        )
}

impl Lexer {
    /// Prepares `source`; fails if it holds a NUL character, which CPython
    /// refuses anywhere in a source, strings and comments included.
    pub(crate) fn new(source: &str) -> Result<Self, ManifestError> {
        // `ast.literal_eval` strips leading spaces and tabs of the whole
        // source before parsing, so only the first line gets that leniency.
        let trimmed = source.trim_start_matches([' ', '\t']);
        let skipped = source.chars().count() - trimmed.chars().count();
        let mut chars = Vec::with_capacity(trimmed.len());
        let mut it = trimmed.chars().peekable();
        while let Some(c) = it.next() {
            if c == '\r' {
                if it.peek() == Some(&'\n') {
                    it.next();
                }
                chars.push('\n');
            } else {
                chars.push(c);
            }
        }
        let mut lexer = Lexer {
            chars,
            idx: 0,
            line: 1,
            column: 1 + skipped,
            depth: 0,
            line_has_token: false,
        };
        if let Some(nul) = lexer.chars.iter().position(|&c| c == '\0') {
            while lexer.idx < nul {
                lexer.bump();
            }
            let pos = lexer.pos();
            return Err(err(
                pos,
                ErrorKind::Syntax,
                "source code cannot contain null bytes",
            ));
        }
        lexer.idx = 0;
        lexer.line = 1;
        lexer.column = 1 + skipped;
        Ok(lexer)
    }

    fn pos(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }

    fn peek_char(&self) -> Option<char> {
        self.chars.get(self.idx).copied()
    }

    fn peek_char_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.idx + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.idx).copied()?;
        self.idx += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    /// Produces the next token.
    pub(crate) fn next_token(&mut self) -> Result<Token, ManifestError> {
        // Indentation of the current physical line, tracked like CPython:
        // a form feed resets it, tabs advance to the next multiple of 8.
        let mut indent: usize = 0;
        // Indentation at the first backslash continuation met before the
        // first token of the line (0: none met). CPython decides the
        // indentation of a continued line from there, not from the blanks
        // after the continuation.
        let mut continued_indent: usize = 0;
        // Column 1 means a fresh physical line; index 0 is the start of the
        // source, whose leading blanks `new` stripped (they never count).
        let mut at_line_start = self.column == 1 || self.idx == 0;
        loop {
            let Some(c) = self.peek_char() else {
                let pos = self.pos();
                let indent = if continued_indent > 0 {
                    continued_indent
                } else {
                    indent
                };
                if at_line_start && indent > 0 && self.depth == 0 {
                    // CPython quirk, kept because Odoo inherits it: a last
                    // line made of blanks without a final newline is an
                    // indented empty statement.
                    return Err(err(
                        Position {
                            line: pos.line,
                            column: 1,
                        },
                        ErrorKind::Syntax,
                        "unexpected indent (the last line holds only blanks and has no \
                         final newline)",
                    ));
                }
                if self.line_has_token && self.depth == 0 {
                    self.line_has_token = false;
                    return Ok(self.token(Tok::Newline, pos, false));
                }
                return Ok(self.token(Tok::Eof, pos, false));
            };
            match c {
                ' ' => {
                    self.bump();
                    indent += 1;
                }
                '\t' => {
                    self.bump();
                    indent = (indent / 8 + 1) * 8;
                }
                '\u{000C}' => {
                    self.bump();
                    indent = 0;
                }
                '#' => {
                    while let Some(c) = self.peek_char() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                    // A comment line is not an indented blank line.
                    at_line_start = false;
                }
                '\n' => {
                    let pos = self.pos();
                    self.bump();
                    indent = 0;
                    continued_indent = 0;
                    at_line_start = true;
                    if self.line_has_token && self.depth == 0 {
                        self.line_has_token = false;
                        return Ok(self.token(Tok::Newline, pos, false));
                    }
                }
                '\\' => {
                    let pos = self.pos();
                    self.bump();
                    match self.peek_char() {
                        Some('\n') => {
                            self.bump();
                            if self.peek_char().is_none() {
                                return Err(err(
                                    pos,
                                    ErrorKind::Syntax,
                                    "unexpected end of file after line continuation character",
                                ));
                            }
                            // A continuation joins lines without ending the
                            // current one; before the first token of a line
                            // CPython keeps counting indentation across it.
                            if continued_indent == 0 {
                                continued_indent = indent;
                            }
                        }
                        None => {
                            return Err(err(
                                pos,
                                ErrorKind::Syntax,
                                "unexpected end of file after line continuation character",
                            ))
                        }
                        Some(_) => {
                            return Err(err(
                                pos,
                                ErrorKind::Syntax,
                                "unexpected character after line continuation character",
                            ))
                        }
                    }
                }
                _ => {
                    let indent = if continued_indent > 0 {
                        continued_indent
                    } else {
                        indent
                    };
                    let indented = at_line_start && self.depth == 0 && indent > 0;
                    return self.lex_token(c, indented);
                }
            }
        }
    }

    fn token(&mut self, tok: Tok, pos: Position, indented: bool) -> Token {
        if !matches!(tok, Tok::Newline | Tok::Eof) {
            self.line_has_token = true;
        }
        Token {
            tok,
            pos,
            end: self.pos(),
            indented,
        }
    }

    fn lex_token(&mut self, c: char, indented: bool) -> Result<Token, ManifestError> {
        let pos = self.pos();
        let punct = match c {
            '(' => Some(Tok::Open(Bracket::Paren)),
            '[' => Some(Tok::Open(Bracket::Square)),
            '{' => Some(Tok::Open(Bracket::Curly)),
            ')' => Some(Tok::Close(Bracket::Paren)),
            ']' => Some(Tok::Close(Bracket::Square)),
            '}' => Some(Tok::Close(Bracket::Curly)),
            ':' => Some(Tok::Colon),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = punct {
            self.bump();
            match tok {
                Tok::Open(_) => self.depth += 1,
                Tok::Close(_) => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            return Ok(self.token(tok, pos, indented));
        }
        if c == '"' || c == '\'' {
            let tok = self.lex_string(pos, false, false)?;
            return Ok(self.token(tok, pos, indented));
        }
        if c.is_ascii_digit()
            || (c == '.' && self.peek_char_at(1).is_some_and(|d| d.is_ascii_digit()))
        {
            let tok = self.lex_number(pos)?;
            return Ok(self.token(tok, pos, indented));
        }
        if is_ident_start(c) {
            let start = self.idx;
            while self.peek_char().is_some_and(is_ident_continue) {
                self.bump();
            }
            let word: String = self.chars[start..self.idx].iter().collect();
            if matches!(self.peek_char(), Some('"' | '\'')) {
                let lower = word.to_ascii_lowercase();
                let (raw, bytes) = match lower.as_str() {
                    "r" => (true, false),
                    "u" => (false, false),
                    "b" => (false, true),
                    "br" | "rb" => (true, true),
                    "f" | "fr" | "rf" => {
                        return Err(err(
                            pos,
                            ErrorKind::Unsupported,
                            "f-strings are evaluated at run time and are not literals",
                        ))
                    }
                    _ => {
                        return Err(err(
                            pos,
                            ErrorKind::Syntax,
                            format!("invalid string prefix '{word}'"),
                        ))
                    }
                };
                let tok = self.lex_string(pos, raw, bytes)?;
                return Ok(self.token(tok, pos, indented));
            }
            return Ok(self.token(Tok::Name(word), pos, indented));
        }
        if c == '\u{FEFF}' {
            return Err(err(
                pos,
                ErrorKind::Syntax,
                "invalid non-printable character U+FEFF (a UTF-8 byte order mark; \
                 Odoo reads manifests without stripping it, save the file without BOM)",
            ));
        }
        if is_non_printable(c) {
            return Err(err(
                pos,
                ErrorKind::Syntax,
                format!("invalid non-printable character U+{:04X}", c as u32),
            ));
        }
        let op: Option<&'static str> = match c {
            '.' if self.peek_char_at(1) == Some('.') && self.peek_char_at(2) == Some('.') => {
                Some("...")
            }
            '+' => Some("+"),
            '-' => Some("-"),
            '*' => Some("*"),
            '/' => Some("/"),
            '%' => Some("%"),
            '@' => Some("@"),
            '&' => Some("&"),
            '|' => Some("|"),
            '^' => Some("^"),
            '~' => Some("~"),
            '<' => Some("<"),
            '>' => Some(">"),
            '=' => Some("="),
            '!' => Some("!"),
            '.' => Some("."),
            ';' => Some(";"),
            _ => None,
        };
        match op {
            Some(op) => {
                for _ in 0..op.chars().count() {
                    self.bump();
                }
                Ok(self.token(Tok::Op(op), pos, indented))
            }
            None => Err(err(
                pos,
                ErrorKind::Syntax,
                format!("invalid character '{c}' (U+{:04X})", c as u32),
            )),
        }
    }
}
