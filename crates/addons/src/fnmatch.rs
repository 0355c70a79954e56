//! Python's `fnmatch.fnmatch` on POSIX, needed to apply
//! `module_auto_update` exclude patterns exactly as Python does.
//!
//! Semantics (from the `fnmatch.translate` documentation and behaviour):
//! matching is anchored and case-sensitive (`os.path.normcase` is the
//! identity on POSIX); `*` matches any run of characters *including* `/`;
//! `?` matches one character; `[seq]` / `[!seq]` match one character in /
//! not in the set, where `]` right after `[` or `[!` is a member, `a-z` is
//! a range, a reversed range matches nothing, a leading or trailing `-` is
//! literal and a backslash is an ordinary character; a `[` without a
//! closing `]` is a literal `[`.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Char(char),
    Range(char, char),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    Any,
    Star,
    Class { negated: bool, items: Vec<Item> },
}

impl Token {
    fn matches(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::Any => true,
            Token::Star => unreachable!("stars are handled by the matcher"),
            Token::Class { negated, items } => {
                let hit = items.iter().any(|item| match *item {
                    Item::Char(x) => x == c,
                    Item::Range(lo, hi) => lo <= c && c <= hi,
                });
                hit != *negated
            }
        }
    }
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
}

impl Pattern {
    pub(crate) fn new(pattern: &str) -> Self {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::Any),
                '[' => match parse_class(&chars, i) {
                    Some((token, next)) => {
                        tokens.push(token);
                        i = next;
                    }
                    None => tokens.push(Token::Literal('[')),
                },
                _ => tokens.push(Token::Literal(c)),
            }
        }
        Pattern { tokens }
    }

    /// Whether the whole of `name` matches.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let text: Vec<char> = name.chars().collect();
        let tokens = &self.tokens;
        // Classic wildcard matching with backtracking to the last `*`;
        // linear in practice and correct because every other token
        // consumes exactly one character.
        let (mut t, mut p) = (0usize, 0usize);
        let mut backtrack: Option<(usize, usize)> = None;
        while t < text.len() {
            if p < tokens.len() && tokens[p] == Token::Star {
                backtrack = Some((p, t));
                p += 1;
            } else if p < tokens.len() && tokens[p].matches(text[t]) {
                p += 1;
                t += 1;
            } else if let Some((star_p, star_t)) = backtrack {
                p = star_p + 1;
                t = star_t + 1;
                backtrack = Some((star_p, star_t + 1));
            } else {
                return false;
            }
        }
        tokens[p..].iter().all(|token| *token == Token::Star)
    }
}

/// Parses a `[...]` class whose content starts at `start` (just after `[`).
/// Returns the token and the index after the closing `]`, or `None` when
/// there is no closing `]` (the `[` is then literal).
fn parse_class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut j = start;
    if chars.get(j) == Some(&'!') {
        j += 1;
    }
    if chars.get(j) == Some(&']') {
        j += 1;
    }
    while j < chars.len() && chars[j] != ']' {
        j += 1;
    }
    if j >= chars.len() {
        return None;
    }
    let mut content = &chars[start..j];
    let negated = content.first() == Some(&'!');
    if negated {
        content = &content[1..];
    }
    let mut items = Vec::new();
    let mut k = 0;
    while k < content.len() {
        let c = content[k];
        // `c-d` is a range when both ends exist; the first character of the
        // set can start a range but a `-` right after a range is literal.
        if k + 2 < content.len() && content[k + 1] == '-' {
            let hi = content[k + 2];
            if c <= hi {
                items.push(Item::Range(c, hi));
            }
            k += 3;
        } else {
            items.push(Item::Char(c));
            k += 1;
        }
    }
    Some((Token::Class { negated, items }, j + 1))
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    fn m(pattern: &str, name: &str) -> bool {
        Pattern::new(pattern).matches(name)
    }

    #[test]
    fn star_crosses_directory_separators() {
        assert!(m("static/*", "static/src/js/app.js"));
        assert!(m("*.pyc", "models/__pycache__/res.cpython-311.pyc"));
        assert!(m("i18n/*.pot", "i18n/my_module.pot"));
        assert!(!m("i18n/*.pot", "i18n_extra/my_module.pot"));
        assert!(!m("tests/*", "models/tests/x.py"));
        assert!(m("*tests/*", "models/tests/x.py"));
    }

    #[test]
    fn anchored_and_case_sensitive() {
        assert!(!m("*.PYC", "a.pyc"));
        assert!(!m("a", "ab"));
        assert!(!m("b", "ab"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "a/x/b/y/c"));
        assert!(!m("a*b*c", "a/x/b/y/cd"));
    }

    #[test]
    fn question_mark_and_classes() {
        assert!(m("?.po", "a.po"));
        assert!(!m("?.po", "ab.po"));
        assert!(m("[ab].po", "b.po"));
        assert!(!m("[!ab].po", "b.po"));
        assert!(m("[!ab].po", "c.po"));
        assert!(m("[a-c]", "b"));
        assert!(!m("[c-a]", "b"), "reversed ranges match nothing");
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "x"));
        assert!(m("[a-]", "-"));
        assert!(m("[-a]", "-"));
        assert!(m("[a-c-e]", "-"), "a '-' right after a range is literal");
        assert!(!m("[a-c-e]", "d"));
        assert!(m("[\\]", "\\"), "backslash is not an escape");
        assert!(m("[", "["), "an unclosed '[' is literal");
        assert!(m("a[b", "a[b"));
        assert!(m("[--a]", "-"));
        assert!(m("[--a]", "0"));
    }
}
