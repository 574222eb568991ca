use std::process::ExitCode;

use anyhow::Result;

use super::seats::{self, Finished};
use super::{confirm, Context, Intent};
use crate::cli::DestroyArgs;
use crate::config::Cluster;
use crate::lock;

pub fn run(context: &Context, args: &DestroyArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let clusters = context.seats(&settings, &catalog, args.seats.seat.as_ref(), Intent::Change)?;
    let nodes: usize = clusters.iter().map(|cluster| cluster.nodes().all().len()).sum();
    // Asked once, naming what goes: one cluster, or how many seats.
    let what = match clusters.as_slice() {
        [cluster] => format!("cluster {}", cluster.name()),
        seats => format!("{} seats of class {} ({})", seats.len(), settings.cluster_name, seat_names(seats)),
    };
    let question = format!("Remove {what}: {nodes} nodes, their disks, networks and volumes?");
    let consequence = format!("destroying {what} removes {nodes} nodes and everything students wrote on them");
    if !args.yes && !confirm(&question, &consequence)? {
        context.ui.note("nothing was removed");
        return Ok(ExitCode::FAILURE);
    }
    seats::run_each(context, &settings, &clusters, destroy_seat)
}

fn destroy_seat(context: &Context, cluster: &Cluster) -> Result<Finished> {
    let name = cluster.name();
    let _lock = lock::acquire(name, "labctl destroy", &context.workspace)?;
    let runner = context.runner(false);
    let (_, provider) = context.open_cluster(cluster, runner.as_ref(), None)?;
    context.ui.step(&format!("removing {name}"), || {
        let removed = provider.destroy()?;
        let summary = match removed.is_empty() {
            true => format!("nothing to remove: cluster {name} does not exist"),
            false => format!("removed {}", removed.join(", ")),
        };
        Ok(((), summary))
    })?;
    Ok(Finished::Done)
}

/// `s01-s03, s07`: the seats' labels, runs collapsed.
fn seat_names(seats: &[Cluster]) -> String {
    let numbers: Vec<u32> = seats.iter().map(|cluster| cluster.seat_of_class().number).collect();
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for number in numbers {
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == number => *last = number,
            _ => runs.push((number, number)),
        }
    }
    let label = |number: u32| format!("s{number:02}");
    runs.iter()
        .map(|&(first, last)| if first == last { label(first) } else { format!("{}-{}", label(first), label(last)) })
        .collect::<Vec<_>>()
        .join(", ")
}
