//! Which repositories a build takes Odoo from, as the user names them:
//! community (`--odoo-repo`), enterprise (`--enterprise-repo`) and more addon
//! repositories (`--addons-repo URL[#REV]`), each at a revision.

use serde::{Deserialize, Serialize};

use crate::{Remote, SourceError};

/// What a source is to Odoo: where it goes in the addons path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Odoo itself in upstream's layout (`odoo-bin`, `odoo/`, `addons/`).
    Odoo,
    /// A flat folder of addons, after the project's own in the addons path.
    Enterprise,
    /// More addons (themes, OCA repositories), after enterprise.
    Addons,
}

/// One repository at one revision, before it is resolved.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub kind: SourceKind,
    /// `odoo`, `enterprise`, or the repository's name: unique in a build.
    pub name: String,
    pub remote: Remote,
    /// A branch (followed), a tag or a commit (pinned).
    pub rev: String,
}

impl SourceSpec {
    /// `kind`'s repository at `rev`, by default the branch named like the
    /// series (`17.0`), as Odoo's and OCA's repositories name them.
    pub fn new(
        kind: SourceKind,
        address: &str,
        rev: Option<&str>,
        series: &str,
    ) -> Result<SourceSpec, SourceError> {
        let remote = Remote::parse(address)?;
        let name = match kind {
            SourceKind::Odoo => "odoo".to_string(),
            SourceKind::Enterprise => "enterprise".to_string(),
            SourceKind::Addons => repository_name(&remote)?,
        };
        let rev = rev.map(str::trim).filter(|rev| !rev.is_empty());
        let rev = rev.unwrap_or(series).to_string();
        if rev.starts_with('-') || rev.contains("..") || rev.chars().any(char::is_whitespace) {
            return Err(SourceError::UnknownRevision {
                remote: remote.plain().to_string(),
                rev,
            });
        }
        Ok(SourceSpec {
            kind,
            name,
            remote,
            rev,
        })
    }

    /// `URL[#REV]` of `--addons-repo`.
    pub fn addons(text: &str, series: &str) -> Result<SourceSpec, SourceError> {
        let (address, rev) = match text.rsplit_once('#') {
            Some((address, rev)) => (address, Some(rev)),
            None => (text, None),
        };
        SourceSpec::new(SourceKind::Addons, address, rev, series)
    }
}

/// Refuses two sources of one name (two addon repositories called alike).
pub fn check_unique(specs: &[SourceSpec]) -> Result<(), SourceError> {
    for (index, spec) in specs.iter().enumerate() {
        if specs[..index].iter().any(|other| other.name == spec.name) {
            return Err(SourceError::DuplicateName(spec.name.clone()));
        }
    }
    Ok(())
}

/// The last part of the address, without `.git`: `OCA/web.git` → `web`.
fn repository_name(remote: &Remote) -> Result<String, SourceError> {
    let name: String = remote
        .plain()
        .trim_end_matches('/')
        .trim_end_matches(".git")
        .rsplit(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_string();
    let valid = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !valid || name == "odoo" || name == "enterprise" {
        return Err(SourceError::BadAddress {
            address: remote.plain().to_string(),
            why: format!(
                "an addons repository is named after the last part of its address, and '{name}' cannot name one"
            ),
        });
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_addons_repository_is_named_after_its_address_and_follows_the_series() {
        let spec = SourceSpec::addons("https://git.example.com/OCA/web.git", "17.0").unwrap();
        assert_eq!((spec.name.as_str(), spec.rev.as_str()), ("web", "17.0"));
        let spec = SourceSpec::addons("/srv/git/themes#v2.1", "17.0").unwrap();
        assert_eq!((spec.name.as_str(), spec.rev.as_str()), ("themes", "v2.1"));
        let odoo = SourceSpec::new(SourceKind::Odoo, "/srv/odoo", None, "19.0").unwrap();
        assert_eq!((odoo.name.as_str(), odoo.rev.as_str()), ("odoo", "19.0"));
    }

    #[test]
    fn bad_revisions_and_names_are_refused() {
        assert!(SourceSpec::new(
            SourceKind::Odoo,
            "/srv/odoo",
            Some("--upload-pack=x"),
            "19.0"
        )
        .is_err());
        assert!(SourceSpec::new(SourceKind::Odoo, "/srv/odoo", Some("a..b"), "19.0").is_err());
        assert!(SourceSpec::addons("/srv/git/enterprise", "19.0").is_err());
        let twice = [
            SourceSpec::addons("/a/web", "19.0").unwrap(),
            SourceSpec::addons("/b/web.git", "19.0").unwrap(),
        ];
        assert!(
            matches!(check_unique(&twice), Err(SourceError::DuplicateName(name)) if name == "web")
        );
    }
}
