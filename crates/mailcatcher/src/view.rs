//! One caught message read for display: headers, the text and HTML bodies,
//! and the list of attachments.
//!
//! Reading never fails.  What cannot be read is left out, and a message
//! without recognisable headers is shown whole as its text body.
//!
//! Work is bounded: each byte is scanned at most once per multipart level
//! around it, with at most [`MAX_DEPTH`] levels and [`MAX_PARTS`] parts; the
//! walk uses an explicit stack, never recursion.  The MIME structure is
//! split here rather than by `mailparse::parse_mail`, which recurses up to
//! 100 levels, fails the whole message on some malformed inputs, and has
//! super-linear paths on crafted input (boundary search, encoded words in
//! headers).  `mailparse` is used for what is linear and fiddly: the
//! parameters of `Content-Type`/`Content-Disposition` (RFC 2231 charsets
//! and continuations), on values capped at [`MAX_PARAMETER_HEADER`] bytes
//! because its continuation handling is quadratic in the number of
//! parameters.  Charsets are decoded with its `charset` dependency
//! (encoding_rs: every WHATWG label, plus UTF-7).

use std::borrow::Cow;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use charset::Charset;
use mailparse::DispositionType;
use serde::{Deserialize, Serialize};

/// Deepest multipart nesting read; deeper parts are skipped.  Real mail
/// nests 3 or 4 levels (mixed, alternative, related).
const MAX_DEPTH: usize = 20;

/// Most MIME entities (the message itself included) read from one message;
/// later ones are skipped.
const MAX_PARTS: usize = 1000;

/// Longest `Content-Type`/`Content-Disposition` value handed to the
/// parameter parser; longer values are cut.  RFC 2231 file names of a few
/// hundred characters take a few KiB.
const MAX_PARAMETER_HEADER: usize = 16 * 1024;

/// RFC 2046 allows 70 characters; some mailers write more.
const MAX_BOUNDARY: usize = 200;

/// A caught message, decoded for display.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailView {
    /// The `From` header, decoded (e.g. `Zoé <zoe@example.com>`); empty when
    /// missing.
    pub from: String,
    /// The mailboxes of every `To` header, each decoded and trimmed; group
    /// syntax is flattened.
    pub to: Vec<String>,
    /// The mailboxes of every `Cc` header, as for [`MailView::to`].
    pub cc: Vec<String>,
    /// The mailboxes of the `Reply-To` headers, decoded, joined with `, `.
    pub reply_to: Option<String>,
    /// The `Subject` header, unfolded and decoded; empty when missing.
    pub subject: String,
    /// The `Date` header as written (unfolded, trimmed).
    pub date: Option<String>,
    /// The `Message-ID` header as written (unfolded, trimmed).
    pub message_id: Option<String>,
    /// The first `text/plain` body in reading order, decoded, lines ending
    /// in `\n`.  A message without MIME headers is all text.
    pub text: Option<String>,
    /// The first `text/html` body in reading order, decoded like
    /// [`MailView::text`].  Raw HTML: never put it in a page unescaped.
    pub html: Option<String>,
    /// Every other leaf part: attachments, inline images, non-text parts.
    pub attachments: Vec<Attachment>,
}

/// A part of a message that is not one of its bodies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The `filename` of `Content-Disposition`, else the `name` of
    /// `Content-Type`, decoded (RFC 2231 or 2047); empty when neither is
    /// given.
    pub filename: String,
    /// The MIME type, lower case (e.g. `application/pdf`).
    pub content_type: String,
    /// Size in bytes once its transfer encoding is undone.
    pub size: usize,
}

impl MailView {
    /// Reads `raw` (RFC 5322 bytes, CRLF or LF line endings).  Never fails
    /// and never panics.
    pub fn parse(raw: &[u8]) -> MailView {
        let mut view = MailView::default();
        let mut stack: Vec<(&[u8], usize)> = vec![(raw, 0)];
        let mut read = 0;
        while let Some((bytes, depth)) = stack.pop() {
            read += 1;
            if read > MAX_PARTS {
                break;
            }
            let entity = Entity::split(bytes);
            if depth == 0 {
                view.read_headers(&entity);
            }
            let part = PartInfo::of(&entity);
            if part.mime_type.starts_with("multipart/") {
                if depth >= MAX_DEPTH {
                    continue;
                }
                let parts = part
                    .boundary
                    .as_deref()
                    .map(|boundary| split_multipart(entity.body, boundary))
                    .unwrap_or_default();
                if !parts.is_empty() {
                    // Reversed so that the stack pops them in reading order.
                    stack.extend(parts.into_iter().rev().map(|p| (p, depth + 1)));
                    continue;
                }
                // No parts found: show what there is as text, as Python's
                // email package does with such a defective multipart.
                if view.text.is_none() {
                    view.text = Some(decode_text(entity.body, None));
                }
                continue;
            }
            view.read_leaf(&entity, part);
        }
        view
    }

    /// The text to show: the text body, else a plain-text rendering of the
    /// HTML body (tags dropped, entities decoded, `<script>`/`<style>`
    /// dropped), else nothing.  A blank text body gives way to the HTML.
    pub fn display_text(&self) -> Cow<'_, str> {
        match (&self.text, &self.html) {
            (Some(text), Some(html)) if text.trim().is_empty() => Cow::Owned(html_to_text(html)),
            (Some(text), _) => Cow::Borrowed(text),
            (None, Some(html)) => Cow::Owned(html_to_text(html)),
            (None, None) => Cow::Borrowed(""),
        }
    }

    fn read_headers(&mut self, entity: &Entity<'_>) {
        let mut reply_to = Vec::new();
        for &(name, value) in &entity.fields {
            let value = header_text(value);
            match name.to_ascii_lowercase().as_slice() {
                b"from" if self.from.is_empty() => self.from = clean(&decode_words(&value)),
                b"to" => self.to.extend(mailboxes(&value)),
                b"cc" => self.cc.extend(mailboxes(&value)),
                b"reply-to" => reply_to.extend(mailboxes(&value)),
                b"subject" if self.subject.is_empty() => {
                    self.subject = clean(&decode_words(&value))
                }
                b"date" if self.date.is_none() => self.date = non_empty(clean(&value)),
                b"message-id" if self.message_id.is_none() => {
                    self.message_id = non_empty(clean(&value))
                }
                _ => {}
            }
        }
        self.reply_to = non_empty(reply_to.join(", "));
    }

    fn read_leaf(&mut self, entity: &Entity<'_>, part: PartInfo) {
        let encoding = entity
            .first(b"content-transfer-encoding")
            .map(|v| {
                // The mechanism alone, without a trailing comment or junk.
                let value = header_text(v).to_ascii_lowercase();
                let mechanism = value.split([' ', '\t', ';', '(']).find(|w| !w.is_empty());
                mechanism.unwrap_or_default().to_owned()
            })
            .unwrap_or_default();
        let body_kind = match part.mime_type.as_str() {
            "text/plain" => Some(false),
            "text/html" => Some(true),
            _ => None,
        };
        if let Some(is_html) = body_kind {
            if !part.attachment && part.filename.is_none() {
                let slot = if is_html {
                    &mut self.html
                } else {
                    &mut self.text
                };
                // The first body of each kind wins; later ones are dropped.
                if slot.is_none() {
                    let bytes = undo_transfer_encoding(entity.body, &encoding);
                    *slot = Some(decode_text(&bytes, part.charset.as_deref()));
                }
                return;
            }
        }
        self.attachments.push(Attachment {
            filename: part.filename.unwrap_or_default(),
            content_type: part.mime_type,
            size: decoded_size(entity.body, &encoding),
        });
    }
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// A MIME entity (the message or one part): its header fields and body.
struct Entity<'a> {
    /// Name and raw value (folds included) of each field, in order.
    fields: Vec<(&'a [u8], &'a [u8])>,
    body: &'a [u8],
}

impl<'a> Entity<'a> {
    /// Splits `raw` into header fields and body.  The header section ends at
    /// the first empty line, or at the first line that is neither a field
    /// nor a continuation: that line starts the body, so text without
    /// headers is all body.
    fn split(raw: &'a [u8]) -> Entity<'a> {
        // (name, value start, value end) as indices into `raw`.
        let mut fields: Vec<(&'a [u8], usize, usize)> = Vec::new();
        let mut at = 0;
        let mut body_start = raw.len();
        while at < raw.len() {
            let end = find_byte(raw, at, b'\n').unwrap_or(raw.len());
            let line = &raw[at..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let next = (end + 1).min(raw.len());
            if line.is_empty() {
                body_start = next;
                break;
            }
            if line[0] == b' ' || line[0] == b'\t' {
                match fields.last_mut() {
                    Some(field) => field.2 = at + line.len(),
                    None => {
                        body_start = at;
                        break;
                    }
                }
            } else if let Some(colon) = field_name_end(line) {
                fields.push((trim_end_ws(&line[..colon]), at + colon + 1, at + line.len()));
            } else if !(at == 0 && line.starts_with(b"From ")) {
                // Not a header line (an mbox "From " first line is skipped).
                body_start = at;
                break;
            }
            at = next;
        }
        Entity {
            fields: fields
                .into_iter()
                .map(|(name, start, end)| (name, &raw[start..end]))
                .collect(),
            body: &raw[body_start.min(raw.len())..],
        }
    }

    /// The raw value of the first field called `name` (lower case).
    fn first(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, value)| value)
    }
}

/// Where the name of a header field line ends (the colon), if the line is
/// one: a non-empty name of printable ASCII, maybe followed by blanks.
fn field_name_end(line: &[u8]) -> Option<usize> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = trim_end_ws(&line[..colon]);
    (!name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b))).then_some(colon)
}

fn find_byte(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|&b| b == needle)
        .map(|i| from + i)
}

fn trim_end_ws(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// What `Content-Type` and `Content-Disposition` say about an entity.
struct PartInfo {
    /// Lower case; `text/plain` when missing or malformed (RFC 2045 §5.2).
    mime_type: String,
    charset: Option<String>,
    boundary: Option<String>,
    /// `Content-Disposition: attachment`.
    attachment: bool,
    filename: Option<String>,
}

impl PartInfo {
    fn of(entity: &Entity<'_>) -> PartInfo {
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
fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
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

/// Undoes `base64` and `quoted-printable`; other encodings (`7bit`, `8bit`,
/// `binary`, unknown ones) are taken as they are.
fn undo_transfer_encoding<'a>(body: &'a [u8], encoding: &str) -> Cow<'a, [u8]> {
    match encoding {
        "base64" => Cow::Owned(decode_base64(body)),
        "quoted-printable" => Cow::Owned(decode_quoted_printable(body)),
        _ => Cow::Borrowed(body),
    }
}

/// The size of a body once decoded, without decoding base64.
fn decoded_size(body: &[u8], encoding: &str) -> usize {
    match encoding {
        // As decode_base64 counts: 4 symbols make 3 bytes.
        "base64" => body.iter().filter(|&&b| is_base64_symbol(b)).count() * 3 / 4,
        _ => undo_transfer_encoding(body, encoding).len(),
    }
}

fn is_base64_symbol(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// Lenient base64: anything outside the alphabet (line breaks, padding,
/// stray characters) is skipped, a lone trailing symbol dropped.
fn decode_base64(encoded: &[u8]) -> Vec<u8> {
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
    // Cannot fail on such input; an empty body is the harmless fallback.
    engine.decode(&symbols).unwrap_or_default()
}

/// Lenient quoted-printable (RFC 2045 §6.7): `=XX` is a byte, `=` before a
/// line break (blanks allowed between) is a soft break, any other `=` is
/// kept.
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

fn hex(byte: Option<&u8>) -> Option<u8> {
    let b = *byte?;
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes a body in `charset`.  A missing or ASCII label, or one that is
/// unknown, means UTF-8 when the bytes are valid UTF-8 and windows-1252
/// otherwise (the usual meaning of undeclared 8-bit text).  Line endings
/// become `\n`; control characters other than tab are dropped.
fn decode_text(bytes: &[u8], charset: Option<&str>) -> String {
    let declared = charset
        .map(str::trim)
        .filter(|label| !is_ascii_label(label))
        .and_then(|label| Charset::for_label_no_replacement(label.as_bytes()));
    let text = match declared {
        Some(charset) => charset.decode(bytes).0,
        None => guess_decode(bytes),
    };
    display_lines(&text)
}

/// `us-ascii` and its aliases: encoding_rs maps them to windows-1252, which
/// would garble the undeclared UTF-8 that many mailers send.
fn is_ascii_label(label: &str) -> bool {
    ["us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", ""]
        .iter()
        .any(|ascii| label.eq_ignore_ascii_case(ascii))
}

fn guess_decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => match Charset::for_label(b"windows-1252") {
            Some(windows_1252) => windows_1252.decode_without_bom_handling(bytes).0,
            None => String::from_utf8_lossy(bytes),
        },
    }
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

/// A raw header value as text: unfolded (line breaks removed, the blanks
/// after them kept), UTF-8 when valid (RFC 6532), else windows-1252.
fn header_text(value: &[u8]) -> String {
    let unfolded: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    match String::from_utf8(unfolded) {
        Ok(text) => text,
        Err(error) => guess_decode(error.as_bytes()).into_owned(),
    }
}

/// Trims, turns tabs into spaces and drops other control characters (a
/// decoded word may hold anything, CR and LF included).
fn clean(text: &str) -> String {
    text.trim()
        .chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect()
}

/// Splits an address list (RFC 5322 §3.4) on its top-level commas, leaving
/// commas inside quoted strings, comments and angle brackets alone, and
/// flattening groups (`name: a@b, c@d;`).  Items are split before being
/// decoded, so an encoded display name holding a comma stays whole.
fn mailboxes(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped, mut in_angle) = (false, false, false);
    let mut comment_depth = 0usize;
    let mut push = |current: &mut String| {
        let item = clean(&decode_words(current));
        if !item.is_empty() {
            items.push(item);
        }
        current.clear();
    };
    for c in value.chars() {
        let plain = !quoted && comment_depth == 0;
        match c {
            _ if escaped => escaped = false,
            '\\' if !plain => escaped = true,
            '"' if comment_depth == 0 => quoted = !quoted,
            '(' if !quoted => comment_depth += 1,
            ')' if !quoted && comment_depth > 0 => comment_depth -= 1,
            '<' if plain => in_angle = true,
            '>' if plain => in_angle = false,
            ',' | ';' if plain && !in_angle => {
                push(&mut current);
                continue;
            }
            // A group's display name: drop it, keep its members.
            ':' if plain && !in_angle => {
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    push(&mut current);
    items
}

/// Decodes the RFC 2047 encoded-words of `text`.  Whitespace between two
/// adjacent encoded-words is dropped (§6.2), and adjacent words in the same
/// charset are decoded together, so a character split across two words
/// survives.  A word in an unknown charset, or one that does not parse, is
/// left as written.  Linear: each attempt stops at the second `?` after its
/// `=?`, and the next attempt starts after the first.
fn decode_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Charset and bytes of the adjacent words not yet decoded.
    let mut pending: Option<(Charset, Vec<u8>)> = None;
    let flush = |out: &mut String, pending: &mut Option<(Charset, Vec<u8>)>| {
        if let Some((charset, bytes)) = pending.take() {
            out.push_str(&charset.decode_without_bom_handling(&bytes).0);
        }
    };
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text.get(search..).and_then(|rest| rest.find("=?")) {
        let start = search + found;
        let Some((charset, bytes, end)) = parse_word(text, start) else {
            search = start + 2;
            continue;
        };
        let between = &text[copied..start];
        let adjacent = pending.is_some() && between.chars().all(char::is_whitespace);
        match &mut pending {
            Some((current, pending_bytes)) if adjacent && *current == charset => {
                pending_bytes.extend_from_slice(&bytes);
            }
            _ => {
                flush(&mut out, &mut pending);
                if !adjacent {
                    out.push_str(between);
                }
                pending = Some((charset, bytes));
            }
        }
        copied = end;
        search = end;
    }
    flush(&mut out, &mut pending);
    out.push_str(&text[copied..]);
    out
}

/// Parses `=?charset?encoding?text?=` at `start` (which holds `=?`):
/// charset, decoded bytes and the index just past `?=`.
fn parse_word(text: &str, start: usize) -> Option<(Charset, Vec<u8>, usize)> {
    let bytes = text.as_bytes();
    let label_start = start + 2;
    let label_end = label_start + bytes.get(label_start..)?.iter().position(|&b| b == b'?')?;
    let label = &text[label_start..label_end];
    if label.is_empty() || label.len() > 64 || label.contains(char::is_whitespace) {
        return None;
    }
    let encoding = bytes.get(label_end + 1)?.to_ascii_uppercase();
    if bytes.get(label_end + 2) != Some(&b'?') {
        return None;
    }
    let text_start = label_end + 3;
    let text_end = text_start
        + bytes
            .get(text_start..)?
            .iter()
            .position(|&b| b == b'?' || b.is_ascii_whitespace())?;
    if bytes.get(text_end..text_end + 2) != Some(b"?=") {
        return None;
    }
    let encoded = &bytes[text_start..text_end];
    let decoded = match encoding {
        b'B' => decode_base64(encoded),
        b'Q' => decode_q(encoded),
        _ => return None,
    };
    // RFC 2231 §5: `charset*language`.
    let label = label.split('*').next().unwrap_or_default();
    let charset = Charset::for_label_no_replacement(label.as_bytes())?;
    Some((charset, decoded, text_end + 2))
}

/// RFC 2047 §4.2 "Q": `_` is a space, `=XX` a byte.
fn decode_q(encoded: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        match encoded[i] {
            b'_' => out.push(b' '),
            b'=' => match (hex(encoded.get(i + 1)), hex(encoded.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'='),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Renders HTML as plain text for a `<pre>`: tags dropped, entities
/// decoded, whitespace collapsed (except in `<pre>`), block elements on
/// their own lines, `<li>` as `- `, links followed by their target,
/// `<script>`, `<style>`, `<title>` and `<template>` contents dropped.
/// Lenient and linear: each tag, comment or raw-text element is scanned
/// once, and an unterminated one ends the document.
pub(crate) fn html_to_text(html: &str) -> String {
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
    fn encoded_words_decode_like_the_summary() {
        assert_eq!(
            decode_words("=?utf-8?q?caf=C3=A9_cr=C3=A8me?="),
            "café crème"
        );
        assert_eq!(decode_words("=?UTF-8?B?Y2Fmw6k=?="), "café");
        assert_eq!(decode_words("=?iso-8859-1?q?caf=E9?="), "café");
        assert_eq!(decode_words("=?iso-8859-15?q?=A4?="), "€");
        assert_eq!(decode_words("=?koi8-r?b?8NLJ18XU?="), "Привет");
        assert_eq!(decode_words("=?utf-8?q?caf=C3?= =?utf-8?q?=A9?="), "café");
        assert_eq!(decode_words("=?utf-8?q?a?= x =?utf-8?q?b?="), "a x b");
        assert_eq!(decode_words("Re: =?utf-8?q?caf=C3=A9?= ok"), "Re: café ok");
        assert_eq!(decode_words("=?x-unknown?q?abc?="), "=?x-unknown?q?abc?=");
        assert_eq!(decode_words("=?utf-8?q?no end"), "=?utf-8?q?no end");
        assert_eq!(decode_words("2+2=?"), "2+2=?");
        assert_eq!(decode_words("=?=?utf-8?q?a?="), "=?a");
    }

    #[test]
    fn encoded_word_decoding_stays_linear_on_unterminated_words() {
        // Quadratic scanning would take minutes here.
        let text = "=?a?q?".repeat(200_000) + " " + &"=?".repeat(300_000);
        let started = std::time::Instant::now();
        let decoded = decode_words(&text);
        assert_eq!(decoded, text);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn quoted_printable_soft_breaks_and_bad_escapes() {
        assert_eq!(
            decode_quoted_printable(b"caf=C3=A9 =\r\nsuite=  \r\nfin =ZZ =3d=\n"),
            "café suitefin =ZZ =".as_bytes()
        );
        assert_eq!(decode_quoted_printable(b"a="), b"a");
    }

    #[test]
    fn base64_is_lenient() {
        assert_eq!(decode_base64(b"Y2Fm\r\nw6k=\r\n"), "café".as_bytes());
        assert_eq!(decode_base64(b"Y2Fmw6k"), "café".as_bytes());
        assert_eq!(decode_base64(b"Y2Fm!!w6k"), "café".as_bytes());
        assert_eq!(decoded_size(b"Y2Fm\r\nw6k=\r\n", "base64"), 5);
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

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a &amp; b &lt;&#233;&#xE9;&#150;&bogus; &amp"),
            "a & b <éé–&bogus; &amp"
        );
        assert_eq!(decode_entities("x&shy;y"), "xy");
    }
}
