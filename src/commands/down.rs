use std::process::ExitCode;

use anyhow::Result;

use super::seats::{self, Finished};
use super::{Context, Intent};
use crate::cli::DownArgs;
use crate::config::Cluster;
use crate::lock;

pub fn run(context: &Context, args: &DownArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let clusters = context.seats(&settings, &catalog, args.seats.seat.as_ref(), Intent::Change)?;
    seats::run_each(context, &settings, &clusters, down_seat)
}

fn down_seat(context: &Context, cluster: &Cluster) -> Result<Finished> {
    let _lock = lock::acquire(cluster.name(), "labctl down", &context.workspace)?;
    let runner = context.runner(false);
    let (_, provider) = context.open_cluster(cluster, runner.as_ref(), None)?;
    if !provider.info().owns_machines {
        // Not labctl's machines: nothing to power off, and what runs on
        // them (the swarm, the registry, the students' stacks) stays.
        context.ui.note(&format!(
            "{}: nothing was stopped: the machines of [[ssh.hosts]] are not labctl's to power off, and the swarm, registry and labs on them stay as they are (`labctl destroy` takes labctl's things off them)",
            cluster.name()
        ));
        return Ok(Finished::Done);
    }
    context.ui.step(&format!("stopping the nodes of {}", cluster.name()), || {
        let stopped = provider.stop()?;
        let summary = match stopped {
            0 => format!("{}: no node was running", cluster.name()),
            n => format!("{}: stopped {n} nodes; their disks are kept, `labctl up` starts them again", cluster.name()),
        };
        Ok(((), summary))
    })?;
    Ok(Finished::Done)
}
