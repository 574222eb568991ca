use std::process::ExitCode;

use anyhow::Result;

use super::seats::{self, Finished};
use super::{confirm, render, Context, Intent};
use crate::access::ACCESS_DIR;
use crate::cli::UpArgs;
use crate::cluster::up::{prepare_class_cache, Mode, Up};
use crate::config::Cluster;
use crate::exec::Runner;
use crate::images::SavedImages;
use crate::lock;
use crate::provider::node_image::NodeImage;
use crate::provider::ssh::HostKeys;
use crate::templates::Templates;
use crate::ui::count;

pub fn run(context: &Context, args: &UpArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let templates = context.templates()?;
    let intent = if args.dry_run { Intent::Read } else { Intent::Change };
    let clusters = context.seats(&settings, &catalog, args.seats.seat.as_ref(), intent)?;
    if args.reinit_swarm && !args.dry_run && !args.yes {
        let (what, manager) = match clusters.as_slice() {
            [cluster] => (format!("cluster {}", cluster.name()), cluster.nodes().manager().name.as_str()),
            seats => (format!("each of {} seats", seats.len()), settings.nodes.manager().name.as_str()),
        };
        let question = format!(
            "Start a new swarm on {manager} of {what}: every stack, service, secret and config of the current one is lost?"
        );
        let consequence = format!(
            "--reinit-swarm starts a new swarm on {manager} of {what} and loses every stack, service, secret and config of the current one"
        );
        if !confirm(&context.ui, &question, &consequence)? {
            context.ui.note("nothing was changed");
            return Ok(ExitCode::FAILURE);
        }
    }
    // One command changes the class at a time (see `lock`).
    let command = match args.seats.seat {
        Some(_) => "labctl up --seat",
        None => "labctl up",
    };
    let _class = if args.dry_run {
        None
    } else {
        Some(lock::acquire_class(&settings.cluster_name, settings.class.seats, command, &context.workspace)?)
    };
    // What the seats share is made once for the class: the node image of
    // each engine, and each image saved from this host once, whatever the
    // number of seats that load it.
    prepare_engines(context, args, &clusters, &templates);
    let saved = SavedImages::default();
    let code = seats::run_each(context, &settings, &clusters, |context, cluster| {
        up_seat(context, args, cluster, &templates, &saved)
    })?;
    if saved.saves() > 0 && clusters.len() > 1 {
        context.ui.detail(&format!(
            "{} saved once from this host for {} seats",
            count(saved.saves(), "image"),
            clusters.len()
        ));
    }
    Ok(code)
}

/// What the seats of each engine share, made there once before any seat
/// comes up, so that seats that come up at once never make it side by side:
/// labctl's node image (built when missing) and the class cache (see
/// `cluster::up::prepare_class_cache`). An engine that cannot be asked, or
/// whose node image build fails, is left to its seats: each then says so as
/// its own failure, and the other engines' seats come up.
fn prepare_engines(context: &Context, args: &UpArgs, clusters: &[Cluster], templates: &Templates) {
    let mode = if args.dry_run { Mode::DryRun } else { Mode::Apply };
    for cluster in seats::first_seat_per_engine(clusters) {
        let runner = context.runner(args.dry_run);
        let Ok((_, provider)) = context.provider_for(cluster, runner.as_ref(), args.provider, HostKeys::Known) else {
            continue;
        };
        let info = provider.info();
        if info.nodes_on_docker_engine && mode == Mode::Apply {
            build_node_image(context, cluster, runner.as_ref(), templates);
        }
        if info.class_cache {
            if let Err(error) = prepare_class_cache(cluster, runner.as_ref(), &context.ui, mode) {
                context.ui.warn(&format!("{error:#}"));
            }
        }
    }
}

/// labctl's node image on `cluster`'s engine, built when it is missing.
fn build_node_image(context: &Context, cluster: &Cluster, runner: &dyn Runner, templates: &Templates) {
    let Ok(image) = NodeImage::for_cluster(cluster, templates) else { return };
    let (engine, timeouts) = (cluster.engine(), cluster.timeouts());
    let Ok(Some(build)) = image.build_command(engine, runner, &timeouts) else { return };
    context.ui.note(&image.build_note());
    let built = context.ui.step(&format!("building node image {} on engine {}", image.name(), engine.name), || {
        image.build(&build, engine, runner, &timeouts).map(|()| ((), format!("node image {} built", image.name())))
    });
    // Its seats try again, and fail with the same reason as their own.
    if let Err(error) = built {
        context.ui.warn(&format!("{error:#}"));
    }
}

fn up_seat(
    context: &Context,
    args: &UpArgs,
    cluster: &Cluster,
    templates: &Templates,
    saved: &SavedImages,
) -> Result<Finished> {
    let _lock = if args.dry_run { None } else { Some(lock::acquire(cluster.name(), "labctl up", &context.workspace)?) };
    let mode = if args.dry_run { Mode::DryRun } else { Mode::Apply };
    let runner = context.runner(args.dry_run);
    let host_keys = if args.accept_new_host_keys { HostKeys::AcceptNew } else { HostKeys::Known };
    let (choice, provider) = context.open_cluster_with(cluster, runner.as_ref(), args.provider, host_keys)?;
    if let Some(preparation) = provider.prepare(templates)? {
        match mode {
            Mode::DryRun => render::show_planned(context, &preparation),
            Mode::Apply => render::show_written(context, &preparation, &preparation.write()?),
        }
    }

    let up = Up {
        cluster,
        templates,
        provider: provider.as_ref(),
        runner: runner.as_ref(),
        reinit_swarm: args.reinit_swarm,
        access_root: &context.workspace.join(ACCESS_DIR),
        saved,
    };
    let changed = up.run(&context.ui, mode)?;
    let manager = &cluster.nodes().manager().name;
    let seat = cluster.seat_of_class();
    let on_seat = if seat.is_only() { String::new() } else { format!(" --seat {}", seat.number) };
    let summary = match (args.dry_run, changed) {
        (true, _) => "dry run: nothing was changed".to_string(),
        (false, false) => format!("no changes: cluster {} was already up", cluster.name()),
        (false, true) => format!(
            "cluster {} is ready: `labctl ssh{on_seat} {manager}`, or `labctl exec{on_seat} {manager} -- docker node ls`",
            cluster.name(),
        ),
    };
    context.ui.note(&summary);
    if !args.dry_run {
        context.remember_workspace(cluster, choice.kind);
    }
    Ok(Finished::Done)
}
