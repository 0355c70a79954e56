//! The host's Python `smtplib`, driven the way Odoo 14–19 drive it
//! (`ir.mail_server.connect` + `send_email`), against the catcher.

mod common;

use base64::Engine as _;
use common::*;

/// Odoo's flow: `SMTP(host, port, timeout=60)`, `login()`,
/// `ehlo_or_helo_if_needed()`, `send_message(msg, smtp_from, smtp_to_list)`
/// for each mail of the batch, `quit()`.  The messages are built as
/// `build_email` does (policy SMTP, utf-8 body, attachments).  Prints, per
/// message, `SENT <base64 of the bytes smtplib passed to data()>`.
const ODOO_LIKE: &str = r#"
import base64, datetime, email.policy, smtplib, sys
from email.message import EmailMessage
from email.utils import make_msgid

host, port, user, password, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]

sent = []
original_data = smtplib.SMTP.data
def recording_data(self, msg):
    sent.append(msg if isinstance(msg, bytes) else msg.encode('ascii'))
    return original_data(self, msg)
smtplib.SMTP.data = recording_data

def build_email(subject, body, attachments):
    msg = EmailMessage(policy=email.policy.SMTP)
    msg['Message-Id'] = make_msgid()
    msg['Subject'] = subject
    msg['From'] = '"Zoé Admin" <admin@example.com>'
    msg['Reply-To'] = '"Zoé Admin" <admin@example.com>'
    msg['To'] = '"Zoé Client, SA" <client@example.com>, other@example.com'
    msg['Cc'] = 'copy@example.com'
    msg['Bcc'] = 'hidden@example.com'
    msg['Date'] = datetime.datetime.utcnow()
    msg.set_content(body, subtype='plain', charset='utf-8')
    for fname, fcontent, mime in attachments:
        maintype, subtype = mime.split('/')
        msg.add_attachment(fcontent, maintype, subtype, filename=fname)
    return msg

if mode == 'wrong-password':
    smtp = smtplib.SMTP(host, port, timeout=60)
    try:
        smtp.login(user, password)
    except smtplib.SMTPAuthenticationError as e:
        print('AUTHFAIL', e.smtp_code)
    smtp.close()
    sys.exit(0)

if mode == 'test-connection':
    # ir.mail_server.test_smtp_connection
    smtp = smtplib.SMTP(host, port, timeout=60)
    smtp.login(user, password)
    smtp.ehlo_or_helo_if_needed()
    print('MAIL', smtp.mail('admin@example.com')[0])
    print('RCPT', smtp.rcpt('noreply@odoo.com')[0])
    smtp.putcmd('data')
    print('DATA', smtp.getreply()[0])
    smtp.close()
    sys.exit(0)

smtp = smtplib.SMTP(host, port, timeout=60)
smtp.set_debuglevel(0)
smtp.login(user, password)
smtp.ehlo_or_helo_if_needed()

first = build_email(
    'Facture n° 2024/0042 — café crème brûlée pour Zoé Müller & Søren, très long sujet à replier',
    'Bonjour Zoé,\n\nVoici votre facture.\n.\n..point\nÀ bientôt — l’équipe\n',
    [('facture-été.pdf', bytes(range(256)) * 40, 'application/pdf'),
     ('notes.txt', 'ligne un\r\n.\r\nligne trois\n'.encode(), 'text/plain')],
)
to_list = ['client@example.com', 'other@example.com', 'copy@example.com', 'hidden@example.com']
smtp.send_message(first, 'bounce@example.com', to_list)

second = build_email('Second', 'plain ascii body', [])
smtp.send_message(second, 'bounce@example.com', ['client@example.com'])

if mode == 'smtputf8':
    third = build_email('Ünïcödé envelope', 'body', [])
    smtp.send_message(third, 'bounce@example.com', ['zoé@exämple.com'])

smtp.quit()
for data in sent:
    print('SENT', base64.b64encode(data).decode())
"#;

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

async fn run_python(server: &Server, user: &str, password: &str, mode: &str) -> String {
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        tokio::process::Command::new(python())
            .arg("-c")
            .arg(ODOO_LIKE)
            .arg(server.addr.ip().to_string())
            .arg(server.addr.port().to_string())
            .arg(user)
            .arg(password)
            .arg(mode)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("python finishes")
    .expect("python3 runs (set PYTHON to its path if it is not on PATH)");
    assert!(
        output.status.success(),
        "python failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn sent_messages(stdout: &str) -> Vec<Vec<u8>> {
    stdout
        .lines()
        .filter_map(|line| line.strip_prefix("SENT "))
        .map(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap()
        })
        .collect()
}

/// Line endings unified (smtplib turns `\n` and lone `\r` into CRLF) and
/// the final line break dropped (smtplib adds one if missing).
fn modulo_line_endings(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                out.push(b'\n');
                i += 1;
            }
            b'\r' => out.push(b'\n'),
            b => out.push(b),
        }
        i += 1;
    }
    if out.last() == Some(&b'\n') {
        out.pop();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odoo_style_send_message_is_caught_intact() {
    let server = start_default().await;
    let stdout = run_python(&server, LOGIN, SECRET, "normal").await;
    let sent = sent_messages(&stdout);
    assert_eq!(sent.len(), 2, "{stdout}");

    let mails = server.memory.taken();
    assert_eq!(mails.len(), 2);
    for ((mailbox, mail), sent) in mails.iter().zip(&sent) {
        assert_eq!(*mailbox, MAILBOX);
        assert_eq!(mail.envelope_from, "bounce@example.com");
        assert_eq!(
            modulo_line_endings(&mail.raw),
            modulo_line_endings(sent),
            "stored bytes differ from what smtplib sent"
        );
        // Every stored line ends in CRLF.
        assert!(mail.raw.ends_with(b"\r\n"));
        assert!(!mail.raw.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
    }

    let first = &mails[0].1;
    assert_eq!(
        first.envelope_to,
        [
            "client@example.com",
            "other@example.com",
            "copy@example.com",
            "hidden@example.com"
        ]
    );
    let summary = &first.summary;
    assert_eq!(
        summary.subject,
        "Facture n° 2024/0042 — café crème brûlée pour Zoé Müller & Søren, très long sujet à replier"
    );
    assert_eq!(summary.from, "Zoé Admin <admin@example.com>");
    assert_eq!(
        summary.to,
        ["Zoé Client, SA <client@example.com>", "other@example.com"]
    );
    assert_eq!(summary.cc, ["copy@example.com"]);
    assert!(summary.date.is_some());
    assert!(summary
        .message_id
        .as_deref()
        .is_some_and(|id| id.starts_with('<')));
    // smtplib drops Bcc from what it sends: so must the stored copy.
    let raw = String::from_utf8_lossy(&first.raw);
    assert!(!raw.contains("hidden@example.com"), "Bcc leaked");
    // The subject really was encoded on the wire and folded.
    assert!(raw.contains("Subject: Facture =?utf-8?"), "{raw}");
    assert!(raw.contains("?=\r\n =?utf-8?"), "{raw}");
    // The binary attachment went through (base64 of bytes 0..=255).
    let attachment =
        base64::engine::general_purpose::STANDARD.encode((0..=255u8).collect::<Vec<u8>>());
    assert!(raw.replace("\r\n", "").contains(&attachment[..76]));

    assert_eq!(mails[1].1.summary.subject, "Second");
    assert_eq!(mails[1].1.envelope_to, ["client@example.com"]);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_ascii_envelopes_use_smtputf8() {
    let server = start_default().await;
    let stdout = run_python(&server, LOGIN, SECRET, "smtputf8").await;
    let sent = sent_messages(&stdout);
    assert_eq!(sent.len(), 3, "{stdout}");
    let mails = server.memory.taken();
    assert_eq!(mails.len(), 3);
    let third = &mails[2].1;
    assert_eq!(third.envelope_to, ["zoé@exämple.com"]);
    assert_eq!(third.summary.subject, "Ünïcödé envelope");
    assert_eq!(
        modulo_line_endings(&third.raw),
        modulo_line_endings(&sent[2])
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_with_535() {
    let server = start_default().await;
    let stdout = run_python(&server, LOGIN, "wrong", "wrong-password").await;
    assert_eq!(stdout.trim(), "AUTHFAIL 535");
    let stdout = run_python(&server, "nobody", SECRET, "wrong-password").await;
    assert_eq!(stdout.trim(), "AUTHFAIL 535");
    assert_eq!(server.memory.count(), 0);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odoo_test_connection_button_works_and_stores_nothing() {
    let server = start_default().await;
    let stdout = run_python(&server, LOGIN, SECRET, "test-connection").await;
    assert_eq!(stdout.trim(), "MAIL 250\nRCPT 250\nDATA 354");
    // The abandoned DATA left the server serving.
    let mut client = Client::login(server.addr).await;
    client.cmd_expect("QUIT", 221).await;
    assert_eq!(server.memory.count(), 0);
    server.stop().await.unwrap();
}
