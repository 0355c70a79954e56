//! Builds that carry a database forward (Odoo.sh's production and staging):
//! the database is created once without demo data, then every build works on
//! a *copy* of the previous one and updates only what changed.
//!
//! Working on a copy is what makes a failed production update harmless: the
//! database the previous build serves is never written by the update, so
//! "rolling back" is serving it again. The copy is file level (`CREATE
//! DATABASE ... TEMPLATE`, filestore hard-linked): its time grows with the
//! size of the files, not with the rows rewritten.
//!
//! Two calls, so that the caller can stop the old server in between:
//! [`Engine::stage_deployment`] (checkout, plan, requirements: production still
//! serves) and [`Engine::deploy`] (database, neutralization, update).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use slipway_addons::{addon_hash, parse_exclude_patterns, Addon, DEFAULT_EXCLUDE_PATTERNS};
use slipway_image::Image;
use slipway_odoo_log::{IgnoreRules, Status};
use slipway_postgres::random_secret;

use crate::code::{CodeSpec, StagedCode};
use crate::config::ServiceOptions;
use crate::development::{
    addons_path, check_installed, chown_dirs, fresh_database_identity, network_for, write_config,
};
use crate::odoo::OdooRun;
use crate::report::{BuildReport, TemplateUse};
use crate::serving::ServedBuild;
use crate::{BuildError, Engine, Event, Observer, PreparedBuild};

/// Where OCA's `module_auto_update` and click-odoo-update keep, per installed
/// module, the checksum of the code it was last installed or updated with.
pub const INSTALLED_CHECKSUMS: &str = "module_auto_update.installed_checksums";
const EXCLUDE_PATTERNS: &str = "module_auto_update.exclude_patterns";

/// Odoo's own neutralization exists from this major version on.
const ODOO_NEUTRALIZE_SINCE: u32 = 16;
const NEUTRALIZE_TIME_LIMIT: Duration = Duration::from_secs(10 * 60);

/// One build that carries a database forward.
#[derive(Debug, Clone)]
pub struct DeploymentRequest {
    pub repo: PathBuf,
    pub commit: String,
    pub submodules: slipway_checkout::SubmoduleSources,
    pub image: Image,
    /// `None`: every installable addon of the repository.
    pub modules: Option<Vec<String>>,
    pub origin: Origin,
    /// Neutralize the copy (staging, duplicates); `None` for production.
    pub neutralize: Option<Neutralize>,
    /// `-u all` instead of only the modules whose code changed.
    pub update_all: bool,
    pub service: ServiceOptions,
    pub ignore_rules: Vec<String>,
    /// Wall-clock limit of each Odoo run.
    pub time_limit: Duration,
}

/// The database a deployment starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A new database: the modules installed, no demo data.
    New,
    /// A copy of a kept build's database and filestore (its engine id).
    CopyOf { build_id: String },
}

/// What must never be neutralized.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Neutralize {
    /// The production databases of the cluster.
    pub production_databases: Vec<String>,
}

/// A deployment whose code is ready ([`Engine::stage_deployment`]).
pub struct StagedDeployment {
    code: StagedCode,
    report: BuildReport,
    started: Instant,
}

/// What [`Engine::stage_deployment`] ended with.
pub enum Staged {
    Ready(Box<StagedDeployment>),
    /// The repository's fault (dependencies, requirements): a failed report.
    Failed(Box<BuildReport>),
}

/// Which modules a copy needs installed and updated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdatePlan {
    pub install: Vec<String>,
    pub update: Vec<String>,
}

impl Engine {
    /// Checks out and prepares the code; touches no database. On error,
    /// everything the build created is removed.
    pub async fn stage_deployment(
        &self,
        build: &PreparedBuild,
        request: &DeploymentRequest,
        observer: &dyn Observer,
    ) -> Result<Staged, BuildError> {
        let started = Instant::now();
        let log_name = match request.origin {
            Origin::New => "install.log",
            Origin::CopyOf { .. } => "update.log",
        };
        let mut report = BuildReport::starting(
            &build.id,
            &request.commit,
            &request.image,
            self.layout.logs(&build.id).join(log_name),
        );
        report.template = TemplateUse::Disabled;
        let code = CodeSpec {
            repo: &request.repo,
            commit: &request.commit,
            subdir: Path::new(""),
            submodules: request.submodules,
            image: &request.image,
            modules: request.modules.as_deref(),
        };
        match self
            .stage_code(build, &code, &mut report, observer, started)
            .await
        {
            Ok(Some(code)) => Ok(Staged::Ready(Box::new(StagedDeployment {
                code,
                report,
                started,
            }))),
            Ok(None) => {
                self.discard_quietly(build).await;
                Ok(Staged::Failed(Box::new(report)))
            }
            Err(error) => {
                self.discard_quietly(build).await;
                Err(error)
            }
        }
    }

    /// Prepares the database (new, or a copy, neutralized if asked) and
    /// installs/updates the modules. A passing build is kept, ready to serve
    /// ([`Engine::serve`]); a failing one, or an error, removes everything the
    /// build created and never touches the origin's database or files.
    pub async fn deploy(
        &self,
        build: &PreparedBuild,
        request: &DeploymentRequest,
        staged: StagedDeployment,
        observer: &dyn Observer,
    ) -> Result<BuildReport, BuildError> {
        let clock = crate::StepClock::new(observer);
        let result = self.deploy_steps(build, request, staged, &clock).await;
        clock.switch(None);
        match &result {
            Ok(report) if report.status != Status::Failed && report.kept.is_some() => {
                build.tracker.keep()
            }
            _ => self.discard_quietly(build).await,
        }
        result
    }

    async fn discard_quietly(&self, build: &PreparedBuild) {
        if let Err(error) = build.tracker.clean_up(&self.cluster).await {
            tracing::error!(build = %build.id, %error, "cleaning up the build failed; the next run's reaper retries");
        }
    }

    async fn deploy_steps(
        &self,
        build: &PreparedBuild,
        request: &DeploymentRequest,
        staged: StagedDeployment,
        observer: &dyn Observer,
    ) -> Result<BuildReport, BuildError> {
        let StagedDeployment {
            code,
            mut report,
            started,
        } = staged;
        let host = self.odoo_host(&request.image);
        let logs = self.layout.logs(&build.id);
        let database = build.database();
        let password = random_secret(18);
        build.tracker.role(&database)?;
        build.tracker.database(&database)?;
        self.cluster.create_role(&database, &password).await?;
        let filestore = code.data.join("filestore").join(&database);
        match &request.origin {
            Origin::New => {
                observer.event(Event::Step("creating the database"));
                self.cluster.create_database(&database, &database).await?;
                self.cluster.settle_database(&database, &database).await?;
            }
            Origin::CopyOf { build_id } => {
                let source = ServedBuild::read(&self.layout, build_id)?;
                observer.event(Event::Step(&format!(
                    "copying database {} and its filestore",
                    source.database
                )));
                let copy_started = Instant::now();
                self.cluster
                    .copy_live_database(&source.database, &source.database, &database, &database)
                    .await?;
                let source_filestore = source.data_dir.join("filestore").join(&source.database);
                if source_filestore.is_dir() {
                    crate::templates::link_tree(&source_filestore, &filestore)
                        .map_err(BuildError::io("linking the filestore into", &filestore))?;
                }
                chown_dirs(&code.data, self.account)?;
                tracing::info!(build = %build.id, from = %source.database, ms = copy_started.elapsed().as_millis() as u64, "database and filestore copied");
                if request.neutralize.is_some() {
                    // A copy is not production: its own uuid and secret (sessions,
                    // signed links and IAP identify the database by them).
                    fresh_database_identity(&self.cluster, &database).await?;
                }
            }
        }

        let config_file = code.dir.join("odoo.conf");
        write_config(
            &host,
            &config_file,
            &database,
            &password,
            &database,
            &addons_path(&request.image, &code.plan),
            &request.service,
        )?;

        if let Some(neutralize) = &request.neutralize {
            observer.event(Event::Step("neutralizing the copy"));
            let log_file = logs.join("neutralize.log");
            if request.image.meta.odoo.major() >= ODOO_NEUTRALIZE_SINCE {
                let outcome = host
                    .run(
                        OdooRun {
                            data_dir: &code.data,
                            source_dir: Some(&code.source),
                            pydeps_dir: code.pydeps.as_deref(),
                            config_file: &config_file,
                            command: Some("neutralize"),
                            args: vec!["--database".to_string(), database.clone()],
                            time_limit: NEUTRALIZE_TIME_LIMIT,
                            log_file: &log_file,
                            network: slipway_sandbox::Network::Isolated,
                        },
                        IgnoreRules::none(),
                        observer,
                    )
                    .await?;
                // A command, not a server: it never logs `Modules loaded.`; its
                // exit code and the ERROR records of its log say how it went.
                let logged_error = outcome
                    .analysis
                    .errors
                    .iter()
                    .find(|problem| problem.line > 0)
                    .map(|problem| problem.message.clone());
                if outcome.exit != slipway_sandbox::Exit::Code(0) || logged_error.is_some() {
                    let first =
                        logged_error.unwrap_or_else(|| format!("Odoo ended with {}", outcome.exit));
                    return Err(BuildError::Host(format!(
                        "Odoo's neutralization of the copy failed ({first}); log: {}",
                        log_file.display()
                    )));
                }
            }
            self.neutralize(&database, neutralize, &log_file).await?;
            if request.service.mail.is_some() {
                self.let_mail_reach_the_catcher(&database, &log_file)
                    .await?;
            }
        }

        observer.event(Event::Step("planning the update"));
        let plan = match request.origin {
            Origin::New => UpdatePlan {
                install: code.plan.selected.clone(),
                update: Vec::new(),
            },
            Origin::CopyOf { .. } => {
                plan_update(
                    &self.cluster,
                    &database,
                    &code.repo_addons,
                    &code.plan.selected,
                )
                .await?
            }
        };
        let mut args = vec!["--database".to_string(), database.clone()];
        if !plan.install.is_empty() {
            args.extend(["--init".to_string(), plan.install.join(",")]);
        }
        if request.update_all && request.origin != Origin::New {
            args.extend(["--update".to_string(), "all".to_string()]);
        } else if !plan.update.is_empty() {
            args.extend(["--update".to_string(), plan.update.join(",")]);
        }
        let log_file = report.log.clone();
        let mut analysis = if args.len() == 2 {
            std::fs::write(
                &log_file,
                "no module of the repository changed since the database's last update; nothing to install or update\n",
            )
            .map_err(BuildError::io("writing", &log_file))?;
            // Nothing ran: nothing failed (the copy's modules loaded in the
            // build it comes from).
            slipway_odoo_log::Analysis {
                modules_loaded: true,
                ..Default::default()
            }
        } else {
            if !request.image.meta.odoo.demo_is_opt_in() {
                args.push("--without-demo=all".to_string());
            }
            args.push("--stop-after-init".to_string());
            observer.event(Event::Step(&describe(&plan, request.update_all)));
            let outcome = host
                .run(
                    OdooRun {
                        data_dir: &code.data,
                        source_dir: Some(&code.source),
                        pydeps_dir: code.pydeps.as_deref(),
                        config_file: &config_file,
                        command: None,
                        args,
                        time_limit: request.time_limit,
                        log_file: &log_file,
                        network: network_for(&request.service),
                    },
                    IgnoreRules::new(&request.ignore_rules)?,
                    observer,
                )
                .await?;
            report.odoo_seconds += outcome.seconds;
            outcome.analysis
        };
        check_installed(&self.cluster, &database, &code.plan.selected, &mut analysis).await?;
        report.status = analysis.status();
        report.errors = analysis.errors;
        report.warnings = analysis.warnings;
        if report.status != Status::Failed {
            record_checksums(&self.cluster, &database, &code.repo_addons).await?;
            let served = ServedBuild {
                database: database.clone(),
                image: request.image.meta.name.clone(),
                data_dir: code.data.clone(),
                source_dir: code.source.clone(),
                pydeps_dir: code.pydeps.clone(),
                config_file: config_file.clone(),
            };
            served.write(&code.dir)?;
            report.kept = Some(self.keep_instructions(&host, &code.dir, &served)?);
        }
        report.duration_s = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// slipway's own neutralization, after Odoo's. Refuses production.
    async fn neutralize(
        &self,
        database: &str,
        neutralize: &Neutralize,
        log_file: &Path,
    ) -> Result<(), BuildError> {
        let guard = slipway_neutralize::Guard::new(neutralize.production_databases.clone());
        let client = self.cluster.connect(database).await?;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_file)
            .map_err(BuildError::io("writing", log_file))?;
        slipway_neutralize::neutralize(&client, database, &guard, &mut log)
            .await
            .map_err(|error| BuildError::Host(format!("neutralizing {database}: {error}")))?;
        Ok(())
    }
}

impl Engine {
    /// Odoo's mail queue is the one scheduled action a neutralized copy keeps:
    /// every outgoing server is off, so it can only deliver to slipway's mail
    /// catcher, and without it mail queued by the copy (on 17.0+ all mail
    /// sent while modules install) would never show in the catcher.
    async fn let_mail_reach_the_catcher(
        &self,
        database: &str,
        log_file: &Path,
    ) -> Result<(), BuildError> {
        let client = self.cluster.connect(database).await?;
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
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log_file)
            .and_then(|mut file| file.write_all(line.as_bytes()))
            .map_err(BuildError::io("writing", log_file))
    }
}

fn describe(plan: &UpdatePlan, update_all: bool) -> String {
    let mut parts = Vec::new();
    if !plan.install.is_empty() {
        parts.push(format!("installing {}", plan.install.join(", ")));
    }
    if update_all {
        parts.push("updating all modules".to_string());
    } else if !plan.update.is_empty() {
        parts.push(format!("updating {}", plan.update.join(", ")));
    }
    parts.join("; ")
}

/// What the database has installed and with which code, as OCA's tools see it.
struct InstalledState {
    installed: Vec<String>,
    checksums: BTreeMap<String, String>,
    exclude_patterns: Vec<String>,
    languages: Vec<String>,
}

async fn installed_state(
    cluster: &slipway_postgres::Cluster,
    database: &str,
) -> Result<InstalledState, BuildError> {
    let client = cluster.connect(database).await?;
    let sql = |error| BuildError::from(slipway_postgres::PgError::from(error));
    let installed = client
        .query(
            "SELECT name FROM ir_module_module WHERE state IN ('installed', 'to upgrade')",
            &[],
        )
        .await
        .map_err(|error| {
            BuildError::Host(format!(
                "database {database} does not look like an Odoo database (no module list: {}); \
                 it cannot be updated",
                slipway_postgres::PgError::from(error)
            ))
        })?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let parameter = |key: &'static str| {
        let client = &client;
        async move {
            client
                .query_opt(
                    "SELECT value FROM ir_config_parameter WHERE key = $1",
                    &[&key],
                )
                .await
                .map(|row| row.map(|row| row.get::<_, String>(0)))
        }
    };
    let checksums = match parameter(INSTALLED_CHECKSUMS).await.map_err(sql)? {
        // A value another tool damaged counts as "nothing known": every
        // installed module of the repository is updated.
        Some(text) => serde_json::from_str(&text).unwrap_or_default(),
        None => BTreeMap::new(),
    };
    let exclude_patterns = parse_exclude_patterns(
        &parameter(EXCLUDE_PATTERNS)
            .await
            .map_err(sql)?
            .unwrap_or_else(|| DEFAULT_EXCLUDE_PATTERNS.to_string()),
    );
    let languages = client
        .query("SELECT code FROM res_lang WHERE active", &[])
        .await
        .map_err(sql)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    Ok(InstalledState {
        installed,
        checksums,
        exclude_patterns,
        languages,
    })
}

/// The repository's installed modules whose code changed (by checksum), and
/// the selected modules not installed yet.
pub async fn plan_update(
    cluster: &slipway_postgres::Cluster,
    database: &str,
    repo_addons: &[Addon],
    selected: &[String],
) -> Result<UpdatePlan, BuildError> {
    let state = installed_state(cluster, database).await?;
    let mut plan = UpdatePlan::default();
    for addon in repo_addons {
        if !state.installed.contains(&addon.name) {
            continue;
        }
        let checksum = checksum(addon, &state)?;
        if state.checksums.get(&addon.name) != Some(&checksum) {
            plan.update.push(addon.name.clone());
        }
    }
    for module in selected {
        if !state.installed.contains(module) {
            plan.install.push(module.clone());
        }
    }
    Ok(plan)
}

fn checksum(addon: &Addon, state: &InstalledState) -> Result<String, BuildError> {
    addon_hash(&addon.path, &state.exclude_patterns, &state.languages)
        .map_err(BuildError::io("computing the checksum of", &addon.path))
}

/// Stores the checksums of the repository's installed modules where OCA's
/// tools read them (other modules' entries are kept).
async fn record_checksums(
    cluster: &slipway_postgres::Cluster,
    database: &str,
    repo_addons: &[Addon],
) -> Result<(), BuildError> {
    let mut state = installed_state(cluster, database).await?;
    for addon in repo_addons {
        if state.installed.contains(&addon.name) {
            let checksum = checksum(addon, &state)?;
            state.checksums.insert(addon.name.clone(), checksum);
        }
    }
    let value = serde_json::to_string(&state.checksums).expect("checksums serialize");
    let client = cluster.connect(database).await?;
    client
        .execute(
            "INSERT INTO ir_config_parameter (key, value, create_uid, write_uid, create_date, write_date) \
             VALUES ($1, $2, 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC') \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, write_date = EXCLUDED.write_date",
            &[&INSTALLED_CHECKSUMS, &value],
        )
        .await
        .map_err(slipway_postgres::PgError::from)?;
    Ok(())
}
