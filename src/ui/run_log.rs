//! Every run of a command that acts on a cluster keeps its `-v`-level trace
//! in `<workspace>/.labctl/logs/<command>-<time>.log`, whatever the
//! verbosity on the terminal: each line timed from the start, colour
//! stripped, swarm tokens masked. The newest [`KEPT`] logs are kept.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context as _, Result};

use crate::mask::mask_tokens;

/// How many run logs a workspace keeps.
pub const KEPT: usize = 20;
/// Where they go, under the workspace.
pub const LOG_DIR: &str = ".labctl/logs";

/// The open log of this run, shared by every copy of the `Ui`.
#[derive(Debug, Default)]
pub struct RunLog {
    file: Mutex<Option<(File, Instant)>>,
}

impl RunLog {
    /// Start `<workspace>/.labctl/logs/<command>-<time>.log` with `header`
    /// lines, and remove all but the newest [`KEPT`] logs; returns its path.
    pub fn open(&self, workspace: &Path, command: &str, header: &[String]) -> Result<PathBuf> {
        let dir = workspace.join(LOG_DIR);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let stamp = timestamp();
        let path = (1..)
            .map(|n| match n {
                1 => dir.join(format!("{command}-{stamp}.log")),
                n => dir.join(format!("{command}-{stamp}-{n}.log")),
            })
            .find(|path| !path.exists())
            .expect("an unbounded sequence has a free name");
        let mut file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        for line in header {
            writeln!(file, "{}", mask_tokens(line))?;
        }
        *self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((file, Instant::now()));
        prune(&dir, KEPT);
        Ok(path)
    }

    /// Append `text` (one line or several), each line timed; nothing when
    /// no log is open. A write that fails is dropped: the log never stops a run.
    pub fn write(&self, text: &str) {
        let mut open = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some((file, started)) = open.as_mut() else { return };
        let plain = mask_tokens(&anstream::adapter::strip_str(text).to_string());
        let seconds = started.elapsed().as_secs_f64();
        for line in plain.lines() {
            let _ = writeln!(file, "[{seconds:7.2}s] {line}");
        }
    }
}

/// Keep the newest `kept` `.log` files of `dir` (by modification time).
fn prune(dir: &Path, kept: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut logs: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|extension| extension == "log"))
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .collect();
    logs.sort();
    let excess = logs.len().saturating_sub(kept);
    for (_, path) in logs.into_iter().take(excess) {
        let _ = std::fs::remove_file(path);
    }
}

/// `20261130-151200`: now, in UTC, for a file name.
pub fn timestamp() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    now.trim_end_matches('Z').replace(['-', ':'], "").replace('T', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_log_is_timed_plain_masked_and_only_the_newest_are_kept() {
        let workspace = tempfile::tempdir().unwrap();
        let dir = workspace.path().join(LOG_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        for n in 0..KEPT + 3 {
            let path = dir.join(format!("old-{n:02}.log"));
            std::fs::write(&path, "").unwrap();
            let when = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + n as u64);
            File::options().write(true).open(&path).unwrap().set_modified(when).unwrap();
        }
        std::fs::write(dir.join("bundle.tar.gz"), "").unwrap();
        let log = RunLog::default();
        log.write("before the log is open: dropped");
        let path = log.open(workspace.path(), "up", &["labctl up".to_string()]).unwrap();
        log.write("\u{1b}[32m✓\u{1b}[0m joined with SWMTKN-1-abc-def\nsecond line");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "labctl up");
        assert!(lines[1].starts_with('[') && lines[1].ends_with("s] ✓ joined with SWMTKN-****"), "{text}");
        assert!(lines[2].ends_with("s] second line"), "{text}");
        assert!(!text.contains("dropped"));
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), KEPT + 1, "20 logs and the bundle: {left:?}");
        assert!(!left.contains(&"old-00.log".to_string()) && left.contains(&"old-22.log".to_string()), "{left:?}");
        assert!(left.contains(&"bundle.tar.gz".to_string()));
    }
}
