//! Step: neutralization of a copy of production. Odoo's own `neutralize`
//! command (16.0+), then slipway's rules (`slipway_neutralize`), which refuse
//! a production database; then the mail queue kept running when the copy's
//! mail goes to slipway's catcher.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use slipway_odoo_log::IgnoreRules;
use slipway_sandbox::Network;

use crate::config::ServiceOptions;
use crate::odoo_install::OdooInstall;
use crate::steps::odoo_run::{Job, RunFiles, Task};
use crate::steps::verdict::command_failure;
use crate::{BuildError, Engine, Event, LogFile, Observer, PreparedBuild};

/// Odoo's own neutralization exists from this major version on.
const ODOO_NEUTRALIZE_SINCE: u32 = 16;
const NEUTRALIZE_TIME_LIMIT: Duration = Duration::from_secs(10 * 60);

/// What must never be neutralized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Neutralize {
    /// The production databases of the cluster.
    pub production_databases: Vec<String>,
}

impl Engine {
    /// Neutralizes the build's database, a copy, writing what was done to
    /// its neutralization log.
    pub(crate) async fn neutralize_copy(
        &self,
        build: &PreparedBuild,
        odoo: &OdooInstall,
        files: &RunFiles<'_>,
        neutralize: &Neutralize,
        service: &ServiceOptions,
        observer: &dyn Observer,
    ) -> Result<(), BuildError> {
        observer.event(Event::Step("neutralizing the copy"));
        let database = &build.database();
        let log_file = &self.layout().log(&build.id, LogFile::Neutralize);
        if odoo.series().major() >= ODOO_NEUTRALIZE_SINCE {
            let job = Job {
                database,
                task: Task::Neutralize,
                log_file,
                time_limit: NEUTRALIZE_TIME_LIMIT,
                network: Network::Isolated,
                cgroups: service.cgroups.clone(),
                rules: IgnoreRules::none(),
            };
            let outcome = self.run_odoo(odoo, files, job, observer).await?;
            if let Some(failure) = command_failure(&outcome) {
                return Err(BuildError::Host(format!(
                    "Odoo's neutralization of the copy failed ({failure}); log: {}",
                    log_file.display()
                )));
            }
        }
        let guard = slipway_neutralize::Guard::new(neutralize.production_databases.clone());
        let client = self.cluster().connect(database).await?;
        let mut log = append_to(log_file)?;
        slipway_neutralize::neutralize(&client, database, &guard, &mut log)
            .await
            .map_err(|error| BuildError::Host(format!("neutralizing {database}: {error}")))?;
        if service.mail.is_some() {
            self.let_mail_reach_the_catcher(database, log_file).await?;
        }
        Ok(())
    }

    /// Odoo's mail queue is the one scheduled action a neutralized copy keeps:
    /// every outgoing server is off, so it can only deliver to slipway's mail
    /// catcher, and without it mail queued by the copy (on 17.0+ all mail
    /// sent while modules install) would never show in the catcher.
    async fn let_mail_reach_the_catcher(
        &self,
        database: &str,
        log_file: &Path,
    ) -> Result<(), BuildError> {
        let client = self.cluster().connect(database).await?;
        let reactivated = client
            .execute(
                "UPDATE ir_cron c SET active = true FROM ir_model_data d \
                  WHERE d.model = 'ir.cron' AND d.module = 'mail' \
                    AND d.name = 'ir_cron_mail_scheduler_action' AND d.res_id = c.id",
                &[],
            )
            .await
            .map_err(slipway_postgres::PgError::from)?;
        let line = if reactivated > 0 {
            "mail queue (mail.ir_cron_mail_scheduler_action): kept active, it delivers to slipway's mail catcher only\n"
        } else {
            "mail queue (mail.ir_cron_mail_scheduler_action): absent\n"
        };
        append_to(log_file)?
            .write_all(line.as_bytes())
            .map_err(BuildError::io("writing", log_file))
    }
}

fn append_to(log_file: &Path) -> Result<std::fs::File, BuildError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file)
        .map_err(BuildError::io("writing", log_file))
}
