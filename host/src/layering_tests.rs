//! The top-level modules import each other along one direction only: each
//! may use the modules listed before it in [`LAYERS`], never one after it.
//! Checked on the source, so a new import against the order fails here.

use std::collections::BTreeSet;
use std::path::Path;

/// Lowest first. A leaf imports nothing of the crate.
const LAYERS: [&str; 17] = [
    "env_vars",
    "units",
    "status",
    "text",
    "storage",
    "registry",
    "plan",
    "trybot",
    "sandbox",
    "cache",
    "report",
    "executor",
    "runtime",
    "cluster",
    "scheduler",
    "serve",
    "cli",
];

/// `crate::name` references in `path`, doc links included (a link is a
/// dependency a reader follows too).
fn references(path: &Path, out: &mut BTreeSet<String>) {
    if path.is_dir() {
        for e in std::fs::read_dir(path).expect("read src").flatten() {
            references(&e.path(), out);
        }
        return;
    }
    if path.extension().is_none_or(|x| x != "rs") {
        return;
    }
    let text = std::fs::read_to_string(path).expect("read a source file");
    for line in text.lines() {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            out.insert(name);
        }
    }
}

#[test]
fn top_level_modules_import_along_one_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    for (rank, module) in LAYERS.iter().enumerate() {
        let dir = src.join(module);
        let path = if dir.is_dir() { dir } else { src.join(format!("{module}.rs")) };
        let mut used = BTreeSet::new();
        references(&path, &mut used);
        for name in used {
            if let Some(other) = LAYERS.iter().position(|l| *l == name)
                && other > rank
            {
                bad.push(format!("{module} imports {name}, which comes after it"));
            }
        }
    }
    assert_eq!(bad, Vec::<String>::new(), "the layer order is {LAYERS:?}");
}

#[test]
fn every_top_level_module_has_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut missing = Vec::new();
    for e in std::fs::read_dir(&src).expect("read src").flatten() {
        let name = e.file_name().to_string_lossy().trim_end_matches(".rs").to_string();
        let is_module = e.path().is_dir() || e.path().extension().is_some_and(|x| x == "rs");
        if is_module && !["lib", "main", "layering_tests"].contains(&name.as_str()) && !LAYERS.contains(&name.as_str())
        {
            missing.push(name);
        }
    }
    assert_eq!(missing, Vec::<String>::new(), "add new modules to LAYERS");
}
