//! Small string helpers that keep memory bounded without splitting UTF-8.

use std::borrow::Cow;

/// Largest index `<= index` that is a char boundary of `s`.
pub(crate) fn floor_boundary(s: &str, index: usize) -> usize {
    if index >= s.len() {
        return s.len();
    }
    let mut i = index;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Smallest index `>= index` that is a char boundary of `s`.
pub(crate) fn ceil_boundary(s: &str, index: usize) -> usize {
    if index >= s.len() {
        return s.len();
    }
    let mut i = index;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Copies at most `max` bytes of `s`, saying how much was cut.
///
/// Used for single lines: what matters in a log line is at its start (the
/// header, the message), so the end is what gets dropped.
pub(crate) fn cap_line(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let cut = floor_boundary(s, max);
    format!("{} [… {} bytes cut]", &s[..cut], s.len() - cut)
}

/// Shortens a multi-line text to about `max` bytes, keeping its head and,
/// mostly, its tail.
///
/// A Python traceback reads top-down but its most useful line, the exception
/// itself, is the last one, so three quarters of the budget go to the tail.
/// Cuts happen on line boundaries when one is near.
pub(crate) fn cap_middle(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let head_budget = max / 4;
    let tail_budget = max - head_budget;
    let mut head_end = floor_boundary(&s, head_budget);
    if let Some(nl) = s[..head_end].rfind('\n') {
        head_end = nl;
    }
    let mut tail_start = ceil_boundary(&s, s.len() - tail_budget);
    if tail_start < head_end {
        tail_start = head_end;
    }
    if let Some(nl) = s[tail_start..].find('\n') {
        // Only move to the next line start if that does not throw away most
        // of the tail (one huge line would otherwise vanish entirely).
        if nl < tail_budget / 2 {
            tail_start += nl + 1;
        }
    }
    let omitted = tail_start - head_end;
    format!(
        "{}\n[… {} bytes omitted …]\n{}",
        &s[..head_end],
        omitted,
        &s[tail_start..]
    )
}

/// Removes ANSI escape sequences.
///
/// Odoo colours the level name (and the werkzeug perf columns) when stderr is
/// a terminal or `ODOO_PY_COLORS` is set; the colour codes would otherwise
/// hide the level from the parser.
pub(crate) fn strip_ansi(s: &str) -> Cow<'_, str> {
    if !s.contains('\u{1b}') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            // CSI: ESC [ parameters intermediates final-byte
            Some('[') => {
                chars.next();
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            // Two-character escape (ESC followed by one byte).
            Some(_) => {
                chars.next();
            }
            None => {}
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_line_respects_char_boundaries() {
        let s = "é".repeat(10); // 20 bytes
        let capped = cap_line(&s, 5);
        assert!(capped.starts_with("éé"));
        assert!(capped.ends_with("[… 16 bytes cut]"));
        assert_eq!(cap_line("short", 10), "short");
    }

    #[test]
    fn cap_middle_keeps_head_and_tail() {
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let capped = cap_middle(text.trim_end().to_owned(), 400);
        assert!(capped.starts_with("line 0\n"));
        assert!(capped.ends_with("line 999"));
        assert!(capped.contains("bytes omitted"));
        assert!(capped.len() < 500);
    }

    #[test]
    fn cap_middle_single_huge_line() {
        let text = "x".repeat(10_000);
        let capped = cap_middle(text, 1000);
        assert!(capped.len() < 1100);
        assert!(capped.contains("bytes omitted"));
    }

    #[test]
    fn strips_colour_codes() {
        let coloured = "2024-01-01 00:00:00,000 1 \u{1b}[1;32m\u{1b}[1;49mINFO\u{1b}[0m db x: y";
        assert_eq!(
            strip_ansi(coloured),
            "2024-01-01 00:00:00,000 1 INFO db x: y"
        );
        assert!(matches!(strip_ansi("plain"), Cow::Borrowed(_)));
        assert_eq!(strip_ansi("dangling \u{1b}"), "dangling ");
    }
}
