//! Writing files without ever losing what a user wrote: anything that would
//! be replaced and was not written by labctl is kept as a `.bak` first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// The modes labctl gives the files it writes, on this host and on nodes: a
/// script that runs, a plain file, or (on this host) a file only its owner
/// may read: a seat's credentials and handout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    Plain,
    Executable,
    Private,
}

impl FileMode {
    pub fn executable_if(executable: bool) -> FileMode {
        if executable {
            FileMode::Executable
        } else {
            FileMode::Plain
        }
    }

    /// The permission bits: 0755, 0644 or 0600.
    pub fn bits(self) -> u32 {
        match self {
            FileMode::Executable => 0o755,
            FileMode::Plain => 0o644,
            FileMode::Private => 0o600,
        }
    }

    /// As `chmod` takes it and the seeded manifests record it: `0755`, `0644`.
    pub fn octal(self) -> String {
        format!("{:04o}", self.bits())
    }
}

/// A generated file, relative to the folder it goes into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    pub path: PathBuf,
    pub content: String,
    pub executable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    /// The file had been edited by hand; the edit is kept at this path.
    BackedUp(PathBuf),
}

/// Records the checksum of every file labctl wrote into a folder, so a later
/// write can tell its own output from a user's edit.
const LEDGER: &str = ".labctl-generated.json";

pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// What [`write_generated`] would do to each of `files` in `folder`, without
/// writing anything (a `BackedUp` names the backup it would make).
pub fn planned_outcomes(folder: &Path, files: &[GeneratedFile]) -> Vec<(PathBuf, Outcome)> {
    let ledger = read_ledger(folder);
    files.iter().map(|file| (file.path.clone(), outcome_of(folder, file, &ledger))).collect()
}

/// Write `files` into `folder`. A file whose current content is neither the
/// new content nor what labctl last wrote there is backed up first.
pub fn write_generated(folder: &Path, files: &[GeneratedFile]) -> Result<Vec<(PathBuf, Outcome)>> {
    std::fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let mut ledger = read_ledger(folder);
    let mut outcomes = Vec::new();
    for file in files {
        let target = folder.join(&file.path);
        let outcome = match outcome_of(folder, file, &ledger) {
            Outcome::BackedUp(_) => Outcome::BackedUp(back_up(&target)?),
            outcome => outcome,
        };
        if outcome != Outcome::Unchanged {
            write_file(&target, file.content.as_bytes())?;
        }
        set_mode(&target, FileMode::executable_if(file.executable))?;
        ledger.insert(ledger_key(file), sha256_hex(file.content.as_bytes()));
        outcomes.push((file.path.clone(), outcome));
    }
    let ledger_text = serde_json::to_string_pretty(&ledger).expect("a map of strings serialises");
    write_file(&folder.join(LEDGER), ledger_text.as_bytes())?;
    Ok(outcomes)
}

fn read_ledger(folder: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(folder.join(LEDGER))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn ledger_key(file: &GeneratedFile) -> String {
    file.path.to_string_lossy().replace('\\', "/")
}

/// What writing `file` into `folder` takes, as things are now.
fn outcome_of(folder: &Path, file: &GeneratedFile, ledger: &BTreeMap<String, String>) -> Outcome {
    let target = folder.join(&file.path);
    match std::fs::read(&target) {
        Err(_) => Outcome::Created,
        Ok(current) if current == file.content.as_bytes() => Outcome::Unchanged,
        Ok(current) if ledger.get(&ledger_key(file)) == Some(&sha256_hex(&current)) => Outcome::Updated,
        Ok(_) => Outcome::BackedUp(free_backup_path(&target)),
    }
}

/// Copy `path` to the first free `path.bak`, `path.bak.1`, … and return it.
pub fn back_up(path: &Path) -> Result<PathBuf> {
    let backup = free_backup_path(path);
    std::fs::copy(path, &backup)
        .with_context(|| format!("cannot back up {} to {}", path.display(), backup.display()))?;
    Ok(backup)
}

fn free_backup_path(path: &Path) -> PathBuf {
    let base = format!("{}.bak", path.display());
    std::iter::once(PathBuf::from(&base))
        .chain((1..).map(|n| PathBuf::from(format!("{base}.{n}"))))
        .find(|candidate| !candidate.exists())
        .expect("an unbounded sequence has a free name")
}

/// Write through a temporary file and rename, so an interrupted write never
/// leaves half a file behind.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let temporary = PathBuf::from(format!("{}.labctl-tmp", path.display()));
    std::fs::write(&temporary, bytes).with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Create `dir` (and its parents) readable only by its owner (0700), and
/// take every other user's access away when it exists already.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set the mode of {}", dir.display()))
}

/// Write `bytes` to `path` as [`FileMode::Private`] (0600) from the first
/// byte on: the temporary file is created with that mode, then renamed.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = PathBuf::from(format!("{}.labctl-tmp", path.display()));
    // A temporary file left by an interrupted write may have another mode.
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FileMode::Private.bits())
        .open(&temporary)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(bytes).with_context(|| format!("cannot write {}", temporary.display()))?;
    drop(file);
    std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))?;
    set_mode(path, FileMode::Private)
}

/// Make `path` readable by its owner only (0600).
pub fn make_private(path: &Path) -> Result<()> {
    set_mode(path, FileMode::Private)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: FileMode) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode.bits()))
        .with_context(|| format!("cannot set the mode of {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: FileMode) -> Result<()> {
    Ok(())
}

/// One file of an archive for a node: path inside it, content, mode.
pub struct ArchiveEntry {
    pub path: String,
    pub content: Vec<u8>,
    pub mode: FileMode,
}

/// A tar of `entries`, owned by root and dated now, to extract on a node.
pub fn tar_archive(entries: &[ArchiveEntry]) -> Result<Vec<u8>> {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|since| since.as_secs()).unwrap_or(0);
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(entry.content.len() as u64);
        header.set_mode(entry.mode.bits());
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(now);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, &entry.path, entry.content.as_slice())
            .with_context(|| format!("cannot add {} to the archive", entry.path))?;
    }
    builder.into_inner().context("cannot build the archive")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(content: &str) -> Vec<GeneratedFile> {
        vec![GeneratedFile { path: "sub/out.sh".into(), content: content.into(), executable: true }]
    }

    #[test]
    fn rewrites_own_output_but_backs_up_hand_edits() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/out.sh");
        assert_eq!(planned_outcomes(dir.path(), &generated("v1"))[0].1, Outcome::Created);
        assert!(!dir.path().join("sub").exists(), "planning writes nothing");
        assert_eq!(write_generated(dir.path(), &generated("v1")).unwrap()[0].1, Outcome::Created);
        assert_eq!(write_generated(dir.path(), &generated("v1")).unwrap()[0].1, Outcome::Unchanged);
        assert_eq!(write_generated(dir.path(), &generated("v2")).unwrap()[0].1, Outcome::Updated);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "v2");

        std::fs::write(&target, "edited by hand").unwrap();
        let backup = dir.path().join("sub/out.sh.bak");
        let planned = planned_outcomes(dir.path(), &generated("v3"));
        assert_eq!(planned, vec![("sub/out.sh".into(), Outcome::BackedUp(backup.clone()))]);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "edited by hand", "planning writes nothing");
        assert!(!backup.exists());
        let outcome = write_generated(dir.path(), &generated("v3")).unwrap()[0].1.clone();
        assert_eq!(outcome, Outcome::BackedUp(backup.clone()));
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), "edited by hand");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "v3");
    }

    #[test]
    fn backups_never_overwrite_older_backups() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("labctl.toml");
        for content in ["first", "second"] {
            std::fs::write(&file, content).unwrap();
            back_up(&file).unwrap();
        }
        assert_eq!(std::fs::read_to_string(dir.path().join("labctl.toml.bak")).unwrap(), "first");
        assert_eq!(std::fs::read_to_string(dir.path().join("labctl.toml.bak.1")).unwrap(), "second");
    }

    #[cfg(unix)]
    #[test]
    fn executable_files_get_the_run_bit() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        write_generated(dir.path(), &generated("#!/bin/sh\n")).unwrap();
        let mode = std::fs::metadata(dir.path().join("sub/out.sh")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let plain = GeneratedFile { executable: false, ..generated("#!/bin/sh\n")[0].clone() };
        write_generated(dir.path(), &[plain]).unwrap();
        let mode = std::fs::metadata(dir.path().join("sub/out.sh")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "a file no longer executable loses the run bit");
    }

    #[test]
    fn modes_are_written_as_chmod_takes_them() {
        assert_eq!((FileMode::Executable.bits(), FileMode::Executable.octal()), (0o755, "0755".to_string()));
        assert_eq!((FileMode::Plain.bits(), FileMode::Plain.octal()), (0o644, "0644".to_string()));
        assert_eq!((FileMode::Private.bits(), FileMode::Private.octal()), (0o600, "0600".to_string()));
        assert_eq!(FileMode::executable_if(true), FileMode::Executable);
        assert_eq!(FileMode::executable_if(false), FileMode::Plain);
    }

    #[test]
    fn private_files_and_folders_are_their_owners_alone_from_the_start() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("access/s01");
        std::fs::create_dir_all(dir.path().join("access")).unwrap();
        std::fs::set_permissions(dir.path().join("access"), std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&dir.path().join("access")).unwrap();
        create_private_dir(&folder).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("access")), 0o700, "an existing folder is tightened");
        assert_eq!(mode(&folder), 0o700);
        let file = folder.join("password");
        // A temporary file left by an interrupted write, readable by all.
        std::fs::write(folder.join("password.labctl-tmp"), "old").unwrap();
        write_private(&file, b"secret\n").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "secret\n");
        assert!(!folder.join("password.labctl-tmp").exists());
        write_private(&file, b"new\n").unwrap();
        assert_eq!((mode(&file), std::fs::read_to_string(&file).unwrap().as_str()), (0o600, "new\n"));
    }
}
