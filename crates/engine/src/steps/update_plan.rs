//! Step: what a deployment installs and updates. The repository's installed
//! modules whose code changed since the database's last update (by checksum,
//! as OCA's `module_auto_update` and click-odoo-update keep them), and the
//! selected modules not installed yet; after a passing update, the new
//! checksums recorded where those tools read them.

use std::collections::BTreeMap;

use slipway_addons::{addon_hash, parse_exclude_patterns, Addon, DEFAULT_EXCLUDE_PATTERNS};

use std::path::Path;

use crate::odoo_install::OdooInstall;
use crate::BuildError;

/// Where OCA's `module_auto_update` and click-odoo-update keep, per installed
/// module, the checksum of the code it was last installed or updated with.
pub const INSTALLED_CHECKSUMS: &str = "module_auto_update.installed_checksums";
const EXCLUDE_PATTERNS: &str = "module_auto_update.exclude_patterns";

/// The modules whose code a deployment tracks by checksum: the repository's,
/// and Odoo's own when it runs from source (another Odoo commit updates the
/// core modules whose content it changed). The repository's come first: a
/// module of the repository hides Odoo's of the same name.
pub(crate) fn tracked_addons(
    odoo: &OdooInstall,
    repo_addons: &[Addon],
    cache_dir: &Path,
) -> Result<Vec<Addon>, BuildError> {
    let mut tracked = repo_addons.to_vec();
    if !odoo.sources.is_empty() {
        for addon in crate::modules::core_addons(odoo, cache_dir)? {
            if !tracked.iter().any(|known| known.name == addon.name) {
                tracked.push(addon);
            }
        }
    }
    Ok(tracked)
}

/// Which modules a copy needs installed and updated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdatePlan {
    pub install: Vec<String>,
    pub update: Vec<String>,
}

impl UpdatePlan {
    /// A new database: the selected modules installed, nothing updated.
    pub(crate) fn install(selected: &[String]) -> UpdatePlan {
        UpdatePlan {
            install: selected.to_vec(),
            update: Vec::new(),
        }
    }
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

/// The tracked installed modules whose code changed (by checksum), and the
/// selected modules not installed yet.
pub async fn plan_update(
    cluster: &slipway_postgres::Cluster,
    database: &str,
    tracked: &[Addon],
    selected: &[String],
) -> Result<UpdatePlan, BuildError> {
    let state = installed_state(cluster, database).await?;
    let mut plan = UpdatePlan::default();
    for addon in tracked {
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

/// Stores the checksums of the tracked installed modules where OCA's tools
/// read them (other modules' entries are kept).
pub(crate) async fn record_checksums(
    cluster: &slipway_postgres::Cluster,
    database: &str,
    tracked: &[Addon],
) -> Result<(), BuildError> {
    let mut state = installed_state(cluster, database).await?;
    for addon in tracked {
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
