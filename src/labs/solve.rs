//! `labctl solve`: run a lab's reference solution on the cluster (for a
//! demo, or to fast-forward a student), then wait until its checks pass.
//! The solution is data: an instructor-only script in the lab folder.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use super::check::{run_checks, Outcome};
use super::seed::STATE_DIR;
use super::Lab;
use crate::config::Settings;
use crate::files::{tar_archive, ArchiveEntry};
use crate::provider::NodeShell;
use crate::templates::Templates;
use crate::timeouts::Wait;

const CONVERGE_DEADLINE: Duration = Duration::from_secs(180);

/// Helpers every solution may source (`. "$LABCTL_SOLVE_LIB"`).
const LIBRARY_TEMPLATE: &str = "node/solve-lib.sh.tera";
const LIBRARY_FILE: &str = "labctl-solve-lib.sh";

/// Copy the instructor-only files (and the helper library) to the manager
/// and run the solution script in the lab directory. Returns what the
/// script printed.
pub fn run_solution(lab: &Lab, settings: &Settings, templates: &Templates, shell: NodeShell) -> Result<String> {
    let manifest = &lab.manifest;
    let script = manifest
        .solve
        .as_ref()
        .ok_or_else(|| anyhow!("lab {} has no reference solution (`solve` in its lab.toml)", manifest.id))?;
    let manager = settings.nodes[0].name.as_str();
    let solution_dir = format!("{STATE_DIR}/solutions/{}", manifest.id);
    let target = &settings.lab_targets[&manifest.id];

    let mut context = tera::Context::new();
    context.insert("labctl_version", env!("CARGO_PKG_VERSION"));
    let library = templates.render(LIBRARY_TEMPLATE, &context)?.into_bytes();
    let mut entries = vec![ArchiveEntry { path: LIBRARY_FILE.to_string(), content: library, mode: 0o644 }];
    for path in &manifest.instructor_only {
        entries.push(ArchiveEntry { path: path.clone(), content: lab.read(path)?, mode: 0o755 });
    }
    let upload = shell.command_with_stdin(
        Wait::Long,
        manager,
        &["sh", "-c", "rm -rf \"$1\" && mkdir -p \"$1\" && tar -x -f - -C \"$1\"", "labctl-upload", &solution_dir],
        "copy the reference solution",
        tar_archive(&entries)?,
    );
    shell.run_checked(&upload)?;

    let registry = settings.registry.as_ref().map(|registry| registry.address()).unwrap_or_default();
    let run = "cd \"$1\" && LABCTL_SOLUTION_DIR=\"$2\" LABCTL_REGISTRY=\"$3\" LABCTL_LAB=\"$5\" \
               LABCTL_SOLVE_LIB=\"$2/labctl-solve-lib.sh\" sh -e \"$2/$4\"";
    let argv = ["sh", "-c", run, "labctl-solve", target, &solution_dir, &registry, script, &manifest.id];
    let spec = shell.command_for(Wait::Long, manager, &argv, "run the reference solution");
    Ok(shell.run_checked(&spec)?.stdout)
}

/// Run the checks until all pass or the deadline; returns the last outcomes.
pub fn wait_for_checks(
    lab: &Lab,
    settings: &Settings,
    templates: &Templates,
    shell: NodeShell,
) -> Result<Vec<Outcome>> {
    let started = Instant::now();
    let deadline = settings.timeouts.scaled(CONVERGE_DEADLINE);
    loop {
        let outcomes = run_checks(lab, settings, templates, shell, lab.manifest.language == "en")?;
        if outcomes.iter().all(|outcome| outcome.passed) || started.elapsed() >= deadline {
            return Ok(outcomes);
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}
