//! The core crate's layering, checked from its source: every `crate::…` path in
//! `shared/src` (outside comments and test modules) may name only its own layer or a lower
//! one, and no file reaches itself through the files it imports (no import cycles).
//!
//! The layers, lowest first (see the crate's `lib.rs`): `platform` → `store` → `keys` →
//! `outbound` → `config`/`app` → `http` → `session` → `oauth` → `logout` →
//! `account` → `api`/`ssf`/`admin`/`lambda`. `platform` imports nothing of Warden; the store never imports HTTP,
//! `App` or a protocol module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer of a top-level module (its folder or file under `shared/src`).
fn layer(top: &str) -> Option<u8> {
    Some(match top {
        "platform" => 1,
        "store" => 2,
        "keys" => 3,
        "outbound" => 4,
        "config" | "app" => 5,
        "http" => 6,
        "session" => 7,
        "oauth" => 8,
        "logout" => 9,
        "account" => 10,
        "api" | "ssf" | "admin" | "lambda" => 11,
        _ => return None,
    })
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file: `session/login.rs` → `["session", "login"]`, `http/mod.rs` →
/// `["http"]`, `lib.rs` → `[]`.
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// Every `crate::a::b…` path in the file's code (not its comments, not its tests), as
/// segments. `use crate::x::{a, b}` counts as `crate::x`.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let before = &rest[..i];
            let boundary = before
                .chars()
                .last()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
            rest = &rest[i + 7..];
            if !boundary {
                continue;
            }
            let segs: Vec<String> = rest
                .split("::")
                .map(|s| {
                    s.chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .take_while(|s| !s.is_empty())
                .collect();
            if !segs.is_empty() {
                out.push(segs);
            }
        }
    }
    out
}

struct House {
    /// Module path → its file.
    modules: BTreeMap<Vec<String>, PathBuf>,
    /// File → the module files it names.
    imports: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    /// (file, path) pairs whose path's top module has no layer.
    unknown: Vec<(PathBuf, String)>,
}

fn house() -> House {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> =
        files.iter().map(|f| (module_of(f), f.clone())).collect();
    let mut imports = BTreeMap::new();
    let mut unknown = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        let mut to = BTreeSet::new();
        for p in crate_paths(&text) {
            // The longest prefix that is a module file: `crate::session::terminate` is an
            // item of `session/mod.rs`; `crate::session::login::x` is `session/login.rs`.
            let target = (1..=p.len()).rev().find_map(|n| modules.get(&p[..n]));
            match target {
                Some(t) if layer(&module_of(t)[0]).is_some() => {
                    if t != f {
                        to.insert(t.clone());
                    }
                }
                _ => unknown.push((f.clone(), p.join("::"))),
            }
        }
        imports.insert(f.clone(), to);
    }
    House {
        modules,
        imports,
        unknown,
    }
}

fn name(f: &Path) -> String {
    f.strip_prefix(src())
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

#[test]
fn every_crate_path_names_a_layered_module() {
    let h = house();
    let bad: Vec<String> = h
        .unknown
        .iter()
        .map(|(f, p)| format!("{}: crate::{p}", name(f)))
        .collect();
    assert!(
        bad.is_empty(),
        "paths through the crate root or to a module without a layer (name the module: \
         crate::store::StoreError, not crate::StoreError):\n{}",
        bad.join("\n")
    );
    assert!(h.modules.len() > 20);
}

#[test]
fn no_import_runs_up_a_layer() {
    let h = house();
    let mut up = Vec::new();
    for (f, tos) in &h.imports {
        let from = module_of(f);
        let Some(lf) = from.first().and_then(|t| layer(t)) else {
            continue; // lib.rs declares the modules and re-exports the crate's API
        };
        for t in tos {
            let lt = layer(&module_of(t)[0]).unwrap_or(0);
            if lt > lf {
                up.push(format!(
                    "{} (layer {lf}) -> {} (layer {lt})",
                    name(f),
                    name(t)
                ));
            }
            if lf == 1 && lt != 1 {
                up.push(format!(
                    "{}: platform imports Warden ({})",
                    name(f),
                    name(t)
                ));
            }
        }
    }
    assert!(
        up.is_empty(),
        "imports that run up a layer:\n{}",
        up.join("\n")
    );
}

#[test]
fn no_import_cycles() {
    let h = house();
    // Depth-first search for a back edge; report the first cycle found.
    fn visit(
        f: &PathBuf,
        h: &House,
        state: &mut BTreeMap<PathBuf, u8>,
        stack: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        state.insert(f.clone(), 1);
        stack.push(f.clone());
        for t in h.imports.get(f).into_iter().flatten() {
            match state.get(t).copied().unwrap_or(0) {
                1 => {
                    let i = stack.iter().position(|x| x == t).unwrap_or(0);
                    let mut c = stack[i..].to_vec();
                    c.push(t.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(t, h, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(f.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for f in h.imports.keys() {
        if state.get(f).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(f, &h, &mut state, &mut Vec::new()) {
                let names: Vec<String> = c.iter().map(|f| name(f)).collect();
                panic!("import cycle: {}", names.join(" -> "));
            }
        }
    }
}

#[test]
fn the_checker_reads_paths_as_rust_does() {
    let paths = crate_paths(
        "use crate::store::{Store, StoreError};\n// crate::http in a comment\n\
         let x = crate::platform::time::now_s();\nmy_crate::x;\n#[cfg(test)]\nuse crate::admin;",
    );
    assert_eq!(
        paths,
        vec![
            vec!["store".to_string()],
            vec!["platform".into(), "time".into(), "now_s".into()],
        ]
    );
}
