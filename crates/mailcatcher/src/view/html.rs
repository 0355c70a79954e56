//! HTML bodies as plain text, for [`super::MailView::display_text`] when a
//! message has no text body (or a blank one), rendered by `html2text`.

/// Most start tags handed to `html2text`; the HTML is cut before the next
/// one.  Its parser (html5ever) checks the stack of open elements at each
/// tag, so deeply nested markup costs the square of its tags: measured at
/// opt-level 1, 20 000 tags of nested lists took 2.7 s, 80 000 took a
/// minute, and a few MiB would stall the catcher's reader for hours.  At
/// 5 000 the worst case stays under 0.2 s, and real mail, a few hundred
/// tags, is never cut.
const MAX_TAGS: usize = 5_000;

/// Lines are not wrapped: the text is shown in a `<pre>` that wraps itself.
const WIDTH: usize = 10_000;

/// Said in place of what was cut at [`MAX_TAGS`].
const CUT: &str = "[…] (the rest of this HTML is not rendered as text)";

/// Renders HTML as plain text for a `<pre>`: tags dropped, entities
/// decoded, `<script>`, `<style>` and `<head>` contents dropped, links as
/// numbered footnotes (as Odoo writes its own text bodies), lists, tables
/// and headings laid out.  Control characters other than line breaks and
/// tabs are dropped, line ends trimmed.
pub(super) fn html_to_text(html: &str) -> String {
    let (html, cut) = match nth_start_tag(html, MAX_TAGS) {
        Some(at) => (&html[..at], true),
        None => (html, false),
    };
    let rendered = html2text::config::plain_no_decorate()
        .link_footnotes(true)
        .no_table_borders()
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), WIDTH);
    let mut text = match rendered {
        Ok(text) => tidy(&text),
        // Only a renderer's internal failure gets here; the HTML view still
        // shows the body.
        Err(_) => "(this HTML body could not be rendered as text)".to_owned(),
    };
    if cut {
        text.push_str("\n\n");
        text.push_str(CUT);
    }
    text
}

/// Where the start tag after the first `n` begins (`<` and a letter), if
/// there are more than `n`.
fn nth_start_tag(html: &str, n: usize) -> Option<usize> {
    html.as_bytes()
        .windows(2)
        .enumerate()
        .filter(|(_, pair)| pair[0] == b'<' && pair[1].is_ascii_alphabetic())
        .nth(n)
        .map(|(at, _)| at)
}

/// Drops control characters other than `\n` and `\t`, turns no-break spaces
/// into spaces (as they look in a `<pre>`), trims the end of each line and
/// the blank lines at both ends.
fn tidy(text: &str) -> String {
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            line.chars()
                .filter(|&c| c == '\t' || !c.is_control())
                .map(|c| if c == '\u{a0}' { ' ' } else { c })
                .collect::<String>()
                .trim_end()
                .to_owned()
        })
        .collect();
    lines.join("\n").trim_matches('\n').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_tags_are_counted_not_closing_tags_or_lone_brackets() {
        let html = "<p>1 < 2</p><!-- x --><b>bold</b><i>";
        assert_eq!(nth_start_tag(html, 1), Some(html.find("<b>").unwrap()));
        assert_eq!(nth_start_tag(html, 3), None);
    }

    #[test]
    fn regression_deeply_nested_html_is_cut_at_the_tag_cap_in_bounded_time() {
        // Unbounded, html5ever takes minutes on 40 000 nested list items.
        let html = "<ul><li>x".repeat(40_000);
        let started = std::time::Instant::now();
        let text = html_to_text(&html);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        assert!(text.ends_with(CUT), "{:?}", &text[text.len() - 80..]);
        assert!(text.starts_with("* x"), "{:?}", &text[..80]);
    }

    #[test]
    fn control_characters_and_trailing_blanks_are_dropped() {
        assert_eq!(
            html_to_text("<p>a\u{1}b \u{7}</p>\n\n<p>c\td</p>"),
            "ab\n\nc d"
        );
    }
}
