//! One command at a time per cluster: `up`, `down`, `destroy`, `reset` and
//! `solve` take an exclusive lock on a file named after the cluster. A
//! second command waits briefly, then stops with a message naming the
//! command that holds the cluster. The lock dies with its process, so a
//! killed command never leaves the cluster locked.
//!
//! `up` and `destroy` also take the class's lock for their whole run, since
//! they make and remove what the seats share (the class cache, the node
//! image): two of them never change one class at once, whichever seats
//! each names. The other commands change one seat's own things only.

use std::fs::{DirBuilder, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};

use crate::exec::env_var;

const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// A lock held until dropped.
pub struct ClusterLock {
    _file: File,
}

/// The folder of the lock files: `LABCTL_LOCK_DIR`, else the workspace's
/// `.labctl/locks/`, the one place every user of the workspace finds them:
/// the instructor and the same instructor under `sudo` (whose runtime
/// directories differ) take the same lock. Never the shared temp directory,
/// where anyone can plant a file under a predictable name. Made by root for
/// a workspace someone else owns, the folder is given to that owner.
fn lock_dir(workspace: &Path) -> Result<PathBuf> {
    if let Some(dir) = env_var("LABCTL_LOCK_DIR").filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let labctl = workspace.join(".labctl");
    let dir = labctl.join("locks");
    let made = [!labctl.exists(), !dir.exists()];
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&dir)
        .with_context(|| format!("cannot create {} for the lock file", dir.display()))?;
    for (path, new) in [(&labctl, made[0]), (&dir, made[1])] {
        if new {
            give_to_workspace_owner(path, workspace);
        }
    }
    Ok(dir)
}

/// Run as root in a workspace another user owns (`sudo labctl …`): hand
/// `path`, just made, to that user, so that their own commands can take
/// the same locks. Best effort: a failure leaves it root's, and says so
/// only when a later command cannot open it.
fn give_to_workspace_owner(path: &Path, workspace: &Path) {
    use std::os::unix::fs::MetadataExt;
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let Ok(owner) = std::fs::metadata(workspace) else { return };
    if owner.uid() != 0 {
        let _ = std::os::unix::fs::lchown(path, Some(owner.uid()), Some(owner.gid()));
    }
}

/// How long to wait for a busy cluster: `LABCTL_LOCK_WAIT` seconds, or 5.
fn wait_limit() -> Result<Duration> {
    let Some(text) = env_var("LABCTL_LOCK_WAIT") else { return Ok(DEFAULT_WAIT) };
    text.trim().parse::<f64>().ok().and_then(|seconds| Duration::try_from_secs_f64(seconds).ok()).ok_or_else(|| {
        anyhow!(
            "LABCTL_LOCK_WAIT={text:?} is not a number of seconds; set it to e.g. 30 (0 does not wait), or unset it to wait {}s",
            DEFAULT_WAIT.as_secs()
        )
    })
}

/// Open the lock file, never through a symbolic link (O_NOFOLLOW): a link
/// planted at its name would make labctl write into the file it points at.
/// One another user made (0644) is opened to read: a lock holds on it all
/// the same, only who holds it is not written.
fn open(path: &Path, workspace: &Path) -> Result<(File, bool)> {
    let options = |write: bool| {
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
        if write {
            options.write(true).create(true).truncate(false).mode(0o644);
        }
        options
    };
    let existed = path.exists();
    let opened = match options(true).open(path) {
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied && existed => {
            options(false).open(path).map(|file| (file, false))
        }
        opened => opened.map(|file| (file, true)),
    };
    match opened {
        Ok((file, writable)) => {
            if !existed {
                give_to_workspace_owner(path, workspace);
            }
            Ok((file, writable))
        }
        Err(error) if error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => bail!(
            "the lock file {} is a symbolic link, which labctl does not follow; remove it (`rm {}`) and run this again",
            path.display(),
            path.display()
        ),
        Err(error) => Err(error).with_context(|| format!("cannot open the lock file {}", path.display())),
    }
}

/// Take the cluster for `command` (e.g. "labctl up"), waiting up to a few
/// seconds. `workspace` holds the lock file (`.labctl/locks/`).
pub fn acquire(cluster: &str, command: &str, workspace: &Path) -> Result<ClusterLock> {
    take(&format!("labctl-{cluster}.lock"), &format!("cluster {cluster}"), command, workspace)
}

/// Take the whole class (`[cluster] name`, of `seats` seats; a single
/// cluster is a class of one) for `command`, as [`acquire`] takes one cluster.
pub fn acquire_class(class: &str, seats: u32, command: &str, workspace: &Path) -> Result<ClusterLock> {
    let what = match seats {
        1 => format!("cluster {class}"),
        _ => format!("class {class}"),
    };
    take(&format!("labctl-class-{class}.lock"), &what, command, workspace)
}

/// Lock the file `name` for `command`; `what` names what it guards in the
/// message when another command holds it.
fn take(name: &str, what: &str, command: &str, workspace: &Path) -> Result<ClusterLock> {
    let wait = wait_limit()?;
    let path = lock_dir(workspace)?.join(name);
    let (mut file, writable) = open(&path, workspace)?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                file.read_to_string(&mut holder).ok();
                bail!("{what} is busy: {}; wait for it to finish, then run this again", describe_holder(&holder));
            }
            Err(TryLockError::Error(error)) => {
                return Err(error).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
    }
    if !writable {
        return Ok(ClusterLock { _file: file });
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|since| since.as_secs()).unwrap_or(0);
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "{}\n{}\n{command}\n", std::process::id(), now)?;
    file.flush()?;
    Ok(ClusterLock { _file: file })
}

/// "`labctl up` (pid 4242) has held it for 12s" from the lock file's lines.
fn describe_holder(text: &str) -> String {
    let mut lines = text.lines();
    let (pid, since, command) = (lines.next(), lines.next(), lines.next());
    let held_for = since.and_then(|since| since.parse::<u64>().ok()).and_then(|since| {
        SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|now| now.as_secs().saturating_sub(since))
    });
    match (command, pid, held_for) {
        (Some(command), Some(pid), Some(seconds)) => format!("`{command}` (pid {pid}) has held it for {seconds}s"),
        (Some(command), Some(pid), None) => format!("`{command}` (pid {pid}) holds it"),
        _ => "another labctl command holds it".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_are_described_for_the_user() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let text = format!("4242\n{}\nlabctl up\n", now - 12);
        assert_eq!(describe_holder(&text), "`labctl up` (pid 4242) has held it for 12s");
        assert_eq!(describe_holder(""), "another labctl command holds it");
    }
}
