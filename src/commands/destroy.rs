use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{bail, Result};

use super::Context;
use crate::cli::DestroyArgs;
use crate::lock;

pub fn run(context: &Context, args: &DestroyArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    if !args.yes && !confirm(&settings.cluster_name, settings.nodes.len())? {
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

/// Ask on a terminal; refuse to guess anywhere else.
fn confirm(cluster: &str, nodes: usize) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("destroying cluster {cluster} removes its {nodes} nodes and everything on them; pass --yes to confirm (no terminal to ask on)");
    }
    eprint!("Remove cluster {cluster}: its {nodes} nodes, their disks, network and volumes? [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES"))
}
