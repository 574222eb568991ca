//! A command over the seats it selected. One seat runs as a single cluster
//! always has. Several run at once, at most a bound at a time (`[class]
//! parallel`, else what this host fits): each seat prints its lines with its
//! label (`s03 │ …`), one seat's failure never stops another, and a report
//! at the end says how each seat did.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::Context;
use crate::capacity::{self, HostResources};
use crate::config::{Cluster, Settings};
use crate::exit;
use crate::parallel::in_parallel_bounded;
use crate::ui::{self, Mark, Ui};

/// The first of `clusters` on each engine they run on, in their order: where
/// a command does what the seats of one engine share (the node image, the
/// class cache) once.
pub fn first_seat_per_engine<'a, 'c>(clusters: &'a [Cluster<'c>]) -> Vec<&'a Cluster<'c>> {
    let mut engines = std::collections::BTreeSet::new();
    clusters.iter().filter(|cluster| engines.insert(cluster.engine().name.clone())).collect()
}

/// How one seat's work ended when it did not fail with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    Done,
    /// It ran to the end but did not succeed (solve: checks that still
    /// fail); says why in one line. Its details were already printed.
    Failed(String),
}

/// One seat's line of the report.
struct SeatReport {
    number: u32,
    label: String,
    cluster: String,
    engine: String,
    outcome: Outcome,
    elapsed: Duration,
}

enum Outcome {
    Done,
    Failed(String),
    /// Failed with an error; `unreachable`: the seat could not be reached.
    Error {
        first_line: String,
        unreachable: bool,
    },
}

/// Run `work` on every seat of `clusters` and return the exit status. One
/// seat: `work` as is (its error ends the command, as for a single
/// cluster). Several: see the module's comment; exit 0 when every seat is
/// done, 3 when a seat could not be reached, else 1 when one failed.
pub fn run_each<W>(context: &Context, settings: &Settings, clusters: &[Cluster], work: W) -> Result<ExitCode>
where
    W: Fn(&Context, &Cluster) -> Result<Finished> + Sync,
{
    if let [cluster] = clusters {
        return Ok(match work(context, cluster)? {
            Finished::Done => ExitCode::SUCCESS,
            Finished::Failed(_) => ExitCode::FAILURE,
        });
    }
    let nodes_per_seat = clusters.first().map_or(1, |cluster| cluster.nodes().all().len());
    let bound = capacity::seats_at_once(settings.class.parallel, clusters.len(), nodes_per_seat, HostResources::here());
    context.ui.note(&format!("{}, {bound}", ui::count(clusters.len(), "seat")));
    let reports = in_parallel_bounded(clusters, bound.seats, |cluster| {
        let seat = context.for_seat(cluster);
        let started = Instant::now();
        let outcome = match work(&seat, cluster) {
            Ok(Finished::Done) => Outcome::Done,
            Ok(Finished::Failed(why)) => Outcome::Failed(why),
            Err(error) => {
                // Said in full now, among the seat's lines; the report repeats its first line.
                let text = format!("{error:#}");
                for line in text.lines() {
                    seat.ui.error(line);
                }
                let first_line = text.lines().next().unwrap_or_default().to_string();
                Outcome::Error { first_line, unreachable: exit::is_unreachable(&error) }
            }
        };
        SeatReport {
            number: cluster.seat_of_class().number,
            label: cluster.seat_of_class().label(),
            cluster: cluster.name().to_string(),
            engine: cluster.placed_on(),
            outcome,
            elapsed: started.elapsed(),
        }
    });
    for line in report(&reports, &context.ui) {
        context.ui.note(&line);
    }
    let failed: Vec<&SeatReport> = reports.iter().filter(|seat| !matches!(seat.outcome, Outcome::Done)).collect();
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let numbers: Vec<String> = failed.iter().map(|seat| seat.number.to_string()).collect();
    context.ui.error(&format!(
        "{} of {} seats failed: {}; the others are done. Run the same command with --seat {} to retry them",
        failed.len(),
        reports.len(),
        failed.iter().map(|seat| seat.label.as_str()).collect::<Vec<_>>().join(", "),
        numbers.join(",")
    ));
    let unreachable = failed.iter().any(|seat| matches!(seat.outcome, Outcome::Error { unreachable: true, .. }));
    Ok(if unreachable { ExitCode::from(exit::UNREACHABLE) } else { ExitCode::FAILURE })
}

/// The report's lines: a header, then per seat its mark, label, cluster,
/// engine, time and, when it failed, the first line of why.
fn report(reports: &[SeatReport], ui: &Ui) -> Vec<String> {
    let header = ["SEAT", "CLUSTER", "ENGINE", "TIME", "RESULT"].map(String::from).to_vec();
    let rows = reports.iter().map(|seat| {
        let result = match &seat.outcome {
            Outcome::Done => "done".to_string(),
            Outcome::Failed(why) => shortened(why),
            Outcome::Error { first_line, .. } => shortened(first_line),
        };
        vec![seat.label.clone(), seat.cluster.clone(), seat.engine.clone(), ui::format_elapsed(seat.elapsed), result]
    });
    let lines = ui::columns(&std::iter::once(header).chain(rows).collect::<Vec<_>>());
    // The mark goes in front, outside the columns: its colour codes have no width.
    let marks = reports.iter().map(|seat| match seat.outcome {
        Outcome::Done => ui.mark(Mark::Ok),
        _ => ui.mark(Mark::Fail),
    });
    std::iter::once(" ".to_string()).chain(marks).zip(lines).map(|(mark, line)| format!("{mark} {line}")).collect()
}

/// A reason short enough for one report line (the whole was printed above).
fn shortened(why: &str) -> String {
    const LONGEST: usize = 120;
    match why.char_indices().nth(LONGEST) {
        Some((cut, _)) => format!("{}…", &why[..cut]),
        None => why.to_string(),
    }
}
