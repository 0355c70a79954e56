//! Mail caught from non-production builds, stored per build.

use tokio_postgres::Client;

use crate::{ControlError, MailSummary};

/// A mail to store: the SMTP envelope, the headers shown, the raw message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail<'a> {
    pub envelope_from: &'a str,
    pub envelope_to: &'a [String],
    pub from: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    pub date: Option<&'a str>,
    pub raw: &'a [u8],
}

pub async fn store_mail(
    client: &Client,
    build_id: i64,
    mail: &NewMail<'_>,
) -> Result<i64, ControlError> {
    let row = client
        .query_one(
            "INSERT INTO mails (build_id, envelope_from, envelope_to, header_from, header_to, \
                                subject, date, raw) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &build_id,
                &mail.envelope_from,
                &mail.envelope_to,
                &mail.from,
                &mail.to,
                &mail.subject,
                &mail.date,
                &mail.raw,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// The build's caught mails, oldest first. Unknown builds are an error.
pub async fn list_mails(client: &Client, build_id: i64) -> Result<Vec<MailSummary>, ControlError> {
    if client
        .query_opt("SELECT 1 FROM builds WHERE id = $1", &[&build_id])
        .await?
        .is_none()
    {
        return Err(ControlError::UnknownBuild(build_id));
    }
    let rows = client
        .query(
            "SELECT id, header_from, header_to, subject, date FROM mails \
             WHERE build_id = $1 ORDER BY id",
            &[&build_id],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(MailSummary {
                id: row.try_get(0)?,
                from: row.try_get(1)?,
                to: row.try_get(2)?,
                subject: row.try_get(3)?,
                date: row.try_get(4)?,
            })
        })
        .collect()
}

/// The raw message of one of the build's mails.
pub async fn get_mail(
    client: &Client,
    build_id: i64,
    mail_id: i64,
) -> Result<Vec<u8>, ControlError> {
    client
        .query_opt(
            "SELECT raw FROM mails WHERE build_id = $1 AND id = $2",
            &[&build_id, &mail_id],
        )
        .await?
        .map(|row| row.get(0))
        .ok_or(ControlError::UnknownMail { build_id, mail_id })
}
