//! Reading what an Odoo source tree says about its own runtime: the series and the
//! Python it supports (`odoo/release.py`), and the Debian packages it depends on
//! (`debian/control`). Plain text parsing: the tree is never executed.

use crate::{OdooVersion, PythonVersion};

/// What `odoo/release.py` declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReleaseInfo {
    pub series: OdooVersion,
    pub min_python: Option<PythonVersion>,
    pub max_python: Option<PythonVersion>,
}

/// Reads `version_info = (MAJOR, MINOR, ...)` (MAJOR is `'saas~17'` on saas
/// branches) and the optional `MIN_PY_VERSION`/`MAX_PY_VERSION = (3, N)`.
pub(crate) fn parse_release_py(text: &str) -> Result<ReleaseInfo, String> {
    let version_info =
        assigned_tuple(text, "version_info").ok_or("it assigns no `version_info = (...)`")?;
    let (major, minor) = match version_info.as_slice() {
        [major, minor, ..] => (major, minor),
        _ => {
            return Err(format!(
                "`version_info` has too few items: {version_info:?}"
            ))
        }
    };
    let major = major.strip_prefix("saas~").unwrap_or(major);
    let series = format!("{major}.{minor}")
        .parse::<OdooVersion>()
        .map_err(|_| format!("`version_info` is not a series: {version_info:?}"))?;
    Ok(ReleaseInfo {
        series,
        min_python: python_bound(text, "MIN_PY_VERSION")?,
        max_python: python_bound(text, "MAX_PY_VERSION")?,
    })
}

fn python_bound(text: &str, name: &str) -> Result<Option<PythonVersion>, String> {
    let Some(items) = assigned_tuple(text, name) else {
        return Ok(None);
    };
    match items.as_slice() {
        [major, minor, ..] => match (major.parse(), minor.parse()) {
            (Ok(major), Ok(minor)) => Ok(Some(PythonVersion::new(major, minor))),
            _ => Err(format!("`{name}` is not a Python version: {items:?}")),
        },
        _ => Err(format!("`{name}` is not a Python version: {items:?}")),
    }
}

/// The items of a top-level `name = (a, 'b', ...)`, unquoted.
fn assigned_tuple(text: &str, name: &str) -> Option<Vec<String>> {
    let value = text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.trim_start().strip_prefix('=')?;
        Some(rest.trim())
    })?;
    let inside = value.strip_prefix('(')?.split(')').next()?;
    Some(
        inside
            .split(',')
            .map(|item| item.trim().trim_matches(['\'', '"']).to_string())
            .filter(|item| !item.is_empty())
            .collect(),
    )
}

/// The packages of the `Depends:` field of the `Package: odoo` paragraph, in
/// order: substitutions (`${misc:Depends}`) and version constraints dropped, the
/// first alternative taken. `None` when there is no such paragraph or field.
pub(crate) fn odoo_depends(control: &str) -> Option<Vec<String>> {
    let paragraph = paragraphs(control)
        .into_iter()
        .find(|fields| field(fields, "Package").is_some_and(|name| name.trim() == "odoo"))?;
    let depends = field(&paragraph, "Depends")?;
    let mut packages: Vec<String> = Vec::new();
    for relation in depends.split(',') {
        if let Some(package) = first_alternative(relation) {
            if !packages.iter().any(|known| known == package) {
                packages.push(package.to_string());
            }
        }
    }
    Some(packages)
}

/// The fields of each paragraph, continuation lines joined to their field.
fn paragraphs(control: &str) -> Vec<Vec<(String, String)>> {
    let mut paragraphs = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in control.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            current.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    paragraphs
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(field, _)| field.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// `a (>= 1) | b` → `a`; a substitution or anything that is not a package name
/// (it would reach apt-get's command line) is skipped.
fn first_alternative(relation: &str) -> Option<&str> {
    relation.split('|').find_map(|alternative| {
        let alternative = alternative.trim();
        if alternative.starts_with('$') {
            return None;
        }
        let name = alternative
            .split(['(', '[', '<', ' ', '\t', '\n'])
            .next()?
            .split(':')
            .next()?;
        is_package_name(name).then_some(name)
    })
}

/// Debian policy 5.6.1: lower case letters, digits, `+`, `-`, `.`; at least two
/// characters, starting with a letter or digit.
pub(crate) fn is_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELEASE_19: &str = "\
# version_info format: (MAJOR, MINOR, MICRO, RELEASE_LEVEL, SERIAL)
RELEASE_LEVELS = [ALPHA, BETA, RELEASE_CANDIDATE, FINAL] = ['alpha', 'beta', 'candidate', 'final']
version_info = (19, 0, 0, FINAL, 0, '')
series = serie = major_version = '.'.join(str(s) for s in version_info[:2])

MIN_PY_VERSION = (3, 10)
MAX_PY_VERSION = (3, 13)
MIN_PG_VERSION = 13
";

    const RELEASE_14: &str = "\
# version_info format: (MAJOR, MINOR, MICRO, RELEASE_LEVEL, SERIAL)
version_info = (14, 0, 0, FINAL, 0, '')
version = '.'.join(str(s) for s in version_info[:2]) + RELEASE_LEVELS_DISPLAY[version_info[3]]
";

    #[test]
    fn a_19_0_release_py_gives_its_series_and_python_range() {
        let info = parse_release_py(RELEASE_19).unwrap();
        assert_eq!(info.series, OdooVersion::V19);
        assert_eq!(info.min_python, Some(PythonVersion::new(3, 10)));
        assert_eq!(info.max_python, Some(PythonVersion::new(3, 13)));
    }

    #[test]
    fn a_14_0_release_py_has_no_python_bounds() {
        let info = parse_release_py(RELEASE_14).unwrap();
        assert_eq!(info.series, OdooVersion::V14);
        assert_eq!((info.min_python, info.max_python), (None, None));
    }

    #[test]
    fn a_saas_release_py_gives_its_minor() {
        let text = "version_info = ('saas~17', 2, 0, FINAL, 0, '')\nMIN_PY_VERSION = (3, 10)\n";
        assert_eq!(
            parse_release_py(text).unwrap().series,
            OdooVersion::new(17, 2)
        );
    }

    #[test]
    fn a_release_py_without_version_info_is_refused() {
        assert!(parse_release_py("# version_info = (1, 0)\nx = 1\n").is_err());
        assert!(parse_release_py("version_info = (master)\n").is_err());
        assert!(parse_release_py(&format!("{RELEASE_14}MIN_PY_VERSION = (three, 6)\n")).is_err());
    }

    const CONTROL: &str = "\
Source: odoo
Maintainer: Odoo S.A. <info@odoo.com>
Build-Depends: debhelper-compat (= 12), dh-python, python3-all
# a comment
Package: odoo-doc
Depends: not-this

Package: odoo
Architecture: all
Depends:
 ${misc:Depends},
 ${python3:Depends},
 adduser,
 fonts-dejavu-core | fonts-freefont-ttf | fonts-noto-core,
 python3-lxml-html-clean | python3-lxml (<< 5.2),
 python3-reportlab (>= 4.0.4-1~),
 python3:any, python3-babel [amd64],
 python3-zeep,
 postgresql-client,
 adduser
Conflicts: tinyerp-server
Recommends: python3-gevent
";

    #[test]
    fn odoo_depends_are_read_from_its_own_paragraph() {
        assert_eq!(
            odoo_depends(CONTROL).unwrap(),
            vec![
                "adduser",
                "fonts-dejavu-core",
                "python3-lxml-html-clean",
                "python3-reportlab",
                "python3",
                "python3-babel",
                "python3-zeep",
                "postgresql-client",
            ]
        );
    }

    #[test]
    fn a_single_line_depends_as_dpkg_records_it_is_read_too() {
        let control = "Package: odoo\nDepends: python3-babel, python3-reportlab (>= 4.0.4-1~), \
                       fonts-dejavu-core | gsfonts, libjs-underscore\n";
        assert_eq!(
            odoo_depends(control).unwrap(),
            vec![
                "python3-babel",
                "python3-reportlab",
                "fonts-dejavu-core",
                "libjs-underscore"
            ]
        );
    }

    #[test]
    fn a_control_without_an_odoo_paragraph_gives_nothing() {
        assert_eq!(odoo_depends("Package: odoo-doc\nDepends: x-y\n"), None);
        assert_eq!(odoo_depends("Package: odoo\nArchitecture: all\n"), None);
    }

    #[test]
    fn names_that_are_no_package_never_reach_apt() {
        assert_eq!(
            first_alternative(" ${shlibs:Depends} | real-pkg"),
            Some("real-pkg")
        );
        assert_eq!(first_alternative("--allow-unauthenticated"), None);
        assert_eq!(first_alternative("Python3"), None);
        assert!(is_package_name("libstdc++6"));
    }
}
