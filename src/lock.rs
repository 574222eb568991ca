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

/// The folder of the lock files: `LABCTL_LOCK_DIR`, else the user's own
/// runtime directory (`$XDG_RUNTIME_DIR/labctl`), else the workspace's
/// `.labctl/` (root without systemd, CI). Never the shared temp directory,
/// where anyone can plant a file under a predictable name.
fn lock_dir(workspace: &Path) -> Result<PathBuf> {
    if let Some(dir) = env_var("LABCTL_LOCK_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let dir = match env_var("XDG_RUNTIME_DIR") {
        Some(runtime) => PathBuf::from(runtime).join("labctl"),
        None => workspace.join(".labctl"),
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {} for the lock file", dir.display()))?;
    Ok(dir)
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
fn open(path: &Path) -> Result<File> {
    let opened = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path);
    match opened {
        Ok(file) => Ok(file),
        Err(error) if error.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => bail!(
            "the lock file {} is a symbolic link, which labctl does not follow; remove it (`rm {}`) and run this again",
            path.display(),
            path.display()
        ),
        Err(error) => Err(error).with_context(|| format!("cannot open the lock file {}", path.display())),
    }
}

/// Take the cluster for `command` (e.g. "labctl up"), waiting up to a few
/// seconds. `workspace` holds the lock file when there is no runtime directory.
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
    let mut file = open(&path)?;
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
