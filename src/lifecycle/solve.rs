//! `labctl solve`: run a lab's reference solution on the cluster (for a
//! demo, or to fast-forward a student), then wait until its checks pass.
//! The solution is data: an instructor-only script in the lab folder.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use super::check::{run_checks, Failure, Outcome};
use super::mesh::Mesh;
use crate::config::{Cluster, PlacedLab};
use crate::files::{tar_archive, ArchiveEntry, FileMode};
use crate::labs::Lab;
use crate::provider::{NodeShell, STATE_DIR};
use crate::templates::Templates;
use crate::timeouts::Wait;

const CONVERGE_DEADLINE: Duration = Duration::from_secs(180);
/// How long a final failure must last before `solve` stops waiting: a little
/// slack for what a solution started a moment ago (a port the swarm has not
/// allocated yet, a registry restarting).
const FINAL_GRACE: Duration = Duration::from_secs(10);
const ROUND_PAUSE: Duration = Duration::from_secs(2);

/// Helpers every solution may source (`. "$LABCTL_SOLVE_LIB"`).
const LIBRARY_TEMPLATE: &str = "node/solve-lib.sh.tera";
const LIBRARY_FILE: &str = "labctl-solve-lib.sh";
/// The node scripts that copy the solution over and run it.
const UPLOAD_SCRIPT: &str = "node/replace-dir.sh.tera";
const RUN_SCRIPT: &str = "node/run-solution.sh.tera";

/// Copy the instructor-only files (and the helper library) to the manager
/// and run the solution script in the lab directory. Returns what the
/// script printed.
pub fn run_solution(placed: PlacedLab, cluster: &Cluster, templates: &Templates, shell: NodeShell) -> Result<String> {
    let PlacedLab { lab, target } = placed;
    let manifest = &lab.manifest;
    let script = manifest
        .solve
        .as_ref()
        .ok_or_else(|| anyhow!("lab {} has no reference solution (`solve` in its lab.toml)", manifest.id))?;
    let manager = cluster.nodes().manager().name.as_str();
    let solution_dir = format!("{STATE_DIR}/solutions/{}", manifest.id);

    let mut context = tera::Context::new();
    context.insert("labctl_version", env!("CARGO_PKG_VERSION"));
    let library = templates.render(LIBRARY_TEMPLATE, &context)?.into_bytes();
    let mut entries = vec![ArchiveEntry { path: LIBRARY_FILE.to_string(), content: library, mode: FileMode::Plain }];
    for path in &manifest.instructor_only {
        entries.push(ArchiveEntry { path: path.clone(), content: lab.read(path)?, mode: FileMode::Executable });
    }
    let upload_script = templates.node_script(UPLOAD_SCRIPT)?;
    let upload = shell.command_with_stdin(
        Wait::Long,
        manager,
        &["sh", "-c", &upload_script, "labctl-upload", &solution_dir],
        "copy the reference solution",
        tar_archive(&entries)?,
    );
    shell.run_checked(&upload)?;

    let registry = cluster.registry().map(|registry| registry.address()).unwrap_or_default();
    let run = templates.node_script(RUN_SCRIPT)?;
    let argv = ["sh", "-c", &run, "labctl-solve", target, &solution_dir, &registry, script, &manifest.id];
    let spec = shell.command_for(Wait::Long, manager, &argv, "run the reference solution");
    Ok(shell.run_checked(&spec)?.stdout)
}

/// How the wait for the checks ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Passed,
    /// A check failed for good ([`Failure::Final`]): waiting longer could not help.
    CannotPass,
    /// Still failing at the deadline.
    Deadline,
}

/// What the wait loop does after a round of checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Stop(Ending),
    Wait,
}

/// The wait's limits: the deadline and the grace of a final failure.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub deadline: Duration,
    pub grace: Duration,
}

/// After a round: stop when all pass, when some check has failed for good
/// for the whole grace (`final_for`: how long final failures have been seen
/// in a row), or at the deadline.
pub fn next(outcomes: &[Outcome], waited: Duration, final_for: Option<Duration>, limits: Limits) -> Next {
    if outcomes.iter().all(|outcome| outcome.passed) {
        Next::Stop(Ending::Passed)
    } else if final_for.is_some_and(|lasted| lasted >= limits.grace) {
        Next::Stop(Ending::CannotPass)
    } else if waited >= limits.deadline {
        Next::Stop(Ending::Deadline)
    } else {
        Next::Wait
    }
}

fn has_final_failure(outcomes: &[Outcome]) -> bool {
    outcomes.iter().any(|outcome| outcome.failure == Some(Failure::Final))
}

/// Run the checks until all pass, one cannot pass, or the deadline; returns
/// the last outcomes and how it ended.
pub fn wait_for_checks(
    lab: &Lab,
    cluster: &Cluster,
    templates: &Templates,
    shell: NodeShell,
) -> Result<(Vec<Outcome>, Ending)> {
    let started = Instant::now();
    let limits = Limits {
        deadline: cluster.timeouts().scaled(CONVERGE_DEADLINE),
        grace: cluster.timeouts().scaled(FINAL_GRACE),
    };
    let mesh = Mesh::default();
    let mut final_since: Option<Instant> = None;
    loop {
        let outcomes = run_checks(lab, cluster, templates, shell, lab.manifest.handout_language(), &mesh)?;
        final_since = if has_final_failure(&outcomes) { final_since.or(Some(Instant::now())) } else { None };
        let final_for = final_since.map(|since| since.elapsed());
        match next(&outcomes, started.elapsed(), final_for, limits) {
            Next::Stop(ending) => return Ok((outcomes, ending)),
            Next::Wait => std::thread::sleep(ROUND_PAUSE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(passed: bool, failure: Option<Failure>) -> Outcome {
        Outcome { name: "c".into(), kind: "http".into(), passed, detail: String::new(), hint: String::new(), failure }
    }

    const LIMITS: Limits = Limits { deadline: Duration::from_secs(180), grace: Duration::from_secs(10) };
    const SOON: Duration = Duration::from_secs(5);

    #[test]
    fn all_passing_ends_the_wait() {
        let all = [outcome(true, None), outcome(true, None)];
        assert_eq!(next(&all, SOON, None, LIMITS), Next::Stop(Ending::Passed));
    }

    #[test]
    fn a_failure_that_is_not_yet_final_is_waited_for_until_the_deadline() {
        let converging = [outcome(true, None), outcome(false, Some(Failure::NotYet))];
        assert_eq!(next(&converging, SOON, None, LIMITS), Next::Wait);
        assert_eq!(next(&converging, Duration::from_secs(179), None, LIMITS), Next::Wait);
        assert_eq!(next(&converging, Duration::from_secs(180), None, LIMITS), Next::Stop(Ending::Deadline));
    }

    #[test]
    fn one_final_failure_ends_the_wait_once_it_lasted_the_grace() {
        let hopeless = [outcome(false, Some(Failure::NotYet)), outcome(false, Some(Failure::Final))];
        assert!(has_final_failure(&hopeless));
        assert!(!has_final_failure(&[outcome(false, Some(Failure::NotYet))]));
        assert_eq!(next(&hopeless, SOON, Some(Duration::ZERO), LIMITS), Next::Wait, "a moment's slack first");
        assert_eq!(next(&hopeless, SOON, Some(Duration::from_secs(10)), LIMITS), Next::Stop(Ending::CannotPass));
    }
}
