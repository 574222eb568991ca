//! The lab catalog: labs are data (a folder with `lab.toml`, files and
//! handouts), built into the binary and extendable from the workspace's
//! `labs/` folder without any Rust change.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};
use include_dir::{include_dir, Dir};
use serde::{Deserialize, Serialize};

use crate::files::FileMode;
use crate::locate::{describe_toml_error, position, KeyPath};
use crate::names::{closest, hostname_problem, image_problem, object_name_problem};

pub mod check;
pub mod mesh;
pub mod reset;
pub mod seed;
pub mod solve;

static BUILT_IN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/labs");

pub const MANIFEST: &str = "lab.toml";
/// Handouts: Korean (the class's language) and English. Never seeded.
pub const HANDOUT_KO: &str = "README.md";
pub const HANDOUT_EN: &str = "README.en.md";

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

impl Manifest {
    /// The mode the lab file `path` is seeded with: executable when the
    /// manifest lists it under `executable`.
    pub fn file_mode(&self, path: &str) -> FileMode {
        FileMode::executable_if(self.executable.iter().any(|executable| executable == path))
    }
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
}

impl HandoutSpec {
    fn is_empty(&self) -> bool {
        self.placeholders.is_empty()
    }
}

fn default_language() -> String {
    "ko".into()
}

/// One check of a lab as written in lab.toml: `kind` says which of the
/// other fields it uses (see [`check::Check::from_spec`]).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub kind: String,
    pub name: String,
    pub hint_ko: String,
    pub hint_en: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    #[serde(default)]
    pub ingress: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// `published_ports`: `["8088:80"]`, or `[]` for a service that must publish none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<String>>,
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

/// Where a lab's files live.
#[derive(Debug, Clone)]
pub enum LabSource {
    BuiltIn(&'static Dir<'static>),
    Workspace(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Lab {
    pub manifest: Manifest,
    pub source: LabSource,
}

impl Lab {
    /// Contents of a file of the lab folder, by its path relative to the folder.
    pub fn read(&self, relative: &str) -> Result<Vec<u8>> {
        match &self.source {
            LabSource::BuiltIn(dir) => dir
                .get_file(dir.path().join(relative))
                .map(|file| file.contents().to_vec())
                .with_context(|| format!("built-in lab {} has no file {relative}", self.manifest.id)),
            LabSource::Workspace(dir) => {
                let path = dir.join(relative);
                std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
            }
        }
    }

    pub fn handout(&self, english: bool) -> Result<String> {
        let bytes = self.read(if english { HANDOUT_EN } else { HANDOUT_KO })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// `<lab.toml>:<line>:<column>: <key>: ` for a key of the manifest, so
    /// that problems found when the lab is used name the line, like the
    /// ones found when it is loaded. A built-in lab is named by the path a
    /// workspace folder replacing it would have.
    pub fn locate(&self, key: &str) -> String {
        let file = match &self.source {
            LabSource::BuiltIn(dir) => format!("labs/{}/{MANIFEST}", dir.path().display()),
            LabSource::Workspace(dir) => dir.join(MANIFEST).display().to_string(),
        };
        let key_path = KeyPath::parse(key);
        let text = self.read(MANIFEST).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default();
        match position(&text, &key_path) {
            Some((line, column)) => format!("{file}:{line}:{column}: {key_path}: "),
            None => format!("{file}: {key_path}: "),
        }
    }

    pub fn source_label(&self) -> String {
        match &self.source {
            LabSource::BuiltIn(_) => "built-in".into(),
            LabSource::Workspace(dir) => dir.display().to_string(),
        }
    }

    /// Every name the lab answers to.
    fn names(&self) -> impl Iterator<Item = &str> {
        let manifest = &self.manifest;
        std::iter::once(manifest.id.as_str())
            .chain(manifest.aliases.iter().map(String::as_str))
            .chain(std::iter::once(manifest.dir.as_str()))
    }
}

#[derive(Debug, Clone)]
pub struct Catalog {
    labs: Vec<Lab>,
}

impl Catalog {
    /// The built-in labs, with `<workspace>/labs/<id>/` folders added or
    /// replacing the built-in lab of the same id.
    pub fn load(workspace: &Path) -> Result<Catalog> {
        let mut labs: BTreeMap<String, Lab> = BTreeMap::new();
        for dir in BUILT_IN.dirs() {
            let lab = load_built_in(dir)?;
            labs.insert(lab.manifest.id.clone(), lab);
        }
        let folder = workspace.join("labs");
        if folder.is_dir() {
            for lab in load_workspace(&folder)? {
                labs.insert(lab.manifest.id.clone(), lab);
            }
        }
        let catalog = Catalog { labs: labs.into_values().collect() };
        catalog.check_names_are_unique()?;
        Ok(catalog)
    }

    pub fn labs(&self) -> &[Lab] {
        &self.labs
    }

    /// Find a lab by id, alias or directory name (as on the node: `db` or
    /// `/root/work/db`). The error names every lab and suggests the closest.
    pub fn resolve(&self, name: &str) -> Result<&Lab, String> {
        let wanted = name.trim().trim_end_matches('/').to_ascii_lowercase();
        let wanted = wanted.rsplit('/').next().unwrap_or_default();
        if let Some(lab) = self.labs.iter().find(|lab| lab.names().any(|known| known == wanted)) {
            return Ok(lab);
        }
        let mut message = format!("{name:?} is not a lab");
        if let Some(suggestion) = closest(wanted, self.labs.iter().flat_map(Lab::names)) {
            message.push_str(&format!("; did you mean {suggestion:?}?"));
        }
        message.push_str(&format!(" Labs: {}", self.summary()));
        Err(message)
    }

    /// `lab1 (ingress), lab2 (work3), …`
    fn summary(&self) -> String {
        let parts: Vec<String> =
            self.labs.iter().map(|lab| format!("{} ({})", lab.manifest.id, lab.manifest.dir)).collect();
        parts.join(", ")
    }

    fn check_names_are_unique(&self) -> Result<()> {
        let mut owners: BTreeMap<&str, &str> = BTreeMap::new();
        for lab in &self.labs {
            let own: BTreeSet<&str> = lab.names().collect();
            for name in own {
                if let Some(other) = owners.insert(name, &lab.manifest.id) {
                    bail!(
                        "labs {other} and {} both answer to {name:?} (as id, alias or dir); rename one in its {MANIFEST}",
                        lab.manifest.id
                    );
                }
            }
        }
        Ok(())
    }
}

fn load_built_in(dir: &'static Dir<'static>) -> Result<Lab> {
    let label = format!("labs/{} (built-in)", dir.path().display());
    let text = dir
        .get_file(dir.path().join(MANIFEST))
        .and_then(|file| file.contents_utf8())
        .with_context(|| format!("{label}: no readable {MANIFEST}"))?;
    let mut present = Vec::new();
    collect_built_in_files(dir, dir.path(), &mut present);
    let manifest = parse_manifest(&format!("labs/{}/{MANIFEST}", dir.path().display()), text, &present)?;
    Ok(Lab { manifest, source: LabSource::BuiltIn(dir) })
}

fn collect_built_in_files(dir: &Dir, root: &Path, out: &mut Vec<String>) {
    for file in dir.files() {
        if let Ok(relative) = file.path().strip_prefix(root) {
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    for sub in dir.dirs() {
        collect_built_in_files(sub, root, out);
    }
}

fn load_workspace(folder: &Path) -> Result<Vec<Lab>> {
    let mut labs = Vec::new();
    let entries = std::fs::read_dir(folder).with_context(|| format!("cannot read {}", folder.display()))?;
    for entry in entries {
        let path = entry?.path();
        let hidden = path.file_name().is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if !path.is_dir() || hidden {
            continue;
        }
        // Files first: a link (even lab.toml) is refused before anything is read through it.
        let mut present = Vec::new();
        collect_disk_files(&path, &path, &mut present)?;
        let manifest_path = path.join(MANIFEST);
        let text = std::fs::read_to_string(&manifest_path).with_context(|| {
            format!(
                "{}: cannot read it; every folder under {} is a lab and needs a {MANIFEST}",
                manifest_path.display(),
                folder.display()
            )
        })?;
        let manifest = parse_manifest(&manifest_path.display().to_string(), &text, &present)?;
        labs.push(Lab { manifest, source: LabSource::Workspace(path) });
    }
    Ok(labs)
}

/// Every file of a workspace lab folder, relative to it. A symbolic link
/// anywhere in it is an error: the files are copied to the nodes, and a
/// link (`notes.txt -> ~/.ssh/id_rsa`) would copy whatever it points at.
fn collect_disk_files(dir: &Path, root: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type().with_context(|| format!("cannot read {}", path.display()))?;
        if kind.is_symlink() {
            let target = std::fs::read_link(&path).map(|target| target.display().to_string()).unwrap_or_default();
            bail!(
                "{} is a symbolic link (to {target}) in lab folder {}; a lab folder may hold only real files and folders, since they are copied to the nodes: replace the link with a copy of what it points at",
                path.display(),
                root.display()
            );
        }
        if kind.is_dir() {
            collect_disk_files(&path, root, out)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            out.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

/// Parse a manifest and check it against the files actually in its folder.
fn parse_manifest(file: &str, text: &str, present: &[String]) -> Result<Manifest> {
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
    if !["ko", "en"].contains(&manifest.language.as_str()) {
        problems.push((
            "language".into(),
            format!("{:?} is not a handout language; use \"ko\" or \"en\"", manifest.language),
        ));
    }
    problems.extend(placeholder_problems(&manifest.handout));
    for (index, spec) in manifest.checks.iter().enumerate() {
        if let Err(problem) = check::Check::from_spec(spec) {
            problems.push((format!("checks[{index}]"), problem));
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
    for (index, check) in manifest.checks.iter().enumerate() {
        names.extend(check.service.as_deref().map(|service| (format!("checks[{index}].service"), service)));
        names.extend(check.network.as_deref().map(|network| (format!("checks[{index}].network"), network)));
    }
    for (key, name) in names {
        if let Some(reason) = object_name_problem(name) {
            problems.push((key, format!("{name:?} is not a Docker name: it {reason}; e.g. \"ch03\"")));
        }
    }
    for (index, check) in manifest.checks.iter().enumerate() {
        let Some(node) = check.node.as_deref() else { continue };
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

#[cfg(test)]
mod shipped_checks;
#[cfg(test)]
mod tests;
