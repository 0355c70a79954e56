//! HTML bodies as plain text, for [`super::MailView::display_text`] when a
//! message has no text body (or a blank one).

use std::borrow::Cow;

use charset::Charset;

use crate::bytes::find_byte;

/// Renders HTML as plain text for a `<pre>`: tags dropped, entities
/// decoded, whitespace collapsed (except in `<pre>`), block elements on
/// their own lines, `<li>` as `- `, links followed by their target,
/// `<script>`, `<style>`, `<title>` and `<template>` contents dropped.
/// Lenient and linear: each tag, comment or raw-text element is scanned
/// once, and an unterminated one ends the document.
pub(super) fn html_to_text(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut out = TextOut::default();
    let mut pre = 0usize;
    // The href of the open link and where its text starts in the output.
    let mut link: Option<(String, usize)> = None;
    let mut at = 0;
    while at < bytes.len() {
        let lt = find_byte(bytes, at, b'<').unwrap_or(bytes.len());
        out.text(&decode_entities(&html[at..lt]), pre > 0);
        if lt >= bytes.len() {
            break;
        }
        let after = &bytes[lt + 1..];
        at = match after.first() {
            Some(b'!') if after.starts_with(b"!--") => {
                match html.get(lt + 4..).and_then(|rest| rest.find("-->")) {
                    Some(i) => lt + 4 + i + 3,
                    None => break,
                }
            }
            Some(b'!' | b'?') => match find_byte(bytes, lt, b'>') {
                Some(gt) => gt + 1,
                None => break,
            },
            Some(b'/') if after.get(1).is_some_and(u8::is_ascii_alphabetic) => {
                let name = tag_name(bytes, lt + 2);
                let Some(gt) = find_byte(bytes, lt, b'>') else {
                    break;
                };
                match name.as_str() {
                    "pre" => pre = pre.saturating_sub(1),
                    "a" => {
                        if let Some((href, start)) = link.take() {
                            out.link_target(&href, start);
                        }
                    }
                    _ => {}
                }
                out.element_boundary(&name, false);
                gt + 1
            }
            Some(b) if b.is_ascii_alphabetic() => {
                let Some(tag) = parse_start_tag(html, lt + 1) else {
                    break;
                };
                match tag.name.as_str() {
                    "script" | "style" | "title" | "template" => {
                        match skip_raw_text(html, tag.end, &tag.name) {
                            Some(end) => end,
                            None => break,
                        }
                    }
                    name => {
                        match name {
                            "pre" => pre += 1,
                            "a" => link = tag.href.map(|href| (href, out.buf.len())),
                            _ => {}
                        }
                        out.element_boundary(name, true);
                        tag.end
                    }
                }
            }
            // A `<` that starts no tag is text.
            _ => {
                out.text("<", pre > 0);
                lt + 1
            }
        };
    }
    tidy(&out.buf)
}

/// Output of [`html_to_text`], with collapsible whitespace and line breaks
/// held back until the next text, so that they never pile up.
#[derive(Default)]
struct TextOut {
    buf: String,
    newlines: usize,
    space: bool,
}

impl TextOut {
    fn text(&mut self, text: &str, pre: bool) {
        for c in text.chars() {
            match c {
                ' ' | '\t' | '\n' | '\r' | '\x0c' if !pre => self.space = true,
                '\r' => {}
                '\n' | '\t' => {
                    self.flush();
                    self.buf.push(c);
                }
                c if c.is_control() => {}
                c => {
                    self.flush();
                    self.buf.push(if c == '\u{a0}' { ' ' } else { c });
                }
            }
        }
    }

    fn flush(&mut self) {
        if self.newlines > 0 {
            if !self.buf.is_empty() {
                for _ in 0..self.newlines.min(2) {
                    self.buf.push('\n');
                }
            }
            self.newlines = 0;
            self.space = false;
        } else if self.space {
            if !self.buf.is_empty() && !self.buf.ends_with(['\n', ' ']) {
                self.buf.push(' ');
            }
            self.space = false;
        }
    }

    fn block(&mut self, lines: usize) {
        self.newlines = self.newlines.max(lines);
    }

    /// Line breaks and separators around an element.
    fn element_boundary(&mut self, name: &str, start: bool) {
        match name {
            "br" => self.newlines += 1,
            "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "ul" | "ol" | "dl"
            | "pre" | "hr" => self.block(2),
            "li" => {
                self.block(1);
                if start {
                    self.text("-", false);
                    self.space = true;
                }
            }
            "div" | "table" | "tr" | "dt" | "dd" | "section" | "article" | "header" | "footer"
            | "address" | "center" | "aside" | "nav" | "main" | "form" | "fieldset" | "figure"
            | "figcaption" | "details" | "summary" | "caption" | "body" => self.block(1),
            "td" | "th" => self.space = true,
            _ => {}
        }
    }

    /// Appends ` <href>` after a link's text, unless the text already says
    /// it or the target is internal (`#…`, `javascript:`, `data:`, `cid:`).
    fn link_target(&mut self, href: &str, start: usize) {
        let href: String = href
            .chars()
            .filter(|c| !c.is_whitespace() && !c.is_control())
            .collect();
        let text = self.buf.get(start..).unwrap_or_default().trim();
        let lower = href.to_ascii_lowercase();
        let internal = ["#", "javascript:", "data:", "cid:"]
            .iter()
            .any(|prefix| lower.starts_with(prefix));
        let said = text == href
            || ["mailto:", "tel:"]
                .iter()
                .any(|scheme| lower.starts_with(scheme) && text == &href[scheme.len()..]);
        if text.is_empty() || href.is_empty() || internal || said {
            return;
        }
        self.space = true;
        self.text(&format!("<{href}>"), true);
    }
}

struct StartTag {
    /// Lower case.
    name: String,
    href: Option<String>,
    /// Index just past the closing `>`.
    end: usize,
}

/// The ASCII-lower-cased tag name starting at `from`.
fn tag_name(bytes: &[u8], from: usize) -> String {
    bytes
        .get(from..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b'_'))
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect()
}

/// Parses a start tag whose name starts at `from` (just after `<`), with
/// its attributes (quoted values may hold `>`); `None` if it never ends.
fn parse_start_tag(html: &str, from: usize) -> Option<StartTag> {
    let bytes = html.as_bytes();
    let name = tag_name(bytes, from);
    let mut href = None;
    let mut i = from + name.len();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        match bytes.get(i)? {
            b'>' => {
                return Some(StartTag {
                    name,
                    href,
                    end: i + 1,
                })
            }
            b'=' => {
                // A value without a name: skip the `=`, then the value as an
                // attribute name.
                i += 1;
                continue;
            }
            _ => {}
        }
        let attr_start = i;
        while i < bytes.len()
            && !bytes[i].is_ascii_whitespace()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
        {
            i += 1;
        }
        let attr = html.get(attr_start..i).unwrap_or_default();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            continue;
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value = match bytes.get(i)? {
            &quote if quote == b'"' || quote == b'\'' => {
                let close = find_byte(bytes, i + 1, quote)?;
                let value = html.get(i + 1..close).unwrap_or_default();
                i = close + 1;
                value
            }
            _ => {
                let value_start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                    i += 1;
                }
                html.get(value_start..i).unwrap_or_default()
            }
        };
        if href.is_none() && attr.eq_ignore_ascii_case("href") {
            href = Some(decode_entities(value).into_owned());
        }
    }
}

/// The index just past `</name…>` at or after `from` (ASCII case
/// insensitive), or `None` if the element never closes.
fn skip_raw_text(html: &str, from: usize, name: &str) -> Option<usize> {
    let bytes = html.as_bytes();
    let mut at = from;
    loop {
        let close = at + html.get(at..)?.find("</")?;
        let name_start = close + 2;
        let candidate = bytes.get(name_start..name_start + name.len());
        let follows = bytes.get(name_start + name.len());
        if candidate.is_some_and(|c| c.eq_ignore_ascii_case(name.as_bytes()))
            && !follows.is_some_and(u8::is_ascii_alphanumeric)
        {
            return find_byte(bytes, name_start, b'>').map(|gt| gt + 1);
        }
        at = name_start;
    }
}

/// Decodes character references: `&#233;`, `&#xE9;` and the named ones
/// common in mail.  Unknown or unterminated references are left as written.
fn decode_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while let Some(amp) = find_byte(bytes, at, b'&') {
        // References are short: look at most 32 bytes ahead for the `;`.
        let name_end = bytes[amp + 1..]
            .iter()
            .take(32)
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'#'))
            .map(|i| amp + 1 + i);
        let decoded = name_end
            .filter(|&end| bytes[end] == b';')
            .and_then(|end| Some((entity(&text[amp + 1..end])?, end + 1)));
        match decoded {
            Some((c, end)) => {
                out.push_str(&text[copied..amp]);
                out.extend(c);
                copied = end;
                at = end;
            }
            None => at = amp + 1,
        }
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The character of a reference's name (between `&` and `;`); `None` when
/// unknown.  `Some(None)` is a reference that stands for nothing (`&shy;`).
fn entity(name: &str) -> Option<Option<char>> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        // HTML maps 0x80–0x9F to windows-1252, the rest as Unicode.
        let c = match code {
            0x80..=0x9F => Charset::for_label(b"windows-1252").and_then(|cs| {
                cs.decode_without_bom_handling(&[code as u8])
                    .0
                    .chars()
                    .next()
            }),
            0 => None,
            code => char::from_u32(code),
        };
        return Some(Some(c.unwrap_or('\u{FFFD}')));
    }
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "shy" | "zwnj" | "zwj" => return Some(None),
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "sect" => '§',
        "deg" => '°',
        "plusmn" => '±',
        "times" => '×',
        "divide" => '÷',
        "para" => '¶',
        "iexcl" => '¡',
        "iquest" => '¿',
        "agrave" => 'à',
        "aacute" => 'á',
        "acirc" => 'â',
        "auml" => 'ä',
        "ccedil" => 'ç',
        "egrave" => 'è',
        "eacute" => 'é',
        "ecirc" => 'ê',
        "euml" => 'ë',
        "iacute" => 'í',
        "icirc" => 'î',
        "iuml" => 'ï',
        "ntilde" => 'ñ',
        "oacute" => 'ó',
        "ocirc" => 'ô',
        "ouml" => 'ö',
        "ugrave" => 'ù',
        "uacute" => 'ú',
        "ucirc" => 'û',
        "uuml" => 'ü',
        "szlig" => 'ß',
        "Agrave" => 'À',
        "Auml" => 'Ä',
        "Ccedil" => 'Ç',
        "Eacute" => 'É',
        "Egrave" => 'È',
        "Ouml" => 'Ö',
        "Uuml" => 'Ü',
        _ => return None,
    };
    Some(Some(c))
}

/// Trims the end of each line, drops blank lines at both ends and keeps at
/// most one blank line in a row.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = false;
    for line in text.split('\n') {
        let line = line.trim_end();
        if line.is_empty() {
            blank = true;
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank {
                out.push('\n');
            }
        }
        blank = false;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a &amp; b &lt;&#233;&#xE9;&#150;&bogus; &amp"),
            "a & b <éé–&bogus; &amp"
        );
        assert_eq!(decode_entities("x&shy;y"), "xy");
    }
}
