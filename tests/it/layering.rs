//! The module layering, read from the source: no import circle between the library's top-level
//! modules, and only `config`, the assembly (`pipeline`) and the command line see `Config`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common;

/// Top-level module of each library file, and the crate modules its code (tests and comments
/// left out) names through `crate::`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = common::repo().join("src");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    collect(&src, &mut files);
    for path in files {
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if matches!(top.as_str(), "main" | "cli" | "lib") {
            continue;
        }
        let text = fs_err::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let named = edges.entry(top.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                let module = match name.as_str() {
                    "Result" | "Error" => "error".to_string(),
                    "Config" => "config".to_string(),
                    "Pipeline" => "pipeline".to_string(),
                    // `use crate::{a::X, b::Y}`: each path's first segment.
                    "" if rest.starts_with('{') => {
                        let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
                        for part in group.split(',') {
                            let first = part.trim().split("::").next().unwrap_or_default();
                            if !first.is_empty() && first != top {
                                named.insert(first.to_string());
                            }
                        }
                        continue;
                    }
                    other => other.to_string(),
                };
                if module != top && !module.is_empty() {
                    named.insert(module);
                }
            }
            if names_config(line) {
                assert!(
                    matches!(top.as_str(), "config" | "pipeline"),
                    "{} imports Config: only config, the assembly (pipeline) and the command \
                     line may; take the module's own section",
                    path.display()
                );
            }
        }
    }
    edges
}

/// `line` names the `Config` type itself (not `ConfigError`).
fn names_config(line: &str) -> bool {
    ["crate::config::Config", "crate::Config"]
        .iter()
        .any(|pat| {
            line.match_indices(pat).any(|(at, _)| {
                !line[at + pat.len()..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        })
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A module on a cycle, with the cycle, if there is one.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        if let Some(c) = visit(m, edges, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn modules_import_without_circles_and_config_stays_at_the_top() {
    let edges = imports();
    assert!(edges.len() > 10, "{edges:?}");
    // The reader sees the edges that exist (the assistant drafts, the server drives turns).
    assert!(edges["assistant"].contains("answer"), "{edges:?}");
    assert!(edges["server"].contains("assistant"), "{edges:?}");
    assert!(edges["config"].contains("server"), "{edges:?}");
    if let Some(cycle) = find_cycle(&edges) {
        panic!("import circle: {}", cycle.join(" -> "));
    }
    // And the check finds one when there is one.
    let mut with_cycle = edges.clone();
    with_cycle
        .entry("knowledge".into())
        .or_default()
        .insert("assistant".into());
    assert!(find_cycle(&with_cycle).is_some());
}
