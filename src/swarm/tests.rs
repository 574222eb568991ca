use std::time::Duration;

use super::*;
use crate::config::{test_settings, Cluster};
use crate::exec::fake::RecordingRunner;
use crate::labs::Catalog;
use crate::provider::docker::DockerProvider;
use crate::provider::ssh::{HostKeys, SshProvider};
use crate::provider::NodeShell;
use crate::templates::Templates;

const TOKEN: &str = "SWMTKN-1-49nj1cmql0jkz5s954yi3oex3nedyz0fb0xx14ie39trti4wxv-8vxv8rssmk743ojnwacrr2e7c";

fn info(state: &str, id: &str, manager: bool) -> String {
    format!(r#"{{"LocalNodeState":"{state}","NodeID":"{id}","NodeAddr":"","ControlAvailable":{manager},"Error":""}}"#)
}

fn entry(id: &str, hostname: &str, status: &str, manager_status: &str) -> String {
    format!(
        r#"{{"Availability":"Active","Hostname":"{hostname}","ID":"{id}","ManagerStatus":"{manager_status}","Status":"{status}"}}"#
    )
}

fn all_ready() -> String {
    [
        entry("m1", "manager", "Ready", "Leader"),
        entry("n1", "node1", "Ready", ""),
        entry("n2", "node2", "Ready", ""),
        entry("n3", "node3", "Ready", ""),
    ]
    .join("\n")
}

fn probe(node: &str) -> String {
    format!("docker exec swarm-lab-{node} docker info --format '{{{{json .Swarm}}}}'")
}

const NODE_LS: &str = "docker exec swarm-lab-manager docker node ls";

/// Run the bootstrap against the recording runner.
fn bootstrap(runner: &RecordingRunner) -> Result<Report> {
    run_bootstrap(runner, false)
}

fn run_bootstrap(runner: &RecordingRunner, reinit: bool) -> Result<Report> {
    bootstrap_on(runner, reinit, false)
}

/// The bootstrap; `guarded`: on machines labctl does not own (the guard the
/// ssh provider turns on), run through the docker provider's command lines.
fn bootstrap_on(runner: &RecordingRunner, reinit: bool, guarded: bool) -> Result<Report> {
    let settings = test_settings("");
    let catalog = Catalog::load(std::path::Path::new("/nonexistent")).unwrap();
    let cluster = Cluster::new(&settings, &catalog).unwrap();
    let provider = DockerProvider::new(&cluster, runner);
    let shell = NodeShell::new(&provider, runner);
    let templates = Templates::load(std::path::Path::new("/nonexistent")).unwrap();
    Bootstrap::new(&cluster, shell, &templates)
        .reinit_swarm(reinit)
        .own_swarms_only(guarded)
        .with_ready_deadline(Duration::from_millis(600))
        .with_settle_deadline(Duration::from_millis(600))
        .run()
}

fn healthy(runner: &RecordingRunner) {
    runner.answer(&probe("manager"), 0, &info("active", "m1", true), "");
    for (node, id) in [("node1", "n1"), ("node2", "n2"), ("node3", "n3")] {
        runner.answer(&probe(node), 0, &info("active", id, false), "");
    }
}

#[test]
fn a_fresh_cluster_is_initialised_and_joined() {
    let runner = RecordingRunner::lenient();
    runner.answer(&probe("manager"), 0, &info("inactive", "", false), "");
    runner.answer(&probe("manager"), 0, &info("active", "m1", true), "");
    for (node, id) in [("node1", "n1"), ("node2", "n2"), ("node3", "n3")] {
        runner.answer(&probe(node), 0, &info("inactive", "", false), "");
        runner.answer(&probe(node), 0, &info("active", id, false), "");
    }
    runner.answer(NODE_LS, 0, &entry("m1", "manager", "Ready", "Leader"), "");
    runner.answer("docker exec swarm-lab-manager docker swarm join-token", 0, &format!("{TOKEN}\n"), "");
    runner.always(NODE_LS, 0, &all_ready(), "");

    let report = bootstrap(&runner).unwrap();
    assert_eq!(
        report,
        Report { initialised: true, joined: vec!["node1".into(), "node2".into(), "node3".into()], ..Report::default() }
    );
    let mut changes = runner.changes();
    changes.sort();
    assert_eq!(
        changes,
        vec![
            "docker exec --interactive swarm-lab-node1 sh -c '#!/bin/sh…' labctl-join 192.168.56.11 192.168.56.11:2377 192.168.56.10:2377",
            "docker exec --interactive swarm-lab-node2 sh -c '#!/bin/sh…' labctl-join 192.168.56.12 192.168.56.12:2377 192.168.56.10:2377",
            "docker exec --interactive swarm-lab-node3 sh -c '#!/bin/sh…' labctl-join 192.168.56.13 192.168.56.13:2377 192.168.56.10:2377",
            "docker exec swarm-lab-manager docker swarm init --advertise-addr 192.168.56.10 --listen-addr 192.168.56.10:2377",
        ]
    );
}

#[test]
fn a_worker_that_says_its_node_id_when_it_joins_is_not_asked_again() {
    let runner = RecordingRunner::default();
    runner.answer(&probe("manager"), 0, &info("active", "m1", true), "");
    for node in ["node1", "node2", "node3"] {
        runner.answer(&probe(node), 0, &info("inactive", "", false), "");
    }
    runner.answer(NODE_LS, 0, &entry("m1", "manager", "Ready", "Leader"), "");
    runner.answer("docker exec swarm-lab-manager docker swarm join-token", 0, &format!("{TOKEN}\n"), "");
    for (node, id) in [("node1", "n1"), ("node2", "n2"), ("node3", "n3")] {
        runner.answer(&format!("docker exec --interactive swarm-lab-{node} sh -c"), 0, &format!("node-id {id}\n"), "");
    }
    runner.always(NODE_LS, 0, &all_ready(), "");
    let report = bootstrap(&runner).unwrap();
    assert_eq!(report.joined, ["node1", "node2", "node3"]);
    let infos = runner.command_lines().into_iter().filter(|line| line.contains("docker info")).count();
    assert_eq!(infos, 4, "one look at each node before, none after the joins");
}

#[test]
fn the_join_token_travels_on_stdin_only() {
    let runner = RecordingRunner::lenient();
    runner.answer(&probe("manager"), 0, &info("active", "m1", true), "");
    runner.answer(&probe("node1"), 0, &info("inactive", "", false), "");
    runner.answer(&probe("node1"), 0, &info("active", "n1", false), "");
    for (node, id) in [("node2", "n2"), ("node3", "n3")] {
        runner.answer(&probe(node), 0, &info("active", id, false), "");
    }
    let without_node1 = [
        entry("m1", "manager", "Ready", "Leader"),
        entry("n2", "node2", "Ready", ""),
        entry("n3", "node3", "Ready", ""),
    ];
    runner.answer(NODE_LS, 0, &without_node1.join("\n"), "");
    runner.answer("docker exec swarm-lab-manager docker swarm join-token", 0, &format!("{TOKEN}\n"), "");
    runner.always(NODE_LS, 0, &all_ready(), "");
    bootstrap(&runner).unwrap();

    let calls = runner.calls();
    let join = calls.iter().find(|spec| spec.args.contains(&"labctl-join".to_string())).expect("a join");
    assert_eq!(join.stdin.as_deref(), Some(format!("{TOKEN}\n").as_bytes()));
    // Not in any command's arguments, the join script included.
    for spec in &calls {
        assert!(spec.args.iter().all(|arg| !arg.contains("SWMTKN-1")), "{spec:?}");
    }
}

#[test]
fn a_healthy_cluster_is_left_alone() {
    let runner = RecordingRunner::default();
    healthy(&runner);
    runner.always(NODE_LS, 0, &all_ready(), "");
    let report = bootstrap(&runner).unwrap();
    assert!(!report.changed(), "{report:?}");
    assert!(runner.changes().is_empty(), "{:?}", runner.changes());
    // Four state probes and one node list: nothing more on the no-op path.
    assert_eq!(runner.command_lines().len(), 5, "{:#?}", runner.command_lines());
}

#[test]
fn a_worker_of_another_swarm_leaves_and_joins_ours() {
    let runner = RecordingRunner::lenient();
    runner.answer(&probe("manager"), 0, &info("active", "m1", true), "");
    runner.answer(&probe("node1"), 0, &info("active", "n1", false), "");
    // node2 is active, but the manager does not know its ID.
    runner.answer(&probe("node2"), 0, &info("active", "foreign", false), "");
    runner.answer(&probe("node2"), 0, &info("active", "n2", false), "");
    runner.answer(&probe("node3"), 0, &info("active", "n3", false), "");
    let without_node2 = [
        entry("m1", "manager", "Ready", "Leader"),
        entry("n1", "node1", "Ready", ""),
        entry("n3", "node3", "Ready", ""),
    ];
    runner.answer(NODE_LS, 0, &without_node2.join("\n"), "");
    runner.answer("docker exec swarm-lab-manager docker swarm join-token", 0, TOKEN, "");
    runner.always(NODE_LS, 0, &all_ready(), "");

    let report = bootstrap(&runner).unwrap();
    assert_eq!(report, Report { rejoined: vec!["node2".into()], ..Report::default() });
    assert_eq!(
        runner.changes(),
        vec![
            "docker exec swarm-lab-node2 docker swarm leave --force",
            "docker exec --interactive swarm-lab-node2 sh -c '#!/bin/sh…' labctl-join 192.168.56.12 192.168.56.12:2377 192.168.56.10:2377",
        ]
    );
}

fn manager_info(state: &str, control: bool) -> SwarmInfo {
    serde_json::from_str(&info(state, "x", control)).unwrap()
}

#[test]
fn only_reinit_leaves_the_managers_swarm() {
    use ManagerAction::*;
    let cases = [
        ("inactive", false, Init, Init),
        ("active", true, Keep, LeaveAndInit),
        ("active", false, Refuse(Refusal::OtherSwarm), LeaveAndInit),
        ("pending", false, Wait, LeaveAndInit),
        ("locked", false, Refuse(Refusal::Locked), LeaveAndInit),
        ("error", false, Refuse(Refusal::Error), LeaveAndInit),
        ("", false, Refuse(Refusal::Unknown), LeaveAndInit),
    ];
    for (state, control, without, with) in cases {
        assert_eq!(decide_manager(&manager_info(state, control), false), without, "{state}");
        assert_eq!(decide_manager(&manager_info(state, control), true), with, "{state} --reinit-swarm");
    }
}

/// The manager answers `manager_state` (always), the workers are healthy.
fn manager_in(runner: &RecordingRunner, manager_state: &str) {
    runner.always(&probe("manager"), 0, manager_state, "");
    for (node, id) in [("node1", "n1"), ("node2", "n2"), ("node3", "n3")] {
        runner.answer(&probe(node), 0, &info("active", id, false), "");
    }
    runner.always(NODE_LS, 0, &all_ready(), "");
}

/// `up` stopped with an error containing every one of `words`, and changed nothing.
#[track_caller]
fn refused(runner: &RecordingRunner, words: &[&str]) -> String {
    let error = bootstrap(runner).unwrap_err().to_string();
    for word in words {
        assert!(error.contains(word), "{word:?} missing from: {error}");
    }
    assert!(runner.changes().is_empty(), "no leave, no init: {:?}", runner.changes());
    error
}

#[test]
fn a_pending_manager_is_waited_for() {
    let runner = RecordingRunner::default();
    runner.answer(&probe("manager"), 0, &info("pending", "m1", true), "");
    runner.answer(&probe("manager"), 0, &info("pending", "m1", true), "");
    healthy(&runner);
    runner.always(NODE_LS, 0, &all_ready(), "");
    let report = bootstrap(&runner).unwrap();
    assert!(!report.changed(), "{report:?}");
    assert!(runner.changes().is_empty(), "{:?}", runner.changes());
    let probes = runner.command_lines().iter().filter(|line| line.starts_with(&probe("manager"))).count();
    assert_eq!(probes, 3, "probed again until it settled");
}

#[test]
fn a_manager_that_stays_pending_stops_up_naming_it() {
    let runner = RecordingRunner::default();
    manager_in(&runner, &info("pending", "m1", true));
    let error = refused(&runner, &["the swarm on manager is still in state pending after 0s", "--reinit-swarm"]);
    assert!(error.contains("run `labctl up` again"), "{error}");
}

#[test]
fn a_locked_manager_stops_up_with_the_unlock_instruction() {
    let runner = RecordingRunner::default();
    manager_in(&runner, &info("locked", "", false));
    let error = refused(&runner, &["the swarm on manager is locked", "`labctl ssh manager`", "`docker swarm unlock`"]);
    assert!(error.contains("`labctl up --reinit-swarm`, losing every service"), "{error}");
}

#[test]
fn a_manager_in_error_stops_up_with_the_error() {
    let runner = RecordingRunner::default();
    let broken = r#"{"LocalNodeState":"error","NodeID":"","ControlAvailable":false,"Error":"raft: log corrupted"}"#;
    manager_in(&runner, broken);
    refused(&runner, &["in state error (raft: log corrupted)", "labctl exec manager -- docker info", "--reinit-swarm"]);
}

#[test]
fn a_manager_that_is_a_worker_of_another_swarm_stops_up() {
    let runner = RecordingRunner::default();
    manager_in(&runner, &info("active", "w7", false));
    refused(&runner, &["manager is a worker of another swarm (node ID w7)", "`labctl up --reinit-swarm`"]);
}

#[test]
fn reinit_swarm_leaves_initialises_and_brings_every_worker_over() {
    let runner = RecordingRunner::lenient();
    runner.answer(&probe("manager"), 0, &info("locked", "", false), "");
    runner.answer(&probe("manager"), 0, &info("active", "m2", true), "");
    for (node, id) in [("node1", "n1"), ("node2", "n2"), ("node3", "n3")] {
        runner.answer(&probe(node), 0, &info("active", id, false), "");
        runner.answer(&probe(node), 0, &info("active", &format!("{id}b"), false), "");
    }
    runner.answer("docker exec swarm-lab-manager docker swarm join-token", 0, TOKEN, "");
    let ready = [
        entry("m2", "manager", "Ready", "Leader"),
        entry("n1b", "node1", "Ready", ""),
        entry("n2b", "node2", "Ready", ""),
        entry("n3b", "node3", "Ready", ""),
    ];
    runner.always(NODE_LS, 0, &ready.join("\n"), "");
    let report = run_bootstrap(&runner, true).unwrap();
    assert!(report.initialised);
    assert_eq!(report.rejoined, vec!["node1", "node2", "node3"]);
    let changes = runner.changes();
    assert_eq!(
        changes[..2],
        [
            "docker exec swarm-lab-manager docker swarm leave --force",
            "docker exec swarm-lab-manager docker swarm init --advertise-addr 192.168.56.10 --listen-addr 192.168.56.10:2377",
        ]
    );
}

#[test]
fn a_pending_worker_is_waited_for_then_kept() {
    let runner = RecordingRunner::default();
    runner.answer(&probe("manager"), 0, &info("active", "m1", true), "");
    runner.answer(&probe("node1"), 0, &info("pending", "n1", false), "");
    runner.answer(&probe("node1"), 0, &info("active", "n1", false), "");
    for (node, id) in [("node2", "n2"), ("node3", "n3")] {
        runner.answer(&probe(node), 0, &info("active", id, false), "");
    }
    runner.always(NODE_LS, 0, &all_ready(), "");
    let report = bootstrap(&runner).unwrap();
    assert!(!report.changed(), "{report:?}");
    assert!(runner.changes().is_empty(), "{:?}", runner.changes());
}

#[test]
fn a_worker_that_stays_pending_leaves_and_rejoins() {
    let runner = RecordingRunner::lenient();
    runner.answer(&probe("manager"), 0, &info("active", "m1", true), "");
    runner.always(&probe("node1"), 0, &info("pending", "n1", false), "");
    for (node, id) in [("node2", "n2"), ("node3", "n3")] {
        runner.answer(&probe(node), 0, &info("active", id, false), "");
    }
    runner.answer("docker exec swarm-lab-manager docker swarm join-token", 0, TOKEN, "");
    runner.always(NODE_LS, 0, &all_ready(), "");
    let report = bootstrap(&runner).unwrap();
    assert_eq!(report.rejoined, vec!["node1"]);
    let changes = runner.changes();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0], "docker exec swarm-lab-node1 docker swarm leave --force");
    assert!(changes[1].contains("swarm-lab-node1 sh -c '#!/bin/sh…' labctl-join"), "{changes:?}");
}

#[test]
fn a_stale_entry_of_a_rejoined_node_is_removed() {
    let runner = RecordingRunner::lenient();
    healthy(&runner);
    let with_stale = format!("{}\n{}", all_ready(), entry("old2", "node2", "Down", ""));
    runner.answer(NODE_LS, 0, &with_stale, "");
    runner.always(NODE_LS, 0, &all_ready(), "");
    let report = bootstrap(&runner).unwrap();
    assert_eq!(report, Report { removed_stale: vec!["node2".into()], ..Report::default() });
    assert_eq!(runner.changes(), vec!["docker exec swarm-lab-manager docker node rm --force old2"]);
}

#[test]
fn nodes_that_never_get_ready_are_named() {
    let runner = RecordingRunner::default();
    healthy(&runner);
    let node3_down = all_ready().replace(
        r#""node3","ID":"n3","ManagerStatus":"","Status":"Ready""#,
        r#""node3","ID":"n3","ManagerStatus":"","Status":"Down""#,
    );
    assert!(node3_down.contains("Down"));
    runner.always(NODE_LS, 0, &node3_down, "");
    let error = bootstrap(&runner).unwrap_err().to_string();
    assert_eq!(
        error,
        "not Ready after 0s: node3 (Down); see `labctl status` and `labctl exec manager -- docker node ls`"
    );
}

#[test]
fn a_hung_poll_neither_ends_nor_stretches_the_ready_wait() {
    let runner = RecordingRunner::default();
    healthy(&runner);
    let node3_down = all_ready()
        .replace(r#""ID":"n3","ManagerStatus":"","Status":"Ready""#, r#""ID":"n3","ManagerStatus":"","Status":"Down""#);
    runner.answer(NODE_LS, 0, &node3_down, "");
    for _ in 0..50 {
        runner.fail_to_start(NODE_LS, "could not list the swarm's nodes on manager: no answer within 1.0s");
    }
    let error = bootstrap(&runner).unwrap_err().to_string();
    assert_eq!(
        error,
        "not Ready after 0s: node3 (Down) (last poll: could not list the swarm's nodes on manager: no answer within 1.0s); see `labctl status` and `labctl exec manager -- docker node ls`"
    );
    let polls: Vec<CommandSpec> =
        runner.calls().into_iter().filter(|spec| spec.purpose == "list the swarm's nodes on manager").collect();
    assert!(polls.len() >= 3, "it kept polling after a failed poll: {}", polls.len());
    for poll in &polls[1..] {
        // The wait lasts 0.6s; a poll is cut at the deadline (at least 1s, never the usual 30s).
        assert_eq!(poll.timeout, Some(Duration::from_secs(1)), "{poll}");
    }
}

#[test]
fn a_failed_join_never_shows_the_token() {
    let runner = RecordingRunner::default();
    runner.answer(&probe("manager"), 0, &info("active", "m1", true), "");
    for node in ["node1", "node2", "node3"] {
        runner.answer(&probe(node), 0, &info("inactive", "", false), "");
    }
    runner.answer(NODE_LS, 0, &entry("m1", "manager", "Ready", "Leader"), "");
    runner.answer("docker exec swarm-lab-manager docker swarm join-token", 0, TOKEN, "");
    let echoed = format!("Error response from daemon: rpc error: invalid join token {TOKEN}\n");
    runner.always("docker exec --interactive swarm-lab-node", 1, "", &echoed);
    let error = format!("{:#}", bootstrap(&runner).unwrap_err());
    assert!(error.contains("could not join the swarm on node"), "{error}");
    assert!(error.contains("SWMTKN-****"), "{error}");
    assert!(!error.contains(&TOKEN[7..]), "{error}");
}

#[test]
fn stale_entries_are_only_non_manager_entries_of_our_nodes_with_old_ids() {
    let settings = test_settings("");
    let entries = parse_node_list(
        &[
            entry("m1", "manager", "Ready", "Leader"),
            entry("n1", "node1", "Ready", ""),
            entry("old1", "node1", "Down", ""),
            entry("x9", "node9", "Down", ""),
        ]
        .join("\n"),
    )
    .unwrap();
    let live: Vec<String> = ["m1", "n1", "n2", "n3"].iter().map(|id| id.to_string()).collect();
    let stale: Vec<&str> =
        stale_entries(&entries, settings.nodes.all(), &live).iter().map(|entry| entry.id.as_str()).collect();
    assert_eq!(stale, vec!["old1"], "node9 is not ours to remove");
}

#[test]
fn a_machine_that_keeps_its_own_hostname_still_has_its_stale_entry_found() {
    // The ssh provider's machines keep their hostnames (pc07, not node1).
    let settings = test_settings("");
    let entries = parse_node_list(
        &[
            entry("m1", "lab-pc-01", "Ready", "Leader"),
            entry("n1", "lab-pc-07", "Ready", ""),
            entry("old1", "lab-pc-07", "Down", ""),
            entry("x9", "lab-pc-99", "Down", ""),
        ]
        .join("\n"),
    )
    .unwrap();
    let live: Vec<String> = ["m1", "n1", "n2", "n3"].iter().map(|id| id.to_string()).collect();
    let stale: Vec<&str> =
        stale_entries(&entries, settings.nodes.all(), &live).iter().map(|entry| entry.id.as_str()).collect();
    assert_eq!(stale, vec!["old1"], "lab-pc-99 is no machine of ours");
}

/// The ssh provider's machines: a manager reached as ubuntu (sudo), a worker as root.
const SSH_MACHINES: &str = "[cluster]\nprovider = \"ssh\"\nworkers = 1\n[[ssh.hosts]]\nnode = \"manager\"\naddress = \"10.0.1.10\"\nuser = \"ubuntu\"\n[[ssh.hosts]]\nnode = \"node1\"\naddress = \"10.0.1.11\"\nuser = \"root\"\n";

fn ssh(address: &str, user: &str) -> String {
    format!("ssh -o BatchMode=yes -o ConnectTimeout=15 -o StrictHostKeyChecking=yes -l {user} -T -- {address}")
}

#[test]
fn the_join_token_reaches_the_machine_on_stdin_only() {
    let settings = test_settings(SSH_MACHINES);
    let cluster = crate::config::test_cluster(&settings);
    let runner = RecordingRunner::lenient();
    let token = "SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx";
    let info = |address: &str, user: &str| format!("{} 'sudo -n -- docker info --format", ssh(address, user));
    let manager_info = info("10.0.1.10", "ubuntu");
    let node1_info = format!("{} 'docker info --format", ssh("10.0.1.11", "root"));
    runner.answer(&manager_info, 0, r#"{"LocalNodeState":"inactive"}"#, "");
    runner.answer(&node1_info, 0, r#"{"LocalNodeState":"inactive"}"#, "");
    runner.always(&node1_info, 0, r#"{"LocalNodeState":"active","NodeID":"n1"}"#, "");
    runner.always(
        &format!("{} 'sudo -n -- docker swarm init", ssh("10.0.1.10", "ubuntu")),
        0,
        "Swarm initialized: current node (m1) is now a manager.\n",
        "",
    );
    runner.always(
        &format!("{} 'sudo -n -- docker swarm join-token", ssh("10.0.1.10", "ubuntu")),
        0,
        &format!("{token}\n"),
        "",
    );
    let ready = r#"{"ID":"m1","Hostname":"pc-a","Status":"Ready","ManagerStatus":"Leader"}
{"ID":"n1","Hostname":"pc-b","Status":"Ready","ManagerStatus":""}
"#;
    runner.always(&format!("{} 'sudo -n -- docker node ls", ssh("10.0.1.10", "ubuntu")), 0, ready, "");
    let provider = SshProvider::new(
        &cluster,
        &runner,
        &Templates::load(std::path::Path::new("/nonexistent")).unwrap(),
        HostKeys::Known,
    )
    .unwrap()
    .unmultiplexed();
    let templates = Templates::load(std::path::Path::new("/nonexistent")).unwrap();
    let report = Bootstrap::new(&cluster, NodeShell::new(&provider, &runner), &templates).run().unwrap();
    assert_eq!(report.joined, ["node1"]);
    let calls = runner.calls();
    assert!(calls.iter().all(|spec| spec.args.iter().all(|arg| !arg.contains(token))), "the token in an argv");
    let join = calls.iter().find(|spec| spec.purpose == "join the swarm on node1").expect("a join");
    assert_eq!(join.stdin.as_deref(), Some(format!("{token}\n").as_bytes()));
    assert!(join.args.last().unwrap().contains("labctl-join 10.0.1.11 10.0.1.11:2377 10.0.1.10:2377"), "{join}");
}

fn guarded_bootstrap(runner: &RecordingRunner) -> Result<Report> {
    bootstrap_on(runner, false, true)
}

fn state_probe(node: &str) -> String {
    format!("docker exec swarm-lab-{node} sh -c '#!/bin/sh…' labctl-swarm-state /var/lib/labctl/swarm-node-id")
}

/// The node a `docker exec` command line runs on.
fn node_of(line: &str) -> String {
    line.split_whitespace().find_map(|word| word.strip_prefix("swarm-lab-")).unwrap_or_default().to_string()
}

/// `docker info`'s Swarm object, with labctl's record when given.
fn state(state: &str, id: &str, manager: bool, recorded: Option<&str>, managers: &str) -> String {
    let info = format!(
        r#"{{"LocalNodeState":"{state}","NodeID":"{id}","ControlAvailable":{manager},"RemoteManagers":{managers}}}"#
    );
    match recorded {
        Some(recorded) => format!("{info}\nrecorded {recorded}\n"),
        None => format!("{info}\n"),
    }
}

#[test]
fn a_manager_in_a_swarm_labctl_did_not_make_is_not_taken_over() {
    let runner = RecordingRunner::default();
    let school = r#"[{"NodeID":"s1","Addr":"10.9.0.5:2377"}]"#;
    runner.answer(&state_probe("manager"), 0, &state("active", "s1", true, None, school), "");
    for node in ["node1", "node2", "node3"] {
        runner.answer(&state_probe(node), 0, &state("inactive", "", false, None, "null"), "");
    }
    let school_nodes = [entry("s1", "pc-a", "Ready", "Leader"), entry("s2", "pc-b", "Ready", "")].join("\n");
    runner.answer(NODE_LS, 0, &school_nodes, "");
    runner.answer("docker exec swarm-lab-manager docker service ls", 0, "grades\nprinter\n", "");

    let error = guarded_bootstrap(&runner).unwrap_err().to_string();
    assert_eq!(
        error,
        "manager is already the manager of a swarm labctl did not make (state active, node ID s1, managers at 10.9.0.5:2377, 2 nodes, 2 services: grades, printer); labctl neither takes over a swarm it did not make nor leaves one on its own: give the manager another machine in [[ssh.hosts]], or, when that swarm is no longer needed, `labctl up --reinit-swarm` leaves it (its services, stacks, secrets and configs go) and starts the class's"
    );
    assert!(runner.changes().is_empty(), "nothing changed: {:?}", runner.changes());
}

#[test]
fn a_worker_in_a_swarm_labctl_did_not_make_is_not_made_to_leave() {
    let runner = RecordingRunner::default();
    runner.answer(&state_probe("manager"), 0, &state("active", "m1", true, Some("m1"), "null"), "");
    let school = r#"[{"NodeID":"s1","Addr":"10.9.0.5:2377"}]"#;
    runner.answer(&state_probe("node1"), 0, &state("active", "x1", false, None, school), "");
    // node2 was labctl's (its record says so): an old swarm of the class's, left and joined again.
    runner.answer(&state_probe("node2"), 0, &state("active", "old2", false, Some("old2"), "null"), "");
    // node3 has a record of another ID: labctl's node left that swarm, someone joined it elsewhere.
    runner.answer(&state_probe("node3"), 0, &state("active", "x3", false, Some("old3"), "null"), "");
    runner.answer(NODE_LS, 0, &entry("m1", "manager", "Ready", "Leader"), "");

    let error = guarded_bootstrap(&runner).unwrap_err().to_string();
    assert_eq!(
        error,
        "workers are in a swarm labctl did not make: node1 (state active, node ID x1, managers at 10.9.0.5:2377); node3 (state active, node ID x3); labctl does not make a machine leave a swarm it did not make: give each another machine in [[ssh.hosts]], or, when that swarm no longer needs it, leave it yourself (`labctl exec node1 -- docker swarm leave`), then run `labctl up` again"
    );
    assert!(runner.changes().is_empty(), "nothing changed: {:?}", runner.changes());
}

#[test]
fn the_node_ids_labctl_gives_are_recorded_and_its_own_swarm_is_kept() {
    let runner = RecordingRunner::lenient();
    runner.answer(&state_probe("manager"), 0, &state("inactive", "", false, None, "null"), "");
    for node in ["node1", "node2", "node3"] {
        runner.answer(&state_probe(node), 0, &state("inactive", "", false, None, "null"), "");
    }
    runner.answer(
        "docker exec swarm-lab-manager docker swarm init",
        0,
        "Swarm initialized: current node (m1) is now a manager.\n",
        "",
    );
    runner.answer(NODE_LS, 0, &entry("m1", "manager", "Ready", "Leader"), "");
    runner.answer("docker exec swarm-lab-manager docker swarm join-token", 0, &format!("{TOKEN}\n"), "");
    for (node, id) in [("node1", "n1"), ("node2", "n2"), ("node3", "n3")] {
        runner.answer(
            &format!("docker exec --interactive swarm-lab-{node} sh -c '#!/bin/sh…' labctl-join"),
            0,
            &format!("node-id {id}\n"),
            "",
        );
    }
    runner.always(NODE_LS, 0, &all_ready(), "");
    let report = guarded_bootstrap(&runner).unwrap();
    assert!(report.initialised);
    let mut recorded: Vec<(String, String)> = runner
        .calls()
        .iter()
        .filter(|spec| spec.to_string().contains("labctl-record /var/lib/labctl/swarm-node-id"))
        .map(|spec| (node_of(&spec.to_string()), String::from_utf8(spec.stdin.clone().unwrap()).unwrap()))
        .collect();
    recorded.sort();
    let expected: Vec<(String, String)> = [("manager", "m1"), ("node1", "n1"), ("node2", "n2"), ("node3", "n3")]
        .iter()
        .map(|(node, id)| (node.to_string(), format!("{id}\n")))
        .collect();
    assert_eq!(recorded, expected);

    // The next up finds every record: it keeps the swarm and writes nothing.
    let runner = RecordingRunner::default();
    runner.answer(&state_probe("manager"), 0, &state("active", "m1", true, Some("m1"), "null"), "");
    for (node, id) in [("node1", "n1"), ("node2", "n2"), ("node3", "n3")] {
        runner.answer(&state_probe(node), 0, &state("active", id, false, Some(id), "null"), "");
    }
    runner.always(NODE_LS, 0, &all_ready(), "");
    let report = guarded_bootstrap(&runner).unwrap();
    assert!(!report.changed(), "{report:?}");
    assert!(runner.changes().is_empty(), "{:?}", runner.changes());
}

#[test]
fn a_worker_labctl_joined_before_leaves_its_old_swarm_and_is_recorded_anew() {
    let runner = RecordingRunner::lenient();
    runner.answer(&state_probe("manager"), 0, &state("active", "m1", true, Some("m1"), "null"), "");
    runner.answer(&state_probe("node1"), 0, &state("active", "old1", false, Some("old1"), "null"), "");
    // Joined by hand to labctl's swarm: listed, kept, and recorded from now on.
    runner.answer(&state_probe("node2"), 0, &state("active", "n2", false, None, "null"), "");
    runner.answer(&state_probe("node3"), 0, &state("active", "n3", false, Some("n3"), "null"), "");
    let listed = [
        entry("m1", "manager", "Ready", "Leader"),
        entry("n2", "node2", "Ready", ""),
        entry("n3", "node3", "Ready", ""),
    ];
    runner.answer(NODE_LS, 0, &listed.join("\n"), "");
    runner.answer("docker exec swarm-lab-manager docker swarm join-token", 0, &format!("{TOKEN}\n"), "");
    runner.answer("docker exec --interactive swarm-lab-node1 sh -c '#!/bin/sh…' labctl-join", 0, "node-id n1\n", "");
    runner.always(NODE_LS, 0, &all_ready(), "");
    let report = guarded_bootstrap(&runner).unwrap();
    assert_eq!(report.rejoined, ["node1"]);
    let mut records: Vec<String> =
        runner.changes().iter().filter(|line| line.contains("labctl-record")).map(|line| node_of(line)).collect();
    records.sort();
    assert_eq!(records, ["node1", "node2"]);
}
