use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Result;

use super::seat_reads::{each_seat, Reach, Seated};
use super::{find_node, Context, Intent};
use crate::cli::ExecArgs;
use crate::cluster::{self, Needs};
use crate::config::{Cluster, Seat};
use crate::exec::{Output, Runner};
use crate::exit;
use crate::provider::{NodeIo, NodeShell};
use crate::timeouts::Wait;
use crate::ui::Ui;

pub fn run(context: &Context, args: &ExecArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let seats = context.seats(&settings, &catalog, args.seats.seat.as_ref(), Intent::Change)?;
    match seats.as_slice() {
        [seat] => one_seat(context, seat, args),
        _ => several(context, &seats, args),
    }
}

fn one_seat(context: &Context, cluster: &Cluster, args: &ExecArgs) -> Result<ExitCode> {
    let node = find_node(cluster, &args.node)?;
    let runner = context.runner(false);
    let provider = context.open_running_cluster(cluster, runner.as_ref(), Needs::Machine(&node.name))?;
    // A terminal on both ends gets a terminal on the node; otherwise plain
    // pipes, so `labctl exec … > file` and `… < input` work.
    let io = if context.ui.both_ends_are_terminals() { NodeIo::Terminal } else { NodeIo::Stdin };
    // The user's own command: no limit (see `RealRunner::run_interactive`).
    let spec = provider.node_command(&node.name, &args.command, io, None);
    let code = runner.run_interactive(&spec)?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// The command on the node of every seat at once: no terminal and no
/// input, each seat's output captured and printed whole, every line
/// prefixed with its seat, in seat order as soon as the seats before it
/// are done. The exit status is the worst of the seats' (3 for a seat that
/// is not up).
fn several(context: &Context, seats: &[Cluster], args: &ExecArgs) -> Result<ExitCode> {
    let node = find_node(&seats[0], &args.node)?.name.as_str();
    let runner = context.runner(false);
    let argv: Vec<&str> = args.command.iter().map(String::as_str).collect();
    let printer = InSeatOrder::new(context.ui.clone(), seats);
    let results = each_seat(seats, |cluster| {
        let result = run_on_seat(cluster, context, runner.as_ref(), node, &argv);
        printer.finished(cluster.seat_of_class(), &result);
        result
    });
    let worst = results.iter().map(exit_status).max().unwrap_or(0);
    Ok(ExitCode::from(worst))
}

/// The user's command on `node` of one seat. Captured, so it has a limit:
/// a long job's (30 min).
fn run_on_seat(cluster: &Cluster, reach: &dyn Reach, runner: &dyn Runner, node: &str, argv: &[&str]) -> Result<Output> {
    let provider = reach.reach(cluster, runner)?;
    cluster::ensure_up(cluster, provider.as_ref(), runner, Needs::Machine(node))?;
    let shell = NodeShell::new(provider.as_ref(), runner);
    shell.run(&shell.command_for(Wait::Long, node, argv, "run your command"))
}

fn exit_status(result: &Seated<Output>) -> u8 {
    match result {
        Seated::Done(output) => output.code.map_or(1, |code| u8::try_from(code).unwrap_or(1)),
        Seated::Unreachable(_) => exit::UNREACHABLE,
        Seated::Failed(_) => 1,
    }
}

/// Prints each seat's output when it and every seat before it are done.
struct InSeatOrder {
    ui: Ui,
    order: Vec<u32>,
    state: Mutex<Printed>,
}

#[derive(Default)]
struct Printed {
    /// The index in `order` of the next seat to print.
    next: usize,
    /// Finished seats waiting for those before them: (stdout, stderr).
    waiting: BTreeMap<u32, (String, String)>,
}

impl InSeatOrder {
    fn new(ui: Ui, seats: &[Cluster]) -> InSeatOrder {
        let order = seats.iter().map(|seat| seat.seat_of_class().number).collect();
        InSeatOrder { ui, order, state: Mutex::default() }
    }

    fn finished(&self, seat: Seat, result: &Result<Output>) {
        let label = seat.label();
        let (stdout, stderr) = match result {
            Ok(output) => {
                let mut stderr = prefixed(&label, &output.stderr);
                if !output.success() {
                    let status =
                        output.code.map_or("killed by a signal".to_string(), |code| format!("exit status {code}"));
                    stderr.push_str(&prefixed(&label, &status));
                }
                (prefixed(&label, &output.stdout), stderr)
            }
            Err(error) => (String::new(), prefixed(&label, &format!("error: {error:#}"))),
        };
        let mut state = self.state.lock().expect("no printer panicked");
        state.waiting.insert(seat.number, (stdout, stderr));
        while let Some((stdout, stderr)) = self.order.get(state.next).and_then(|number| state.waiting.remove(number)) {
            self.ui.print(&stdout);
            self.ui.print_err(&stderr);
            state.next += 1;
        }
    }
}

/// Every line of `text` as `s03 │ line`.
fn prefixed(label: &str, text: &str) -> String {
    text.lines().map(|line| format!("{label} │ {line}\n")).collect()
}
