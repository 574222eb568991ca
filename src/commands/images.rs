use std::process::ExitCode;

use anyhow::{bail, Result};

use super::{Context, Intent};
use crate::cli::{ImagesCommand, ImagesLoadArgs};
use crate::cluster::Needs;
use crate::config::{Cluster, Settings};
use crate::exit;
use crate::images::{self, ImagePlan, SavedImages, SeatNodes};
use crate::labs::Catalog;
use crate::provider::NodeShell;
use crate::ui::count;

pub fn run(context: &Context, command: &ImagesCommand) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    match command {
        ImagesCommand::Pull => pull(context, &settings, &catalog),
        ImagesCommand::Load(args) => load(context, args, &settings, &catalog),
    }
}

/// Every image the labs and the class need, pulled on this host at once.
fn pull(context: &Context, settings: &Settings, catalog: &Catalog) -> Result<ExitCode> {
    let cluster = Cluster::new(settings, catalog)?;
    let mut wanted = images::lab_images(&cluster, None)?;
    for image in
        settings.registry.iter().map(|registry| &registry.image).chain(settings.cache.iter().map(|cache| &cache.image))
    {
        if !wanted.contains(image) {
            wanted.push(image.clone());
        }
    }
    let host = context.runner(false);
    let failed = images::pull(&wanted, host.as_ref(), settings.timeouts, &context.ui)?;
    context.ui.note(&format!("pulled {} of {}", wanted.len() - failed.len(), count(wanted.len(), "image")));
    Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The images into every node of the selected seats: each saved once here,
/// loaded where it is missing, as many nodes at once as this host unpacks.
fn load(context: &Context, args: &ImagesLoadArgs, settings: &Settings, catalog: &Catalog) -> Result<ExitCode> {
    let clusters = context.seats(settings, catalog, args.seats.seat.as_ref(), Intent::Change)?;
    let wanted = match args.images.is_empty() {
        true => images::lab_images(&clusters[0], args.lab.as_deref())?,
        false => args.images.clone(),
    };
    let runner = context.runner(false);
    // A seat that is not up is named and left out, as every class command
    // does; the others get their images. One cluster: its error is the answer.
    let mut reached = Vec::new();
    let mut left_out = Vec::new();
    for cluster in &clusters {
        match context.open_running_cluster(cluster, runner.as_ref(), Needs::EveryNode) {
            Ok(provider) => reached.push((cluster, provider)),
            Err(error) if clusters.len() > 1 => {
                let seat = cluster.seat_of_class();
                context.ui.error(&format!("{}: {error:#}", seat.label()));
                left_out.push((seat, exit::is_unreachable(&error)));
            }
            Err(error) => return Err(error),
        }
    }
    if reached.is_empty() {
        bail!("no seat could be given the images: none of {} is up", count(clusters.len(), "seat"));
    }
    let seats: Vec<SeatNodes> = reached
        .iter()
        .map(|(cluster, provider)| SeatNodes::all_nodes(cluster, NodeShell::new(provider.as_ref(), runner.as_ref())))
        .collect();
    let nodes = seats_nodes(&seats);
    let plans = context.ui.step("looking for the images on this host and the nodes", || {
        let plans = images::plan(&wanted, &seats, runner.as_ref(), settings.timeouts)?;
        let missing: usize = plans.iter().map(|plan| plan.missing_on.len()).sum();
        let nodes = describe_nodes(&seats, nodes);
        Ok((plans, format!("{missing} of {} image copies missing on {nodes}", wanted.len() * seats_nodes(&seats))))
    })?;
    if let Some(plan) = plans.iter().find(|plan| plan.id.is_none()) {
        bail!(
            "{} is not in this host's Docker; run `labctl images pull` (or `docker pull {}`) first",
            plan.image,
            plan.image
        );
    }
    let at_once = images::loads_at_once(reached[0].0.parallel_loads());
    let label = format!("loading into {}, {at_once} at once", describe_nodes(&seats, nodes));
    context.ui.step(&label, || {
        images::carry_out(&plans, &seats, runner.as_ref(), at_once, settings.timeouts, &SavedImages::default())?;
        let lines: Vec<String> = plans.iter().map(|plan| describe(plan, &seats)).collect();
        let loading = plans.iter().any(|plan| !plan.missing_on.is_empty());
        let head = if loading { format!("loaded, {at_once} at once: ") } else { String::new() };
        Ok(((), format!("{head}{}", lines.join("; "))))
    })?;
    if left_out.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let labels: Vec<String> = left_out.iter().map(|(seat, _)| seat.label()).collect();
    let numbers: Vec<String> = left_out.iter().map(|(seat, _)| seat.number.to_string()).collect();
    context.ui.error(&format!(
        "{} of {} seats got no images: {}; once they are up, `labctl images load --seat {}`",
        left_out.len(),
        clusters.len(),
        labels.join(", "),
        numbers.join(",")
    ));
    let unreachable = left_out.iter().any(|(_, unreachable)| *unreachable);
    Ok(if unreachable { ExitCode::from(exit::UNREACHABLE) } else { ExitCode::FAILURE })
}

fn seats_nodes(seats: &[SeatNodes]) -> usize {
    seats.iter().map(|seat| seat.nodes.len()).sum()
}

/// "4 nodes" of one seat, or "8 nodes of 2 seats".
fn describe_nodes(seats: &[SeatNodes], nodes: usize) -> String {
    match seats.len() {
        1 => count(nodes, "node"),
        many => format!("{} of {many} seats", count(nodes, "node")),
    }
}

/// "node:slim on node1, node2" (one seat), or with counts for a class; after
/// "loaded, N at once: " when something was loaded.
fn describe(plan: &ImagePlan, seats: &[SeatNodes]) -> String {
    let image = &plan.image;
    if plan.missing_on.is_empty() {
        return format!("{image}: already on every node");
    }
    let loaded = match seats.len() {
        1 => plan.missing_on.iter().map(|place| place.node.as_str()).collect::<Vec<_>>().join(", "),
        _ => {
            let seats: std::collections::BTreeSet<usize> = plan.missing_on.iter().map(|place| place.seat).collect();
            format!("{} of {}", count(plan.missing_on.len(), "node"), count(seats.len(), "seat"))
        }
    };
    match plan.already_on.len() {
        0 => format!("{image} on {loaded}"),
        already => format!("{image} on {loaded} (already on {})", count(already, "other node")),
    }
}
