use std::process::ExitCode;

use anyhow::Result;

use super::{confirm, Context};
use crate::cli::DestroyArgs;
use crate::config::Cluster;
use crate::lock;

pub fn run(context: &Context, args: &DestroyArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let cluster = Cluster::new(&settings, &catalog)?;
    let (name, nodes) = (cluster.name(), cluster.nodes().all().len());
    let question = format!("Remove cluster {name}: its {nodes} nodes, their disks, network and volumes?");
    let consequence = format!("destroying cluster {name} removes its {nodes} nodes and everything on them");
    if !args.yes && !confirm(&question, &consequence)? {
        context.ui.note("nothing was removed");
        return Ok(ExitCode::FAILURE);
    }
    let _lock = lock::acquire(name, "labctl destroy", &context.workspace)?;
    let runner = context.runner(false);
    let (_, provider) = context.open_cluster(&cluster, runner.as_ref(), None)?;
    context.ui.step("removing the cluster", || {
        let removed = provider.destroy()?;
        let summary = match removed.is_empty() {
            true => format!("nothing to remove: cluster {name} does not exist"),
            false => format!("removed {}", removed.join(", ")),
        };
        Ok(((), summary))
    })?;
    Ok(ExitCode::SUCCESS)
}
