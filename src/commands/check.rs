use std::process::ExitCode;

use anyhow::{anyhow, Result};
use serde::Serialize;

use super::{Context, Intent};
use crate::cli::CheckArgs;
use crate::cluster::Needs;
use crate::exit;
use crate::lifecycle::check::{self, Outcome};
use crate::lifecycle::mesh::Mesh;
use crate::provider::NodeShell;
use crate::ui::Mark;

#[derive(Serialize)]
struct Report<'a> {
    lab: &'a str,
    /// False when the cluster is not up: nothing was checked (exit status 3).
    reachable: bool,
    passed: bool,
    checks: &'a [Outcome],
    /// Why the cluster could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub fn run(context: &Context, args: &CheckArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let cluster = context.one_seat(&settings, &catalog, args.seats.seat.as_ref(), "check", Intent::Read)?;
    let templates = context.templates()?;
    let lab = cluster.lab(&args.lab)?.lab;
    check::check_nodes(lab, &cluster)?;
    if lab.manifest.checks.is_empty() {
        return Err(anyhow!("lab {} declares no checks in its lab.toml", lab.manifest.id));
    }
    let runner = context.runner(false);
    let provider = match context.open_running_cluster(&cluster, runner.as_ref(), Needs::Manager) {
        Ok(provider) => provider,
        Err(error) => {
            if args.json && exit::is_unreachable(&error) {
                let why = format!("{error:#}");
                let report =
                    Report { lab: &lab.manifest.id, reachable: false, passed: false, checks: &[], error: Some(why) };
                context.ui.print(&(serde_json::to_string_pretty(&report)? + "\n"));
            }
            return Err(error);
        }
    };
    let language = args.lang.unwrap_or(lab.manifest.handout_language());
    let shell = NodeShell::new(provider.as_ref(), runner.as_ref());
    let outcomes = check::run_checks(lab, &cluster, &templates, shell, language, &Mesh::default())?;
    let passed = outcomes.iter().all(|outcome| outcome.passed);

    let text = if args.json {
        let report = Report { lab: &lab.manifest.id, reachable: true, passed, checks: &outcomes, error: None };
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        let mut text = String::new();
        for outcome in &outcomes {
            let mark = context.ui.mark(if outcome.passed { Mark::Ok } else { Mark::Fail });
            text.push_str(&format!("{mark} {}: {}\n", outcome.name, outcome.detail));
            if !outcome.passed {
                text.push_str(&format!("    hint: {}\n", outcome.hint));
            }
        }
        let failed = outcomes.iter().filter(|outcome| !outcome.passed).count();
        text.push_str(&match failed {
            0 => format!("{}: all {} checks pass\n", lab.manifest.id, outcomes.len()),
            n => format!("{}: {n} of {} checks fail\n", lab.manifest.id, outcomes.len()),
        });
        text
    };
    context.ui.print(&text);
    Ok(if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
