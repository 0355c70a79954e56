//! Step: the template database. A development build's outside dependencies
//! (the Odoo modules its addons need that the repository does not have) are
//! installed once per Odoo (runtime and source commits) and module set, into a template database that
//! builds copy at file level ([`crate::templates`] keeps them).

use std::time::{Duration, Instant};

use slipway_odoo_log::IgnoreRules;
use slipway_postgres::random_secret;
use slipway_sandbox::Network;

use crate::config::ServiceOptions;
use crate::host::hand_over;
use crate::layout::filestore_in;
use crate::locks::LockMode;
use crate::modules::{self, ModulePlan};
use crate::odoo_install::OdooInstall;
use crate::report::TemplateUse;
use crate::steps::database::Database;
use crate::steps::odoo_run::{Job, RunFiles, Task};
use crate::steps::verdict::{check_installed, failure};
use crate::templates::{self, TemplateKey, TemplateMeta, Templates, MAX_TEMPLATES};
use crate::{BuildError, Engine, Event, LogFile, Observer, PreparedBuild};

/// Wall-clock limit of a template build (installing `base` and friends).
const TEMPLATE_TIME_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The template a build copies, and how it was obtained.
pub(crate) struct Template {
    pub key: TemplateKey,
    pub used: TemplateUse,
    /// Seconds Odoo ran to build it (0 when it was reused).
    pub odoo_seconds: f64,
}

impl Engine {
    /// The template for the plan's outside dependencies: found, or built now
    /// (in the build's control groups `cgroups`: its limits).
    pub(crate) async fn ensure_template(
        &self,
        build: &PreparedBuild,
        odoo: &OdooInstall,
        plan: &ModulePlan,
        cgroups: &[std::path::PathBuf],
        observer: &dyn Observer,
    ) -> Result<Template, BuildError> {
        let checksums = modules::core_checksums(odoo, &plan.external, &self.layout().templates())?;
        let templates = Templates::new(self.layout())?;
        let key = TemplateKey::new(templates.instance(), odoo, &checksums);
        let reused = |key: TemplateKey| Template {
            used: TemplateUse::Reused {
                hash: key.hash.clone(),
            },
            key,
            odoo_seconds: 0.0,
        };
        if templates.find(&key, self.cluster()).await?.is_some() {
            observer.event(Event::Notice(&format!(
                "reusing template database {} ({} modules)",
                key.hash,
                key.modules.len()
            )));
            return Ok(reused(key));
        }
        let lock = templates.lock(&key, LockMode::Exclusive).await?;
        // Built by another process while we waited.
        if templates.find(&key, self.cluster()).await?.is_some() {
            return Ok(reused(key));
        }
        // Leftovers of a template build that died half-way.
        templates.forget(&key, self.cluster()).await?;
        observer.event(Event::Step(&format!(
            "building template database {} ({})",
            key.hash,
            abbreviate(&key.modules)
        )));
        let started = Instant::now();
        let odoo_seconds = self
            .build_template(build, &templates, &key, odoo, cgroups, observer)
            .await?;
        let seconds = started.elapsed().as_secs_f64();
        templates.write_meta(
            &key,
            &TemplateMeta {
                hash: key.hash.clone(),
                image: odoo.runtime.meta.name.clone(),
                modules: key.modules.clone(),
                created_unix: templates::now_unix(),
                seconds_to_build: seconds,
            },
        )?;
        build.tracker.release_ownership(
            &[&key.database()],
            &[&key.role()],
            &[&templates.dir(&key)],
        )?;
        drop(lock);
        let evicted = templates.evict(MAX_TEMPLATES, self.cluster()).await?;
        if !evicted.is_empty() {
            tracing::info!(count = evicted.len(), "old template databases evicted");
        }
        Ok(Template {
            used: TemplateUse::Created {
                hash: key.hash.clone(),
                seconds: seconds as u64,
            },
            key,
            odoo_seconds,
        })
    }

    /// Installs the key's modules into a new template database, owned by the
    /// build until it is complete; the seconds Odoo ran.
    async fn build_template(
        &self,
        build: &PreparedBuild,
        templates: &Templates,
        key: &TemplateKey,
        odoo: &OdooInstall,
        cgroups: &[std::path::PathBuf],
        observer: &dyn Observer,
    ) -> Result<f64, BuildError> {
        let cluster = self.cluster();
        let dir = templates.dir(key);
        let database = Database {
            name: key.database(),
            role: key.role(),
            password: random_secret(18),
            data: dir.join("data"),
        };
        build.tracker.database(&database.name)?;
        build.tracker.role(&database.role)?;
        build.tracker.dir(&dir)?;
        cluster
            .create_role(&database.role, &database.password)
            .await?;
        cluster
            .create_database(&database.name, &database.role)
            .await?;
        let data = &database.data;
        std::fs::create_dir_all(data).map_err(BuildError::io("creating", data))?;
        hand_over(data, self.account()).map_err(BuildError::io("chown", data))?;
        let files = RunFiles {
            data,
            source: None,
            pydeps: None,
            config: dir.join("odoo.conf"),
        };
        let addons_path = odoo.addons_path();
        self.write_config(
            odoo,
            &files.config,
            &database,
            &addons_path,
            &ServiceOptions::default(),
        )?;
        let log_file = self.layout().log(&build.id, LogFile::Template);
        let job = Job {
            database: &database.name,
            task: Task::InstallAndTest {
                modules: &key.modules,
                test_tags: None,
            },
            log_file: &log_file,
            time_limit: TEMPLATE_TIME_LIMIT,
            network: Network::Isolated,
            cgroups: cgroups.to_vec(),
            rules: IgnoreRules::none(),
        };
        let outcome = self.run_odoo(odoo, &files, job, observer).await?;
        let mut analysis = outcome.analysis;
        check_installed(cluster, &database.name, &key.modules, &mut analysis).await?;
        if let Some(first) = failure(&analysis) {
            return Err(BuildError::Host(format!(
                "the template database with {} could not be built ({first}); log: {}",
                abbreviate(&key.modules),
                log_file.display()
            )));
        }
        cluster.take_database_ownership(&database.name).await?;
        let built_filestore = filestore_in(data, &database.name);
        if built_filestore.is_dir() {
            let target = templates.filestore(key);
            std::fs::rename(&built_filestore, &target)
                .map_err(BuildError::io("moving the template filestore to", &target))?;
        }
        let _ = std::fs::remove_dir_all(data);
        let _ = std::fs::remove_file(&files.config);
        Ok(outcome.seconds)
    }
}

/// A module list short enough for one line.
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
