//! Step: the verdict. Green, yellow or red from three witnesses, gathered
//! here: the log (analysed line by line while Odoo ran, by
//! `slipway_odoo_log`), how Odoo ended (exit code, time limit), and the
//! database (were the modules really installed?).

use std::time::Duration;

use slipway_odoo_log::{Analysis, Status};
use slipway_postgres::Cluster;
use slipway_sandbox::Exit;

use crate::odoo::OdooOutcome;
use crate::report::BuildReport;
use crate::BuildError;

/// Adds how Odoo ended to the analysis of its log: anything but a clean exit
/// is an error, whatever the log says.
pub(crate) fn judge_exit(analysis: &mut Analysis, exit: Exit, time_limit: Duration) {
    match exit {
        Exit::Code(0) => {}
        Exit::TimedOut => analysis.add_error(format!(
            "Odoo was stopped after its time limit of {} s",
            time_limit.as_secs()
        )),
        other => analysis.add_error(format!("Odoo ended with {other}")),
    }
}

/// Adds what the database says to the analysis: Odoo can finish without error
/// and still not install a module (19.0 silently skips a module whose manifest
/// version does not match).
pub(crate) async fn check_installed(
    cluster: &Cluster,
    database: &str,
    modules: &[String],
    analysis: &mut Analysis,
) -> Result<(), BuildError> {
    let client = cluster.connect(database).await?;
    let rows = match client
        .query(
            "SELECT name, state FROM ir_module_module WHERE name = ANY($1)",
            &[&modules],
        )
        .await
    {
        Ok(rows) => rows,
        Err(error) => {
            // No module table: Odoo never got as far as creating it.
            let error = slipway_postgres::PgError::from(error);
            analysis.add_error(format!("the database holds no module list ({error})"));
            return Ok(());
        }
    };
    for module in modules {
        let state: Option<String> = rows
            .iter()
            .find(|row| row.get::<_, String>(0) == *module)
            .map(|row| row.get(1));
        match state.as_deref() {
            Some("installed") => {}
            Some(state) => analysis.add_error(format!(
                "module {module} was not installed (state: {state})"
            )),
            None => analysis.add_error(format!(
                "module {module} was not installed (Odoo does not know it)"
            )),
        }
    }
    Ok(())
}

/// Why an Odoo command (not a server: it never logs `Modules loaded.`)
/// failed, if it did: its exit code and the ERROR records of its log say.
pub(crate) fn command_failure(outcome: &OdooOutcome) -> Option<String> {
    let logged_error = outcome
        .analysis
        .errors
        .iter()
        .find(|problem| problem.line > 0)
        .map(|problem| problem.message.clone());
    if outcome.exit == Exit::Code(0) && logged_error.is_none() {
        return None;
    }
    Some(logged_error.unwrap_or_else(|| format!("Odoo ended with {}", outcome.exit)))
}

/// Why a failed analysis failed, in one line (its first error); `None` when
/// it did not fail.
pub(crate) fn failure(analysis: &Analysis) -> Option<String> {
    (analysis.status() == Status::Failed).then(|| {
        analysis
            .errors
            .first()
            .map(|problem| problem.message.clone())
            .unwrap_or_default()
    })
}

impl BuildReport {
    /// Records the verdict of the build's Odoo run.
    pub(crate) fn record_verdict(&mut self, analysis: Analysis) {
        self.status = analysis.status();
        self.tests = analysis.tests;
        self.failed_tests = analysis.failed_tests;
        self.errors = analysis.errors;
        self.warnings = analysis.warnings;
    }
}
