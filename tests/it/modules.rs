//! The module layout, read from the sources: every `crate::<module>` a file
//! under src/ names (in a `use` line or a path in code) is an import of that
//! top-level module by the file's own. Data flows one way, so these imports
//! have no cycle, and lab data (`labs`) and settings (`config`) never reach
//! the code that runs things on nodes. Inside a module too: no file imports
//! another that imports it back (`provider::docker` ↔ `provider::cache`),
//! counting `crate::…` and `super::…` paths; a file may use what its
//! ancestors (the modules it lives in) define.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::support::files_under;

/// Top-level module -> the top-level modules its files import.
type Imports = BTreeMap<String, BTreeSet<String>>;

/// What a module must never reach, directly or through others.
const NEVER_REACHES: &[(&str, &[&str])] = &[
    ("labs", &["lifecycle", "config", "provider", "swarm", "cluster", "exec"]),
    ("config", &["lifecycle", "provider", "swarm", "cluster"]),
];

#[test]
fn no_import_cycle_between_top_level_modules() {
    let imports = crate_imports();
    let cycles = cycles(&imports);
    assert!(cycles.is_empty(), "import cycles between modules of src/:\n{}", cycles.join("\n"));
}

#[test]
fn no_import_cycle_between_files() {
    let imports = file_imports();
    let cycles = cycles(&imports);
    assert!(cycles.is_empty(), "import cycles between files of src/:\n{}", cycles.join("\n"));
}

#[test]
fn a_files_imports_are_resolved_to_the_files_they_name() {
    let modules: BTreeSet<String> =
        ["provider", "provider::cache", "provider::docker", "config"].into_iter().map(String::from).collect();
    let text = "use super::docker::network_name;\nuse super::{NodeShell, cache};\n\
                use crate::config::{Cluster, Engine};\nlet x = crate::provider::docker::X;\n";
    let found: Vec<String> = files_named(text, "provider::cache", &modules).into_iter().collect();
    // `provider` (its own parent) is no import; itself neither.
    assert_eq!(found, ["config", "provider::docker"]);
}

#[test]
fn lab_data_and_config_never_reach_what_runs() {
    let imports = crate_imports();
    let mut problems = Vec::new();
    for (module, forbidden) in NEVER_REACHES {
        for target in *forbidden {
            if let Some(path) = path_between(&imports, module, target) {
                problems.push(path.join(" → "));
            }
        }
    }
    assert!(problems.is_empty(), "modules reaching what they must not:\n{}", problems.join("\n"));
}

#[test]
fn imports_are_read_from_use_lines_groups_and_paths() {
    let text = "use crate::config::Settings;\nuse crate::{images, registry::{self, Registry}};\n\
                // crate::ui in a comment\nlet home = crate::exec::env_var(\"HOME\");\n";
    let found: Vec<String> = modules_named(text).into_iter().collect();
    assert_eq!(found, ["config", "exec", "images", "registry"]);
}

#[test]
fn a_cycle_is_named_module_by_module() {
    let imports: Imports = [("config", "labs"), ("labs", "check"), ("check", "config"), ("cli", "config")]
        .into_iter()
        .fold(Imports::new(), |mut imports, (from, to)| {
            imports.entry(from.into()).or_default().insert(to.into());
            imports
        });
    assert_eq!(cycles(&imports), ["check → config → labs → check"]);
}

/// The imports of every file under src/, by top-level module.
fn crate_imports() -> Imports {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut imports = Imports::new();
    let mut pending = vec![src.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap();
            let Some(module) = module_of(relative) else { continue };
            let text = std::fs::read_to_string(&path).unwrap();
            let mut named = modules_named(&text);
            named.remove(&module);
            imports.entry(module).or_default().extend(named);
        }
    }
    imports
}

/// The imports of every file under src/, by the file's module path
/// (`provider/cache.rs`: `provider::cache`; `provider/mod.rs`: `provider`),
/// leaving out a file's own ancestors.
fn file_imports() -> Imports {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: Vec<(String, String)> = files_under(&src)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|extension| extension == "rs"))
        .filter_map(|path| {
            let module = file_module(path.strip_prefix(&src).unwrap())?;
            Some((module, std::fs::read_to_string(&path).unwrap()))
        })
        .collect();
    let modules: BTreeSet<String> = files.iter().map(|(module, _)| module.clone()).collect();
    files.iter().map(|(module, text)| (module.clone(), files_named(text, module, &modules))).collect()
}

/// `provider/cache.rs` → `provider::cache`, `provider/mod.rs` → `provider`;
/// lib.rs and main.rs are the crate itself.
fn file_module(relative: &Path) -> Option<String> {
    let mut parts: Vec<String> = relative.with_extension("").iter().map(|part| part.to_string_lossy().into()).collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    let module = parts.join("::");
    (!["lib", "main", ""].contains(&module.as_str())).then_some(module)
}

/// The files (module paths in `modules`) that the file of `module` names
/// through `crate::…` or `super::…`, each path resolved to the longest
/// module it starts with; the file's own ancestors and itself left out.
fn files_named(text: &str, module: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code: Vec<&str> = text.lines().filter(|line| !line.trim_start().starts_with("//")).collect();
    let code = code.join("\n");
    let parent: Vec<&str> = module.split("::").collect();
    let parent = parent[..parent.len() - 1].join("::");
    let mut paths = Vec::new();
    for (prefix, base) in [("crate::", String::new()), ("super::", parent)] {
        for (at, _) in code.match_indices(prefix) {
            // `crate::` inside `$crate::` or `super::` inside `crate::super::` are not starts.
            if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$' || c == ':') {
                continue;
            }
            paths.extend(expand(&code[at + prefix.len()..]).into_iter().map(|path| join(&base, &path)));
        }
    }
    let ancestors: Vec<String> = (1..=module.split("::").count())
        .map(|depth| module.split("::").take(depth).collect::<Vec<_>>().join("::"))
        .collect();
    paths.iter().filter_map(|path| longest_module(path, modules)).filter(|named| !ancestors.contains(named)).collect()
}

fn join(base: &str, path: &str) -> String {
    match base.is_empty() {
        true => path.to_string(),
        false => format!("{base}::{path}"),
    }
}

/// The full paths of one path expression: `a::b::{c, d::{e, self}}` gives
/// `a::b::c`, `a::b::d::e` and `a::b::d`.
fn expand(text: &str) -> Vec<String> {
    let mut head = String::new();
    let mut rest = text.trim_start();
    loop {
        let word: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if let Some(group) = rest.strip_prefix('{') {
            return group_items(group)
                .into_iter()
                .flat_map(|item| expand(item.trim()))
                .map(
                    |tail| {
                        if tail == "self" {
                            head.trim_end_matches("::").to_string()
                        } else {
                            format!("{head}{tail}")
                        }
                    },
                )
                .collect();
        }
        if word.is_empty() {
            return vec![head.trim_end_matches("::").to_string()];
        }
        head.push_str(&word);
        rest = &rest[word.len()..];
        match rest.strip_prefix("::") {
            Some(after) => {
                head.push_str("::");
                rest = after;
            }
            None => return vec![head],
        }
    }
}

/// The longest of `modules` that `path` starts with, if any.
fn longest_module(path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len()).rev().map(|depth| parts[..depth].join("::")).find(|prefix| modules.contains(prefix))
}

/// `labs/check_spec.rs` and `labs.rs` belong to `labs`; lib.rs and main.rs to no module.
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    let module = first.strip_suffix(".rs").unwrap_or(first);
    (!["lib", "main"].contains(&module)).then(|| module.to_string())
}

/// The top-level modules named as `crate::<module>` or inside
/// `crate::{<module>, …}`, comment lines left out.
fn modules_named(text: &str) -> BTreeSet<String> {
    let code: Vec<&str> = text.lines().filter(|line| !line.trim_start().starts_with("//")).collect();
    let code = code.join("\n");
    let mut named = BTreeSet::new();
    for (at, prefix) in code.match_indices("crate::") {
        let rest = &code[at + prefix.len()..];
        match rest.strip_prefix('{') {
            Some(group) => named.extend(group_items(group).into_iter().filter_map(first_word)),
            None => named.extend(first_word(rest)),
        }
    }
    named
}

/// The items of a `use` group, given the text after its `{`: for
/// `images, registry::{self, Registry}};` they are `images` and `registry::{…}`.
fn group_items(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            ',' | '}' if depth == 0 => {
                items.push(&group[start..at]);
                if c == '}' {
                    break;
                }
                start = at + 1;
            }
            _ => {}
        }
    }
    items
}

fn first_word(text: &str) -> Option<String> {
    let word: String = text.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!word.is_empty()).then_some(word)
}

/// Every cycle, as `a → b → a`, each named once, from its first module.
fn cycles(imports: &Imports) -> Vec<String> {
    let mut found = BTreeSet::new();
    for (start, imported) in imports {
        for next in imported {
            // The chain runs next → … → start: with start → next, a cycle.
            let Some(mut ring) = path_between(imports, next, start) else { continue };
            let first = ring.iter().enumerate().min_by_key(|(_, module)| *module).map(|(at, _)| at).unwrap();
            ring.rotate_left(first);
            ring.push(ring[0].clone());
            found.insert(ring.join(" → "));
        }
    }
    found.into_iter().collect()
}

/// The shortest chain of imports from `from` to `to` (both included).
fn path_between(imports: &Imports, from: &str, to: &str) -> Option<Vec<String>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut frontier = vec![from];
    while !frontier.is_empty() {
        let mut next_frontier = Vec::new();
        for module in frontier {
            if module == to {
                let mut path = vec![to.to_string()];
                let mut at = to;
                while at != from {
                    at = came_from[at];
                    path.push(at.to_string());
                }
                path.reverse();
                return Some(path);
            }
            for next in imports.get(module).into_iter().flatten() {
                if next != from && !came_from.contains_key(next.as_str()) {
                    came_from.insert(next, module);
                    next_frontier.push(next.as_str());
                }
            }
        }
        frontier = next_frontier;
    }
    None
}
