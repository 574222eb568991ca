use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context as _, Result};
use serde::Serialize;

use super::seat_reads::{each_seat, Reach, SayingProvider, Seated};
use super::{Context, Intent};
use crate::cli::StatusArgs;
use crate::cluster::{self, Status};
use crate::config::Cluster;
use crate::exec::Runner;
use crate::exit::{self, Unreachable};
use crate::lifecycle::grades::{Grade, Grades};
use crate::provider::Isolation;
use crate::templates::Templates;

/// Which view `status` gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `labctl status`: one seat's nodes in detail, a class one line a seat.
    Auto,
    /// `labctl class status`: one line a seat, even for one seat.
    Class,
}

pub fn run(context: &Context, args: &StatusArgs, view: View) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let seats = context.seats(&settings, &catalog, args.seats.seat.as_ref(), Intent::Read)?;
    // One path for one seat and many: every seat read the same way, then
    // one seat's nodes in detail, or a line a seat.
    let runner = context.runner(false);
    let templates = context.templates()?;
    match (view, seats.as_slice()) {
        (View::Auto, [_]) => {
            let read = read_seats(&seats, &SayingProvider(context), runner.as_ref(), &templates, Reading::OneCluster);
            let status = read
                .into_iter()
                .next()
                .map_or_else(|| Err(anyhow!("internal error: no seat read")), Seated::into_result)?;
            one_seat(context, status, args.json)
        }
        _ => {
            let read = read_seats(&seats, context, runner.as_ref(), &templates, Reading::Class);
            class(context, &seats, read, args.json)
        }
    }
}

/// How a read over seats says a seat whose status could not be read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// As the error of a command on one cluster.
    OneCluster,
    /// As a seat of the class that cannot be reached.
    Class,
}

fn one_seat(context: &Context, status: Status, json: bool) -> Result<ExitCode> {
    let text = if json { serde_json::to_string_pretty(&status)? + "\n" } else { table(&status) };
    context.ui.print(&text);
    // Scripts gate on the status: every node in the swarm and Ready, or 3.
    let not_ready = status.not_ready();
    if not_ready.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    context.ui.warn(&format!(
        "cluster {} is not up: not Ready: {}; run labctl up",
        status.cluster,
        not_ready.join(", ")
    ));
    Ok(ExitCode::from(exit::UNREACHABLE))
}

fn table(status: &Status) -> String {
    let header = ["NODE", "ROLE", "IP", "MACHINE", "SWARM", "STATUS", "AVAILABILITY", "MANAGER"].map(String::from);
    let dash = || "-".to_string();
    let rows: Vec<[String; 8]> = status
        .nodes
        .iter()
        .map(|node| {
            [
                node.name.clone(),
                node.role.to_string(),
                node.ip.clone(),
                node.state.clone(),
                node.swarm.clone(),
                node.status.clone().unwrap_or_else(dash),
                node.availability.clone().unwrap_or_else(dash),
                node.manager_status.clone().unwrap_or_else(dash),
            ]
        })
        .collect();
    let engine = match &status.engine {
        Some(engine) if engine != "local" => format!(", engine {engine}"),
        _ => String::new(),
    };
    let mut text = format!(
        "cluster {} ({} provider{engine}, {})\n\n",
        status.cluster,
        status.provider,
        status.isolation.describe()
    );
    for line in crate::ui::columns(&[&[header][..], &rows].concat()) {
        text.push_str(&line);
        text.push('\n');
    }
    text.push('\n');
    if let Some(registry) = &status.registry {
        text.push_str(&format!("registry  {} ({})\n", registry.address, registry.state));
    }
    if status.labs.is_empty() {
        text.push_str("labs      none seeded\n");
    }
    for lab in &status.labs {
        text.push_str(&format!("lab       {} in {} ({})\n", lab.id, lab.target, crate::ui::count(lab.files, "file")));
    }
    text
}

// ---------------------------------------------------------------------------
// A class: one line a seat
// ---------------------------------------------------------------------------

/// `class status --json`.
#[derive(Debug, Serialize)]
struct ClassStatus<'a> {
    class: &'a str,
    seats: &'a [SeatLine],
}

/// One seat of `class status`.
#[derive(Debug, Serialize)]
struct SeatLine {
    seat: u32,
    #[serde(skip)]
    label: String,
    cluster: String,
    engine: String,
    /// How far its students are from the host; null when it could not be asked.
    isolation: Option<Isolation>,
    /// False when the seat's runtime could not be asked (see `error`).
    reachable: bool,
    /// Every node in the swarm and Ready.
    ready: bool,
    /// How many nodes are in the swarm and Ready, of `nodes`.
    nodes_ready: usize,
    nodes: usize,
    /// The nodes that are not, each with what is wrong.
    not_ready: Vec<String>,
    /// "up", "down" or "unknown" (its node is not running); null when
    /// labctl.toml disables the registry.
    registry: Option<&'static str>,
    /// The labs seeded on the manager; null when it could not be read.
    labs_seeded: Option<Vec<String>>,
    /// The labs labctl.toml seeds.
    labs_configured: Vec<String>,
    /// The last `labctl check` of each lab, from this host's records.
    checks: Vec<LastCheck>,
    /// The host port students log in on, when they do.
    ssh_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct LastCheck {
    lab: String,
    passed: usize,
    total: usize,
    checked_at: String,
    /// How long before this `status` it ran.
    #[serde(skip)]
    age: Option<Duration>,
}

fn class(context: &Context, seats: &[Cluster], statuses: Vec<Seated<Status>>, json: bool) -> Result<ExitCode> {
    let grades = Grades::in_workspace(&context.workspace);
    let now = SystemTime::now();
    let lines: Vec<SeatLine> = seats
        .iter()
        .zip(statuses)
        .map(|(cluster, status)| {
            let records = grades.of_cluster(cluster.name()).unwrap_or_else(|error| {
                context.ui.warn(&format!("{error:#}"));
                Vec::new()
            });
            seat_line(cluster, status, &records, now)
        })
        .collect();
    let class = seats.first().map_or("", |seat| seat.class_name());
    let of = seats.first().map_or(0, |seat| seat.seat_of_class().of);
    let text = if json {
        serde_json::to_string_pretty(&ClassStatus { class, seats: &lines })? + "\n"
    } else {
        class_table(class, of, &lines)
    };
    context.ui.print(&text);
    // Scripts gate on it as on one seat's status: every seat Ready, or 3.
    for line in &lines {
        if let Some(error) = &line.error {
            context.ui.warn(&format!("seat {}: {error}", line.seat));
        }
    }
    let not_ready: Vec<&SeatLine> = lines.iter().filter(|line| !line.ready).collect();
    if not_ready.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let described: Vec<String> = not_ready.iter().map(|line| describe_not_ready(line)).collect();
    let numbers: Vec<String> = not_ready.iter().map(|line| line.seat.to_string()).collect();
    context.ui.warn(&format!("not Ready: {}; run labctl up --seat {}", described.join(", "), numbers.join(",")));
    Ok(ExitCode::from(exit::UNREACHABLE))
}

/// `s02 (node1 (Down))`, `s03 (cannot be reached)`.
fn describe_not_ready(line: &SeatLine) -> String {
    match line.reachable {
        false => format!("{} (cannot be reached)", line.label),
        true => format!("{} ({})", line.label, line.not_ready.join(", ")),
    }
}

/// Every seat's status, [`super::seat_reads::READ_AT_ONCE`] seats at a time; a
/// seat whose runtime does not answer is unreachable, the others are read.
fn read_seats(
    seats: &[Cluster],
    reach: &dyn Reach,
    runner: &dyn Runner,
    templates: &Templates,
    reading: Reading,
) -> Vec<Seated<Status>> {
    each_seat(seats, |cluster| {
        let provider = reach.reach(cluster, runner)?;
        let status = cluster::status(cluster, provider.as_ref(), runner, templates);
        match reading {
            Reading::OneCluster => status,
            Reading::Class => status.context(Unreachable::cannot_reach(cluster.name())),
        }
    })
}

fn seat_line(cluster: &Cluster, status: Seated<Status>, records: &[Grade], now: SystemTime) -> SeatLine {
    let labs_configured: Vec<String> = cluster.seeded().iter().map(|placed| placed.id().to_string()).collect();
    let checks = records
        .iter()
        .map(|grade| LastCheck {
            lab: grade.lab.clone(),
            passed: grade.passed(),
            total: grade.total(),
            checked_at: grade.checked_at.clone(),
            age: grade.age(now),
        })
        .collect();
    let mut line = SeatLine {
        seat: cluster.seat_of_class().number,
        label: cluster.seat_of_class().label(),
        cluster: cluster.name().to_string(),
        engine: cluster.placed_on(),
        isolation: None,
        reachable: false,
        ready: false,
        nodes_ready: 0,
        nodes: cluster.nodes().iter().count(),
        not_ready: Vec::new(),
        registry: None,
        labs_seeded: None,
        labs_configured,
        checks,
        ssh_port: cluster.student_access().map(|(_, port)| port),
        error: status.problem().map(str::to_string),
    };
    let Seated::Done(status) = status else { return line };
    if let Some(place) = &status.engine {
        line.engine = place.clone();
    }
    line.reachable = true;
    line.isolation = Some(status.isolation);
    line.not_ready = status.not_ready();
    line.ready = line.not_ready.is_empty();
    line.nodes_ready = status.nodes.len() - line.not_ready.len();
    line.nodes = status.nodes.len();
    // Its state is read on its node: unknown while that node is not running.
    line.registry = status.registry.map(|registry| match registry.state.as_str() {
        "running" => "up",
        "unknown" => "unknown",
        _ => "down",
    });
    // The seeded labs are read on the manager: unknown while it is not running.
    let manager_read = status.nodes.first().is_some_and(|manager| manager.swarm != "unknown");
    line.labs_seeded = manager_read.then(|| status.labs.into_iter().map(|lab| lab.id).collect());
    line
}

fn class_table(class: &str, of: u32, lines: &[SeatLine]) -> String {
    let header =
        ["SEAT", "CLUSTER", "ENGINE", "ISOLATION", "NODES", "REGISTRY", "LABS", "SSH", "LAST CHECKS"].map(String::from);
    let dash = || "-".to_string();
    let rows: Vec<[String; 9]> = lines
        .iter()
        .map(|line| {
            let nodes = match line.reachable {
                true => format!("{}/{}", line.nodes_ready, line.nodes),
                false => "unreachable".to_string(),
            };
            let labs = line.labs_seeded.as_ref().map_or_else(dash, |seeded| {
                let present = line.labs_configured.iter().filter(|lab| seeded.contains(lab)).count();
                format!("{present}/{}", line.labs_configured.len())
            });
            let checks: Vec<String> = line.checks.iter().map(last_check).collect();
            [
                line.label.clone(),
                line.cluster.clone(),
                line.engine.clone(),
                line.isolation.map_or_else(dash, |isolation| isolation.word().to_string()),
                nodes,
                match line.registry {
                    None => dash(),
                    Some("unknown") => "?".to_string(),
                    Some(state) => state.to_string(),
                },
                labs,
                line.ssh_port.map_or_else(dash, |port| port.to_string()),
                if checks.is_empty() { dash() } else { checks.join(", ") },
            ]
        })
        .collect();
    let ready = lines.iter().filter(|line| line.ready).count();
    let seats = match lines.len() as u32 {
        all if all == of => crate::ui::count(lines.len(), "seat"),
        some => format!("{some} of {of} seats"),
    };
    let mut text = format!("class {class}: {seats}, {ready} Ready\n\n");
    for line in crate::ui::columns(&[&[header][..], &rows].concat()) {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// `lab1 ✓ 7/7 2m ago`
fn last_check(check: &LastCheck) -> String {
    let mark = if check.passed == check.total { "✓" } else { "✗" };
    let age = check.age.map_or_else(|| "?".to_string(), age);
    format!("{} {mark} {}/{} {age}", check.lab, check.passed, check.total)
}

/// `just now`, `4m ago`, `3h ago`, `2d ago`: how long ago, roughly.
fn age(elapsed: Duration) -> String {
    match elapsed.as_secs() {
        0..60 => "just now".to_string(),
        seconds @ 60..3600 => format!("{}m ago", seconds / 60),
        seconds @ 3600..172_800 => format!("{}h ago", seconds / 3600),
        seconds => format!("{}d ago", seconds / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::commands::seat_reads::Recorded;
    use crate::config::{test_catalog, test_settings};
    use crate::exec::fake::RecordingRunner;
    use crate::lifecycle::check::Outcome;

    const NODES: [&str; 4] = ["manager", "node1", "node2", "node3"];

    /// Seat `seat` of class `swarm-lab` as its engine and nodes answer:
    /// `running` nodes up, in the swarm, Ready; the others exited (Down).
    fn seat_answers(runner: &RecordingRunner, seat: &str, running: &[&str], registry: &str, seeded: &[&str]) {
        let cluster = format!("swarm-lab-{seat}");
        let listing: String = NODES
            .map(|node| format!("{node}\t{}\n", if running.contains(&node) { "running" } else { "exited" }))
            .concat();
        runner.always(&format!("docker ps --all --filter label=labctl.cluster={cluster} --format"), 0, &listing, "");
        let mut entries = String::new();
        for node in NODES {
            let info = r#"{"LocalNodeState":"active","NodeID":"x"}"#;
            runner.always(&format!("docker exec {cluster}-{node} docker info"), 0, info, "");
            let status = if running.contains(&node) { "Ready" } else { "Down" };
            entries.push_str(&format!(
                r#"{{"ID":"{node}","Hostname":"{node}","Status":"{status}","Availability":"Active","ManagerStatus":""}}"#
            ));
            entries.push('\n');
        }
        runner.always(&format!("docker exec {cluster}-manager docker node ls"), 0, &entries, "");
        runner.always(&format!("docker exec {cluster}-manager docker ps --all"), 0, registry, "");
        let records: String = seeded
            .iter()
            .map(|lab| format!(r#"{{"id":"{lab}","target":"/root/work/{lab}","labctl":"0.1.0","files":[]}}"#))
            .collect();
        runner.always(&format!("docker exec {cluster}-manager sh -c"), 0, &records, "");
    }

    fn outcome(name: &str, passed: bool) -> Outcome {
        Outcome {
            name: name.into(),
            kind: "command".into(),
            passed,
            detail: String::new(),
            hint: String::new(),
            failure: None,
        }
    }

    #[test]
    fn a_class_is_one_line_a_seat_and_a_seat_that_does_not_answer_hides_no_other() {
        let settings = test_settings("[class]\nseats = 4\naccess = \"key\"\n");
        let seats: Vec<Cluster> =
            (1..=4).map(|number| Cluster::seat(&settings, test_catalog(), number).unwrap()).collect();
        let runner = RecordingRunner::default();
        let rootless = r#"{"SecurityOptions":["name=seccomp,profile=default","name=rootless"],"CgroupVersion":"1"}"#;
        runner.always("docker info --format", 0, rootless, "");
        seat_answers(&runner, "s01", &NODES, "running\n", &["lab1", "lab2", "lab3", "lab4", "visualizer"]);
        seat_answers(&runner, "s02", &["manager", "node1"], "exited\n", &["lab1"]);
        seat_answers(&runner, "s04", &["node1", "node2", "node3"], "", &[]);
        runner.always(
            "docker ps --all --filter label=labctl.cluster=swarm-lab-s03",
            1,
            "",
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock",
        );
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();

        let workspace = tempfile::tempdir().unwrap();
        let grades = Grades::in_workspace(workspace.path());
        let checked = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let lab1 = [outcome("a", true), outcome("b", true)];
        grades.record(&Grade::new("lab1", "swarm-lab-s01", &lab1, checked)).unwrap();
        grades.record(&Grade::new("lab2", "swarm-lab-s01", &[outcome("a", false)], checked)).unwrap();
        grades
            .record(&Grade::new("lab1", "swarm-lab-s03", &[outcome("a", false), outcome("b", true)], checked))
            .unwrap();

        let statuses = read_seats(&seats, &Recorded, &runner, &templates, Reading::Class);
        let now = checked + Duration::from_secs(125);
        let lines: Vec<SeatLine> = seats
            .iter()
            .zip(statuses)
            .map(|(seat, status)| seat_line(seat, status, &grades.of_cluster(seat.name()).unwrap(), now))
            .collect();
        assert_eq!(
            class_table("swarm-lab", 4, &lines),
            "class swarm-lab: 4 seats, 1 Ready\n\n\
             SEAT  CLUSTER        ENGINE  ISOLATION  NODES        REGISTRY  LABS  SSH   LAST CHECKS\n\
             s01   swarm-lab-s01  local   rootless   4/4          up        5/6   2201  lab1 ✓ 2/2 2m ago, lab2 ✗ 0/1 2m ago\n\
             s02   swarm-lab-s02  local   rootless   2/4          down      1/6   2202  -\n\
             s03   swarm-lab-s03  local   -          unreachable  -         -     2203  lab1 ✗ 1/2 2m ago\n\
             s04   swarm-lab-s04  local   rootless   0/4          ?         -     2204  -\n"
        );
        assert_eq!(lines[1].not_ready, ["node2 (Down)", "node3 (Down)"]);
        assert_eq!(describe_not_ready(&lines[1]), "s02 (node2 (Down), node3 (Down))");
        assert_eq!(describe_not_ready(&lines[2]), "s03 (cannot be reached)");
        let error = lines[2].error.as_deref().unwrap();
        assert!(
            error.starts_with("cluster swarm-lab-s03 cannot be reached: could not list the node containers"),
            "{error}"
        );
        // Each seat was asked about its own containers only.
        assert!(
            runner.command_lines().iter().all(|line| !line.contains("swarm-lab-s03-")),
            "{:?}",
            runner.command_lines()
        );

        let json: serde_json::Value = serde_json::to_value(ClassStatus { class: "swarm-lab", seats: &lines }).unwrap();
        assert_eq!(
            json["seats"][0]["checks"][1],
            serde_json::json!({"lab": "lab2", "passed": 0, "total": 1, "checked_at": "2027-01-15T08:00:00Z"})
        );
        assert_eq!(json["seats"][1]["registry"], "down");
        assert_eq!(json["seats"][3]["registry"], "unknown", "asked on a manager that is not running");
        assert_eq!(json["seats"][2]["reachable"], false);
        assert_eq!(json["seats"][2]["labs_seeded"], serde_json::Value::Null);
    }

    #[test]
    fn a_selection_says_how_many_of_the_class_it_shows() {
        let settings = test_settings("[class]\nseats = 3\naccess = \"none\"\n");
        let seat = Cluster::seat(&settings, test_catalog(), 2).unwrap();
        let line = seat_line(&seat, Seated::Unreachable("down".into()), &[], SystemTime::now());
        let table = class_table("swarm-lab", 3, &[line]);
        assert!(table.starts_with("class swarm-lab: 1 of 3 seats, 0 Ready\n"), "{table}");
    }

    #[test]
    fn ages_read_roughly() {
        let ages = [0, 59, 60, 3599, 3600, 172_799, 172_800].map(|seconds| age(Duration::from_secs(seconds)));
        assert_eq!(ages, ["just now", "just now", "1m ago", "59m ago", "1h ago", "47h ago", "2d ago"]);
    }
}
