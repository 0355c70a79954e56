//! Where Odoo comes from, as `slipway ci` (and later `project add`) take it:
//! Odoo's own repository, enterprise and more addon repositories, each at a
//! revision (a branch is followed, a tag or a commit pinned).

use anyhow::Result;
use clap::Args;
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
    /// addons.
    pub fn specs(&self, series: OdooVersion) -> Result<Vec<SourceSpec>> {
        let series = series.to_string();
        let mut specs = Vec::new();
        if let Some(url) = &self.odoo_repo {
            specs.push(SourceSpec::new(
                SourceKind::Odoo,
                url,
                self.odoo_rev.as_deref(),
                &series,
            )?);
        }
        if let Some(url) = &self.enterprise_repo {
            specs.push(SourceSpec::new(
                SourceKind::Enterprise,
                url,
                self.enterprise_rev.as_deref(),
                &series,
            )?);
        }
        for text in &self.addons_repos {
            specs.push(SourceSpec::addons(text, &series)?);
        }
        Ok(specs)
    }
}
