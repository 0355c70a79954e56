//! Mail caught from a build: `GET /builds/{id}/mails`.

use serde::{Deserialize, Serialize};

/// One caught mail as listed (`slipway mails BUILD --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailSummary {
    pub id: i64,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The `Date` header as sent, if any.
    pub date: Option<String>,
}
