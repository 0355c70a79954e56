//! The worker's mail catcher: every non-production build's Odoo sends its mail
//! here (its `odoo.conf` says so) with its own login; the mail is stored per
//! build in the control database and never leaves the machine.

use crate::Confinement;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use slipway_mailcatcher::{BoxFuture, CaughtMail, DeliveryError, MailboxId, Mailboxes};

use crate::ControlDb;

const LOGIN_PREFIX: &str = "build-";

/// The catcher login of a build.
pub(crate) fn login(build_id: i64) -> String {
    format!("{LOGIN_PREFIX}{build_id}")
}

/// Build mailboxes in the control database.
pub(crate) struct BuildMailboxes {
    pub control: ControlDb,
}

impl Mailboxes for BuildMailboxes {
    fn authenticate<'a>(
        &'a self,
        login: &'a str,
        secret: &'a str,
    ) -> BoxFuture<'a, Option<MailboxId>> {
        Box::pin(async move {
            let build_id: i64 = login.strip_prefix(LOGIN_PREFIX)?.parse().ok()?;
            let hash = hex::encode(Sha256::digest(secret.as_bytes()));
            let session = self.control.session().await.ok()?;
            match slipway_control::mail_secret_matches(&session, build_id, &hash).await {
                Ok(true) => Some(build_id),
                Ok(false) => None,
                Err(error) => {
                    tracing::warn!(build = build_id, %error, "cannot check a mail catcher login");
                    None
                }
            }
        })
    }

    fn deliver(
        &self,
        mailbox: MailboxId,
        mail: CaughtMail,
    ) -> BoxFuture<'_, Result<(), DeliveryError>> {
        Box::pin(async move {
            let session = self.control.session().await?;
            let summary = &mail.summary;
            let id = slipway_control::store_mail(
                &session,
                mailbox,
                &slipway_control::NewMail {
                    envelope_from: &mail.envelope_from,
                    envelope_to: &mail.envelope_to,
                    from: &summary.from,
                    to: &summary.to,
                    subject: &summary.subject,
                    date: summary.date.as_deref(),
                    raw: &mail.raw,
                },
            )
            .await?;
            tracing::info!(build = mailbox, mail = id, subject = %summary.subject, "mail caught");
            Ok(())
        })
    }
}

/// Starts the catcher on a free port; it stops with `shutdown`. Unconfined
/// builds reach it on the loopback; builds in networks of their own on their
/// link to the host, so it listens on every address and the firewall lets
/// only builds given mail (and the host) reach the port.
pub(crate) async fn start(
    control: ControlDb,
    confinement: &Confinement,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<u16> {
    let address = match confinement {
        Confinement::Confined(_) => std::net::Ipv4Addr::UNSPECIFIED,
        Confinement::Unconfined => std::net::Ipv4Addr::LOCALHOST,
    };
    let listener = tokio::net::TcpListener::bind((address, 0)).await?;
    let port = listener.local_addr()?.port();
    if let Confinement::Confined(confined) = confinement {
        confined
            .plumbing
            .allow_catcher_port(port)
            .map_err(std::io::Error::other)?;
    }
    let mailboxes: Arc<dyn Mailboxes> = Arc::new(BuildMailboxes { control });
    tokio::spawn(async move {
        let stopped = async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        };
        if let Err(error) = slipway_mailcatcher::serve(listener, mailboxes, stopped).await {
            tracing::error!(%error, "the mail catcher stopped");
        }
    });
    Ok(port)
}
