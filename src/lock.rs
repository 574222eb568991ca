//! One command at a time per cluster: `up`, `down`, `destroy` (and later
//! `reset`) take an exclusive lock on a file named after the cluster. A
//! second command waits briefly, then stops with a message naming the
//! command that holds the cluster. The lock dies with its process, so a
//! killed command never leaves the cluster locked.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::exec::env_var;

const DEFAULT_WAIT: Duration = Duration::from_secs(5);

pub struct ClusterLock {
    _file: File,
}

/// The lock file: in `LABCTL_LOCK_DIR`, else the system's temp directory
/// (Vagrant VM names and docker container names are host-wide, so the
/// lock is too).
fn lock_path(cluster: &str) -> PathBuf {
    let dir = env_var("LABCTL_LOCK_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    dir.join(format!("labctl-{cluster}.lock"))
}

fn wait_limit() -> Duration {
    env_var("LABCTL_LOCK_WAIT").and_then(|text| text.parse().ok()).map(Duration::from_secs_f64).unwrap_or(DEFAULT_WAIT)
}

/// Take the cluster for `command` (e.g. "labctl up"), waiting up to a few seconds.
pub fn acquire(cluster: &str, command: &str) -> Result<ClusterLock> {
    let path = lock_path(cluster);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if started.elapsed() < wait_limit() => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                file.read_to_string(&mut holder).ok();
                bail!(
                    "cluster {cluster} is busy: {}; wait for it to finish, then run this again",
                    describe_holder(&holder)
                );
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
