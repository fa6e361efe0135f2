//! The crate's layers point one way: a top-level module uses only modules of its own layer or
//! below (read from its `crate::` paths), and no two top-level modules use each other, directly
//! or through others. ARCHITECTURE.md draws the same table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules by layer, lowest first.
const LAYERS: &[(&str, &[&str])] = &[
    ("leaves", &["clock", "secret", "encoding", "random"]),
    (
        "pure cores",
        &[
            "policy", "sigv4", "saml", "oidc", "session", "totp", "routes", "rate",
        ],
    ),
    ("domain", &["iam", "config"]),
    (
        "infrastructure",
        &[
            "store",
            "keys",
            "revocation",
            "audit",
            "listener",
            "logs",
            "workers",
        ],
    ),
    ("core", &["broker"]),
    (
        "front doors",
        &[
            "query",
            "authz",
            "admin_api",
            "analyzer",
            "metrics",
            "signin",
        ],
    ),
    ("on top", &["app", "cli", "fuzzing"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Which top-level modules each top-level module names, with one place it does.
fn dependencies(src: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut deps: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_str().unwrap().trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let entry = deps.entry(module.clone()).or_default();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for (i, _) in code.match_indices("crate::") {
                let before = code[..i].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue; // `sts_broker::...` or another crate's path
                }
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    entry
                        .entry(name)
                        .or_insert_with(|| format!("{}:{}", relative.display(), n + 1));
                }
            }
        }
    }
    deps
}

#[test]
fn every_module_uses_only_its_layer_and_those_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let deps = dependencies(&src);
    let mut problems = Vec::new();
    for (module, uses) in &deps {
        let Some(own) = layer_of(module) else {
            problems.push(format!("{module} is in no layer: add it to LAYERS"));
            continue;
        };
        for (used, place) in uses {
            match layer_of(used) {
                Some(layer) if layer <= own => {}
                Some(layer) => problems.push(format!(
                    "{module} ({}) uses {used} ({}) at {place}",
                    LAYERS[own].0, LAYERS[layer].0
                )),
                None => problems.push(format!("{used}, used at {place}, is in no layer")),
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layer violations:\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_two_top_level_modules_depend_on_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let deps = dependencies(&src);
    // Depth-first search for a path back to the start.
    fn reaches(
        deps: &BTreeMap<String, BTreeMap<String, String>>,
        from: &str,
        target: &str,
        seen: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> bool {
        for next in deps.get(from).into_iter().flat_map(|m| m.keys()) {
            if next == target {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if reaches(deps, next, target, seen, path) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    for module in deps.keys() {
        let mut path = vec![module.clone()];
        if reaches(&deps, module, module, &mut BTreeSet::new(), &mut path) {
            path.push(module.clone());
            panic!("import cycle: {}", path.join(" -> "));
        }
    }
}

#[test]
fn the_check_sees_a_violation() {
    // The scan itself: a lower layer naming a higher one is found.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("store")).unwrap();
    std::fs::write(
        dir.path().join("store/mod.rs"),
        "use crate::broker::Broker; // uses the core\nuse sts_broker::app; // not crate::\n",
    )
    .unwrap();
    let deps = dependencies(dir.path());
    let uses: Vec<&String> = deps["store"].keys().collect();
    assert_eq!(uses, ["broker"]);
    assert!(layer_of("broker") > layer_of("store"));
}
