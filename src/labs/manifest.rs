//! What a lab.toml holds, and when it is valid: the manifest's types, as
//! serde reads them, and every check made when a lab loads (names Docker
//! would refuse, paths outside the lab folder, files not listed, checks
//! missing a field).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path};

use anyhow::{bail, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use super::check_spec::CheckSpec;
use super::{HANDOUT_EN, HANDOUT_KO, MANIFEST};
use crate::files::FileMode;
use crate::locate::{describe_toml_error, position, KeyPath};
use crate::names::{hostname_problem, image_problem, object_name_problem};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub title: String,
    pub title_ko: String,
    /// Directory name under `labs.root` on the node.
    pub dir: String,
    /// Seeded files, relative to the lab folder.
    pub files: Vec<String>,
    /// Seeded files that get mode 0755.
    #[serde(default)]
    pub executable: Vec<String>,
    /// Files in the folder that are never seeded (reference solutions).
    #[serde(default)]
    pub instructor_only: Vec<String>,
    #[serde(default)]
    pub images: Vec<String>,
    /// Standalone services (`docker service create`) the lab makes.
    #[serde(default)]
    pub services: Vec<String>,
    /// Shell commands run on the manager, in the lab directory, after the networks exist.
    #[serde(default)]
    pub setup: Vec<String>,
    #[serde(default)]
    pub networks: Vec<NetworkSpec>,
    #[serde(default)]
    pub stacks: Vec<StackSpec>,
    /// The handout's language (`ko` or `en`): check hints are shown in it.
    #[serde(default = "default_language")]
    pub language: String,
    /// The reference solution: an instructor-only script run by `labctl solve`.
    #[serde(default)]
    pub solve: Option<String>,
    /// What `labctl check` verifies.
    #[serde(default)]
    pub checks: Vec<CheckSpec>,
    /// What replaying the handout's runnable blocks needs (README.md, labs section).
    #[serde(default, skip_serializing_if = "HandoutSpec::is_empty")]
    pub handout: HandoutSpec,
}

/// `[handout]` of lab.toml. A fenced block of a handout opened with
/// `` ```shell runnable `` is a step a student runs on the manager, in order;
/// the end-to-end suite runs them all as written, like doctests.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HandoutSpec {
    /// Text a student replaces in a runnable block (`"<stack name>" =
    /// "my-web"`), in either language, and what the replay puts there.
    #[serde(default)]
    pub placeholders: BTreeMap<String, String>,
    /// Files the student writes in a step that is not runnable (seeded
    /// file → the instructor-only file the replay puts there first).
    #[serde(default)]
    pub written: BTreeMap<String, String>,
}

impl HandoutSpec {
    fn is_empty(&self) -> bool {
        self.placeholders.is_empty() && self.written.is_empty()
    }
}

fn default_language() -> String {
    "ko".into()
}

/// The language of a handout, and of the check hints shown with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Language {
    #[default]
    Ko,
    En,
}

impl Language {
    /// The language lab.toml writes as `ko` or `en`.
    pub fn from_code(code: &str) -> Option<Language> {
        match code {
            "ko" => Some(Language::Ko),
            "en" => Some(Language::En),
            _ => None,
        }
    }
}

impl Manifest {
    /// The mode the lab file `path` is seeded with: executable when the
    /// manifest lists it under `executable`.
    pub fn file_mode(&self, path: &str) -> FileMode {
        FileMode::executable_if(self.executable.iter().any(|executable| executable == path))
    }

    /// The handout's language, `language` as typed (it was checked when
    /// the manifest loaded).
    pub fn handout_language(&self) -> Language {
        Language::from_code(&self.language).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub name: String,
    #[serde(default = "default_driver")]
    pub driver: String,
    #[serde(default = "default_true")]
    pub attachable: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StackSpec {
    pub name: String,
    pub file: String,
    pub services: Vec<String>,
    /// Other names students deploy the same file under (the original
    /// handout's, say): `labctl reset` removes those stacks too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl StackSpec {
    /// The stack's name, then its aliases.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.name).chain(&self.aliases)
    }
}

fn default_driver() -> String {
    "overlay".into()
}

fn default_true() -> bool {
    true
}

/// Parse a manifest and check it against the files actually in its folder.
pub(super) fn parse(file: &str, text: &str, present: &[String]) -> Result<Manifest> {
    let manifest: Manifest =
        toml::from_str(text).map_err(|error| anyhow::anyhow!(describe_toml_error(Path::new(file), text, &error)))?;
    let problems = manifest_problems(&manifest, present);
    if problems.is_empty() {
        return Ok(manifest);
    }
    let lines: Vec<String> = problems
        .into_iter()
        .map(|(key, message)| {
            let key_path = KeyPath::parse(&key);
            match position(text, &key_path) {
                Some((line, column)) => format!("{file}:{line}:{column}: {key_path}: {message}"),
                None => format!("{file}: {key_path}: {message}"),
            }
        })
        .collect();
    bail!(lines.join("\n"))
}

/// (key, message) for each problem of a manifest.
fn manifest_problems(manifest: &Manifest, present: &[String]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let present: BTreeSet<&str> = present.iter().map(String::as_str).collect();
    let fix_name = "use lower-case letters, digits and '-'";
    if let Some(reason) = hostname_problem(&manifest.id) {
        problems.push(("id".into(), format!("{:?} {reason}; {fix_name}", manifest.id)));
    }
    for (index, alias) in manifest.aliases.iter().enumerate() {
        if let Some(reason) = hostname_problem(alias) {
            problems.push((format!("aliases[{index}]"), format!("{alias:?} {reason}; {fix_name}")));
        }
    }
    if manifest.dir.is_empty() || manifest.dir.contains('/') || manifest.dir.starts_with('.') {
        problems.push(("dir".into(), format!("{:?} must be one directory name, such as \"ingress\"", manifest.dir)));
    }

    let lists = [
        ("files", &manifest.files),
        ("executable", &manifest.executable),
        ("instructor_only", &manifest.instructor_only),
    ];
    for (list, entries) in lists {
        for (index, entry) in entries.iter().enumerate() {
            if let Some(problem) = lab_path_problem(entry, &present) {
                problems.push((format!("{list}[{index}]"), problem));
            }
        }
    }
    for (index, entry) in manifest.executable.iter().enumerate() {
        if !manifest.files.contains(entry) {
            problems.push((format!("executable[{index}]"), format!("{entry:?} is not in `files`; add it there too")));
        }
    }
    for (index, stack) in manifest.stacks.iter().enumerate() {
        if let Some(problem) = lab_path_problem(&stack.file, &present) {
            problems.push((format!("stacks[{index}].file"), problem));
        }
    }
    problems.extend(docker_value_problems(manifest));
    for (index, network) in manifest.networks.iter().enumerate() {
        if !["overlay", "bridge"].contains(&network.driver.as_str()) {
            problems.push((
                format!("networks[{index}].driver"),
                format!("{:?} is not supported; use \"overlay\"", network.driver),
            ));
        }
    }

    if let Some(solve) = &manifest.solve {
        if !manifest.instructor_only.contains(solve) {
            problems.push((
                "solve".into(),
                format!("{solve:?} must be listed in `instructor_only` (a solution is never seeded)"),
            ));
        }
    }
    if Language::from_code(&manifest.language).is_none() {
        problems.push((
            "language".into(),
            format!("{:?} is not a handout language; use \"ko\" or \"en\"", manifest.language),
        ));
    }
    problems.extend(placeholder_problems(&manifest.handout));
    for (file, solution) in &manifest.handout.written {
        if !manifest.files.contains(file) || !manifest.instructor_only.contains(solution) {
            problems.push((
                format!("handout.written.{file}"),
                format!("{file:?} must be in `files` and {solution:?} in `instructor_only`"),
            ));
        }
    }

    let listed: BTreeSet<&str> = manifest.files.iter().chain(&manifest.instructor_only).map(String::as_str).collect();
    for required in [HANDOUT_KO, HANDOUT_EN] {
        if !present.contains(required) {
            problems.push(("id".into(), format!("the lab folder has no {required}; every lab ships a handout in Korean (README.md) and English (README.en.md)")));
        }
    }
    for file in &present {
        let known = listed.contains(file) || [MANIFEST, HANDOUT_KO, HANDOUT_EN].contains(file);
        if !known {
            problems.push((
                "files".into(),
                format!(
                    "{file:?} is in the lab folder but not listed; add it to `files` (seeded) or `instructor_only`"
                ),
            ));
        }
    }
    problems
}

/// (key, message) for each image, network, stack, service or node name
/// that Docker would refuse, or read as an option: they end up as
/// arguments of `docker` on this host and on the nodes.
fn docker_value_problems(manifest: &Manifest) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (index, image) in manifest.images.iter().enumerate() {
        if let Some(reason) = image_problem(image) {
            problems.push((format!("images[{index}]"), format!("{image:?} is not an image reference: it {reason}")));
        }
    }
    let mut names: Vec<(String, &str)> = Vec::new();
    names.extend(
        manifest
            .networks
            .iter()
            .enumerate()
            .map(|(index, network)| (format!("networks[{index}].name"), network.name.as_str())),
    );
    names.extend(
        manifest.services.iter().enumerate().map(|(index, service)| (format!("services[{index}]"), service.as_str())),
    );
    for (index, stack) in manifest.stacks.iter().enumerate() {
        names.push((format!("stacks[{index}].name"), stack.name.as_str()));
        names.extend(
            stack
                .aliases
                .iter()
                .enumerate()
                .map(|(inner, alias)| (format!("stacks[{index}].aliases[{inner}]"), alias.as_str())),
        );
        names.extend(
            stack
                .services
                .iter()
                .enumerate()
                .map(|(inner, service)| (format!("stacks[{index}].services[{inner}]"), service.as_str())),
        );
    }
    for (index, spec) in manifest.checks.iter().enumerate() {
        names.extend(spec.check.services().into_iter().map(|service| (format!("checks[{index}].service"), service)));
        names.extend(spec.check.network().map(|network| (format!("checks[{index}].network"), network)));
    }
    for (key, name) in names {
        if let Some(reason) = object_name_problem(name) {
            problems.push((key, format!("{name:?} is not a Docker name: it {reason}; e.g. \"ch03\"")));
        }
    }
    for (index, spec) in manifest.checks.iter().enumerate() {
        let Some(node) = spec.check.node() else { continue };
        if let Some(reason) = hostname_problem(node) {
            problems.push((
                format!("checks[{index}].node"),
                format!("{node:?} is not a node name: it {reason}; e.g. \"node1\""),
            ));
        }
    }
    problems
}

/// (key, message) for each `[handout.placeholders]` entry the replay could
/// not use: a key must look like what a student replaces (`<stack name>`),
/// a value must be one line of text to put there.
fn placeholder_problems(handout: &HandoutSpec) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (placeholder, value) in &handout.placeholders {
        let key = format!("handout.placeholders.{placeholder}");
        let inner = placeholder.strip_prefix('<').and_then(|rest| rest.strip_suffix('>'));
        let well_formed = inner
            .is_some_and(|inner| !inner.trim().is_empty() && !inner.contains(['<', '>', '.', '[', ']', '\n', '`']));
        if !well_formed {
            problems.push((
                key,
                format!("{placeholder:?} is not a placeholder; write it as the handout does, in angle brackets, such as \"<stack name>\""),
            ));
        } else if value.trim().is_empty() || value.contains(['\n', '\r', '`']) {
            problems.push((
                key,
                format!("{value:?} cannot replace {placeholder}; give one line of text, such as \"my-web\""),
            ));
        }
    }
    problems
}

/// Why a manifest path cannot be used, or `None`.
fn lab_path_problem(entry: &str, present: &BTreeSet<&str>) -> Option<String> {
    let path = Path::new(entry);
    let escapes = path.is_absolute()
        || path
            .components()
            .any(|part| matches!(part, Component::ParentDir | Component::RootDir | Component::Prefix(_)));
    if escapes {
        Some(format!("{entry:?} escapes the lab folder; use a path inside it, such as \"simple-web/Dockerfile\""))
    } else if !present.contains(entry) {
        Some(format!("{entry:?} does not exist in the lab folder; add the file or fix the name"))
    } else {
        None
    }
}
