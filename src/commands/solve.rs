use std::process::ExitCode;

use anyhow::Result;

use super::seats::{self, Finished};
use super::{Context, Intent};
use crate::cli::SolveArgs;
use crate::cluster::Needs;
use crate::config::Cluster;
use crate::lifecycle::{check, solve};
use crate::lock;
use crate::provider::NodeShell;
use crate::templates::Templates;

pub fn run(context: &Context, args: &SolveArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let clusters = context.seats(&settings, &catalog, args.seats.seat.as_ref(), Intent::Change)?;
    let templates = context.templates()?;
    seats::run_each(context, &settings, &clusters, |context, cluster| solve_seat(context, args, cluster, &templates))
}

fn solve_seat(context: &Context, args: &SolveArgs, cluster: &Cluster, templates: &Templates) -> Result<Finished> {
    let placed = cluster.lab(&args.lab)?;
    let lab = placed.lab;
    check::check_nodes(lab, cluster)?;
    let _lock = lock::acquire(cluster.name(), "labctl solve", &context.workspace)?;
    let runner = context.runner(false);
    let provider = context.open_running_cluster(cluster, runner.as_ref(), Needs::Manager)?;
    let shell = NodeShell::new(provider.as_ref(), runner.as_ref());
    let printed = context.ui.step(&format!("running the solution of {}", lab.manifest.id), || {
        let printed = solve::run_solution(placed, cluster, templates, shell)?;
        Ok((printed, format!("{}: reference solution ran", lab.manifest.id)))
    })?;
    for line in printed.lines() {
        context.ui.detail(line);
    }
    if lab.manifest.checks.is_empty() {
        return Ok(Finished::Done);
    }
    let outcomes = context.ui.step("waiting for the checks", || {
        let (outcomes, ending) = solve::wait_for_checks(lab, cluster, templates, shell)?;
        let passed = outcomes.iter().filter(|outcome| outcome.passed).count();
        let mut summary = format!("{passed} of {} checks pass", outcomes.len());
        if ending == solve::Ending::CannotPass {
            summary.push_str("; stopped waiting: a check cannot pass by waiting");
        }
        Ok((outcomes, summary))
    })?;
    for outcome in outcomes.iter().filter(|outcome| !outcome.passed) {
        let why = match outcome.failure {
            Some(check::Failure::Final) => " [cannot pass by waiting]",
            _ => "",
        };
        context.ui.error(&format!("{}: {}{why} (hint: {})", outcome.name, outcome.detail, outcome.hint));
    }
    let passed = outcomes.iter().filter(|outcome| outcome.passed).count();
    Ok(match passed == outcomes.len() {
        true => Finished::Done,
        false => Finished::Failed(format!(
            "{}: {passed} of {} checks pass after the solution",
            lab.manifest.id,
            outcomes.len()
        )),
    })
}
