//! Content checksums of addon directories.
//!
//! # `module_auto_update` compatibility
//!
//! [`addon_hash`] reproduces, byte for byte, the checksum that OCA's
//! `module_auto_update` (server-tools, `module_auto_update/addon_hash.py`,
//! 11.0 onwards) and acsone's `click-odoo-update`
//! (`click_odoo_contrib/_addon_hash.py`) compute and store, per installed
//! module, as JSON in the `ir_config_parameter` row
//! `module_auto_update.installed_checksums`. Matching it lets slipway tell
//! which modules a database needs updated using the very values those
//! tools wrote. The algorithm is:
//!
//! 1. `keep_langs` is reduced to language prefixes: `fr_BE` → `fr`.
//!    (The tools pass the codes of the active languages of the database,
//!    `SELECT code FROM res_lang WHERE active`.)
//! 2. The addon directory is walked with Python's `os.walk` (top-down,
//!    symlinked directories listed but **not** entered), sorting
//!    sub-directory names at every level; in each directory the file names
//!    are sorted and handled before descending into sub-directories. So the
//!    order is *not* a global sort of paths: `z.py` comes before `a/x.py`.
//!    Names sort by code point (byte order for UTF-8).
//! 3. A file is skipped when its `/`-separated path relative to the addon
//!    matches one of the `fnmatch` exclude patterns (where `*` also matches
//!    `/`). The default patterns are [`DEFAULT_EXCLUDE_PATTERNS`];
//!    a database can override them with the `module_auto_update.exclude_patterns`
//!    parameter (comma separated, each stripped).
//! 4. If `keep_langs` is not empty, a file *directly* in `i18n/` or
//!    `i18n_extra/` whose extension (Python `os.path.splitext`) is `.po` is
//!    skipped unless the part of its stem before the first `_` is a kept
//!    prefix: with `fr_FR` active, `fr.po`, `fr_BE.po` and `fr_CA.po` are
//!    hashed, `de.po` is not. With no languages at all, every `.po` counts.
//! 5. For each remaining file, in walk order, the SHA-1 is updated with the
//!    UTF-8 relative path (no separator, no length) and then with the raw
//!    file content (read through file symlinks). The result is the
//!    lowercase hex digest.
//!
//! Divergences, both only on broken trees: Python's `os.walk` silently
//! skips directories it cannot list, where this returns the I/O error (a
//! partially hashed addon would be reported as unchanged); and file names
//! that are not UTF-8 are an error here, as they make Python's `encode` fail
//! unless the file is excluded (exclusion still matches such names).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::Path;

use sha1::{Digest, Sha1};
use sha2::Sha256;

use crate::fnmatch::Pattern;

/// The current default exclude patterns of `module_auto_update` and
/// click-odoo-update. Older releases of both used the same list without
/// `tests/*`; to match checksums they stored, pass that list to
/// [`addon_hash`] (or whatever the database's
/// `module_auto_update.exclude_patterns` parameter says).
pub const DEFAULT_EXCLUDE_PATTERNS: &str =
    "*.pyc,*.pyo,i18n/*.pot,i18n_extra/*.pot,static/*,tests/*";

/// Splits a `module_auto_update.exclude_patterns` value the way the tools do
/// (`[p.strip() for p in value.split(',')]`; an empty value yields one empty
/// pattern, which excludes nothing).
pub fn parse_exclude_patterns(spec: &str) -> Vec<String> {
    spec.split(',')
        .map(|p| p.trim_matches(is_python_whitespace).to_owned())
        .collect()
}

/// `str.strip()` strips what `str.isspace()` accepts: Unicode white space
/// plus the ASCII information separators U+001C..U+001F.
fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1C}'..='\u{1F}').contains(&c)
}

/// The `module_auto_update` checksum of an addon with the default exclude
/// patterns; `keep_langs` are the active language codes of the database
/// (`en_US`, `fr_BE`, ...).
pub fn addon_checksum(dir: &Path, keep_langs: &[String]) -> io::Result<String> {
    addon_hash(
        dir,
        &parse_exclude_patterns(DEFAULT_EXCLUDE_PATTERNS),
        keep_langs,
    )
}

/// The `module_auto_update` checksum with explicit exclude patterns, i.e.
/// `addon_hash(top, exclude_patterns, keep_langs)`. See the module
/// documentation for the algorithm.
pub fn addon_hash(
    dir: &Path,
    exclude_patterns: &[String],
    keep_langs: &[String],
) -> io::Result<String> {
    let mut hasher = Sha1::new();
    let filter = Filter::new(exclude_patterns, keep_langs);
    walk(dir, &RelPath::root(), &filter, &mut |rel, path| {
        hasher.update(rel.as_bytes());
        let mut file = fs::File::open(path)?;
        io::copy(&mut file, &mut hasher)?;
        Ok(())
    })?;
    Ok(hex::encode(hasher.finalize()))
}

/// The relative paths [`addon_hash`] feeds to the hash, in order. Useful to
/// explain why a checksum changed.
pub fn addon_hash_files(
    dir: &Path,
    exclude_patterns: &[String],
    keep_langs: &[String],
) -> io::Result<Vec<String>> {
    let mut files = Vec::new();
    let filter = Filter::new(exclude_patterns, keep_langs);
    walk(dir, &RelPath::root(), &filter, &mut |rel, _| {
        files.push(rel.to_owned());
        Ok(())
    })?;
    Ok(files)
}

struct Filter {
    patterns: Vec<Pattern>,
    lang_prefixes: HashSet<String>,
}

impl Filter {
    fn new(exclude_patterns: &[String], keep_langs: &[String]) -> Self {
        Filter {
            patterns: exclude_patterns.iter().map(|p| Pattern::new(p)).collect(),
            lang_prefixes: keep_langs
                .iter()
                .map(|l| lang_prefix(l).to_owned())
                .collect(),
        }
    }

    fn keeps(&self, reldir: &str, filename: &str, filepath: &str) -> bool {
        if self.patterns.iter().any(|p| p.matches(filepath)) {
            return false;
        }
        if !self.lang_prefixes.is_empty() && (reldir == "i18n" || reldir == "i18n_extra") {
            let (stem, ext) = splitext(filename);
            if ext == ".po" && !self.lang_prefixes.contains(lang_prefix(stem)) {
                return false;
            }
        }
        true
    }
}

/// `s.split('_')[0]`.
fn lang_prefix(s: &str) -> &str {
    s.split('_').next().unwrap_or(s)
}

/// `os.path.splitext` for a bare file name: the extension starts at the last
/// dot, unless only dots precede it (`.po` and `..po` have none).
fn splitext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if name[..dot].chars().any(|c| c != '.') => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    }
}

/// A relative path as Python sees it. Non-UTF-8 bytes become one U+FFFD
/// each (Python's surrogateescape also makes one character per byte) so
/// that patterns still match them; `valid` records that the path cannot be
/// encoded back to UTF-8.
#[derive(Clone)]
struct RelPath {
    text: String,
    valid: bool,
}

impl RelPath {
    fn root() -> Self {
        RelPath {
            text: String::new(),
            valid: true,
        }
    }

    fn join(&self, name: &OsString) -> RelPath {
        let bytes = name.as_encoded_bytes();
        let (decoded, valid) = match std::str::from_utf8(bytes) {
            Ok(s) => (s.to_owned(), true),
            Err(_) => {
                let mut s = String::new();
                for chunk in bytes.utf8_chunks() {
                    s.push_str(chunk.valid());
                    s.extend(std::iter::repeat_n('\u{FFFD}', chunk.invalid().len()));
                }
                (s, false)
            }
        };
        let text = if self.text.is_empty() {
            decoded
        } else {
            format!("{}/{}", self.text, decoded)
        };
        RelPath {
            text,
            valid: self.valid && valid,
        }
    }
}

type Visit<'a> = dyn FnMut(&str, &Path) -> io::Result<()> + 'a;

/// `os.walk(top)` with `dirnames.sort()` and `sorted(filenames)`.
fn walk(dir: &Path, reldir: &RelPath, filter: &Filter, visit: &mut Visit<'_>) -> io::Result<()> {
    let mut dirs: Vec<OsString> = Vec::new();
    let mut files: Vec<OsString> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        // Like `DirEntry.is_dir()` in os.walk: follows symlinks, and any
        // error (a dangling link) means "not a directory".
        let is_dir = fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
        if is_dir {
            dirs.push(entry.file_name());
        } else {
            files.push(entry.file_name());
        }
    }
    dirs.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    files.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));

    for name in &files {
        let rel = reldir.join(name);
        let filename = rel.text.rsplit('/').next().unwrap_or(&rel.text);
        if !filter.keeps(&reldir.text, filename, &rel.text) {
            continue;
        }
        if !rel.valid {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: file name is not valid UTF-8 and cannot be hashed",
                    dir.join(name).display()
                ),
            ));
        }
        visit(&rel.text, &dir.join(name))?;
    }
    for name in &dirs {
        let path = dir.join(name);
        // os.walk(followlinks=False) lists symlinked directories but does
        // not enter them.
        if fs::symlink_metadata(&path)?.file_type().is_symlink() {
            continue;
        }
        walk(&path, &reldir.join(name), filter, visit)?;
    }
    Ok(())
}

/// A SHA-256 over the files of a tree, for cache keys (e.g. of database
/// templates built from a set of addons): any change to a file's content,
/// name, location or executable bit, or to a symlink's target, changes it.
///
/// Skips what Python generates at run time (`__pycache__/` directories and
/// `*.pyc`/`*.pyo` files) and `.git` (a checkout's metadata, which changes
/// on every fetch). Symlinks are hashed as links (their target path), never
/// followed, so cycles are impossible. Empty directories do not count.
///
/// Format, versioned by a leading tag: for every file in sorted path order,
/// a kind byte (`F` regular, `X` executable, `L` symlink), the length of
/// the relative path as u64 LE, the path bytes, and the SHA-256 of the
/// content (or of the link target).
pub fn tree_checksum(dir: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(b"slipway-tree-v1\0");
    tree_walk(dir, &mut Vec::new(), &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

fn tree_walk(dir: &Path, rel: &mut Vec<u8>, hasher: &mut Sha256) -> io::Result<()> {
    let mut entries: Vec<(OsString, fs::FileType)> = fs::read_dir(dir)?
        .map(|entry| {
            let entry = entry?;
            Ok((entry.file_name(), entry.file_type()?))
        })
        .collect::<io::Result<_>>()?;
    entries.sort_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));
    for (name, file_type) in entries {
        let bytes = name.as_encoded_bytes();
        let path = dir.join(&name);
        let len_before = rel.len();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(bytes);
        if file_type.is_dir() {
            if bytes != b"__pycache__" && bytes != b".git" {
                tree_walk(&path, rel, hasher)?;
            }
        } else if file_type.is_symlink() {
            let target = fs::read_link(&path)?;
            let digest = Sha256::digest(target.as_os_str().as_encoded_bytes());
            record(hasher, b'L', rel, &digest);
        } else if file_type.is_file() {
            let skip = bytes.ends_with(b".pyc") || bytes.ends_with(b".pyo") || bytes == b".git";
            if !skip {
                let mut content = Sha256::new();
                io::copy(&mut fs::File::open(&path)?, &mut content)?;
                let kind = if is_executable(&path)? { b'X' } else { b'F' };
                record(hasher, kind, rel, &content.finalize());
            }
        }
        rel.truncate(len_before);
    }
    Ok(())
}

fn record(hasher: &mut Sha256, kind: u8, rel: &[u8], digest: &[u8]) {
    hasher.update([kind]);
    hasher.update((rel.len() as u64).to_le_bytes());
    hasher.update(rel);
    hasher.update(digest);
}

#[cfg(unix)]
fn is_executable(path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    Ok(fs::metadata(path)?.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    fn write(root: &Path, rel: &str, content: &[u8]) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// The sample addon of click-odoo-contrib's `tests/test_addon_hash.py`
    /// (`tests/data/test_addon_hash`, same layout as module_auto_update's
    /// `tests/sample_module`), rebuilt file by file. The .pyc/.pyo bytes
    /// differ from upstream's, which does not matter: every assertion below
    /// excludes them from the hash.
    fn upstream_sample() -> TempDir {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        for (rel, content) in [
            ("README.rst", &b"Test data for addon_hash module.\n"[..]),
            ("data/f1.xml", b"<odoo/>\n"),
            ("data/f2.xml", b"<odoo/>\n"),
            ("i18n/en.po", b"en text\n"),
            ("i18n/en_US.po", b"en_US\n"),
            ("i18n/fr.po", b"fr\n"),
            ("i18n/fr_BE.po", b"fr_BE\n"),
            ("i18n/test.pot", b"...\n"),
            ("i18n_extra/en.po", b"en\n"),
            ("i18n_extra/fr.po", b"fr\n"),
            ("i18n_extra/nl_NL.po", b"nl_NL\n"),
            ("models/stuff.py", b"1+1\n"),
            ("models/stuff.pyc", b"\x03\xf3\r\nnot really bytecode"),
            (
                "models/stuff.pyo",
                b"\x03\xf3\r\nnot really bytecode either",
            ),
            ("static/src/some.js", b"/* Javascript */\n"),
        ] {
            write(root, rel, content);
        }
        tmp
    }

    #[test]
    fn upstream_test_vector() {
        // click-odoo-contrib tests/test_addon_hash.py::test2 asserts exactly
        // this digest for this input.
        let sample = upstream_sample();
        let checksum = addon_hash(
            sample.path(),
            &strings(&["*.pyc", "*.pyo", "*.pot", "static/*"]),
            &strings(&["fr_FR", "nl"]),
        )
        .unwrap();
        assert_eq!(checksum, "fecb89486c8a29d1f760cbd01c1950f6e8421b14");
    }

    #[test]
    fn default_patterns_on_upstream_sample() {
        // Reference computed once with click-odoo-contrib 1.24's own
        // `_addon_hash.addon_hash` on the upstream sample directory.
        let sample = upstream_sample();
        assert_eq!(
            addon_checksum(sample.path(), &[]).unwrap(),
            "81b6be86a9ffc424650d75ceb927e0aa53272f63"
        );
    }

    #[test]
    fn upstream_walk_lists() {
        // Same expectations as upstream's test_basic and test_exclude.
        let sample = upstream_sample();
        assert_eq!(
            addon_hash_files(sample.path(), &strings(&["*/__pycache__/*"]), &[]).unwrap(),
            [
                "README.rst",
                "data/f1.xml",
                "data/f2.xml",
                "i18n/en.po",
                "i18n/en_US.po",
                "i18n/fr.po",
                "i18n/fr_BE.po",
                "i18n/test.pot",
                "i18n_extra/en.po",
                "i18n_extra/fr.po",
                "i18n_extra/nl_NL.po",
                "models/stuff.py",
                "models/stuff.pyc",
                "models/stuff.pyo",
                "static/src/some.js",
            ]
        );
        assert_eq!(
            addon_hash_files(
                sample.path(),
                &parse_exclude_patterns(DEFAULT_EXCLUDE_PATTERNS),
                &strings(&["fr_FR", "nl"]),
            )
            .unwrap(),
            [
                "README.rst",
                "data/f1.xml",
                "data/f2.xml",
                "i18n/fr.po",
                "i18n/fr_BE.po",
                "i18n_extra/fr.po",
                "i18n_extra/nl_NL.po",
                "models/stuff.py",
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn walk_order_symlinks_and_language_filter() {
        use std::os::unix::fs::symlink;
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        for (rel, content) in [
            ("z.py", &b"z"[..]),
            ("__init__.py", b""),
            ("a/x.py", b"x"),
            ("i18n/de.po", b"de"),
            ("i18n/fr.po", b"fr"),
            ("i18n/nested/de.po", b"nested de"),
            ("i18n/.po", b"dot"),
            ("static/description/icon.png", b"png"),
            ("tests/test_x.py", b"t"),
            ("models/__pycache__/m.cpython-311.pyc", b"pyc"),
        ] {
            write(root, rel, content);
        }
        symlink("a", root.join("linked")).unwrap();
        symlink("z.py", root.join("file_link.py")).unwrap();
        let langs = strings(&["fr_FR"]);
        // Files of a directory come before its sub-directories; the
        // symlinked directory is not entered, the symlinked file is read;
        // only direct children of i18n/ are filtered by language, and
        // `.po` has no extension for os.path.splitext.
        assert_eq!(
            addon_hash_files(
                root,
                &parse_exclude_patterns(DEFAULT_EXCLUDE_PATTERNS),
                &langs
            )
            .unwrap(),
            [
                "__init__.py",
                "file_link.py",
                "z.py",
                "a/x.py",
                "i18n/.po",
                "i18n/fr.po",
                "i18n/nested/de.po",
            ]
        );
        // References computed once with click-odoo-contrib 1.24's
        // `_addon_hash.addon_hash` on the same tree.
        assert_eq!(
            addon_checksum(root, &langs).unwrap(),
            "b0b98cb3b4a1962e57213b1b365c46db9bbfdd72"
        );
        assert_eq!(
            addon_checksum(root, &[]).unwrap(),
            "52e8a8078443ce6704ab6516fad339c0d102fdc1"
        );
    }

    #[test]
    fn empty_files_still_count() {
        let tmp = TempDir::new().unwrap();
        write(tmp.path(), "a.py", b"");
        let before = addon_checksum(tmp.path(), &[]).unwrap();
        write(tmp.path(), "b.py", b"");
        assert_ne!(addon_checksum(tmp.path(), &[]).unwrap(), before);
        // sha1(b"a.py")
        assert_eq!(before, hex::encode(Sha1::digest(b"a.py")));
    }

    #[test]
    fn exclude_pattern_parsing() {
        assert_eq!(
            parse_exclude_patterns(" *.pyc ,static/*,\ttests/* \u{1f}"),
            ["*.pyc", "static/*", "tests/*"]
        );
        assert_eq!(parse_exclude_patterns(""), [""]);
        assert_eq!(parse_exclude_patterns(DEFAULT_EXCLUDE_PATTERNS).len(), 6);
    }

    #[test]
    fn splitext_like_python() {
        assert_eq!(splitext("fr_BE.po"), ("fr_BE", ".po"));
        assert_eq!(splitext("a.b.po"), ("a.b", ".po"));
        assert_eq!(splitext(".po"), (".po", ""));
        assert_eq!(splitext("..po"), ("..po", ""));
        assert_eq!(splitext("x."), ("x", "."));
        assert_eq!(splitext("noext"), ("noext", ""));
    }

    #[test]
    fn tree_checksum_tracks_content_names_and_skips_bytecode() {
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        write(root, "a/models.py", b"x = 1\n");
        write(root, "b.xml", b"<odoo/>");
        let base = tree_checksum(root).unwrap();
        assert_eq!(base.len(), 64);
        assert_eq!(tree_checksum(root).unwrap(), base, "deterministic");

        write(root, "a/__pycache__/models.cpython-311.pyc", b"bytecode");
        write(root, "a/old.pyc", b"bytecode");
        write(root, ".git/HEAD", b"ref: refs/heads/main");
        fs::create_dir_all(root.join("empty")).unwrap();
        assert_eq!(tree_checksum(root).unwrap(), base, "ignored entries");

        write(root, "a/models.py", b"x = 2\n");
        let changed = tree_checksum(root).unwrap();
        assert_ne!(changed, base);
        write(root, "a/models.py", b"x = 1\n");
        assert_eq!(tree_checksum(root).unwrap(), base);

        fs::rename(root.join("b.xml"), root.join("c.xml")).unwrap();
        assert_ne!(tree_checksum(root).unwrap(), base, "renames count");
    }

    #[test]
    fn tree_checksum_is_unambiguous() {
        // Same bytes, split differently between path and content.
        let one = TempDir::new().unwrap();
        write(one.path(), "ab", b"c");
        let two = TempDir::new().unwrap();
        write(two.path(), "a", b"bc");
        assert_ne!(
            tree_checksum(one.path()).unwrap(),
            tree_checksum(two.path()).unwrap()
        );
    }

    #[cfg(unix)]
    #[test]
    fn tree_checksum_symlinks_and_exec_bit() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let tmp = TempDir::new().unwrap();
        let root = tmp.path();
        write(root, "script.sh", b"#!/bin/sh\n");
        symlink("..", root.join("loop")).unwrap();
        let base = tree_checksum(root).unwrap();
        fs::set_permissions(root.join("script.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        let executable = tree_checksum(root).unwrap();
        assert_ne!(executable, base);
        fs::remove_file(root.join("loop")).unwrap();
        symlink(".", root.join("loop")).unwrap();
        assert_ne!(
            tree_checksum(root).unwrap(),
            executable,
            "link target counts"
        );
    }
}
