//! The last `check` of each lab on each cluster, kept on this host so that
//! `class status` shows how far every seat got without checking again:
//! `<workspace>/.labctl/checks/<cluster>/<lab>.json`, one file a lab,
//! replaced whole (temporary name + rename) by every check.
//!
//! A record holds the checks' names and pass/fail only: what a check found
//! on a student's cluster (its detail) stays there.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};

use super::check::Outcome;
use crate::files;

/// Where the records go, under the workspace.
pub const CHECKS_DIR: &str = ".labctl/checks";

/// One lab's last check on one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grade {
    pub lab: String,
    pub cluster: String,
    /// When the check ran: RFC 3339, UTC, to the second.
    pub checked_at: String,
    pub checks: Vec<Mark>,
}

/// One check of a [`Grade`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    pub name: String,
    pub passed: bool,
}

impl Grade {
    pub fn new(lab: &str, cluster: &str, outcomes: &[Outcome], at: SystemTime) -> Grade {
        Grade {
            lab: lab.to_string(),
            cluster: cluster.to_string(),
            checked_at: humantime::format_rfc3339_seconds(at).to_string(),
            checks: outcomes
                .iter()
                .map(|outcome| Mark { name: outcome.name.clone(), passed: outcome.passed })
                .collect(),
        }
    }

    pub fn passed(&self) -> usize {
        self.checks.iter().filter(|mark| mark.passed).count()
    }

    pub fn total(&self) -> usize {
        self.checks.len()
    }

    /// How long before `now` the check ran (zero for a clock set back).
    pub fn age(&self, now: SystemTime) -> Option<Duration> {
        let at = humantime::parse_rfc3339(&self.checked_at).ok()?;
        Some(now.duration_since(at).unwrap_or_default())
    }
}

/// The records of one workspace.
pub struct Grades {
    dir: PathBuf,
}

impl Grades {
    pub fn in_workspace(workspace: &Path) -> Grades {
        Grades { dir: workspace.join(CHECKS_DIR) }
    }

    fn path(&self, cluster: &str, lab: &str) -> PathBuf {
        self.dir.join(cluster).join(format!("{lab}.json"))
    }

    /// Keep `grade` as its cluster's last check of its lab.
    pub fn record(&self, grade: &Grade) -> Result<()> {
        let text = serde_json::to_string_pretty(grade)? + "\n";
        files::write_file(&self.path(&grade.cluster, &grade.lab), text.as_bytes())
            .context("cannot record the check for class status")
    }

    /// The last check of every lab on `cluster`, by lab id; none when it
    /// was never checked. A record that cannot be read is an error naming
    /// the file.
    pub fn of_cluster(&self, cluster: &str) -> Result<Vec<Grade>> {
        let dir = self.dir.join(cluster);
        let entries = match std::fs::read_dir(&dir) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            result => result.with_context(|| format!("cannot read {}", dir.display()))?,
        };
        let mut grades = Vec::new();
        for entry in entries {
            let path = entry.with_context(|| format!("cannot read {}", dir.display()))?.path();
            if path.extension().is_none_or(|extension| extension != "json") {
                continue;
            }
            grades.push(read(&path)?);
        }
        grades.sort_by(|a, b| a.lab.cmp(&b.lab));
        Ok(grades)
    }
}

fn read(path: &Path) -> Result<Grade> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).map_err(|error| {
        anyhow!(
            "{}: not a check record labctl wrote ({error}); remove it, the next `labctl check` writes it again",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, passed: bool) -> Outcome {
        Outcome {
            name: name.into(),
            kind: "command".into(),
            passed,
            detail: "exit 1: secret-looking output".into(),
            hint: "a hint".into(),
            failure: None,
        }
    }

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn the_last_check_of_each_lab_is_kept_per_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let grades = Grades::in_workspace(dir.path());
        assert_eq!(grades.of_cluster("lab-s01").unwrap(), [], "never checked");
        let first = Grade::new("lab2", "lab-s01", &[outcome("a", false), outcome("b", false)], at(1_800_000_000));
        grades.record(&first).unwrap();
        let again = Grade::new("lab2", "lab-s01", &[outcome("a", true), outcome("b", false)], at(1_800_000_060));
        grades.record(&again).unwrap();
        grades.record(&Grade::new("lab1", "lab-s01", &[outcome("c", true)], at(1_800_000_000))).unwrap();
        grades.record(&Grade::new("lab1", "lab-s02", &[outcome("c", false)], at(1_800_000_000))).unwrap();

        let kept = grades.of_cluster("lab-s01").unwrap();
        let summary: Vec<(&str, usize, usize)> =
            kept.iter().map(|grade| (grade.lab.as_str(), grade.passed(), grade.total())).collect();
        assert_eq!(summary, [("lab1", 1, 1), ("lab2", 1, 2)], "the second check of lab2 replaced the first");
        assert_eq!(kept[1].checked_at, "2027-01-15T08:01:00Z");
        assert_eq!(kept[1].age(at(1_800_000_060 + 125)), Some(Duration::from_secs(125)));
        assert!(dir.path().join(".labctl/checks/lab-s02/lab1.json").is_file());
    }

    #[test]
    fn a_record_keeps_names_and_results_only() {
        let dir = tempfile::tempdir().unwrap();
        let grades = Grades::in_workspace(dir.path());
        grades.record(&Grade::new("lab3", "lab", &[outcome("replicates", false)], at(0))).unwrap();
        let text = std::fs::read_to_string(dir.path().join(".labctl/checks/lab/lab3.json")).unwrap();
        assert!(!text.contains("secret-looking") && !text.contains("hint"), "{text}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join(".labctl/checks/lab")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_broken_record_is_named_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".labctl/checks/lab/lab1.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "{ half").unwrap();
        let error = Grades::in_workspace(dir.path()).of_cluster("lab").unwrap_err().to_string();
        assert!(error.starts_with(&format!("{}: not a check record", path.display())), "{error}");
        assert!(error.ends_with("remove it, the next `labctl check` writes it again"), "{error}");
    }
}
