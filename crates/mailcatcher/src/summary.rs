//! What a mail list shows of a message: From, To, Cc, Subject, Date and
//! Message-ID, read from the header section of the raw RFC 5322 bytes.
//!
//! Reading is lenient, as a catcher must be (see [`crate::headers`], which
//! the mail view shares): header lines may end in CRLF or bare LF, folded
//! lines are unfolded, raw 8-bit values are taken as UTF-8 when they are
//! valid UTF-8 (RFC 6532) and as windows-1252 otherwise, and RFC 2047
//! encoded-words are decoded wherever they appear.  Nothing here fails: what
//! cannot be read is left out.

use serde::{Deserialize, Serialize};

use crate::headers::{clean, decoded_text, header_text, mailboxes, non_empty, Entity};

/// The headers of a caught message, decoded for display.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The `From` header, decoded (e.g. `Zoé <zoe@example.com>`); empty when
    /// missing.
    pub from: String,
    /// The mailboxes of every `To` header, each decoded and trimmed
    /// (e.g. `Zoé <zoe@example.com>` or `zoe@example.com`); group syntax is
    /// flattened.
    pub to: Vec<String>,
    /// The mailboxes of every `Cc` header, as for [`Summary::to`].
    pub cc: Vec<String>,
    /// The `Subject` header, unfolded and decoded; empty when missing.
    pub subject: String,
    /// The `Date` header as written (unfolded, trimmed), if any.
    pub date: Option<String>,
    /// The `Message-ID` header as written (unfolded, trimmed), if any.
    pub message_id: Option<String>,
}

/// Reads the header section of `raw` into a [`Summary`]; the body is not
/// read.  The section ends at the first empty line, or at the first line
/// that is neither a header field nor a continuation (as in Python's `email`
/// package).  Never fails; garbage gives empty fields.
pub fn summarize(raw: &[u8]) -> Summary {
    Summary::of_fields(&Entity::split(raw).fields)
}

impl Summary {
    /// Reads the fields of a header section, as [`Entity::split`] gives
    /// them.  The first From, Subject, Date and Message-ID count; every To
    /// and Cc adds up.
    pub(crate) fn of_fields(fields: &[(&[u8], &[u8])]) -> Summary {
        let mut summary = Summary::default();
        for &(name, value) in fields {
            match name.to_ascii_lowercase().as_slice() {
                b"from" if summary.from.is_empty() => summary.from = decoded_text(value),
                b"to" => summary.to.extend(mailboxes(&header_text(value))),
                b"cc" => summary.cc.extend(mailboxes(&header_text(value))),
                b"subject" if summary.subject.is_empty() => summary.subject = decoded_text(value),
                b"date" if summary.date.is_none() => summary.date = as_written(value),
                b"message-id" if summary.message_id.is_none() => {
                    summary.message_id = as_written(value)
                }
                _ => {}
            }
        }
        summary
    }
}

/// A value shown as written: unfolded and cleaned, not decoded.
fn as_written(value: &[u8]) -> Option<String> {
    non_empty(clean(&header_text(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_headers_are_read() {
        let raw = b"From: Alice <alice@example.com>\r\n\
                    To: bob@example.com, \"Doe, John\" <john@example.com>\r\n\
                    Cc: carol@example.com\r\n\
                    Subject: Hello there\r\n\
                    Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
                    Message-Id: <123@example.com>\r\n\
                    \r\n\
                    Subject: not a header, the body\r\n";
        let s = summarize(raw);
        assert_eq!(s.from, "Alice <alice@example.com>");
        assert_eq!(
            s.to,
            vec!["bob@example.com", "\"Doe, John\" <john@example.com>"]
        );
        assert_eq!(s.cc, vec!["carol@example.com"]);
        assert_eq!(s.subject, "Hello there");
        assert_eq!(s.date.as_deref(), Some("Mon, 1 Jan 2024 10:00:00 +0000"));
        assert_eq!(s.message_id.as_deref(), Some("<123@example.com>"));
    }

    #[test]
    fn header_names_are_case_insensitive_and_the_first_subject_wins() {
        let s = summarize(b"SUBJECT: first\nsubject: second\nfrom : x@y\n\nbody");
        assert_eq!(s.subject, "first");
        assert_eq!(s.from, "x@y");
    }

    #[test]
    fn folded_lines_are_unfolded() {
        let raw = b"Subject: a long\r\n subject\r\n\tcontinued\r\nTo: a@example.com,\r\n b@example.com\r\n\r\n";
        let s = summarize(raw);
        assert_eq!(s.subject, "a long subject continued");
        assert_eq!(s.to, vec!["a@example.com", "b@example.com"]);
    }

    #[test]
    fn python_folded_encoded_subject_is_decoded() {
        // What Python's email.policy.SMTP writes for a long non-ASCII subject.
        let raw = "Subject: =?utf-8?q?Facture_n=C2=B0_42_=E2=80=94_caf=C3=A9_cr=C3=A8me_br=C3=BBl?=\r\n =?utf-8?q?=C3=A9e_pour_Zo=C3=A9?=\r\n\r\n";
        assert_eq!(
            summarize(raw.as_bytes()).subject,
            "Facture n° 42 — café crème brûlée pour Zoé"
        );
    }

    #[test]
    fn encoded_display_names_in_address_lists_are_decoded_after_splitting() {
        // The encoded name holds a comma: it must not split the list.
        let raw = b"To: =?utf-8?q?Doe=2C_Zo=C3=A9?= <zoe@example.com>, plain@example.com\r\n\r\n";
        let s = summarize(raw);
        assert_eq!(
            s.to,
            vec!["Doe, Zoé <zoe@example.com>", "plain@example.com"]
        );
    }

    #[test]
    fn groups_and_comments_in_address_lists() {
        let raw = b"To: friends: a@example.com, (x, y) b@example.com;, c@example.com\r\n\
                    Cc: undisclosed-recipients:;\r\n\r\n";
        let s = summarize(raw);
        assert_eq!(
            s.to,
            vec!["a@example.com", "(x, y) b@example.com", "c@example.com"]
        );
        assert!(s.cc.is_empty());
    }

    #[test]
    fn several_to_headers_add_up() {
        let s = summarize(b"To: a@x\r\nTo: b@x\r\n\r\n");
        assert_eq!(s.to, vec!["a@x", "b@x"]);
    }

    #[test]
    fn missing_headers_give_empty_fields() {
        let s = summarize(b"X-Other: 1\r\n\r\nbody\r\n");
        assert_eq!(s, Summary::default());
        assert_eq!(summarize(b""), Summary::default());
        // Blank Date is no Date.
        assert_eq!(summarize(b"Date:   \r\n\r\n").date, None);
    }

    #[test]
    fn raw_utf8_headers_are_read_and_other_8bit_bytes_as_windows_1252() {
        let s = summarize("Subject: Zoé\r\n\r\n".as_bytes());
        assert_eq!(s.subject, "Zoé");
        let s = summarize(b"Subject: caf\xe9 \x80\r\n\r\n");
        assert_eq!(s.subject, "café €");
    }

    #[test]
    fn garbage_does_not_panic_and_yields_nothing_useful() {
        let mut garbage: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        garbage.extend_from_slice(b"\xff\xfe:\x00\r\n \xc3\r\n=?utf-8?b?\xff?=");
        let _ = summarize(&garbage);
        let s = summarize(b"\x00\x01\x02 no colon here\r\n\xff\xff\r\n");
        assert_eq!(s, Summary::default());
        // A continuation line before any field starts the body: no headers.
        let s = summarize(b" Subject: indented\r\nSubject: real\r\n\r\n");
        assert_eq!(s, Summary::default());
        // A malformed field starts the body; its continuation does not leak
        // into the previous field, and later fields are body.
        let s = summarize(b"Subject: a\r\nbad name: x\r\n more\r\nFrom: b@x\r\n\r\n");
        assert_eq!(s.subject, "a");
        assert_eq!(s.from, "");
    }

    #[test]
    fn control_characters_from_decoded_words_are_dropped() {
        let s = summarize(b"Subject: =?utf-8?q?a=0D=0Ab=00c=09d?=\r\n\r\n");
        assert_eq!(s.subject, "abc d");
    }

    #[test]
    fn bare_lf_messages_are_read() {
        let s = summarize(b"From: a@x\nSubject: one\n two\n\nSubject: body\n");
        assert_eq!(s.subject, "one two");
        assert_eq!(s.from, "a@x");
    }
}
