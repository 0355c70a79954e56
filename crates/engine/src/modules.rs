//! Which modules a build installs, and what they drag in from outside the
//! repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use slipway_addons::{discover, Addon, AddonIndex, DependencyError};

use crate::odoo_install::OdooInstall;

use crate::BuildError;

/// The repository's addons and the image's, resolved for one build.
#[derive(Debug)]
pub struct ModulePlan {
    /// Repository addons to install and test.
    pub selected: Vec<String>,
    /// The part of `closure` that comes from outside the repository.
    pub external: Vec<String>,
    /// Directories for Odoo's `--addons-path`, relative to the checkout.
    pub repo_addons_dirs: Vec<PathBuf>,
}

/// Discovers the repository's addons (manifest errors and duplicates are input
/// errors) and picks the modules to build: `requested`, or every installable one.
pub fn repository_addons(checkout: &Path) -> Result<Vec<Addon>, BuildError> {
    let addons = discover(checkout)?;
    if addons.is_empty() {
        return Err(BuildError::NoAddons(checkout.to_path_buf()));
    }
    Ok(addons)
}

pub fn select(addons: &[Addon], requested: Option<&[String]>) -> Result<Vec<String>, BuildError> {
    match requested {
        Some(requested) => {
            let mut selected = Vec::new();
            for module in requested {
                let addon = addons
                    .iter()
                    .find(|addon| &addon.name == module)
                    .ok_or_else(|| BuildError::UnknownModule {
                        module: module.clone(),
                        available: addons
                            .iter()
                            .map(|a| a.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?;
                if !addon.manifest.installable {
                    return Err(BuildError::NotInstallable(module.clone()));
                }
                if !selected.contains(module) {
                    selected.push(module.clone());
                }
            }
            Ok(selected)
        }
        None => {
            let selected: Vec<String> = addons
                .iter()
                .filter(|addon| addon.manifest.installable)
                .map(|addon| addon.name.clone())
                .collect();
            if selected.is_empty() {
                return Err(BuildError::Host(
                    "every addon of the repository is marked 'installable': False; nothing to build".into(),
                ));
            }
            Ok(selected)
        }
    }
}

/// Resolves dependencies over the image's addons and the repository's (which
/// win, as they come first on Odoo's addons path). A missing dependency is the
/// repository's fault: returned as `Err(DependencyError)` for a failed build.
pub fn plan(
    checkout: &Path,
    repo: &[Addon],
    core: &[Addon],
    selected: Vec<String>,
) -> Result<Result<ModulePlan, DependencyError>, BuildError> {
    let mut index = AddonIndex::new();
    for addon in core.iter().chain(repo) {
        index.insert_manifest(addon.name.clone(), &addon.manifest);
    }
    let closure = match index.closure(&selected) {
        Ok(closure) => closure,
        Err(error) => return Ok(Err(error)),
    };
    let repo_names: Vec<&str> = repo.iter().map(|a| a.name.as_str()).collect();
    let external = closure
        .iter()
        .filter(|m| !repo_names.contains(&m.as_str()))
        .cloned()
        .collect();
    let repo_addons_dirs = slipway_addons::addons_paths(repo)
        .into_iter()
        .map(|dir| {
            dir.strip_prefix(checkout)
                .map(Path::to_path_buf)
                .unwrap_or(dir)
        })
        .collect();
    Ok(Ok(ModulePlan {
        selected,
        external,
        repo_addons_dirs,
    }))
}

/// Odoo's addons (the image's, or the sources' in addons-path order; the
/// first of a name wins, as in Odoo). Parsed once per Odoo and cached beside
/// the templates: an image or a commit never changes.
pub fn core_addons(odoo: &OdooInstall, cache_dir: &Path) -> Result<Vec<Addon>, BuildError> {
    let cache = cache_dir.join(format!(".core-addons-{}.json", odoo.identity()));
    if let Ok(text) = std::fs::read_to_string(&cache) {
        if let Ok(addons) = serde_json::from_str(&text) {
            return Ok(addons);
        }
    }
    let mut addons: Vec<Addon> = Vec::new();
    for dir in odoo.addons_dirs_on_host() {
        for addon in discover(&dir)? {
            if !addons.iter().any(|known| known.name == addon.name) {
                addons.push(addon);
            }
        }
    }
    std::fs::create_dir_all(cache_dir).map_err(BuildError::io("creating", cache_dir))?;
    let text = serde_json::to_string(&addons).expect("addons serialize");
    let temp = cache.with_extension("tmp");
    std::fs::write(&temp, text).map_err(BuildError::io("writing", &temp))?;
    std::fs::rename(&temp, &cache).map_err(BuildError::io("writing", &cache))?;
    Ok(addons)
}

/// Content checksums of Odoo's modules in `modules`, cached per Odoo.
pub fn core_checksums(
    odoo: &OdooInstall,
    modules: &[String],
    cache_dir: &Path,
) -> Result<Vec<(String, String)>, BuildError> {
    let cache = cache_dir.join(format!(".core-checksums-{}.json", odoo.identity()));
    let mut addons = None;
    let mut known: BTreeMap<String, String> = std::fs::read_to_string(&cache)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let mut changed = false;
    let mut result = Vec::new();
    for module in modules {
        let checksum = match known.get(module) {
            Some(checksum) => checksum.clone(),
            None => {
                let addons = match &addons {
                    Some(addons) => addons,
                    None => addons.insert(core_addons(odoo, cache_dir)?),
                };
                let dir = addons
                    .iter()
                    .find(|addon| &addon.name == module)
                    .map(|addon| addon.path.clone())
                    .ok_or_else(|| {
                        BuildError::Host(format!("module {module} is not one of Odoo's addons"))
                    })?;
                let checksum =
                    slipway_addons::tree_checksum(&dir).map_err(BuildError::io("reading", &dir))?;
                known.insert(module.clone(), checksum.clone());
                changed = true;
                checksum
            }
        };
        result.push((module.clone(), checksum));
    }
    if changed {
        std::fs::create_dir_all(cache_dir).map_err(BuildError::io("creating", cache_dir))?;
        let temp = cache.with_extension("tmp");
        std::fs::write(
            &temp,
            serde_json::to_string(&known).expect("checksums serialize"),
        )
        .map_err(BuildError::io("writing", &temp))?;
        std::fs::rename(&temp, &cache).map_err(BuildError::io("writing", &cache))?;
    }
    Ok(result)
}
