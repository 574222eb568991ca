use std::process::ExitCode;

use anyhow::Result;

use super::{confirm, render, Context};
use crate::cli::UpArgs;
use crate::cluster::up::{Mode, Up};
use crate::config::Cluster;
use crate::lock;

pub fn run(context: &Context, args: &UpArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let cluster = Cluster::new(&settings, &catalog)?;
    let templates = context.templates()?;
    if args.reinit_swarm && !args.dry_run && !args.yes {
        let (cluster, manager) = (&settings.cluster_name, &settings.nodes.manager().name);
        let question = format!(
            "Start a new swarm on {manager} of cluster {cluster}: every stack, service, secret and config of the current one is lost?"
        );
        let consequence = format!(
            "--reinit-swarm starts a new swarm on {manager} of cluster {cluster} and loses every stack, service, secret and config of the current one"
        );
        if !confirm(&question, &consequence)? {
            context.ui.note("nothing was changed");
            return Ok(ExitCode::FAILURE);
        }
    }
    let _lock =
        if args.dry_run { None } else { Some(lock::acquire(&settings.cluster_name, "labctl up", &context.workspace)?) };
    let mode = if args.dry_run { Mode::DryRun } else { Mode::Apply };
    let runner = context.runner(args.dry_run);
    let (_, provider) = context.open_cluster(&cluster, runner.as_ref(), args.provider)?;
    if let Some(preparation) = provider.prepare(&templates)? {
        match mode {
            Mode::DryRun => render::show_planned(context, &preparation),
            Mode::Apply => render::show_written(context, &preparation, &preparation.write()?),
        }
    }

    let up = Up {
        cluster: &cluster,
        templates: &templates,
        provider: provider.as_ref(),
        runner: runner.as_ref(),
        reinit_swarm: args.reinit_swarm,
    };
    let changed = up.run(&context.ui, mode)?;
    let manager = settings.nodes.manager();
    let summary = match (args.dry_run, changed) {
        (true, _) => "dry run: nothing was changed".to_string(),
        (false, false) => format!("no changes: cluster {} was already up", settings.cluster_name),
        (false, true) => format!(
            "cluster {} is ready: `labctl ssh {}`, or `labctl exec {} -- docker node ls`",
            settings.cluster_name, manager.name, manager.name
        ),
    };
    context.ui.note(&summary);
    Ok(ExitCode::SUCCESS)
}
