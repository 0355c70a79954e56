//! docs/ARCHITECTURE.md names the file behind each step of a build; a file
//! moved or renamed without the document following fails here.

use std::path::Path;

#[test]
fn architecture_names_only_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let text = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let mut named = 0;
    let mut missing = Vec::new();
    for (start, _) in text.match_indices("crates/") {
        let path: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "/_.-".contains(*c))
            .collect();
        let path = path.trim_end_matches('.');
        named += 1;
        if !root.join(path).exists() {
            missing.push(path.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md names missing files: {missing:?}"
    );
    assert!(
        named > 30,
        "only {named} paths found: is the document still there?"
    );
}
