//! The development build (Odoo.sh's): a new database with demo data, the
//! repository's modules installed and their tests run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use slipway_image::{Image, ImageStore};
use slipway_odoo_log::{Analysis, IgnoreRules, Status};
use slipway_postgres::{random_secret, Cluster, DatabaseCopy};
use slipway_sandbox::Sandbox;

use crate::code::{CodeSpec, StagedCode};
use crate::config::{OdooConfig, ServiceOptions};
use crate::host::{hand_over, HostAccount};
use crate::locks::LockMode;
use crate::modules::{self, ModulePlan};
use crate::odoo::{OdooHost, OdooRun, DATA_MOUNT, SOURCE_MOUNT};
use crate::report::{BuildReport, KeptBuild, TemplateUse};
use crate::serving::ServedBuild;
use crate::templates::{self, TemplateKey, TemplateMeta, Templates, MAX_TEMPLATES};
use crate::{BuildError, Event, Layout, Observer, Tracker};

/// Odoo's HTTP port inside the sandbox (its own network namespace, so every
/// build can use the same one).
const HTTP_PORT: u16 = 8069;
/// Wall-clock limit of a template build (installing `base` and friends).
const TEMPLATE_TIME_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The shared machinery builds run on.
pub struct Engine {
    pub layout: Layout,
    pub images: ImageStore,
    pub cluster: Cluster,
    pub sandbox: Box<dyn Sandbox>,
    /// Host account for sandboxes and build files (when slipway runs as root).
    pub account: Option<HostAccount>,
}

/// One development build to run.
#[derive(Debug, Clone)]
pub struct DevelopmentRequest {
    pub repo: PathBuf,
    pub commit: String,
    /// Sub-folder of the repository whose addons are built ("" for all).
    pub subdir: PathBuf,
    /// Where submodules may come from: local paths for a developer's own
    /// checkout, network URLs only for server builds.
    pub submodules: slipway_checkout::SubmoduleSources,
    pub image: Image,
    /// `None`: every installable addon of the repository.
    pub modules: Option<Vec<String>>,
    /// `None`: the selected modules' own tests (`/module,...`).
    pub test_tags: Option<String>,
    pub use_template: bool,
    pub keep: bool,
    pub ignore_rules: Vec<String>,
    /// Wall-clock limit of the Odoo run.
    pub time_limit: Duration,
    /// Mail and scheduled actions of the build's Odoo (kept builds serve with it).
    pub service: ServiceOptions,
}

/// A build that has an id and a resource record, before it runs. Keep it to
/// clean up after a cancelled [`Engine::run_development`].
pub struct PreparedBuild {
    pub id: String,
    pub(crate) tracker: Tracker,
}

impl PreparedBuild {
    pub fn database(&self) -> String {
        format!("slipway_b_{}", self.id)
    }
}

impl Engine {
    /// Gives the build an id and starts its resource record.
    pub fn prepare(&self) -> Result<PreparedBuild, BuildError> {
        self.prepare_with_id(&random_secret(5))
    }

    /// Like [`Engine::prepare`] with a given id (lowercase letters and digits):
    /// the server names its builds after their queue id. A retried build must
    /// first remove what its previous attempt left ([`Engine::drop_kept`]).
    pub fn prepare_with_id(&self, id: &str) -> Result<PreparedBuild, BuildError> {
        if id.is_empty()
            || id.len() > 40
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(BuildError::Host(format!("invalid build id '{id}'")));
        }
        let tracker = Tracker::new(&self.layout, id)?;
        Ok(PreparedBuild {
            id: id.to_string(),
            tracker,
        })
    }

    /// Removes everything `build` created (after a cancelled run).
    pub async fn discard(&self, build: &PreparedBuild) -> Result<(), BuildError> {
        build.tracker.clean_up(&self.cluster).await
    }

    /// Runs the build to its report. On error, everything it created is removed;
    /// on success too, unless `request.keep`.
    pub async fn run_development(
        &self,
        build: &PreparedBuild,
        request: &DevelopmentRequest,
        observer: &dyn Observer,
    ) -> Result<BuildReport, BuildError> {
        let started = Instant::now();
        let clock = crate::StepClock::new(observer);
        clock.switch(Some("starting"));
        let result = self
            .development_steps(build, request, &clock, started)
            .await;
        clock.switch(Some("cleaning up"));
        let keep = request.keep && matches!(&result, Ok(report) if report.kept.is_some());
        if keep {
            build.tracker.keep();
        } else if let Err(error) = build.tracker.clean_up(&self.cluster).await {
            tracing::error!(build = %build.id, %error, "cleaning up the build failed; the next run's reaper retries");
        }
        clock.switch(None);
        result
    }

    async fn development_steps(
        &self,
        build: &PreparedBuild,
        request: &DevelopmentRequest,
        observer: &dyn Observer,
        started: Instant,
    ) -> Result<BuildReport, BuildError> {
        let rules = IgnoreRules::new(&request.ignore_rules)?;
        let logs = self.layout.logs(&build.id);
        let log_file = logs.join("odoo.log");
        let mut report =
            BuildReport::starting(&build.id, &request.commit, &request.image, log_file.clone());
        let code = CodeSpec {
            repo: &request.repo,
            commit: &request.commit,
            subdir: &request.subdir,
            submodules: request.submodules,
            image: &request.image,
            modules: request.modules.as_deref(),
        };
        let Some(staged) = self
            .stage_code(build, &code, &mut report, observer, started)
            .await?
        else {
            return Ok(report);
        };
        let StagedCode {
            dir,
            source,
            data,
            plan,
            pydeps,
            ..
        } = staged;
        let host = self.odoo_host(&request.image);

        let database = build.database();
        let password = random_secret(18);
        build.tracker.role(&database)?;
        build.tracker.database(&database)?;
        self.cluster.create_role(&database, &password).await?;
        if request.use_template && !plan.external.is_empty() {
            let (key, template_use, template_seconds) = self
                .ensure_template(build, &host, &request.image, &plan, &logs, observer)
                .await?;
            report.odoo_seconds += template_seconds;
            report.template = template_use;
            observer.event(Event::Step("copying the template database"));
            let templates = Templates::new(&self.layout)?;
            let _lock = templates.lock(&key, LockMode::Shared).await?;
            // FILE_COPY, not PostgreSQL 15's default WAL_LOG: copying through the
            // WAL PANICs (restarts) the whole cluster when the disk fills up;
            // a file copy fails with a plain error. Both measured the same speed.
            self.cluster
                .copy_database(
                    &key.database(),
                    &key.role(),
                    &database,
                    &database,
                    DatabaseCopy::FileCopy,
                )
                .await?;
            fresh_database_identity(&self.cluster, &database).await?;
            let filestore = data.join("filestore").join(&database);
            let from = templates.filestore(&key);
            if from.is_dir() {
                templates::link_tree(&from, &filestore).map_err(BuildError::io(
                    "linking the template filestore into",
                    &filestore,
                ))?;
                chown_dirs(&data, self.account)?;
            }
        } else {
            report.template = TemplateUse::Disabled;
            self.cluster.create_database(&database, &database).await?;
        }

        let config_file = dir.join("odoo.conf");
        let addons_path = addons_path(&request.image, &plan);
        write_config(
            &host,
            &config_file,
            &database,
            &password,
            &database,
            &addons_path,
            &request.service,
        )?;

        let test_tags = request.test_tags.clone().unwrap_or_else(|| {
            plan.selected
                .iter()
                .map(|m| format!("/{m}"))
                .collect::<Vec<_>>()
                .join(",")
        });
        let mut args = vec![
            "--database".to_string(),
            database.clone(),
            "--init".to_string(),
            plan.selected.join(","),
            "--test-enable".to_string(),
            "--test-tags".to_string(),
            test_tags,
            "--stop-after-init".to_string(),
        ];
        if request.image.meta.odoo.demo_is_opt_in() {
            args.push("--with-demo".to_string());
        }
        observer.event(Event::Step(&format!(
            "installing and testing {}",
            plan.selected.join(", ")
        )));
        let outcome = host
            .run(
                OdooRun {
                    data_dir: &data,
                    source_dir: Some(&source),
                    pydeps_dir: pydeps.as_deref(),
                    config_file: &config_file,
                    command: None,
                    args,
                    time_limit: request.time_limit,
                    log_file: &log_file,
                    network: network_for(&request.service),
                },
                rules,
                observer,
            )
            .await?;
        report.odoo_seconds += outcome.seconds;
        tracing::info!(build = %build.id, exit = %outcome.exit, seconds = outcome.seconds, "Odoo finished");
        let mut analysis = outcome.analysis;
        check_installed(&self.cluster, &database, &plan.selected, &mut analysis).await?;

        report.status = analysis.status();
        report.tests = analysis.tests;
        report.failed_tests = analysis.failed_tests.clone();
        report.errors = analysis.errors;
        report.warnings = analysis.warnings;
        if request.keep {
            let served = ServedBuild {
                database: database.clone(),
                image: request.image.meta.name.clone(),
                data_dir: data.clone(),
                source_dir: source.clone(),
                pydeps_dir: pydeps.clone(),
                config_file: config_file.clone(),
            };
            served.write(&dir)?;
            report.kept = Some(self.keep_instructions(&host, &dir, &served)?);
        }
        report.duration_s = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// The template for the plan's outside dependencies: found, or built now.
    /// Returns its key, how it was obtained, and the seconds Odoo ran to build it.
    async fn ensure_template(
        &self,
        build: &PreparedBuild,
        host: &OdooHost<'_>,
        image: &Image,
        plan: &ModulePlan,
        logs: &Path,
        observer: &dyn Observer,
    ) -> Result<(TemplateKey, TemplateUse, f64), BuildError> {
        let checksums = modules::core_checksums(image, &plan.external, &self.layout.templates())?;
        let templates = Templates::new(&self.layout)?;
        let key = TemplateKey::new(templates.instance(), image, &checksums);
        if templates.find(&key, &self.cluster).await?.is_some() {
            observer.event(Event::Notice(&format!(
                "reusing template database {} ({} modules)",
                key.hash,
                key.modules.len()
            )));
            return Ok((key.clone(), TemplateUse::Reused { hash: key.hash }, 0.0));
        }
        let lock = templates.lock(&key, LockMode::Exclusive).await?;
        // Built by another process while we waited.
        if templates.find(&key, &self.cluster).await?.is_some() {
            return Ok((key.clone(), TemplateUse::Reused { hash: key.hash }, 0.0));
        }
        // Leftovers of a template build that died half-way.
        templates.forget(&key, &self.cluster).await?;
        observer.event(Event::Step(&format!(
            "building template database {} ({})",
            key.hash,
            abbreviate(&key.modules)
        )));
        let started = Instant::now();
        let (database, role, dir) = (key.database(), key.role(), templates.dir(&key));
        build.tracker.database(&database)?;
        build.tracker.role(&role)?;
        build.tracker.dir(&dir)?;
        let password = random_secret(18);
        self.cluster.create_role(&role, &password).await?;
        self.cluster.create_database(&database, &role).await?;
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(BuildError::io("creating", &data))?;
        hand_over(&data, self.account).map_err(BuildError::io("chown", &data))?;
        let config_file = dir.join("odoo.conf");
        let addons_path = vec![image.meta.core_addons_path.clone()];
        write_config(
            host,
            &config_file,
            &role,
            &password,
            &database,
            &addons_path,
            &ServiceOptions::default(),
        )?;
        let mut args = vec![
            "--database".to_string(),
            database.clone(),
            "--init".to_string(),
            key.modules.join(","),
            "--stop-after-init".to_string(),
        ];
        if image.meta.odoo.demo_is_opt_in() {
            args.push("--with-demo".to_string());
        }
        let log_file = logs.join("template.log");
        let outcome = host
            .run(
                OdooRun {
                    data_dir: &data,
                    source_dir: None,
                    pydeps_dir: None,
                    config_file: &config_file,
                    command: None,
                    args,
                    time_limit: TEMPLATE_TIME_LIMIT,
                    log_file: &log_file,
                    network: slipway_sandbox::Network::Isolated,
                },
                IgnoreRules::none(),
                observer,
            )
            .await?;
        let mut analysis = outcome.analysis;
        check_installed(&self.cluster, &database, &key.modules, &mut analysis).await?;
        if analysis.status() == Status::Failed {
            let first = analysis
                .errors
                .first()
                .map(|p| p.message.clone())
                .unwrap_or_default();
            return Err(BuildError::Host(format!(
                "the template database with {} could not be built ({first}); log: {}",
                abbreviate(&key.modules),
                log_file.display()
            )));
        }
        self.cluster.take_database_ownership(&database).await?;
        let built_filestore = data.join("filestore").join(&database);
        if built_filestore.is_dir() {
            let target = templates.filestore(&key);
            std::fs::rename(&built_filestore, &target)
                .map_err(BuildError::io("moving the template filestore to", &target))?;
        }
        let _ = std::fs::remove_dir_all(&data);
        let _ = std::fs::remove_file(&config_file);
        let seconds = started.elapsed().as_secs_f64();
        templates.write_meta(
            &key,
            &TemplateMeta {
                hash: key.hash.clone(),
                image: image.meta.name.clone(),
                modules: key.modules.clone(),
                created_unix: templates::now_unix(),
                seconds_to_build: seconds,
            },
        )?;
        build
            .tracker
            .release_ownership(&[&database], &[&role], &[&dir])?;
        drop(lock);
        let evicted = templates.evict(MAX_TEMPLATES, &self.cluster).await?;
        if !evicted.is_empty() {
            tracing::info!(count = evicted.len(), "old template databases evicted");
        }
        Ok((
            key.clone(),
            TemplateUse::Created {
                hash: key.hash,
                seconds: seconds as u64,
            },
            outcome.seconds,
        ))
    }

    /// Writes a script that starts Odoo on the kept build, serving HTTP on the
    /// host's loopback, and returns what to tell the user.
    pub(crate) fn keep_instructions(
        &self,
        host: &OdooHost<'_>,
        dir: &Path,
        served: &ServedBuild,
    ) -> Result<KeptBuild, BuildError> {
        let spec = host.spec(&served.run(), slipway_sandbox::Network::Host);
        // Served on the host's loopback: take a port nobody uses right now.
        let http_port = crate::serving::free_port()?;
        let argv = served.argv(http_port);
        let command = self.sandbox.command_line(&spec, &argv)?;
        let mut script =
            String::from("#!/bin/sh\n# Starts Odoo on a build kept by `slipway ci --keep`.\nexec");
        if let Some(account) = self.account {
            script.push_str(&format!(
                " setpriv --reuid={} --regid={} --clear-groups",
                account.uid, account.gid
            ));
        }
        for word in command {
            script.push(' ');
            script.push_str(&shell_quote(&word));
        }
        script.push('\n');
        let start_script = dir.join("start-odoo.sh");
        std::fs::write(&start_script, script).map_err(BuildError::io("writing", &start_script))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&start_script, std::fs::Permissions::from_mode(0o700))
            .map_err(BuildError::io("chmod", &start_script))?;
        Ok(KeptBuild {
            database: served.database.clone(),
            data_dir: served.data_dir.clone(),
            start_script,
            http_port,
        })
    }
}

/// Writes the `odoo.conf` of one Odoo run: this database, this role, nothing else.
pub(crate) fn write_config(
    host: &OdooHost<'_>,
    path: &Path,
    role: &str,
    password: &str,
    database: &str,
    addons_path: &[String],
    service: &ServiceOptions,
) -> Result<(), BuildError> {
    let (db_host, db_port) = host.database_address();
    OdooConfig {
        db_host: &db_host,
        db_port,
        db_user: role,
        db_password: password,
        db_name: database,
        addons_path,
        data_dir: DATA_MOUNT,
        admin_password: &random_secret(18),
        http_port: HTTP_PORT,
        service,
    }
    .write(path, host.account)
}

/// Odoo's addons path inside the sandbox: the image's addons, then every
/// directory of the checkout that holds addons.
pub(crate) fn addons_path(image: &Image, plan: &ModulePlan) -> Vec<String> {
    let mut path = vec![image.meta.core_addons_path.clone()];
    for dir in &plan.repo_addons_dirs {
        let inside = Path::new(SOURCE_MOUNT).join(dir);
        path.push(inside.to_string_lossy().trim_end_matches('/').to_string());
    }
    path
}

/// A copy must not share the template's identity: Odoo uses `database.uuid` for
/// licensing/IAP and `database.secret` to sign sessions and tokens.
pub(crate) async fn fresh_database_identity(
    cluster: &Cluster,
    database: &str,
) -> Result<(), BuildError> {
    let client = cluster.connect(database).await?;
    client
        .batch_execute(
            "UPDATE ir_config_parameter SET value = gen_random_uuid()::text WHERE key IN ('database.uuid', 'database.secret');
             UPDATE ir_config_parameter SET value = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') WHERE key = 'database.create_date';",
        )
        .await
        .map_err(slipway_postgres::PgError::from)?;
    Ok(())
}

/// Odoo can finish without error and still not install a module (19.0 silently
/// skips a module whose manifest version does not match); the database says.
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
            analysis.add_error(format!("the database holds no module list ({})", error));
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

/// Gives the directories under `root` to the build account so Odoo can add files.
/// Files are left alone: they are hard links shared with the template, already
/// owned by the account that wrote them.
pub(crate) fn chown_dirs(root: &Path, account: Option<HostAccount>) -> Result<(), BuildError> {
    if account.is_none() {
        return Ok(());
    }
    hand_over(root, account).map_err(BuildError::io("chown", root))?;
    let entries = std::fs::read_dir(root).map_err(BuildError::io("reading", root))?;
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            chown_dirs(&entry.path(), account)?;
        }
    }
    Ok(())
}

/// A run whose mail is caught must reach the catcher on the host's loopback;
/// any other run has no network at all.
pub(crate) fn network_for(service: &ServiceOptions) -> slipway_sandbox::Network {
    if service.mail.is_some() {
        slipway_sandbox::Network::Host
    } else {
        slipway_sandbox::Network::Isolated
    }
}

pub(crate) fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

fn abbreviate(modules: &[String]) -> String {
    const SHOWN: usize = 6;
    if modules.len() <= SHOWN {
        modules.join(", ")
    } else {
        format!(
            "{}, … {} modules",
            modules[..SHOWN].join(", "),
            modules.len()
        )
    }
}

fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.=,:@+".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}
