use std::process::ExitCode;

use anyhow::Result;

use super::destroy::seat_names;
use super::seats::{self, Finished};
use super::{confirm, Context, Intent};
use crate::cli::ResetArgs;
use crate::cluster::Needs;
use crate::config::{Cluster, PlacedLab};
use crate::lifecycle::reset::{Plan, Reset};
use crate::lock;
use crate::provider::NodeShell;
use crate::templates::Templates;
use crate::ui::count;

pub fn run(context: &Context, args: &ResetArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let intent = if args.dry_run { Intent::Read } else { Intent::Change };
    let clusters = context.seats(&settings, &catalog, args.seats.seat.as_ref(), intent)?;
    if clusters.len() > 1 && !args.dry_run && !args.yes {
        let what = match &args.lab {
            Some(lab) => lab.clone(),
            None => "every seeded lab".to_string(),
        };
        let seats = format!("{} seats of class {} ({})", clusters.len(), settings.cluster_name, seat_names(&clusters));
        let question = format!(
            "Reset {what} on {seats}? Their students' changed files are backed up first, then the lab starts over."
        );
        let consequence = format!("resetting {what} puts it back to its start on {seats}");
        if !confirm(&context.ui, &question, &consequence)? {
            context.ui.note("nothing was reset");
            return Ok(ExitCode::FAILURE);
        }
    }
    let templates = context.templates()?;
    seats::run_each(context, &settings, &clusters, |context, cluster| reset_seat(context, args, cluster, &templates))
}

/// Reset the labs of one seat; its students' files are backed up under
/// `.labctl/backups/` (`.labctl/backups/s03/` for seat 3 of a class).
fn reset_seat(context: &Context, args: &ResetArgs, cluster: &Cluster, templates: &Templates) -> Result<Finished> {
    let labs = match &args.lab {
        Some(name) => vec![cluster.lab(name)?],
        None => cluster.seeded().to_vec(),
    };
    let _lock =
        if args.dry_run { None } else { Some(lock::acquire(cluster.name(), "labctl reset", &context.workspace)?) };
    let runner = context.runner(false);
    let provider = context.open_running_cluster(cluster, runner.as_ref(), Needs::Manager)?;
    let shell = NodeShell::new(provider.as_ref(), runner.as_ref());
    for PlacedLab { lab, target } in labs {
        let reset = Reset {
            lab,
            target: target.to_string(),
            manager: &cluster.nodes().manager().name,
            shell,
            templates,
            backups: backups_dir(context, cluster),
        };
        let plan = reset.plan(args.keep_files)?;
        if args.dry_run {
            context.ui.print(&describe_plan(&plan));
            continue;
        }
        context.ui.step(&format!("resetting {}", plan.lab), || {
            let done = reset.execute(&plan)?;
            for (network, why) in &done.networks_kept {
                context.ui.warn(&format!("network {network} was kept: {why}"));
            }
            let mut summary = format!("{} reset: {}", plan.lab, describe_swarm(&plan));
            if let Some(files) = &plan.files {
                if let Some(backup) = &done.backup {
                    let shown = backup.strip_prefix(&context.workspace).unwrap_or(backup);
                    summary.push_str(&format!(
                        "; backed up {} to {} ({})",
                        count(files.to_back_up().len(), "file"),
                        shown.display(),
                        files.to_back_up().join(", ")
                    ));
                }
                summary.push_str(&format!("; restored {}", count(files.changed.len() + files.missing.len(), "file")));
                if !files.added.is_empty() {
                    summary.push_str(&format!(", removed {}", count(files.added.len(), "added file")));
                }
            }
            Ok(((), summary))
        })?;
    }
    Ok(Finished::Done)
}

fn backups_dir(context: &Context, cluster: &Cluster) -> std::path::PathBuf {
    let backups = context.workspace.join(".labctl/backups");
    let seat = cluster.seat_of_class();
    if seat.is_only() {
        backups
    } else {
        backups.join(seat.label())
    }
}

fn describe_swarm(plan: &Plan) -> String {
    let list = |items: &[String]| if items.is_empty() { "none".to_string() } else { items.join(", ") };
    format!(
        "stacks removed: {}; services removed: {}; networks recreated: {}",
        list(&plan.stacks),
        list(&plan.services),
        list(&plan.networks)
    )
}

fn describe_plan(plan: &Plan) -> String {
    let list = |items: &[String]| if items.is_empty() { "-".to_string() } else { items.join(", ") };
    let mut text = format!("reset {} ({}), dry run:\n", plan.lab, plan.target);
    text.push_str(&format!("  remove stacks:      {}\n", list(&plan.stacks)));
    text.push_str(&format!("  remove services:    {}\n", list(&plan.services)));
    text.push_str(&format!("  recreate networks:  {}\n", list(&plan.networks)));
    match &plan.files {
        None => text.push_str("  files:              kept as they are (--keep-files)\n"),
        Some(files) => {
            text.push_str(&format!("  back up, then restore (changed): {}\n", list(&files.changed)));
            text.push_str(&format!("  back up, then remove (added):    {}\n", list(&files.added)));
            text.push_str(&format!("  restore (missing):               {}\n", list(&files.missing)));
        }
    }
    text
}
