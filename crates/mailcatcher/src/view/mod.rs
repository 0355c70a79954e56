//! One caught message read for display: headers, the text and HTML bodies,
//! and the list of attachments.
//!
//! Reading never fails.  What cannot be read is left out, and a message
//! without recognisable headers is shown whole as its text body.  Headers
//! are read as the mail list reads them ([`crate::headers`]).
//!
//! Work is bounded: each byte is scanned at most once per multipart level
//! around it, with at most [`MAX_DEPTH`] levels and [`MAX_PARTS`] parts; the
//! walk uses an explicit stack, never recursion.
//!
//! Why the MIME structure is split here ([`mime`]) rather than by
//! `mailparse::parse_mail` (0.18), measured or read in its source: it
//! recurses, and fails the whole message past 100 levels or on a header line
//! starting with a lone CR; it decodes every `Content-Type` it meets with
//! the encoded-word decoder, which is quadratic (see [`crate::headers`]),
//! and parses its parameters uncapped, quadratic in their number (the
//! "many RFC 2231 parameters" test would run for hours); a boundary `--ab`
//! also matches the line `--abc`.  Its bodies go through `quoted_printable`,
//! which drops the raw 8-bit bytes sloppy mailers put in quoted-printable
//! text (`café` becomes `caf`), hence [`mime`]'s own decoder.
//! `mailparse` is used for what is linear and fiddly: the parameters of
//! `Content-Type`/`Content-Disposition` (RFC 2231 charsets and
//! continuations), on values capped at `mime::MAX_PARAMETER_HEADER` bytes.
//! Charsets are decoded with its `charset` dependency (encoding_rs: every
//! WHATWG label, plus UTF-7).  HTML bodies are rendered as text by
//! `html2text` ([`html`]).

mod html;
mod mime;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::headers::{header_text, mailboxes, non_empty, Entity};
use crate::Summary;
use html::html_to_text;
use mime::{
    decode_text, decoded_size, split_multipart, transfer_encoding, undo_transfer_encoding, PartInfo,
};

/// Deepest multipart nesting read; deeper parts are skipped.  Real mail
/// nests 3 or 4 levels (mixed, alternative, related).
const MAX_DEPTH: usize = 20;

/// Most MIME entities (the message itself included) read from one message;
/// later ones are skipped.
const MAX_PARTS: usize = 1000;

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
                view = MailView::of_headers(&entity);
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
    /// HTML body (by `html2text`: tags dropped, entities decoded,
    /// `<script>`/`<style>` dropped, links as footnotes), else nothing.  A blank text body gives way to the HTML.
    pub fn display_text(&self) -> Cow<'_, str> {
        match (&self.text, &self.html) {
            (Some(text), Some(html)) if text.trim().is_empty() => Cow::Owned(html_to_text(html)),
            (Some(text), _) => Cow::Borrowed(text),
            (None, Some(html)) => Cow::Owned(html_to_text(html)),
            (None, None) => Cow::Borrowed(""),
        }
    }

    /// A view holding the headers of the message `entity`, the ones of
    /// the mail list and `Reply-To`.
    fn of_headers(entity: &Entity<'_>) -> MailView {
        let Summary {
            from,
            to,
            cc,
            subject,
            date,
            message_id,
        } = Summary::of_fields(&entity.fields);
        let reply_to: Vec<String> = entity
            .all(b"reply-to")
            .flat_map(|value| mailboxes(&header_text(value)))
            .collect();
        MailView {
            from,
            to,
            cc,
            reply_to: non_empty(reply_to.join(", ")),
            subject,
            date,
            message_id,
            ..MailView::default()
        }
    }

    fn read_leaf(&mut self, entity: &Entity<'_>, part: PartInfo) {
        let encoding = transfer_encoding(entity);
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
