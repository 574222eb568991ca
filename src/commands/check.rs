use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{anyhow, Result};

use super::gradebook::{self, Report, SeatGrade};
use super::seat_reads::{each_seat, Reach, SayingProvider, Seated};
use super::{Context, Intent};
use crate::cli::CheckArgs;
use crate::cluster::{self, Needs};
use crate::config::Cluster;
use crate::exec::Runner;
use crate::labs::manifest::Language;
use crate::labs::Lab;
use crate::lifecycle::check::{self, Outcome};
use crate::lifecycle::grades::{Grade, Grades};
use crate::lifecycle::mesh::Mesh;
use crate::provider::NodeShell;
use crate::templates::Templates;
use crate::ui::Mark;

pub fn run(context: &Context, args: &CheckArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let seats = context.seats(&settings, &catalog, args.seats.seat.as_ref(), Intent::Read)?;
    let first = seats.first().ok_or_else(|| anyhow!("internal error: no seat selected"))?;
    let templates = context.templates()?;
    let lab = first.lab(&args.lab)?.lab;
    // Every seat has the same node names: one look is enough.
    check::check_nodes(lab, first)?;
    if lab.manifest.checks.is_empty() {
        return Err(anyhow!("lab {} declares no checks in its lab.toml", lab.manifest.id));
    }
    let language = args.lang.unwrap_or(lab.manifest.handout_language());
    // One path for one seat and many: every seat checked the same way, then
    // one seat's report in full, or the gradebook.
    let runner = context.runner(false);
    let one = seats.len() == 1 && !args.csv;
    // One seat says its provider, as every command on a cluster does; a
    // class says it only with -v.
    let reach: &dyn Reach = if one { &SayingProvider(context) } else { context };
    let results = check_seats(&seats, reach, runner.as_ref(), lab, &templates, language);
    match (seats.as_slice(), args.csv) {
        ([seat], false) => {
            let result = results.into_iter().next().ok_or_else(|| anyhow!("internal error: no seat checked"))?;
            one_seat(context, seat, lab, result, args.json)
        }
        _ => class(context, &seats, lab, results, args),
    }
}

/// One seat's checks in full: each with its detail and hint, or as JSON;
/// a seat that could not be checked is the command's error.
fn one_seat(
    context: &Context,
    cluster: &Cluster,
    lab: &Lab,
    result: Seated<Vec<Outcome>>,
    json: bool,
) -> Result<ExitCode> {
    if let (Seated::Unreachable(why), true) = (&result, json) {
        let report = Report::unreachable(&lab.manifest.id, why.clone());
        context.ui.print(&(serde_json::to_string_pretty(&report)? + "\n"));
    }
    let outcomes = result.into_result()?;
    record(context, lab, cluster, &outcomes);
    let passed = outcomes.iter().all(|outcome| outcome.passed);

    let text = if json {
        serde_json::to_string_pretty(&Report::checked(&lab.manifest.id, &outcomes))? + "\n"
    } else {
        let mut text = String::new();
        for outcome in &outcomes {
            let mark = context.ui.mark(if outcome.passed { Mark::Ok } else { Mark::Fail });
            text.push_str(&format!("{mark} {}: {}\n", outcome.name, outcome.detail));
            if !outcome.passed {
                text.push_str(&format!("    hint: {}\n", outcome.hint));
            }
        }
        let failed = outcomes.iter().filter(|outcome| !outcome.passed).count();
        text.push_str(&match failed {
            0 => format!("{}: all {} checks pass\n", lab.manifest.id, outcomes.len()),
            n => format!("{}: {n} of {} checks fail\n", lab.manifest.id, outcomes.len()),
        });
        text
    };
    context.ui.print(&text);
    Ok(if passed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Several seats (or `--csv`): a gradebook.
fn class(
    context: &Context,
    seats: &[Cluster],
    lab: &Lab,
    results: Vec<Seated<Vec<Outcome>>>,
    args: &CheckArgs,
) -> Result<ExitCode> {
    let grades: Vec<SeatGrade> = seats
        .iter()
        .zip(results)
        .map(|(cluster, result)| {
            if let Seated::Done(outcomes) = &result {
                record(context, lab, cluster, outcomes);
            }
            SeatGrade { seat: cluster.seat_of_class(), cluster: cluster.name().to_string(), result }
        })
        .collect();
    let names: Vec<String> = lab.manifest.checks.iter().map(|spec| spec.name.clone()).collect();
    let id = &lab.manifest.id;
    let text = if args.json {
        gradebook::json(id, &names, &grades)?
    } else if args.csv {
        gradebook::csv(&names, &grades)
    } else {
        gradebook::table(id, &names, &grades)
    };
    context.ui.print(&text);
    for grade in &grades {
        if let Some(problem) = grade.result.problem() {
            context.ui.warn(&format!("{}: {problem}", grade.seat));
        }
    }
    Ok(ExitCode::from(gradebook::exit_status(&grades)))
}

/// Check `lab` on every seat, [`super::seat_reads::READ_AT_ONCE`] seats at a
/// time; a seat that is not up is unreachable, the others are checked.
fn check_seats(
    seats: &[Cluster],
    reach: &dyn Reach,
    runner: &dyn Runner,
    lab: &Lab,
    templates: &Templates,
    language: Language,
) -> Vec<Seated<Vec<Outcome>>> {
    each_seat(seats, |cluster| {
        let provider = reach.reach(cluster, runner)?;
        // Whether the manager's Docker answers is known from the reads (see
        // `run_checks`): only its machine is looked at first.
        let manager = cluster.nodes().manager().name.as_str();
        cluster::ensure_up(cluster, provider.as_ref(), runner, Needs::Machine(manager))?;
        let shell = NodeShell::new(provider.as_ref(), runner);
        check::run_checks(lab, cluster, templates, shell, language, &Mesh::default())
    })
}

/// Keep the seat's result for `class status`; a record that cannot be
/// written costs the check nothing but a warning.
pub(super) fn record(context: &Context, lab: &Lab, cluster: &Cluster, outcomes: &[Outcome]) {
    let grade = Grade::new(&lab.manifest.id, cluster.name(), outcomes, SystemTime::now());
    if let Err(error) = Grades::in_workspace(&context.workspace).record(&grade) {
        context.ui.warn(&format!("{error:#}"));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::commands::seat_reads::Recorded;
    use crate::config::test_settings_with;
    use crate::exec::fake::RecordingRunner;
    use crate::labs::Catalog;

    const QUIZ: &str = r#"id = "quiz"
title = "Quiz"
title_ko = "퀴즈"
dir = "quiz"
language = "en"
files = []

[[checks]]
kind = "command"
name = "a exists"
command = "test -e a"
hint_ko = "a"
hint_en = "make a"

[[checks]]
kind = "command"
name = "b, \"quoted\""
command = "test -e b"
hint_ko = "b"
hint_en = "make b"
"#;

    fn catalog() -> (tempfile::TempDir, Catalog) {
        let workspace = tempfile::tempdir().unwrap();
        let lab = workspace.path().join("labs/quiz");
        std::fs::create_dir_all(&lab).unwrap();
        std::fs::write(lab.join("lab.toml"), QUIZ).unwrap();
        std::fs::write(lab.join("README.md"), "# 퀴즈\n").unwrap();
        std::fs::write(lab.join("README.en.md"), "# Quiz\n").unwrap();
        let catalog = Catalog::load(workspace.path()).unwrap();
        (workspace, catalog)
    }

    fn running(runner: &RecordingRunner, cluster: &str) {
        let listing: String = ["manager", "node1", "node2", "node3"].map(|node| format!("{node}\trunning\n")).concat();
        runner.always(&format!("docker ps --all --filter label=labctl.cluster={cluster} --format"), 0, &listing, "");
    }

    /// Seat 1 passes both checks, seat 2 only the first, seat 3 has no node.
    fn graded(catalog: &Catalog) -> Vec<SeatGrade> {
        let settings = test_settings_with("[class]\nseats = 3\naccess = \"none\"\n", catalog);
        let seats: Vec<Cluster> = (1..=3).map(|number| Cluster::seat(&settings, catalog, number).unwrap()).collect();
        let runner = RecordingRunner::lenient();
        running(&runner, "swarm-lab-s01");
        running(&runner, "swarm-lab-s02");
        runner.always("docker exec swarm-lab-s02-manager sh -c 'test -e b'", 1, "", "no b here\n");
        let lab = seats[0].lab("quiz").unwrap().lab;
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let results = check_seats(&seats, &Recorded, &runner, lab, &templates, Language::En);
        // Nothing ran on seat 3's nodes: it has none.
        assert!(
            !runner.command_lines().iter().any(|line| line.contains("swarm-lab-s03-")),
            "{:?}",
            runner.command_lines()
        );
        seats
            .iter()
            .zip(results)
            .map(|(seat, result)| SeatGrade { seat: seat.seat_of_class(), cluster: seat.name().to_string(), result })
            .collect()
    }

    fn names() -> Vec<String> {
        vec!["a exists".to_string(), "b, \"quoted\"".to_string()]
    }

    #[test]
    fn the_gradebook_is_a_row_a_seat_and_a_column_a_check() {
        let (_workspace, catalog) = catalog();
        let grades = graded(&catalog);
        assert_eq!(
            gradebook::table("quiz", &names(), &grades),
            "quiz: 3 seats: 1 pass every check, 1 fail some, 1 unreachable\n\n\
             SEAT  CLUSTER        1  2  TOTAL\n\
             s01   swarm-lab-s01  ✓  ✓  2/2\n\
             s02   swarm-lab-s02  ✓  ✗  1/2\n\
             s03   swarm-lab-s03  ·  ·  unreachable\n\n\
             1  a exists\n\
             2  b, \"quoted\"\n"
        );
        assert_eq!(gradebook::exit_status(&grades), crate::exit::UNREACHABLE, "a seat could not be reached");
        assert_eq!(gradebook::exit_status(&grades[..2]), 1, "a check fails");
        assert_eq!(gradebook::exit_status(&grades[..1]), 0);
    }

    #[test]
    fn the_gradebook_as_csv_quotes_what_a_spreadsheet_would_split() {
        let (_workspace, catalog) = catalog();
        assert_eq!(
            gradebook::csv(&names(), &graded(&catalog)),
            "seat,cluster,a exists,\"b, \"\"quoted\"\"\",passed,total\r\n\
             1,swarm-lab-s01,1,1,2,2\r\n\
             2,swarm-lab-s02,1,0,1,2\r\n\
             3,swarm-lab-s03,,,unreachable,2\r\n"
        );
    }

    #[test]
    fn the_gradebook_as_json_has_each_seats_report() {
        let (_workspace, catalog) = catalog();
        let json: serde_json::Value =
            serde_json::from_str(&gradebook::json("quiz", &names(), &graded(&catalog)).unwrap()).unwrap();
        assert_eq!(json["lab"], "quiz");
        assert_eq!(json["checks"], serde_json::json!(names()));
        let seats = json["seats"].as_array().unwrap();
        let summary: Vec<(u64, &str, bool, bool)> = seats
            .iter()
            .map(|seat| {
                let text = seat["cluster"].as_str().unwrap();
                (
                    seat["seat"].as_u64().unwrap(),
                    text,
                    seat["reachable"].as_bool().unwrap(),
                    seat["passed"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [(1, "swarm-lab-s01", true, true), (2, "swarm-lab-s02", true, false), (3, "swarm-lab-s03", false, false)]
        );
        assert_eq!(seats[1]["checks"][1]["detail"], "exit 1: no b here");
        assert_eq!(seats[1]["checks"][1]["hint"], "make b");
        assert_eq!(seats[2]["checks"], serde_json::json!([]));
        assert_eq!(seats[2]["error"], "cluster swarm-lab-s03 is not up (no node is running): run labctl up");
        assert!(seats[0].get("error").is_none());
    }
}
