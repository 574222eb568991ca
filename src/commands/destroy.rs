use std::process::ExitCode;

use anyhow::Result;

use super::{confirm, Context};
use crate::cli::DestroyArgs;
use crate::lock;

pub fn run(context: &Context, args: &DestroyArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let (cluster, nodes) = (&settings.cluster_name, settings.nodes.all().len());
    let question = format!("Remove cluster {cluster}: its {nodes} nodes, their disks, network and volumes?");
    let consequence = format!("destroying cluster {cluster} removes its {nodes} nodes and everything on them");
    if !args.yes && !confirm(&question, &consequence)? {
        context.ui.note("nothing was removed");
        return Ok(ExitCode::FAILURE);
    }
    let _lock = lock::acquire(&settings.cluster_name, "labctl destroy", &context.workspace)?;
    let runner = context.runner(false);
    let (_, provider) = context.open_cluster(&settings, runner.as_ref(), None)?;
    context.ui.step("removing the cluster", || {
        let removed = provider.destroy()?;
        let summary = match removed.is_empty() {
            true => format!("nothing to remove: cluster {} does not exist", settings.cluster_name),
            false => format!("removed {}", removed.join(", ")),
        };
        Ok(((), summary))
    })?;
    Ok(ExitCode::SUCCESS)
}
