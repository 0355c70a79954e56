//! The customer's real SMTP server, standing in: accepts any login and
//! records every mail (the tests' modules name their database in the subject).

use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct CustomerSmtp {
    /// The mails received, as (subject, whole message).
    pub mails: Mutex<Vec<(String, String)>>,
}

impl CustomerSmtp {
    /// Starts one on `listener` (bound wherever the test wants it: the
    /// loopback, or a namespace standing for the internet).
    pub fn start(
        runtime: &tokio::runtime::Runtime,
        listener: std::net::TcpListener,
    ) -> Arc<CustomerSmtp> {
        let smtp = Arc::new(CustomerSmtp::default());
        listener.set_nonblocking(true).unwrap();
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener).unwrap()
        };
        let mailboxes: Arc<dyn slipway_mailcatcher::Mailboxes> = smtp.clone();
        runtime.spawn(slipway_mailcatcher::serve(
            listener,
            mailboxes,
            std::future::pending(),
        ));
        smtp
    }

    /// The subjects received, in order.
    pub fn subjects(&self) -> Vec<String> {
        let mails = self.mails.lock().unwrap();
        mails.iter().map(|(subject, _)| subject.clone()).collect()
    }
}

impl slipway_mailcatcher::Mailboxes for CustomerSmtp {
    fn authenticate<'a>(
        &'a self,
        _login: &'a str,
        _secret: &'a str,
    ) -> slipway_mailcatcher::BoxFuture<'a, Option<slipway_mailcatcher::MailboxId>> {
        Box::pin(async { Some(1) })
    }

    fn deliver(
        &self,
        _mailbox: slipway_mailcatcher::MailboxId,
        mail: slipway_mailcatcher::CaughtMail,
    ) -> slipway_mailcatcher::BoxFuture<'_, Result<(), slipway_mailcatcher::DeliveryError>> {
        let whole = String::from_utf8_lossy(&mail.raw).into_owned();
        self.mails
            .lock()
            .unwrap()
            .push((mail.summary.subject, whole));
        Box::pin(async { Ok(()) })
    }
}
