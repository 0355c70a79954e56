//! Dependency resolution between addons.
//!
//! Installing a module installs everything it depends on, transitively.
//! [`AddonIndex::closure`] computes that set before Odoo is started, so that
//! a missing or uninstallable dependency fails the pipeline with the chain
//! that requires it instead of an Odoo log line ("Some modules are not
//! loaded") minutes later.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use thiserror::Error;

use crate::discovery::Addon;
use crate::manifest::Manifest;

/// Why a set of modules cannot be installed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DependencyError {
    /// A requested module is not in the index.
    #[error("module '{module}' is not available")]
    UnknownModule { module: String },
    /// A dependency is not in the index. `chain` runs from the requested
    /// module to the one declaring the missing dependency.
    #[error(
        "module '{}' depends on '{missing}', which is not available (required by: {})",
        chain.last().map(String::as_str).unwrap_or_default(),
        chain.join(" -> ")
    )]
    MissingDependency { missing: String, chain: Vec<String> },
    /// A module to install has `'installable': False`. `chain` is empty when
    /// the module was requested directly.
    #[error("{}", not_installable_message(module, chain))]
    NotInstallable { module: String, chain: Vec<String> },
    /// Modules depend on each other in a loop; `cycle` starts and ends with
    /// the same module.
    #[error("dependency cycle: {}", cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
}

fn not_installable_message(module: &str, chain: &[String]) -> String {
    let mut message = format!("module '{module}' is not installable ('installable': False)");
    if !chain.is_empty() {
        let _ = write!(message, " (required by: {})", chain.join(" -> "));
    }
    message
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    depends: Vec<String>,
    installable: bool,
}

/// The modules available to an Odoo instance (repository addons, Odoo's own
/// addons, third-party ones), reduced to what dependency resolution needs.
///
/// Inserting a name twice replaces the first entry: callers merging several
/// sources insert them in reverse priority (Odoo uses the first addons path
/// entry that has the module).
///
/// Odoo 17+ turns an empty `depends` into `['base']`, and every earlier
/// version loads `base` first anyway. So when `base` is in the index, a
/// module without dependencies is treated as depending on `base`; when it is
/// not (an index of repository addons only), no dependency is invented.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddonIndex {
    modules: BTreeMap<String, Node>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    InProgress,
    Done { depth: usize },
}

impl AddonIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a module known by its dependencies only, e.g. from
    /// a list of core modules. Returns true if the name was new.
    pub fn insert<I, S>(&mut self, name: impl Into<String>, depends: I, installable: bool) -> bool
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let node = Node {
            depends: depends.into_iter().map(Into::into).collect(),
            installable,
        };
        self.modules.insert(name.into(), node).is_none()
    }

    /// Adds (or replaces) a module from its manifest. Returns true if the
    /// name was new.
    pub fn insert_manifest(&mut self, name: impl Into<String>, manifest: &Manifest) -> bool {
        self.insert(name, manifest.depends.iter().cloned(), manifest.installable)
    }

    /// An index of discovered addons.
    pub fn from_addons(addons: &[Addon]) -> Self {
        addons
            .iter()
            .map(|addon| (addon.name.as_str(), &addon.manifest))
            .collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.modules.contains_key(name)
    }

    pub fn len(&self) -> usize {
        self.modules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// Module names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.modules.keys().map(String::as_str)
    }

    /// Declared dependencies of `name`, if it is known.
    pub fn depends(&self, name: &str) -> Option<&[String]> {
        self.modules.get(name).map(|node| node.depends.as_slice())
    }

    /// Every module that installing `requested` installs, the requested ones
    /// included, dependencies first.
    ///
    /// The order is the one Odoo's module graph loads in: by depth (length
    /// of the longest dependency chain below a module), then by name. It is
    /// deterministic and independent of the order of `requested`.
    ///
    /// Modules pulled in by `auto_install` are not included: whether Odoo
    /// installs them depends on the database (installed modules, company
    /// countries in 17+), which this index does not know.
    pub fn closure<S: AsRef<str>>(&self, requested: &[S]) -> Result<Vec<String>, DependencyError> {
        let mut marks: HashMap<&str, Mark> = HashMap::new();
        let mut chain: Vec<&str> = Vec::new();
        for name in requested {
            self.visit(name.as_ref(), &mut chain, &mut marks)?;
        }
        let mut ordered: Vec<(usize, &str)> = marks
            .into_iter()
            .map(|(name, mark)| match mark {
                Mark::Done { depth } => (depth, name),
                Mark::InProgress => unreachable!("every visit completes or fails"),
            })
            .collect();
        ordered.sort_unstable();
        Ok(ordered
            .into_iter()
            .map(|(_, name)| name.to_owned())
            .collect())
    }

    /// Effective dependencies, accounting for the implicit `base`.
    fn effective_depends<'a>(&'a self, name: &str, node: &'a Node) -> &'a [String] {
        if node.depends.is_empty() && name != "base" {
            if let Some((base, _)) = self.modules.get_key_value("base") {
                return std::slice::from_ref(base);
            }
        }
        &node.depends
    }

    /// Depth-first visit; returns the depth of `name`. `chain` holds the
    /// modules being visited, from a requested module down to `name`'s
    /// dependent, and is what errors report.
    fn visit<'a>(
        &'a self,
        name: &str,
        chain: &mut Vec<&'a str>,
        marks: &mut HashMap<&'a str, Mark>,
    ) -> Result<usize, DependencyError> {
        let Some((key, node)) = self.modules.get_key_value(name) else {
            return Err(match chain.last() {
                None => DependencyError::UnknownModule {
                    module: name.to_owned(),
                },
                Some(_) => DependencyError::MissingDependency {
                    missing: name.to_owned(),
                    chain: chain.iter().map(|s| (*s).to_owned()).collect(),
                },
            });
        };
        match marks.get(key.as_str()) {
            Some(Mark::Done { depth }) => return Ok(*depth),
            Some(Mark::InProgress) => {
                let start = chain
                    .iter()
                    .position(|m| *m == key.as_str())
                    .expect("a module in progress is on the chain");
                let mut cycle: Vec<String> =
                    chain[start..].iter().map(|s| (*s).to_owned()).collect();
                cycle.push(key.clone());
                return Err(DependencyError::Cycle { cycle });
            }
            None => {}
        }
        if !node.installable {
            return Err(DependencyError::NotInstallable {
                module: key.clone(),
                chain: chain.iter().map(|s| (*s).to_owned()).collect(),
            });
        }
        marks.insert(key, Mark::InProgress);
        chain.push(key);
        let mut depth = 0;
        for dep in self.effective_depends(key, node) {
            depth = depth.max(self.visit(dep, chain, marks)? + 1);
        }
        chain.pop();
        marks.insert(key, Mark::Done { depth });
        Ok(depth)
    }
}

impl<'a, S: Into<String>> FromIterator<(S, &'a Manifest)> for AddonIndex {
    fn from_iter<T: IntoIterator<Item = (S, &'a Manifest)>>(iter: T) -> Self {
        let mut index = AddonIndex::new();
        index.extend(iter);
        index
    }
}

impl<'a, S: Into<String>> Extend<(S, &'a Manifest)> for AddonIndex {
    fn extend<T: IntoIterator<Item = (S, &'a Manifest)>>(&mut self, iter: T) {
        for (name, manifest) in iter {
            self.insert_manifest(name, manifest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// base <- web <- mail <- sale <- my_app ; product <- sale ; stock
    fn index() -> AddonIndex {
        let mut index = AddonIndex::new();
        index.insert("base", Vec::<String>::new(), true);
        index.insert("web", ["base"], true);
        index.insert("mail", ["base", "web"], true);
        index.insert("product", ["mail"], true);
        index.insert("sale", ["product", "mail"], true);
        index.insert("stock", Vec::<String>::new(), true);
        index.insert("my_app", ["sale", "stock"], true);
        index
    }

    #[test]
    fn closure_is_ordered_by_depth_then_name() {
        assert_eq!(
            index().closure(&["my_app"]).unwrap(),
            ["base", "stock", "web", "mail", "product", "sale", "my_app"]
        );
        // `stock` declares no dependency: it implicitly depends on `base`,
        // hence depth 1 next to `web`.
        assert_eq!(index().closure(&["stock"]).unwrap(), ["base", "stock"]);
    }

    #[test]
    fn closure_does_not_depend_on_request_order() {
        let index = index();
        let a = index.closure(&["web", "stock", "web"]).unwrap();
        let b = index.closure(&["stock", "web"]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, ["base", "stock", "web"]);
        assert!(index.closure::<&str>(&[]).unwrap().is_empty());
    }

    #[test]
    fn no_implicit_base_without_base_in_the_index() {
        let mut index = AddonIndex::new();
        index.insert("a", ["b"], true);
        index.insert("b", Vec::<String>::new(), true);
        assert_eq!(index.closure(&["a"]).unwrap(), ["b", "a"]);
    }

    #[test]
    fn missing_dependency_names_it_and_the_chain() {
        let mut index = index();
        index.insert("foo", ["base", "bar"], true);
        index.insert("my_app", ["sale", "foo"], true);
        let err = index.closure(&["my_app"]).unwrap_err();
        assert_eq!(
            err,
            DependencyError::MissingDependency {
                missing: "bar".to_owned(),
                chain: vec!["my_app".to_owned(), "foo".to_owned()],
            }
        );
        assert_eq!(
            err.to_string(),
            "module 'foo' depends on 'bar', which is not available (required by: my_app -> foo)"
        );
    }

    #[test]
    fn unknown_requested_module() {
        let err = index().closure(&["web", "nope"]).unwrap_err();
        assert_eq!(err.to_string(), "module 'nope' is not available");
    }

    #[test]
    fn non_installable_request_and_dependency() {
        let mut index = index();
        index.insert("legacy", ["base"], false);
        let err = index.closure(&["legacy"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "module 'legacy' is not installable ('installable': False)"
        );
        index.insert("uses_legacy", ["web", "legacy"], true);
        let err = index.closure(&["uses_legacy"]).unwrap_err();
        assert_eq!(
            err,
            DependencyError::NotInstallable {
                module: "legacy".to_owned(),
                chain: vec!["uses_legacy".to_owned()],
            }
        );
        assert_eq!(
            err.to_string(),
            "module 'legacy' is not installable ('installable': False) \
             (required by: uses_legacy)"
        );
    }

    #[test]
    fn cycles_are_reported_as_a_loop() {
        let mut index = index();
        index.insert("a", ["web", "b"], true);
        index.insert("b", ["c"], true);
        index.insert("c", ["a"], true);
        index.insert("top", ["a"], true);
        let err = index.closure(&["top"]).unwrap_err();
        assert_eq!(
            err,
            DependencyError::Cycle {
                cycle: ["a", "b", "c", "a"].map(String::from).to_vec()
            }
        );
        assert_eq!(err.to_string(), "dependency cycle: a -> b -> c -> a");

        index.insert("selfish", ["selfish"], true);
        assert_eq!(
            index.closure(&["selfish"]).unwrap_err().to_string(),
            "dependency cycle: selfish -> selfish"
        );
    }

    #[test]
    fn built_from_manifests_and_discovered_addons() {
        let manifest = |depends: &[&str], installable: bool| Manifest {
            depends: depends.iter().map(|d| d.to_string()).collect(),
            installable,
            ..Manifest::default()
        };
        let core = [
            ("base", manifest(&[], true)),
            ("web", manifest(&["base"], true)),
        ];
        let mut index: AddonIndex = core.iter().map(|(n, m)| (*n, m)).collect();
        let addons = [Addon {
            name: "mine".to_owned(),
            path: "repo/mine".into(),
            manifest: manifest(&["web"], true),
        }];
        assert_eq!(
            AddonIndex::from_addons(&addons).names().collect::<Vec<_>>(),
            ["mine"]
        );
        index.extend(addons.iter().map(|a| (a.name.as_str(), &a.manifest)));
        assert_eq!(index.len(), 3);
        assert!(index.contains("mine"));
        assert_eq!(index.depends("mine"), Some(&["web".to_owned()][..]));
        assert_eq!(index.names().collect::<Vec<_>>(), ["base", "mine", "web"]);
        assert_eq!(
            index.closure(&["mine".to_owned()]).unwrap(),
            ["base", "web", "mine"]
        );
    }
}
