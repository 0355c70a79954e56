//! Where Odoo comes from, as `slipway ci` and `slipway project add` take it:
//! Odoo's own repository, enterprise and more addon repositories, each at a
//! revision (a branch is followed, a tag or a commit pinned).

use anyhow::Result;
use clap::Args;
use slipway_api::OdooSource;
use slipway_image::OdooVersion;
use slipway_sources::{SourceKind, SourceSpec};

#[derive(Args, Debug, Default)]
pub struct SourceArgs {
    /// Run Odoo from this git repository (odoo/odoo or a fork, in upstream's
    /// layout) instead of Debian's package; any git URL or a local path.
    #[arg(long, value_name = "URL")]
    odoo_repo: Option<String>,
    /// Its branch (followed), tag or commit (default: the branch named like
    /// the series).
    #[arg(long, value_name = "REV", requires = "odoo_repo")]
    odoo_rev: Option<String>,
    /// Enterprise's repository (a flat folder of addons); credentials in the
    /// URL (`https://TOKEN@host/…`) reach git only, never a log or a report.
    #[arg(long, value_name = "URL")]
    enterprise_repo: Option<String>,
    /// Its branch, tag or commit (default: the branch named like the series).
    #[arg(long, value_name = "REV", requires = "enterprise_repo")]
    enterprise_rev: Option<String>,
    /// One more repository of addons (themes, OCA), `URL[#REV]`; repeatable.
    #[arg(long = "addons-repo", value_name = "URL[#REV]")]
    addons_repos: Vec<String>,
}

impl SourceArgs {
    /// The sources in the order a build takes them: Odoo, enterprise, more
    /// addons; a revision left out is the series' branch.
    pub fn odoo_sources(&self) -> Vec<OdooSource> {
        let source = |kind, url: &str, rev: Option<&str>| OdooSource {
            kind,
            url: url.to_string(),
            rev: rev.map(str::to_string),
        };
        let mut sources = Vec::new();
        if let Some(url) = &self.odoo_repo {
            sources.push(source(SourceKind::Odoo, url, self.odoo_rev.as_deref()));
        }
        if let Some(url) = &self.enterprise_repo {
            sources.push(source(
                SourceKind::Enterprise,
                url,
                self.enterprise_rev.as_deref(),
            ));
        }
        for text in &self.addons_repos {
            sources.push(match text.rsplit_once('#') {
                Some((url, rev)) => source(SourceKind::Addons, url, Some(rev)),
                None => source(SourceKind::Addons, text, None),
            });
        }
        sources
    }

    /// [`Self::odoo_sources`] checked, for a build of `series`.
    pub fn specs(&self, series: OdooVersion) -> Result<Vec<SourceSpec>> {
        let series = series.to_string();
        self.odoo_sources()
            .iter()
            .map(|source| {
                Ok(SourceSpec::new(
                    source.kind,
                    &source.url,
                    source.rev.as_deref(),
                    &series,
                )?)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_come_in_the_order_a_build_takes_them_with_their_revisions() {
        let args = SourceArgs {
            odoo_repo: Some("https://github.com/odoo/odoo.git".into()),
            odoo_rev: None,
            enterprise_repo: Some("https://TOKEN@github.com/odoo/enterprise.git".into()),
            enterprise_rev: Some("17.0".into()),
            addons_repos: vec!["/srv/git/web#v2.1".into(), "/srv/git/themes".into()],
        };
        let sources = args.odoo_sources();
        let summary: Vec<(SourceKind, &str, Option<&str>)> = sources
            .iter()
            .map(|source| (source.kind, source.url.as_str(), source.rev.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                (SourceKind::Odoo, "https://github.com/odoo/odoo.git", None),
                (
                    SourceKind::Enterprise,
                    "https://TOKEN@github.com/odoo/enterprise.git",
                    Some("17.0")
                ),
                (SourceKind::Addons, "/srv/git/web", Some("v2.1")),
                (SourceKind::Addons, "/srv/git/themes", None),
            ]
        );
        let specs = args.specs(OdooVersion::new(17, 0)).unwrap();
        let revisions: Vec<&str> = specs.iter().map(|spec| spec.rev.as_str()).collect();
        assert_eq!(revisions, ["17.0", "17.0", "v2.1", "17.0"]);
        assert!(SourceArgs::default().odoo_sources().is_empty());
    }
}
