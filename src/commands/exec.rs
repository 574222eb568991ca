use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;

use super::{find_node, Context, Intent};
use crate::cli::ExecArgs;
use crate::cluster::Needs;
use crate::provider::NodeIo;

pub fn run(context: &Context, args: &ExecArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let cluster = context.one_seat(&settings, &catalog, args.seats.seat.as_ref(), "exec", Intent::Change)?;
    let node = find_node(&cluster, &args.node)?;
    let runner = context.runner(false);
    let provider = context.open_running_cluster(&cluster, runner.as_ref(), Needs::Machine(&node.name))?;
    // A terminal on both ends gets a terminal on the node; otherwise plain
    // pipes, so `labctl exec … > file` and `… < input` work.
    let io = if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        NodeIo::Terminal
    } else {
        NodeIo::Stdin
    };
    // The user's own command: no limit (see `RealRunner::run_interactive`).
    let spec = provider.node_command(&node.name, &args.command, io, None);
    let code = runner.run_interactive(&spec)?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
