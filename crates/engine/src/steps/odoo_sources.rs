//! Step: the Odoo of a build. Debian's packaged Odoo of a series (its image
//! found, or built once), or Odoo from source: every source resolved to an
//! exact commit in its shared mirror, its read-only tree exported once, and
//! the runtime the Odoo tree asks for (its Python range, `debian/control`,
//! `requirements.txt`) found or built once.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use slipway_image::{BuildOptions, Image, OdooVersion, Recipe, RuntimeRecipe};
use slipway_sources::{check_unique, Mirrors, SourceKind, SourceSpec, Trees};

use crate::odoo_install::{OdooInstall, SourceTree};
use crate::serving::ServedBuild;
use crate::{BuildError, Engine, Event, Layout, Observer};

/// A tree no build used for this long is removed.
pub const TREE_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Which Odoo a build asks for.
#[derive(Debug, Clone)]
pub struct OdooRequest {
    pub series: OdooVersion,
    /// Odoo's own source first (else Debian's packaged Odoo of the series
    /// runs), then enterprise and more addon repositories.
    pub sources: Vec<SourceSpec>,
    /// Where Debian packages come from, should an image have to be built.
    pub image_options: BuildOptions,
}

impl Engine {
    /// The Odoo `request` names, ready to run: sources at exact commits and
    /// the runtime they need (built now if missing, which takes minutes once).
    pub async fn prepare_odoo(
        &self,
        request: &OdooRequest,
        observer: &dyn Observer,
    ) -> Result<OdooInstall, BuildError> {
        check_sources(&request.sources)?;
        let mut trees = Vec::new();
        for spec in &request.sources {
            observer.event(Event::Step(&format!(
                "fetching {} ({} {})",
                spec.name, spec.remote, spec.rev
            )));
            trees.push(self.source_tree(spec).await?);
        }
        let Some(odoo_tree) = trees
            .first()
            .filter(|tree| tree.kind == SourceKind::Odoo)
            .cloned()
        else {
            let recipe = Recipe::for_version(request.series)?;
            let found = self.images().find(&recipe)?;
            let image = self
                .image(found, &recipe.image_name(), request, observer, {
                    let store = self.images().clone();
                    move |options, progress| store.ensure(&recipe, options, progress)
                })
                .await?;
            return Ok(OdooInstall {
                runtime: image,
                sources: trees,
            });
        };
        let recipe =
            RuntimeRecipe::from_source(&odoo_tree.path).map_err(|error| BuildError::NotOdoo {
                tree: format!("{} at {}", odoo_tree.url, odoo_tree.commit),
                why: error.to_string(),
            })?;
        if recipe.series() != request.series {
            return Err(BuildError::SeriesMismatch {
                tree: format!("{} at {}", odoo_tree.url, &odoo_tree.commit[..12]),
                asked: request.series.to_string(),
                found: recipe.series().to_string(),
            });
        }
        let found = self.images().find_runtime(&recipe)?;
        let runtime = self
            .image(found, &recipe.image_name(), request, observer, {
                let store = self.images().clone();
                move |options, progress| store.build_runtime(&recipe, options, progress)
            })
            .await?;
        Ok(OdooInstall {
            runtime,
            sources: trees,
        })
    }

    /// The image `found` in the store, else built by `build` (off the async
    /// runtime), which takes minutes, once.
    async fn image<F>(
        &self,
        found: Option<Image>,
        name: &str,
        request: &OdooRequest,
        observer: &dyn Observer,
        build: F,
    ) -> Result<Image, BuildError>
    where
        F: FnOnce(
                &BuildOptions,
                &mut dyn FnMut(slipway_image::Progress),
            ) -> Result<Image, slipway_image::ImageError>
            + Send
            + 'static,
    {
        if let Some(image) = found {
            return Ok(image);
        }
        observer.event(Event::Notice(&format!(
            "image {name} is not built yet: building it now (a few minutes, once)"
        )));
        let options = request.image_options.clone();
        let (steps, mut shown) = tokio::sync::mpsc::unbounded_channel::<String>();
        let task = tokio::task::spawn_blocking(move || {
            build(&options, &mut |step| {
                if step.detail.is_empty() {
                    let _ = steps.send(format!(
                        "image {}/{}: {}",
                        step.step, step.steps, step.title
                    ));
                }
            })
        });
        while let Some(step) = shown.recv().await {
            observer.event(Event::Step(&step));
        }
        Ok(task.await.expect("an image build does not panic")?)
    }

    /// `spec` resolved in its mirror and exported as a tree.
    async fn source_tree(&self, spec: &SourceSpec) -> Result<SourceTree, BuildError> {
        let mirrors = Mirrors::new(self.layout().mirrors());
        let trees = Trees::new(self.layout().trees());
        let spec = spec.clone();
        tokio::task::spawn_blocking(move || {
            let resolved = mirrors.resolve(&spec.remote, &spec.rev)?;
            let path = trees.tree(&mirrors.path_of(&spec.remote), &resolved.commit)?;
            tracing::info!(source = %spec.name, url = %spec.remote, commit = %resolved.commit, "source resolved");
            Ok(SourceTree {
                kind: spec.kind,
                name: spec.name,
                url: spec.remote.plain().to_string(),
                commit: resolved.commit,
                branch: resolved.branch,
                path,
            })
        })
        .await
        .expect("resolving a source does not panic")
    }

    /// Removes the source trees no kept build uses and no build used for
    /// [`TREE_RETENTION`]. Returns how many were removed.
    pub(crate) fn collect_trees(&self) -> usize {
        Trees::new(self.layout().trees()).collect(&trees_in_use(self.layout()), TREE_RETENTION)
    }
}

/// The trees the kept builds of this data dir run on (their served.json).
fn trees_in_use(layout: &Layout) -> HashSet<PathBuf> {
    let mut in_use = HashSet::new();
    if let Ok(builds) = std::fs::read_dir(layout.builds()) {
        for build in builds.flatten() {
            let id = build.file_name().to_string_lossy().into_owned();
            if let Ok(served) = ServedBuild::read(layout, &id) {
                in_use.extend(served.sources.into_iter().map(|tree| tree.path));
            }
        }
    }
    in_use
}

/// Odoo's own source at most once and first, enterprise at most once,
/// names unique.
fn check_sources(specs: &[SourceSpec]) -> Result<(), BuildError> {
    let count = |kind| specs.iter().filter(|spec| spec.kind == kind).count();
    let odoo_not_first = specs.iter().position(|spec| spec.kind == SourceKind::Odoo) != Some(0);
    if (count(SourceKind::Odoo) == 1 && odoo_not_first)
        || count(SourceKind::Odoo) > 1
        || count(SourceKind::Enterprise) > 1
    {
        return Err(BuildError::Host(
            "a build takes at most one Odoo repository (--odoo-repo), given first, and at most one enterprise repository".into(),
        ));
    }
    check_unique(specs)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_build_keeps_its_trees_from_collection() {
        let temp = tempfile::tempdir().unwrap();
        let layout = Layout::at(temp.path());
        let tree = layout.trees().join("odoo-0123").join("a".repeat(40));
        let served = ServedBuild {
            database: "slipway_b_s1a1".into(),
            image: "runtime-19.0-0123".into(),
            sources: vec![SourceTree {
                kind: SourceKind::Odoo,
                name: "odoo".into(),
                url: "/srv/odoo".into(),
                commit: "a".repeat(40),
                branch: Some("19.0".into()),
                path: tree.clone(),
            }],
            data_dir: "/data".into(),
            source_dir: "/src".into(),
            pydeps_dir: None,
            config_file: "/odoo.conf".into(),
        };
        let dir = layout.build("s1a1");
        std::fs::create_dir_all(dir.root()).unwrap();
        served.write(&dir).unwrap();
        // A build without served.json (running, or a damaged one) keeps nothing.
        std::fs::create_dir_all(layout.build("s2a1").root()).unwrap();
        assert_eq!(trees_in_use(&layout), HashSet::from([tree]));
    }
}
