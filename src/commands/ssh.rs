use std::process::ExitCode;

use anyhow::Result;

use super::{find_node, Context, Intent};
use crate::cli::SshArgs;
use crate::cluster::Needs;

pub fn run(context: &Context, args: &SshArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let cluster = context.one_seat(&settings, &catalog, args.seats.seat.as_ref(), "ssh", Intent::Change)?;
    let node = find_node(&cluster, &args.node)?;
    let runner = context.runner(false);
    let provider = context.open_running_cluster(&cluster, runner.as_ref(), Needs::Machine(&node.name))?;
    let code = runner.run_interactive(&provider.shell_command(&node.name))?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
