//! The lab catalog: labs are data (a folder with `lab.toml`, files and
//! handouts), built into the binary and extendable from the workspace's
//! `labs/` folder without any Rust change. This module and its children
//! only read and validate labs; what acts on a cluster for them is in
//! [`crate::lifecycle`], which this module never imports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use include_dir::{include_dir, Dir};

use crate::locate::{position, KeyPath};
use crate::names::closest;

use manifest::{Language, Manifest};

pub mod check_spec;
pub mod manifest;

static BUILT_IN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/labs");

pub const MANIFEST: &str = "lab.toml";
/// Handouts: Korean (the class's language) and English. Never seeded.
pub const HANDOUT_KO: &str = "README.md";
pub const HANDOUT_EN: &str = "README.en.md";

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

    pub fn handout(&self, language: Language) -> Result<String> {
        let bytes = self.read(match language {
            Language::Ko => HANDOUT_KO,
            Language::En => HANDOUT_EN,
        })?;
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
    let manifest = manifest::parse(&format!("labs/{}/{MANIFEST}", dir.path().display()), text, &present)?;
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
        let manifest = manifest::parse(&manifest_path.display().to_string(), &text, &present)?;
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

#[cfg(test)]
mod tests;
