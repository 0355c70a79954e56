//! Typed view of an Odoo `__manifest__.py`.
//!
//! Only the keys a CI needs are extracted; the rest of the dict is ignored
//! (Odoo itself ignores unknown keys). The point of validating types here is
//! to fail a pipeline on a manifest Odoo would mis-read: a `depends` given as
//! a string is iterated character by character by Odoo, an `installable`
//! given as `'False'` is truthy, and so on.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::literal::{parse_literal, Position, Value, ValueKind};

/// What went wrong while reading a manifest, and where.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{line}:{column}: {message}")]
pub struct ManifestError {
    /// 1-based line of the offending token or value.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    pub kind: ManifestErrorKind,
    pub message: String,
}

/// Broad category of a [`ManifestError`], for callers that react differently
/// to "this is not Python" and "this Python is not a usable manifest".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManifestErrorKind {
    /// The file is not valid UTF-8.
    Encoding,
    /// Python itself would reject the file with a `SyntaxError`.
    Syntax,
    /// Valid Python, but not a literal `ast.literal_eval` (or this parser)
    /// can evaluate: a name, a call, an operator, an unhashable dict key...
    Unsupported,
    /// The literal is not a dict.
    NotADict,
    /// A known key holds a value of the wrong type.
    InvalidField,
}

impl ManifestError {
    pub(crate) fn new(pos: Position, kind: ManifestErrorKind, message: impl Into<String>) -> Self {
        ManifestError {
            line: pos.line,
            column: pos.column,
            kind,
            message: message.into(),
        }
    }

    /// Where the error is, as a [`Position`].
    pub fn position(&self) -> Position {
        Position {
            line: self.line,
            column: self.column,
        }
    }
}

/// `external_dependencies` of a manifest: what must be installed in the
/// runtime for the addon to be installable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalDependencies {
    /// Python distributions / import names (Odoo checks them with
    /// `importlib.metadata` or an import, depending on the version).
    pub python: Vec<String>,
    /// Executables that must be on `PATH`.
    pub bin: Vec<String>,
}

/// The manifest keys slipway relies on.
///
/// Values are kept as written: in particular `depends` is not rewritten to
/// `['base']` when empty (Odoo 17+ does that at load time; see
/// [`crate::AddonIndex`] for how dependency resolution accounts for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub name: Option<String>,
    pub version: Option<String>,
    /// Modules this one depends on, in manifest order.
    pub depends: Vec<String>,
    /// `installable` (default `True`). Odoo refuses to install an addon
    /// whose manifest says `False`.
    pub installable: bool,
    /// True when `auto_install` is `True` or a list (including `[]`): the
    /// module gets installed automatically once its triggers are.
    pub auto_install: bool,
    pub external_dependencies: ExternalDependencies,
    pub license: Option<String>,
    /// Data files loaded at install/update, in load order.
    pub data: Vec<String>,
    /// Demo data files, in load order.
    pub demo: Vec<String>,
}

impl Default for Manifest {
    /// The values Odoo assumes for keys a manifest leaves out.
    fn default() -> Self {
        Manifest {
            name: None,
            version: None,
            depends: Vec::new(),
            installable: true,
            auto_install: false,
            external_dependencies: ExternalDependencies::default(),
            license: None,
            data: Vec::new(),
            demo: Vec::new(),
        }
    }
}

/// Parses the text of a `__manifest__.py` without running Python.
///
/// Accepts exactly what Odoo's `ast.literal_eval` accepts (comments, a
/// `# -*- coding` line, trailing commas, every string form, implicit string
/// concatenation, nested containers) and turns the known keys into a typed
/// [`Manifest`]. Anything else is an error carrying a line and column.
pub fn parse_manifest(source: &str) -> Result<Manifest, ManifestError> {
    let value = parse_literal(source)?;
    Manifest::from_value(&value)
}

/// Like [`parse_manifest`] for raw file content: invalid UTF-8 is reported
/// with the line and column of the first bad byte (Odoo would fail to decode
/// the file as well).
pub fn parse_manifest_bytes(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    match std::str::from_utf8(bytes) {
        Ok(source) => parse_manifest(source),
        Err(e) => {
            let valid = std::str::from_utf8(&bytes[..e.valid_up_to()])
                .expect("prefix reported valid by from_utf8");
            let line = 1 + valid.matches('\n').count();
            let column = 1 + valid.rsplit('\n').next().unwrap_or("").chars().count();
            Err(ManifestError {
                line,
                column,
                kind: ManifestErrorKind::Encoding,
                message: "manifest is not valid UTF-8".to_owned(),
            })
        }
    }
}

impl Manifest {
    /// Builds a manifest from an already parsed literal.
    pub fn from_value(value: &Value) -> Result<Manifest, ManifestError> {
        let ValueKind::Dict(entries) = &value.kind else {
            return Err(ManifestError::new(
                value.pos,
                ManifestErrorKind::NotADict,
                format!(
                    "manifest is not a dict literal (found {})",
                    value.type_name()
                ),
            ));
        };
        let mut manifest = Manifest::default();
        let mut auto_install_triggers: Option<(&Value, Vec<String>)> = None;
        // Later duplicates override earlier ones, as in a Python dict.
        for (key, field) in entries {
            let Some(key) = key.as_str() else { continue };
            match key {
                "name" => manifest.name = Some(string(key, field)?),
                "version" => manifest.version = Some(string(key, field)?),
                "license" => manifest.license = Some(string(key, field)?),
                "depends" => manifest.depends = string_list(key, field)?,
                "data" => manifest.data = string_list(key, field)?,
                "demo" => manifest.demo = string_list(key, field)?,
                "installable" => manifest.installable = boolean(key, field)?,
                "auto_install" => match &field.kind {
                    ValueKind::Bool(b) => {
                        manifest.auto_install = *b;
                        auto_install_triggers = None;
                    }
                    ValueKind::List(_) | ValueKind::Tuple(_) | ValueKind::Set(_) => {
                        manifest.auto_install = true;
                        auto_install_triggers = Some((field, string_list(key, field)?));
                    }
                    _ => {
                        return Err(invalid(
                            field,
                            format!(
                                "'auto_install' must be True, False or a list of module names, \
                                 got {}",
                                field.type_name()
                            ),
                        ))
                    }
                },
                "external_dependencies" => {
                    manifest.external_dependencies = external_dependencies(field)?
                }
                _ => {}
            }
        }
        if let Some((field, triggers)) = auto_install_triggers {
            check_triggers(field, &triggers, &manifest.depends)?;
        }
        Ok(manifest)
    }
}

/// Odoo (13.0+) asserts that `auto_install` triggers are dependencies and
/// refuses to load the module otherwise. An empty `depends` counts as
/// `['base']`, which is what Odoo turns it into.
fn check_triggers(
    field: &Value,
    triggers: &[String],
    depends: &[String],
) -> Result<(), ManifestError> {
    let implicit_base = ["base".to_owned()];
    let depends = if depends.is_empty() {
        &implicit_base[..]
    } else {
        depends
    };
    let missing: Vec<&str> = triggers
        .iter()
        .filter(|t| !depends.contains(t))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(invalid(
        field,
        format!(
            "'auto_install' triggers must be dependencies; not in 'depends': {}",
            missing.join(", ")
        ),
    ))
}

fn invalid(field: &Value, message: String) -> ManifestError {
    ManifestError::new(field.pos, ManifestErrorKind::InvalidField, message)
}

fn string(key: &str, field: &Value) -> Result<String, ManifestError> {
    field.as_str().map(str::to_owned).ok_or_else(|| {
        invalid(
            field,
            format!("'{key}' must be a string, got {}", field.type_name()),
        )
    })
}

fn boolean(key: &str, field: &Value) -> Result<bool, ManifestError> {
    match field.kind {
        ValueKind::Bool(b) => Ok(b),
        _ => Err(invalid(
            field,
            format!("'{key}' must be True or False, got {}", field.type_name()),
        )),
    }
}

/// A list (or tuple/set, which Odoo iterates the same way) of strings.
fn string_list(key: &str, field: &Value) -> Result<Vec<String>, ManifestError> {
    let items = match &field.kind {
        ValueKind::List(items) | ValueKind::Tuple(items) | ValueKind::Set(items) => items,
        _ => {
            return Err(invalid(
                field,
                format!(
                    "'{key}' must be a list of strings, got {}",
                    field.type_name()
                ),
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            item.as_str().map(str::to_owned).ok_or_else(|| {
                invalid(
                    item,
                    format!(
                        "'{key}' must be a list of strings, but item {} is {}",
                        index + 1,
                        item.type_name()
                    ),
                )
            })
        })
        .collect()
}

fn external_dependencies(field: &Value) -> Result<ExternalDependencies, ManifestError> {
    let ValueKind::Dict(entries) = &field.kind else {
        return Err(invalid(
            field,
            format!(
                "'external_dependencies' must be a dict, got {}",
                field.type_name()
            ),
        ));
    };
    let mut deps = ExternalDependencies::default();
    for (key, value) in entries {
        match key.as_str() {
            Some("python") => deps.python = string_list("external_dependencies['python']", value)?,
            Some("bin") => deps.bin = string_list("external_dependencies['bin']", value)?,
            // Other keys (e.g. 'deb') exist in the wild; Odoo ignores them.
            _ => {}
        }
    }
    Ok(deps)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../tests/fixtures/manifests/", $name, ".py"))
        };
    }

    fn parse_err(source: &str) -> ManifestError {
        match parse_manifest(source) {
            Ok(manifest) => panic!("expected an error, parsed {manifest:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn tricky_real_world_manifest() {
        let manifest = parse_manifest(fixture!("tricky_real_world")).unwrap();
        assert_eq!(
            manifest,
            Manifest {
                name: Some("Sale Order Café ☕".to_owned()),
                version: Some("17.0.1.0.0".to_owned()),
                depends: vec!["sale_management".to_owned(), "web".to_owned()],
                installable: true,
                auto_install: true,
                external_dependencies: ExternalDependencies {
                    python: vec!["requests".to_owned(), "python-dateutil".to_owned()],
                    bin: vec!["wkhtmltopdf".to_owned()],
                },
                license: Some("AGPL-3".to_owned()),
                data: vec![
                    "security/ir.model.access.csv".to_owned(),
                    "views/sale_order_views.xml".to_owned(),
                ],
                demo: vec!["demo/sale_demo.xml".to_owned()],
            }
        );
    }

    #[test]
    fn tricky_real_world_values_match_python() {
        // Expected values are what `ast.literal_eval` returns for the file.
        let value = parse_literal(fixture!("tricky_real_world")).unwrap();
        let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap().to_owned();
        assert_eq!(
            text("summary"),
            "Adds a coffee break to sale orders, and \"quotes\" too"
        );
        assert_eq!(
            text("description"),
            "\nMulti-line description\n======================\n\n\
             * keeps 'single' and \"double\" quotes\n\
             * unicode: naïve façade — Zürich\n    "
        );
        assert_eq!(
            text("author"),
            "Example SA,Odoo Community Association (OCA)"
        );
        assert_eq!(
            text("website"),
            "https://github.com/OCA/sale-workflow\\tree"
        );
        assert_eq!(text("escapes"), "tab\there, newline\\n, quote ' and Aé😀 A");
        assert_eq!(
            value.get("bytes_value").unwrap().kind,
            ValueKind::Bytes(vec![0, 0xFF])
        );
        let numbers: Vec<ValueKind> = match &value.get("numbers").unwrap().kind {
            ValueKind::List(items) => items.iter().map(|v| v.kind.clone()).collect(),
            other => panic!("numbers is {other:?}"),
        };
        assert_eq!(
            numbers,
            vec![
                ValueKind::Int(10),
                ValueKind::Float(-1.5),
                ValueKind::Int(31),
                ValueKind::Int(1000),
                ValueKind::Float(2000.0),
                ValueKind::Int(3),
            ]
        );
        let assets = value.get("assets").unwrap();
        let backend = assets.get("web.assets_backend").unwrap();
        let ValueKind::List(items) = &backend.kind else {
            panic!("assets entry is {backend:?}")
        };
        assert_eq!(items[1].type_name(), "tuple");
        assert_eq!(
            items[1].pos,
            Position {
                line: 43,
                column: 13
            }
        );
    }

    #[test]
    fn defaults_when_keys_are_missing() {
        let manifest = parse_manifest("{'name': 'Bare'}").unwrap();
        assert_eq!(manifest.name.as_deref(), Some("Bare"));
        assert!(manifest.installable, "installable defaults to True");
        assert!(!manifest.auto_install);
        assert!(manifest.depends.is_empty());
        assert_eq!(
            manifest.external_dependencies,
            ExternalDependencies::default()
        );
        assert_eq!(parse_manifest("{}").unwrap(), Manifest::default());
    }

    #[test]
    fn not_installable() {
        let manifest = parse_manifest(fixture!("not_installable")).unwrap();
        assert!(!manifest.installable);
        assert_eq!(manifest.depends, ["sale"]);
    }

    #[test]
    fn auto_install_forms() {
        assert!(
            parse_manifest("{'auto_install': True}")
                .unwrap()
                .auto_install
        );
        assert!(
            !parse_manifest("{'auto_install': False}")
                .unwrap()
                .auto_install
        );
        // An empty trigger list means "always install" for Odoo.
        assert!(parse_manifest("{'auto_install': []}").unwrap().auto_install);
        let manifest =
            parse_manifest("{'depends': ['sale', 'stock'], 'auto_install': ['sale']}").unwrap();
        assert!(manifest.auto_install);
    }

    #[test]
    fn auto_install_triggers_must_be_dependencies() {
        let e = parse_err("{\n 'depends': ['sale'],\n 'auto_install': ['stock'],\n}");
        assert_eq!(
            (e.line, e.column, e.kind),
            (3, 18, ManifestErrorKind::InvalidField)
        );
        assert!(
            e.message.contains("not in 'depends': stock"),
            "{}",
            e.message
        );
        // Odoo turns an empty `depends` into ['base'].
        assert!(
            parse_manifest("{'auto_install': ['base']}")
                .unwrap()
                .auto_install
        );
    }

    #[test]
    fn duplicate_keys_last_one_wins() {
        let manifest = parse_manifest("{'installable': False, 'installable': True}").unwrap();
        assert!(manifest.installable);
    }

    #[test]
    fn coding_header_and_leading_docstring_are_rejected_like_odoo() {
        // Odoo runs ast.literal_eval on the whole file: a docstring statement
        // before the dict is a SyntaxError there, so it must fail here too,
        // pointing at the docstring (line 2, after the coding header).
        let e = parse_err(fixture!("leading_docstring"));
        assert_eq!(
            (e.line, e.column, e.kind),
            (2, 1, ManifestErrorKind::Syntax)
        );
        assert!(e.message.contains("docstring"), "{}", e.message);
        // The coding header alone is just a comment.
        let manifest = parse_manifest("# -*- coding: utf-8 -*-\n{'name': 'x'}\n").unwrap();
        assert_eq!(manifest.name.as_deref(), Some("x"));
    }

    #[test]
    fn missing_comma_between_strings_points_where_the_comma_belongs() {
        // "17.0.1.0.0" "depends" would be concatenated; the comma is missing
        // at the end of line 3, not where Python notices (line 4).
        let e = parse_err(fixture!("missing_comma_between_strings"));
        assert_eq!((e.line, e.column), (3, 28));
        assert!(
            e.message
                .starts_with("expected ',' or '}' after dict value"),
            "{}",
            e.message
        );
        assert!(e.message.contains("line 4"), "{}", e.message);
    }

    #[test]
    fn missing_comma_after_list() {
        let e = parse_err(fixture!("missing_comma_after_list"));
        assert_eq!((e.line, e.column), (5, 6));
        assert_eq!(
            e.message,
            "expected ',' or '}' after dict value, found a string (missing ',')"
        );
        assert_eq!(
            e.to_string(),
            "5:6: expected ',' or '}' after dict value, found a string (missing ',')"
        );
    }

    #[test]
    fn missing_comma_on_one_line() {
        let e = parse_err("{'a': 1 'b': 2}");
        assert_eq!((e.line, e.column), (1, 8));
    }

    #[test]
    fn unterminated_strings_name_the_line_where_they_start() {
        let e = parse_err(fixture!("unterminated_string"));
        assert_eq!((e.line, e.column), (2, 13));
        assert_eq!(e.message, "unterminated string literal");
        let e = parse_err(fixture!("unterminated_triple_quoted_string"));
        assert_eq!((e.line, e.column), (3, 20));
        assert_eq!(e.message, "unterminated triple-quoted string literal");
    }

    #[test]
    fn unterminated_dict_names_the_opening_brace() {
        let e = parse_err(fixture!("unterminated_dict"));
        assert_eq!((e.line, e.column), (2, 1));
        assert_eq!(e.message, "unterminated dict: '{' was never closed");
    }

    #[test]
    fn function_call_is_unsupported() {
        let e = parse_err(fixture!("function_call"));
        assert_eq!(
            (e.line, e.column, e.kind),
            (4, 16, ManifestErrorKind::Unsupported)
        );
        assert!(
            e.message.starts_with("function call 'get_version(...)'"),
            "{}",
            e.message
        );
    }

    #[test]
    fn variables_and_operators_are_unsupported() {
        let e = parse_err("{\n  'version': VERSION,\n}");
        assert_eq!((e.line, e.kind), (2, ManifestErrorKind::Unsupported));
        assert!(e.message.contains("name 'VERSION'"), "{}", e.message);
        let e = parse_err("{'installable': true}");
        assert!(e.message.contains("did you mean True?"), "{}", e.message);
        let e = parse_err("{'name': 'a' + 'b'}");
        assert_eq!((e.line, e.column), (1, 14));
        assert!(e.message.contains("found '+'"), "{}", e.message);
        let e = parse_err("{'name': _('Translated')}");
        assert!(
            e.message.contains("function call '_(...)'"),
            "{}",
            e.message
        );
    }

    #[test]
    fn depends_must_be_a_list_of_strings() {
        let e = parse_err(fixture!("depends_is_a_string"));
        assert_eq!(
            (e.line, e.column, e.kind),
            (3, 16, ManifestErrorKind::InvalidField)
        );
        assert_eq!(e.message, "'depends' must be a list of strings, got str");
        let e = parse_err("{'depends': ['base', 42]}");
        assert_eq!((e.line, e.column), (1, 22));
        assert_eq!(
            e.message,
            "'depends' must be a list of strings, but item 2 is int"
        );
    }

    #[test]
    fn field_type_errors() {
        let e = parse_err("{'installable': 'False'}");
        assert_eq!(e.message, "'installable' must be True or False, got str");
        let e = parse_err("{'name': None}");
        assert_eq!(e.message, "'name' must be a string, got NoneType");
        let e = parse_err("{'external_dependencies': ['requests']}");
        assert_eq!(
            e.message,
            "'external_dependencies' must be a dict, got list"
        );
        let e = parse_err("{'external_dependencies': {'python': 'requests'}}");
        assert_eq!(
            e.message,
            "'external_dependencies['python']' must be a list of strings, got str"
        );
        let e = parse_err("{'auto_install': 'yes'}");
        assert!(e
            .message
            .starts_with("'auto_install' must be True, False or a list"));
    }

    #[test]
    fn manifest_must_be_a_dict() {
        let e = parse_err("# comment\n['name']\n");
        assert_eq!(
            (e.line, e.column, e.kind),
            (2, 1, ManifestErrorKind::NotADict)
        );
        assert_eq!(e.message, "manifest is not a dict literal (found list)");
        let e = parse_err("# only a comment\n");
        assert_eq!(e.kind, ManifestErrorKind::Syntax);
    }

    #[test]
    fn indentation_rules_of_python() {
        // ast.literal_eval strips leading blanks of the file only.
        assert!(parse_manifest("   {'name': 'x'}").is_ok());
        let e = parse_err("# header\n    {'name': 'x'}\n");
        assert_eq!((e.line, e.message.as_str()), (2, "unexpected indent"));
        // Blanks on a last line without newline: Python (thus Odoo) fails.
        let e = parse_err("{'name': 'x'}\n  ");
        assert_eq!(e.line, 2);
        assert!(e.message.starts_with("unexpected indent"));
        assert!(parse_manifest("{'name': 'x'}\n  \n").is_ok());
        assert!(parse_manifest("{'name': 'x'}\n  # indented comment, no newline").is_ok());
        // Indentation before a backslash continuation is the line's.
        assert!(parse_manifest("\\\n{}").is_ok());
        let e = parse_err("# c\n\t\\\n{}");
        assert_eq!((e.line, e.message.as_str()), (3, "unexpected indent"));
    }

    #[test]
    fn line_endings_and_continuations() {
        let manifest = parse_manifest("{'name':\r\n 'a' \\\r\n 'b',\r'version': '1'}\r\n").unwrap();
        assert_eq!(manifest.name.as_deref(), Some("ab"));
        let e = parse_err("{'name':\r\n\r\n 'x' 'y': 1}");
        assert_eq!(e.line, 3, "CRLF counts as one line break");
    }

    #[test]
    fn byte_order_mark_is_rejected_with_a_hint() {
        let e = parse_err("\u{feff}{'name': 'x'}");
        assert_eq!((e.line, e.column), (1, 1));
        assert!(e.message.contains("byte order mark"), "{}", e.message);
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let e = parse_manifest_bytes(b"{\n  'name': 'caf\xe9',\n}").unwrap_err();
        assert_eq!(
            (e.line, e.column, e.kind),
            (2, 15, ManifestErrorKind::Encoding)
        );
        assert_eq!(
            parse_manifest_bytes("{'name': 'café'}".as_bytes())
                .unwrap()
                .name
                .as_deref(),
            Some("café")
        );
    }
}
