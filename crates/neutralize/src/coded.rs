//! The steps that are code rather than rows of the table in `steps.rs`: what
//! they do or log depends on what they find.

use crate::run::{count, Run};
use crate::{NeutralizeError, NEUTRALIZED_KEY, RENEWED_UUID_KEY};

/// Configuration keys that let a copy act in production's name: web push
/// (`mail/data/neutralize.sql`, 17+), Odoo's mobile push service (OCN), the key
/// of Odoo's call server (SFU).
const OUTSIDE_KEYS: &[&str] = &[
    "mail.web_push_vapid_private_key",
    "mail.web_push_vapid_public_key",
    "odoo_ocn.project_id",
    "ocn.uuid",
    "mail.sfu_server_key",
];

/// Views that show the copy is neutralized (`web` and `website`, 16+).
const BANNER_VIEWS: &[&str] = &["web.neutralize_banner", "website.neutralize_ribbon"];

#[derive(Debug, Clone, Copy)]
pub(crate) enum Coded {
    /// Which scheduled action is Odoo's housekeeping is read from `ir_model_data`.
    Crons,
    /// The log names the keys removed.
    OutsideKeys,
    /// Kept when an earlier neutralization renewed it.
    DatabaseUuid,
    /// The log tells a version without the views from one that shows them.
    BannerViews,
    /// A configuration parameter, set whether or not its key is unique.
    Flag,
}

impl Run<'_> {
    pub(crate) async fn coded(&mut self, step: Coded) -> Result<(), NeutralizeError> {
        match step {
            Coded::Crons => self.crons().await,
            Coded::OutsideKeys => self.outside_keys().await,
            Coded::DatabaseUuid => self.database_uuid().await,
            Coded::BannerViews => self.banner_views().await,
            Coded::Flag => self.flag().await,
        }
    }

    async fn crons(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "ir_cron";
        if self.table(STEP, STEP, &["id", "active"]).await?.is_none() {
            return Ok(());
        }
        let xml_ids = self.columns(STEP, "ir_model_data").await?;
        let identifiable = xml_ids.as_ref().is_some_and(|c| {
            ["model", "module", "name", "res_id"]
                .iter()
                .all(|n| c.has(n))
        });
        let (rows, kept) = if identifiable {
            let rows = self
                .execute(
                    STEP,
                    "UPDATE ir_cron c SET active = false \
                      WHERE c.active IS DISTINCT FROM false \
                        AND NOT EXISTS (SELECT 1 FROM ir_model_data d \
                                         WHERE d.model = 'ir.cron' AND d.module = 'base' \
                                           AND d.name = 'autovacuum_job' AND d.res_id = c.id)",
                    &[],
                )
                .await?;
            let autovacuum = self
                .query(
                    STEP,
                    "SELECT c.active FROM ir_cron c JOIN ir_model_data d ON d.res_id = c.id \
                      WHERE d.model = 'ir.cron' AND d.module = 'base' AND d.name = 'autovacuum_job'",
                    &[],
                )
                .await?;
            let kept = match autovacuum.first().map(|row| row.get::<_, Option<bool>>(0)) {
                Some(Some(true)) => "base.autovacuum_job kept active",
                Some(_) => "base.autovacuum_job kept (it is inactive)",
                None => "base.autovacuum_job not found",
            };
            (rows, kept)
        } else {
            let rows = self
                .execute(
                    STEP,
                    "UPDATE ir_cron SET active = false WHERE active IS DISTINCT FROM false",
                    &[],
                )
                .await?;
            (
                rows,
                "base.autovacuum_job cannot be identified (ir_model_data absent)",
            )
        };
        self.record(
            STEP,
            rows,
            format!(
                "{} deactivated, {kept}",
                count(rows, "scheduled action", "scheduled actions")
            ),
        )
    }

    async fn outside_keys(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "ir_config_parameter";
        if self
            .table(STEP, "ir_config_parameter", &["key"])
            .await?
            .is_none()
        {
            return Ok(());
        }
        let keys: Vec<String> = OUTSIDE_KEYS.iter().map(|key| key.to_string()).collect();
        let deleted = self
            .query(
                STEP,
                "DELETE FROM ir_config_parameter WHERE key::text = ANY($1::text[]) RETURNING key::text",
                &[&keys],
            )
            .await?;
        let mut names: Vec<String> = deleted.iter().filter_map(|row| row.get(0)).collect();
        names.sort();
        names.dedup();
        let rows = deleted.len() as u64;
        self.record(
            STEP,
            rows,
            match rows {
                0 => "no push or call key to remove".to_string(),
                _ => format!(
                    "{} removed (the copy cannot push or call in production's name): {}",
                    count(rows, "key", "keys"),
                    names.join(", ")
                ),
            },
        )
    }

    async fn database_uuid(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "database.uuid";
        let Some(columns) = self
            .table(STEP, "ir_config_parameter", &["key", "value"])
            .await?
        else {
            return Ok(());
        };
        let current: Vec<Option<String>> = self
            .query(
                STEP,
                "SELECT value::text FROM ir_config_parameter WHERE key = 'database.uuid'",
                &[],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if current.is_empty() {
            return self.record(STEP, 0, "absent, nothing to renew".to_string());
        }
        let renewed: Vec<Option<String>> = self
            .query(
                STEP,
                "SELECT value::text FROM ir_config_parameter WHERE key::text = $1::text",
                &[&RENEWED_UUID_KEY],
            )
            .await?
            .iter()
            .map(|row| row.get(0))
            .collect();
        if let [Some(renewed)] = renewed.as_slice() {
            if current
                .iter()
                .all(|value| value.as_deref() == Some(renewed))
            {
                return self.record(
                    STEP,
                    0,
                    "already renewed by an earlier neutralization, kept".to_string(),
                );
            }
        }
        // A random (version 4) UUID with nothing but core PostgreSQL.
        let uuid: String = self
            .query(
                STEP,
                "SELECT overlay(overlay(md5(random()::text || clock_timestamp()::text) \
                        placing '4' from 13) placing '8' from 17)::uuid::text",
                &[],
            )
            .await?
            .first()
            .map(|row| row.get(0))
            .unwrap_or_default();
        let typed = columns.has("type");
        let rows = self
            .execute(
                STEP,
                "UPDATE ir_config_parameter SET value = $1::text WHERE key = 'database.uuid'",
                &[&uuid],
            )
            .await?;
        self.set_param(STEP, typed, RENEWED_UUID_KEY, &uuid).await?;
        self.record(
            STEP,
            rows,
            format!(
                "renewed to {uuid}: the copy does not identify itself to Odoo's services as production"
            ),
        )
    }

    async fn banner_views(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = "ir_ui_view";
        if self.table(STEP, STEP, &["key", "active"]).await?.is_none() {
            return Ok(());
        }
        let keys: Vec<String> = BANNER_VIEWS.iter().map(|key| key.to_string()).collect();
        let rows = self
            .execute(
                STEP,
                "UPDATE ir_ui_view SET active = true \
                  WHERE key::text = ANY($1::text[]) AND active IS DISTINCT FROM true",
                &[&keys],
            )
            .await?;
        let present = self
            .query(
                STEP,
                "SELECT 1 FROM ir_ui_view WHERE key::text = ANY($1::text[])",
                &[&keys],
            )
            .await?
            .len();
        self.record(
            STEP,
            rows,
            match (rows, present) {
                (_, 0) => "no neutralization banner view (Odoo before 16.0)".to_string(),
                (0, _) => "neutralization banner already shown".to_string(),
                _ => format!(
                    "{} shown",
                    count(
                        rows,
                        "neutralization banner view",
                        "neutralization banner views"
                    )
                ),
            },
        )
    }

    async fn flag(&mut self) -> Result<(), NeutralizeError> {
        const STEP: &str = NEUTRALIZED_KEY;
        let Some(columns) = self
            .table(STEP, "ir_config_parameter", &["key", "value"])
            .await?
        else {
            return Ok(());
        };
        let rows = self
            .set_param(STEP, columns.has("type"), NEUTRALIZED_KEY, "true")
            .await?;
        self.record(
            STEP,
            rows,
            match rows {
                0 => "already true".to_string(),
                _ => "set to true: the database is flagged as neutralized".to_string(),
            },
        )
    }

    /// Sets a configuration parameter (whether or not the key is unique in this
    /// database); returns the rows changed.
    async fn set_param(
        &mut self,
        step: &'static str,
        typed: bool,
        key: &str,
        value: &str,
    ) -> Result<u64, NeutralizeError> {
        // Recent Odoo versions type their parameters; Odoo's own SQL uses 'str'.
        let (set_type, type_column, type_value) = if typed {
            (", type = 'str'", ", type", ", 'str'")
        } else {
            ("", "", "")
        };
        let updated = self
            .execute(
                step,
                &format!(
                    "UPDATE ir_config_parameter SET value = $2::text{set_type} \
                      WHERE key::text = $1::text AND value::text IS DISTINCT FROM $2::text"
                ),
                &[&key, &value],
            )
            .await?;
        if updated > 0 {
            return Ok(updated);
        }
        self.execute(
            step,
            &format!(
                "INSERT INTO ir_config_parameter (key, value{type_column}) \
                 SELECT $1::text, $2::text{type_value} \
                  WHERE NOT EXISTS (SELECT 1 FROM ir_config_parameter WHERE key::text = $1::text)"
            ),
            &[&key, &value],
        )
        .await
    }
}
