//! Reading caught messages for display, mostly shaped like the mail Odoo
//! 14.0–19.0 sends (Python's `email` package, CRLF line endings).

use std::time::{Duration, Instant};

use base64::Engine as _;
use slipway_mailcatcher::{Attachment, MailView};

/// Turns the `\n` of a hand-written message into CRLF, as stored.
fn crlf(text: &str) -> Vec<u8> {
    text.replace('\n', "\r\n").into_bytes()
}

/// Base64 wrapped at 76 columns, as Python writes it.
fn b64(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|chunk| std::str::from_utf8(chunk).unwrap())
        .collect();
    lines.join("\n")
}

const ODOO_HTML: &str = r#"<div style="margin: 0px; padding: 0px;">
    <p style="margin: 0px; padding: 0px; font-size: 13px;">
        Bonjour Zoé,<br/><br/>
        Votre facture <strong>n° 42</strong> d'un montant de <strong>1&nbsp;234,56&nbsp;€</strong> est disponible.<br/>
        Merci de votre confiance.
    </p>
    <div style="margin: 16px 0px 16px 0px;">
        <a href="https://build-1234.example.com/my/invoices/42?access_token=abc&amp;report_type=pdf" style="background-color: #875A7B; padding: 8px 16px 8px 16px; color: #fff;">
            Voir la facture
        </a>
    </div>
</div>
"#;

const ODOO_HTML_AS_TEXT: &str = "Bonjour Zoé,\n\n\
    Votre facture n° 42 d'un montant de 1 234,56 € est disponible.\n\
    Merci de votre confiance.\n\n\
    [ Voir la facture ][1]\n\n\
    [1]: https://build-1234.example.com/my/invoices/42?access_token=abc&report_type=pdf";

/// What Odoo 15–19 build with `EmailMessage(policy=SMTP)`: mixed, holding
/// an alternative (text from html2plaintext, quoted-printable; HTML,
/// base64) and an attachment whose name is RFC 2231 encoded.
fn odoo_17_invoice(pdf: &[u8]) -> Vec<u8> {
    crlf(&format!(
        r#"Content-Type: multipart/mixed; boundary="===============5831627271196254325=="
MIME-Version: 1.0
Message-Id: <170963374212.2871.1650291842313953262-openerp-42-account.move@build-1234-17-0>
references: <170963374212.2871.1650291842313953262-openerp-42-account.move@build-1234-17-0>
Subject: =?utf-8?q?YourCompany_Facture_=28R=C3=A9f_INV/2024/00042=29_=E2=80=94_?=
 =?utf-8?q?caf=C3=A9_cr=C3=A8me?=
From: "YourCompany" <info@yourcompany.example.com>
Reply-To: =?utf-8?q?YourCompany_=E2=80=94_Ventes?= <catchall@yourcompany.example.com>
To: =?utf-8?q?Doe=2C_Zo=C3=A9?= <zoe@example.com>, "Azure Interior"
 <azure.Interior24@example.com>
Cc: deco.addict82@example.com
Date: Tue, 05 Mar 2024 10:15:42 -0000
X-Odoo-Objects: account.move-42

--===============5831627271196254325==
Content-Type: multipart/alternative;
 boundary="===============0409781146313389251=="

--===============0409781146313389251==
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

Bonjour Zo=C3=A9,

Votre facture n=C2=B0 42 d'un montant de 1 234,56 =E2=82=AC est disponib=
le.
Merci de votre confiance.

Voir la facture [1]

[1] https://build-1234.example.com/my/invoices/42?access_token=3Dabc
--===============0409781146313389251==
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: base64

{html}
--===============0409781146313389251==--

--===============5831627271196254325==
Content-Type: application/pdf
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename*=utf-8''Facture%20%C3%A9t%C3%A9.pdf

{pdf}
--===============5831627271196254325==--
"#,
        html = b64(ODOO_HTML.as_bytes()),
        pdf = b64(pdf),
    ))
}

#[test]
fn odoo_17_invoice_mail_is_read_whole() {
    let pdf: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    let view = MailView::parse(&odoo_17_invoice(&pdf));
    assert_eq!(
        view.subject,
        "YourCompany Facture (Réf INV/2024/00042) — café crème"
    );
    assert_eq!(view.from, "\"YourCompany\" <info@yourcompany.example.com>");
    assert_eq!(
        view.to,
        vec![
            "Doe, Zoé <zoe@example.com>",
            "\"Azure Interior\" <azure.Interior24@example.com>"
        ]
    );
    assert_eq!(view.cc, vec!["deco.addict82@example.com"]);
    assert_eq!(
        view.reply_to.as_deref(),
        Some("YourCompany — Ventes <catchall@yourcompany.example.com>")
    );
    assert_eq!(
        view.date.as_deref(),
        Some("Tue, 05 Mar 2024 10:15:42 -0000")
    );
    assert_eq!(
        view.message_id.as_deref(),
        Some("<170963374212.2871.1650291842313953262-openerp-42-account.move@build-1234-17-0>")
    );
    assert_eq!(
        view.text.as_deref(),
        Some(
            "Bonjour Zoé,\n\nVotre facture n° 42 d'un montant de 1 234,56 € est disponible.\n\
             Merci de votre confiance.\n\nVoir la facture [1]\n\n\
             [1] https://build-1234.example.com/my/invoices/42?access_token=abc"
        )
    );
    assert_eq!(view.html.as_deref(), Some(ODOO_HTML));
    assert_eq!(
        view.attachments,
        vec![Attachment {
            filename: "Facture été.pdf".into(),
            content_type: "application/pdf".into(),
            size: pdf.len(),
        }]
    );
    // The text part wins for display; without it, the HTML is rendered.
    assert_eq!(view.display_text(), view.text.clone().unwrap());
    let html_only = MailView {
        text: None,
        ..view.clone()
    };
    assert_eq!(html_only.display_text(), ODOO_HTML_AS_TEXT);

    // The same message with bare LF line endings reads the same.
    let lf: Vec<u8> = odoo_17_invoice(&pdf)
        .into_iter()
        .filter(|&b| b != b'\r')
        .collect();
    assert_eq!(MailView::parse(&lf), view);
}

#[test]
fn odoo_14_mime_multipart_with_base64_bodies_and_encoded_names() {
    // Odoo 14: MIMEMultipart, MIMEText bodies in base64 (the utf-8 default
    // of Python's email.charset), attachment names as RFC 2047 words inside
    // the quotes, and a long name folded as RFC 2231 continuations with a
    // character split between two segments.
    let name = b64("Facture été.pdf".as_bytes());
    let raw = crlf(&format!(
        r#"Content-Type: multipart/mixed; boundary="===============1111111111111111111=="
MIME-Version: 1.0
Message-Id: <1615977001.234567890123456.789012345678901-openerp-7-account.move@odoo14>
Subject: =?utf-8?b?UmFwcGVsIGRlIHBhaWVtZW50IOKAlCBmYWN0dXJlIG7CsCA3?=
From: =?utf-8?b?TWl0Y2hlbGwgQWRtaW4=?= <admin@example.com>
To: =?utf-8?b?Wm/DqQ==?= <zoe@example.com>
Date: Wed, 17 Mar 2021 10:30:01 -0000

--===============1111111111111111111==
Content-Type: multipart/alternative; boundary="===============2222222222222222222=="
MIME-Version: 1.0

--===============2222222222222222222==
Content-Type: text/plain; charset="utf-8"
MIME-Version: 1.0
Content-Transfer-Encoding: base64

{text}
--===============2222222222222222222==
Content-Type: text/html; charset="utf-8"
MIME-Version: 1.0
Content-Transfer-Encoding: base64

{html}
--===============2222222222222222222==--

--===============1111111111111111111==
Content-Type: application/pdf; name="=?utf-8?b?{name}?="
MIME-Version: 1.0
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="=?utf-8?b?{name}?="

{pdf}
--===============1111111111111111111==
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet
MIME-Version: 1.0
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
 filename*0*=utf-8''Rapport%20d%27activit%C3%A9%20tr%C3%A8s%20d%C3;
 filename*1*=%A9taill%C3%A9%20%E2%80%94%20exercice%202024.xlsx

UEsDBAoAAAAAAA==
--===============1111111111111111111==--
"#,
        text = b64("Rappel : facture n° 7 — 99,00 €\n".as_bytes()),
        html = b64("<p>Rappel : facture n° 7 — 99,00 €</p>".as_bytes()),
        pdf = b64(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"),
    ));
    let view = MailView::parse(&raw);
    assert_eq!(view.subject, "Rappel de paiement — facture n° 7");
    assert_eq!(view.from, "Mitchell Admin <admin@example.com>");
    assert_eq!(view.to, vec!["Zoé <zoe@example.com>"]);
    assert_eq!(view.reply_to, None);
    assert_eq!(view.cc, Vec::<String>::new());
    assert_eq!(
        view.text.as_deref(),
        Some("Rappel : facture n° 7 — 99,00 €\n")
    );
    assert_eq!(
        view.html.as_deref(),
        Some("<p>Rappel : facture n° 7 — 99,00 €</p>")
    );
    assert_eq!(
        view.attachments,
        vec![
            Attachment {
                filename: "Facture été.pdf".into(),
                content_type: "application/pdf".into(),
                size: 15,
            },
            Attachment {
                filename: "Rapport d'activité très détaillé — exercice 2024.xlsx".into(),
                content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                    .into(),
                size: 10,
            },
        ]
    );
}

#[test]
fn related_html_with_an_inline_image_and_the_first_bodies_winning() {
    // mixed → alternative → related, then a second text body in the mixed
    // part, which does not replace the first.
    let raw = crlf(&format!(
        r#"Subject: Newsletter
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Première
--alt
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 7bit

<p>First <img src="cid:logo@odoo"></p>
--rel
Content-Type: image/png; name="logo.png"
Content-Transfer-Encoding: base64
Content-ID: <logo@odoo>
Content-Disposition: inline; filename="logo.png"

{png}
--rel
Content-Type: image/gif
Content-Transfer-Encoding: base64
Content-ID: <spacer@odoo>

R0lGODlhAQABAAAAACw=
--rel--
--alt--
--outer
Content-Type: text/plain; charset=utf-8

Second text, dropped
--outer
Content-Type: text/html; charset=utf-8

<p>Second html, dropped</p>
--outer--
"#,
        png = b64(&[0x89, b'P', b'N', b'G', 0, 1, 2, 3, 4, 5, 6]),
    ));
    let view = MailView::parse(&raw);
    assert_eq!(view.text.as_deref(), Some("Première"));
    assert_eq!(
        view.html.as_deref(),
        Some(r#"<p>First <img src="cid:logo@odoo"></p>"#)
    );
    assert_eq!(
        view.attachments,
        vec![
            Attachment {
                filename: "logo.png".into(),
                content_type: "image/png".into(),
                size: 11,
            },
            Attachment {
                filename: String::new(),
                content_type: "image/gif".into(),
                size: 14,
            },
        ]
    );
}

#[test]
fn non_utf8_charsets_are_decoded() {
    let raw = b"Subject: =?iso-8859-1?q?Caf=E9?= caf\xe9\r\n\
        Content-Type: multipart/alternative; boundary=b1\r\n\
        \r\n\
        --b1\r\n\
        Content-Type: text/plain; charset=iso-8859-1\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\
        \r\n\
        Caf=E9 cr=E8me, co=FBt =A4 5\r\n\
        --b1\r\n\
        Content-Type: text/html; charset=\"Windows-1252\"\r\n\
        Content-Transfer-Encoding: 8bit\r\n\
        \r\n\
        <p>\x93Cit\xe9\x94 \x80 5</p>\r\n\
        --b1--\r\n";
    let view = MailView::parse(raw);
    assert_eq!(view.subject, "Café café");
    assert_eq!(view.text.as_deref(), Some("Café crème, coût ¤ 5"));
    assert_eq!(view.html.as_deref(), Some("<p>“Cité” € 5</p>"));

    let euro = |charset: &str, body: &[u8]| {
        let mut raw = format!("Content-Type: text/plain; charset={charset}\r\n\r\n").into_bytes();
        raw.extend_from_slice(body);
        MailView::parse(&raw).text.unwrap()
    };
    assert_eq!(euro("iso-8859-15", b"5 \xa4"), "5 €");
    assert_eq!(euro("koi8-r", b"\xf0\xd2\xc9\xd7\xc5\xd4"), "Привет");
    assert_eq!(euro("shift_jis", b"\x93\xfa\x96\x7b"), "日本");
    // Unknown charsets: UTF-8 if it is, else windows-1252.
    assert_eq!(euro("x-klingon", "Zoé".as_bytes()), "Zoé");
    assert_eq!(euro("x-klingon", b"Zo\xe9 \x80"), "Zoé €");
    // No charset (us-ascii by default) but 8-bit UTF-8, as sloppy mailers send.
    assert_eq!(euro("\"\"", "Zoé".as_bytes()), "Zoé");
    assert_eq!(euro("us-ascii", "Zoé".as_bytes()), "Zoé");
    // Declared UTF-8 that is not: replacement characters, no failure.
    assert_eq!(euro("utf-8", b"Zo\xe9"), "Zo\u{FFFD}");
}

#[test]
fn html_only_message_is_displayed_as_text_without_scripts() {
    let raw = crlf(
        r##"From: Odoo <noreply@example.com>
Subject: Invitation
MIME-Version: 1.0
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: 8bit

<!DOCTYPE html><html><head><title>Odoo</title>
<style type="text/css">p { color: red; } .x > a { }</style>
<SCRIPT type="text/javascript">alert("<p>stolen</p>"); document.write('</scr' + 'ipt>');</SCRIPT>
</head><body>
<!-- a comment with <p>markup</p> -->
<h1>Welcome&nbsp;to   Odoo!</h1>
<p>Dear Zoé,<br>You have been invited to <b>YourCompany</b> &amp; friends.</p>
<ul><li>Step one</li><li>Step <i>two</i></li></ul>
<table><tr><td>Qty</td><td>Price</td></tr><tr><td>2</td><td>&euro;&#160;10</td></tr></table>
<p><a href="https://build.example.com/web/signup?token=xyz">Accept invitation</a>
or write to <a href="mailto:info@example.com">info@example.com</a>
<a href="#top">top</a> <a href="https://example.com"><img src="logo.png"></a></p>
<pre>  keep
    this</pre>
<p>1 &lt; 2 &gt; 0, &bogus; &#x1F600;</p>
<script>never closed
</body></html>
"##,
    );
    let view = MailView::parse(&raw);
    assert_eq!(view.text, None);
    assert!(view.html.as_deref().unwrap().contains("<SCRIPT"));
    let text = view.display_text();
    assert_eq!(
        text,
        "# Welcome to Odoo!\n\n\
         Dear Zoé,\nYou have been invited to YourCompany & friends.\n\
         * Step one\n* Step two\n\n\
         Qty Price\n2   € 10\n\n\
         [Accept invitation][1] or write to [info@example.com][2] [top][3]\n\n\
         \x20 keep\n    this\n\n\
         1 < 2 > 0, &bogus; 😀\n\n\
         [1]: https://build.example.com/web/signup?token=xyz\n\
         [2]: mailto:info@example.com\n\
         [3]: #top"
    );
    for hidden in ["alert", "stolen", "color", "comment", "Odoo</", "never"] {
        assert!(!text.contains(hidden), "{hidden:?} shown in {text:?}");
    }
}

#[test]
fn blank_text_part_gives_way_to_the_html_one() {
    let raw = crlf(
        "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\n\n--b\nContent-Type: text/html\n\n<p>Hi</p>\n--b--\n",
    );
    let view = MailView::parse(&raw);
    assert_eq!(view.text.as_deref(), Some(""));
    assert_eq!(view.display_text(), "Hi");
}

#[test]
fn message_without_content_type_is_plain_7bit_text() {
    let raw = b"From: root@localhost\r\nTo: a@example.com\r\nSubject: cron\r\n\r\nLine one\r\nLine two\r\n";
    let view = MailView::parse(raw);
    assert_eq!(view.subject, "cron");
    assert_eq!(view.from, "root@localhost");
    assert_eq!(view.text.as_deref(), Some("Line one\nLine two\n"));
    assert_eq!(view.html, None);
    assert!(view.attachments.is_empty());
    assert_eq!(view.display_text(), "Line one\nLine two\n");

    // Bare LF line endings and an mbox "From " line are read too.
    let view = MailView::parse(b"From someone Mon Jan  1 10:00:00 2024\nSubject: lf\n\nbody\n");
    assert_eq!(view.subject, "lf");
    assert_eq!(view.text.as_deref(), Some("body\n"));
}

#[test]
fn attachment_only_message() {
    let raw = crlf(&format!(
        "Subject: Export\nContent-Type: text/csv; charset=utf-8; name=\"export.csv\"\n\
         Content-Transfer-Encoding: Base64 (comment)\nContent-Disposition: attachment\n\n{}\n",
        b64(b"id,name\n1,Zo\xc3\xa9\n")
    ));
    let view = MailView::parse(&raw);
    assert_eq!(view.text, None);
    assert_eq!(view.html, None);
    assert_eq!(view.display_text(), "");
    assert_eq!(
        view.attachments,
        vec![Attachment {
            filename: "export.csv".into(),
            content_type: "text/csv".into(),
            size: 15,
        }]
    );
}

#[test]
fn encoded_subject_split_over_folded_lines() {
    // Python folds long subjects into several encoded words; a character may
    // even be split between two words (é is C3 A9), and folds may use tabs.
    let raw = b"Subject: =?utf-8?q?Devis_n=C2=B0_S00042_=E2=80=94_caf=C3?=\r\n\
        \t=?utf-8?q?=A9_cr=C3=A8me_br=C3=BBl=C3=A9e_pour_Zo=C3=A9?=\r\n \
        =?utf-8?b?IOKAlCDDoCB2YWxpZGVy?= fin\r\n\r\n";
    let view = MailView::parse(raw);
    assert_eq!(
        view.subject,
        "Devis n° S00042 — café crème brûlée pour Zoé — à valider fin"
    );
    // Whitespace between an encoded word and plain text stays.
    let view = MailView::parse(b"Subject: Re: =?utf-8?q?caf=C3=A9?= ok\r\n\r\n");
    assert_eq!(view.subject, "Re: café ok");
}

#[test]
fn multipart_without_boundary_or_delimiters_shows_its_body() {
    let view = MailView::parse(b"Content-Type: multipart/mixed\r\n\r\nplain words\r\n");
    assert_eq!(view.text.as_deref(), Some("plain words\n"));
    let view =
        MailView::parse(b"Content-Type: multipart/mixed; boundary=zz\r\n\r\nno delimiter\r\n");
    assert_eq!(view.text.as_deref(), Some("no delimiter\n"));
    // A missing close delimiter ends the last part at the end.
    let view = MailView::parse(
        b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n\r\nunterminated\r\n",
    );
    assert_eq!(view.text.as_deref(), Some("unterminated\n"));
}

/// xorshift64*: a fixed pseudo-random sequence, so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn binary_garbage_does_not_panic() {
    let mut rng = Rng(0x5EED_0DD0_CAFE_F00D);
    // Pieces that steer random input into the parser's deeper paths.
    let pieces: [&[u8]; 22] = [
        b"\r\n",
        b"\n",
        b"\r",
        b" ",
        b"--b",
        b"--b--",
        b"Content-Type: multipart/mixed; boundary=b\r\n",
        b"Content-Type: text/html; charset=utf-7\r\n",
        b"Content-Type: text/plain; charset*=x''%ff\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Disposition: attachment; filename*0*=utf-8''%C3; filename*1*=%A9\r\n",
        b"Subject: =?utf-8?b?",
        b"?=",
        b"=?",
        b"=C3",
        b"<a href='",
        b"<script>",
        b"</",
        b"&#x",
        b";",
        b"\xff\xfe\x00\xc3",
    ];
    let odoo = odoo_17_invoice(b"%PDF-1.4");
    for round in 0..600 {
        let mut input: Vec<u8> = match round % 3 {
            // Pure noise.
            0 => (0..rng.below(8192)).map(|_| rng.next() as u8).collect(),
            // Noise made of MIME-ish pieces.
            1 => {
                let mut out = Vec::new();
                for _ in 0..rng.below(400) {
                    out.extend_from_slice(pieces[rng.below(pieces.len())]);
                    if rng.below(4) == 0 {
                        out.push(rng.next() as u8);
                    }
                }
                out
            }
            // A real message, mangled and cut.
            _ => {
                let mut out = odoo.clone();
                for _ in 0..rng.below(40) {
                    let at = rng.below(out.len());
                    out[at] = rng.next() as u8;
                }
                out.truncate(rng.below(out.len() + 1));
                out
            }
        };
        if round == 0 {
            input = b"\x00\xff\xfe\x01GIF89a \x02\x03\r\n\xc3\x28 no: header here\r\n".to_vec();
        }
        let view = MailView::parse(&input);
        let _ = view.display_text();
        if round == 0 {
            // No headers to read: the raw text is the body.
            assert_eq!(view.subject, "");
            assert_eq!(
                view.text.as_deref(),
                Some("ÿþGIF89a \n\u{c3}( no: header here\n")
            );
        }
    }
}

/// `levels` multiparts nested in each other, the innermost holding a text
/// part; each level also holds a text part "level N" after its child.
fn nested(levels: usize) -> Vec<u8> {
    // Built as prefixes and suffixes: wrapping level by level would copy
    // the whole message once per level.
    let mut raw = b"Subject: deep\r\n".to_vec();
    for level in 0..levels {
        raw.extend(
            format!("Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n")
                .bytes(),
        );
    }
    raw.extend_from_slice(b"Content-Type: text/plain\r\n\r\ninnermost");
    for level in (0..levels).rev() {
        raw.extend(format!("\r\n--b{level}\r\n\r\nlevel {level}\r\n--b{level}--\r\n").bytes());
    }
    raw
}

#[test]
fn forty_levels_of_nesting_are_cut_at_the_depth_cap() {
    let view = MailView::parse(&nested(40));
    assert_eq!(view.subject, "deep");
    // Read in order, the first text found is the innermost one; it lies
    // below the cap, so the first one read is that of level 19 (depth 20).
    assert_eq!(view.text.as_deref(), Some("level 19"));
    assert!(view.attachments.is_empty());
    let view = MailView::parse(&nested(5));
    assert_eq!(view.text.as_deref(), Some("innermost"));
}

#[test]
fn deep_nesting_uses_no_recursion() {
    // 20 000 levels in a thread with a small stack: any recursion per level
    // would overflow it.
    let raw = nested(20_000);
    let view = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || MailView::parse(&raw))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(view.text.as_deref(), Some("level 19"));
}

#[test]
fn many_parts_are_capped() {
    let mut raw = b"Content-Type: multipart/mixed; boundary=p\r\n\r\n".to_vec();
    for _ in 0..50_000 {
        raw.extend_from_slice(b"--p\r\nContent-Type: image/png\r\n\r\nx\r\n");
    }
    let view = MailView::parse(&raw);
    assert_eq!(view.attachments.len(), 999);
}

/// Crafted inputs on which a quadratic parser would run for hours.
#[test]
fn crafted_inputs_are_read_in_linear_time() {
    let size = 4 << 20;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unterminated encoded words in headers", {
            let mut raw = b"Subject: ".to_vec();
            raw.extend("=?a?q?x".repeat(size / 7).bytes());
            raw.extend_from_slice(b"\r\nTo: ");
            raw.extend("=?".repeat(size / 4).bytes());
            raw.extend_from_slice(b"\r\n\r\n");
            raw
        }),
        ("lines that almost match a long boundary", {
            let boundary = "-".repeat(150);
            let mut raw =
                format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n\r\n")
                    .into_bytes();
            let line = format!("{}\r\n", "-".repeat(151));
            while raw.len() < size {
                raw.extend_from_slice(line.as_bytes());
            }
            raw
        }),
        ("dashes without line breaks", {
            let mut raw = b"Content-Type: multipart/mixed; boundary=\"--\"\r\n\r\nx".to_vec();
            raw.resize(size, b'-');
            raw
        }),
        ("many RFC 2231 parameters", {
            let mut raw = b"Content-Type: application/pdf".to_vec();
            for i in 0..size / 24 {
                raw.extend(format!(";\r\n a{i}*0*=utf-8''x").bytes());
            }
            raw.extend_from_slice(b"\r\n\r\n");
            raw
        }),
        ("HTML made of tag openings, entities and comments", {
            let mut raw = b"Content-Type: text/html\r\n\r\n".to_vec();
            let pieces = [
                "<a href=x>",
                "&amp",
                "<!",
                "</b",
                "<p",
                "&#",
                "<script>",
                "</scrip",
            ];
            let mut i = 0;
            while raw.len() < size {
                raw.extend_from_slice(pieces[i % pieces.len()].as_bytes());
                i += 1;
            }
            raw
        }),
        ("deeply nested HTML elements", {
            // html5ever checks the open elements at each tag: quadratic.
            let mut raw = b"Content-Type: text/html\r\n\r\n".to_vec();
            while raw.len() < size {
                raw.extend_from_slice(b"<ul><li><div>x");
            }
            raw
        }),
        ("base64 and quoted-printable noise", {
            let mut raw = b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n".to_vec();
            raw.extend("= =\t=X".repeat(size / 12).bytes());
            raw.extend_from_slice(
                b"\r\n--q\r\nContent-Transfer-Encoding: base64\r\nContent-Type: image/png\r\n\r\n",
            );
            raw.extend("!@#$".repeat(size / 8).bytes());
            raw
        }),
    ];
    for (what, raw) in cases {
        let started = Instant::now();
        let view = MailView::parse(&raw);
        let _ = view.display_text();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(20), "{what}: {took:?}");
    }
}
