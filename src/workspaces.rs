//! The workspaces this user has brought clusters up from, so that `labctl
//! list` finds Vagrant clusters (their VMs carry no labels to search for) and
//! `destroy --name` can act from anywhere. One JSON file in the user's data
//! folder: `$LABCTL_DATA_DIR`, else `$XDG_DATA_HOME/labctl`, else
//! `~/.local/share/labctl`. It names folders only; no secret is in it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::exec::env_var;
use crate::files::write_file;

const FILE: &str = "workspaces.json";

/// A workspace a cluster was brought up from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    pub workspace: PathBuf,
    /// `cluster.name` (a class's seats are `<name>-s01`, …).
    pub cluster: String,
    /// The provider of its last `up`.
    pub provider: String,
    pub seats: u32,
}

/// The data folder, or `None` when neither it nor a home is known.
fn data_dir() -> Option<PathBuf> {
    if let Some(dir) = env_var("LABCTL_DATA_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = env_var("XDG_DATA_HOME").filter(|dir| dir.starts_with('/')) {
        return Some(PathBuf::from(dir).join("labctl"));
    }
    env_var("HOME").map(|home| PathBuf::from(home).join(".local/share/labctl"))
}

/// Every workspace remembered, the most recent last; none when the file is
/// missing or unreadable (it is a convenience, never a reason to fail).
pub fn known() -> Vec<Known> {
    data_dir().map(|dir| known_in(&dir)).unwrap_or_default()
}

fn known_in(dir: &Path) -> Vec<Known> {
    std::fs::read_to_string(dir.join(FILE)).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default()
}

/// Remember (or refresh) `entry`, replacing what was known of its workspace.
pub fn remember(entry: Known) -> Result<()> {
    data_dir().map_or(Ok(()), |dir| remember_in(&dir, entry))
}

fn remember_in(dir: &Path, entry: Known) -> Result<()> {
    update(dir, |entries| {
        entries.retain(|known| known.workspace != entry.workspace);
        entries.push(entry);
    })
}

/// Forget `workspace` (its clusters were destroyed).
pub fn forget(workspace: &Path) -> Result<()> {
    data_dir().map_or(Ok(()), |dir| forget_in(&dir, workspace))
}

fn forget_in(dir: &Path, workspace: &Path) -> Result<()> {
    update(dir, |entries| entries.retain(|known| known.workspace != workspace))
}

fn update(dir: &Path, change: impl FnOnce(&mut Vec<Known>)) -> Result<()> {
    let mut entries = known_in(dir);
    change(&mut entries);
    let text = serde_json::to_string_pretty(&entries)? + "\n";
    write_file(&dir.join(FILE), text.as_bytes())
        .with_context(|| format!("cannot remember workspaces in {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(workspace: &str, cluster: &str) -> Known {
        Known { workspace: PathBuf::from(workspace), cluster: cluster.into(), provider: "vagrant".into(), seats: 1 }
    }

    #[test]
    fn workspaces_are_remembered_once_each_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        assert_eq!(known_in(dir), Vec::new());
        remember_in(dir, entry("/srv/a", "a")).unwrap();
        remember_in(dir, entry("/srv/b", "b")).unwrap();
        remember_in(dir, entry("/srv/a", "renamed")).unwrap();
        assert_eq!(known_in(dir), vec![entry("/srv/b", "b"), entry("/srv/a", "renamed")]);
        forget_in(dir, Path::new("/srv/b")).unwrap();
        assert_eq!(known_in(dir), vec![entry("/srv/a", "renamed")]);
        std::fs::write(dir.join(FILE), "not json").unwrap();
        assert_eq!(known_in(dir), Vec::new(), "a damaged file is no reason to fail");
    }
}
