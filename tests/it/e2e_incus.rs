//! End to end (LABCTL_E2E=1, Incus running: `scripts/test-incus` starts it):
//! a class of two seats on Incus. The nodes are unprivileged system
//! containers from labctl's node image (imported into Incus by `up`), each
//! seat on a bridge of its own (10.95.0-1.0/24) in the class's project. The
//! class registry runs at manager:5000, the visualizer lab solves and
//! checks on both seats; the students' logins
//! work (an Incus proxy device), and the escape probe run through seat 1's
//! login is refused at every door; seat 1 reaches neither seat 2 nor this
//! host's Docker; a fork bomb in seat 1 stops at its process limit while
//! seat 2 stays Ready and graded; seat 1 goes down and up again, graded
//! again; `labctl list` finds seat 2 from anywhere, and `destroy` (seat 1
//! from its workspace, seat 2 by `--name` once its workspace is gone) leaves
//! no instance, network, image, project or firewall rule behind.

use std::time::{Duration, Instant};

use crate::e2e_rootless::{doors, Seat, PROBE};
use crate::support::{fork_bomb, require_e2e, require_tool, E2eCluster, Workspace};

const CLASS: &str = "labctl-e2e-incus";
const SSH_BASE: u16 = 2395;
const LAB: &str = "visualizer";
const PIDS: u32 = 700;
/// The node image's alias in Incus (labctl's name for `[docker] node_image`).
const IMAGE_ALIAS: &str = "labctl-node-labctl-test-node-bookworm";

const CONFIG: &str = r#"[cluster]
name = "labctl-e2e-incus"
provider = "incus"
subnet = "10.95.0.0/24"
manager_ip = "10.95.0.10"
worker_ip_start = "10.95.0.11"
workers = 1

[[forward]]
host = 29196
guest = 9000

[registry]
image = "labctl-test/registry:2"

[labs]
seed = ["visualizer"]

[docker]
node_image = "labctl-test/node:bookworm"

[images]
preload = true

[resources]
memory_mb = 1024
pids = 700

[class]
seats = 2
access = "key"
ssh_port_base = 2395
ssh_bind = "127.0.0.1"

[cache]
enabled = false
"#;

/// `incus ARGS` as this test reads Incus (stdout; empty when it fails).
fn incus(args: &[&str]) -> String {
    duct::cmd("incus", args).stderr_null().unchecked().read().unwrap_or_default()
}

/// How many things of Incus (`instances`, `networks`, `images`, `projects`)
/// mention the class.
fn left_of_the_class() -> Vec<String> {
    let mut left = Vec::new();
    for (what, listing) in [
        ("instance", incus(&["list", "--all-projects", "--format", "csv", "--columns", "n"])),
        ("network", incus(&["network", "list", "--format", "json"])),
        ("project", incus(&["project", "list", "--format", "csv"])),
        ("image", incus(&["image", "list", "--format", "csv", "--columns", "l"])),
    ] {
        for line in listing.lines().filter(|line| line.contains(CLASS) || line.contains(IMAGE_ALIAS)) {
            left.push(format!("{what}: {line}"));
        }
    }
    let rules = duct::cmd("iptables", ["-S", "DOCKER-USER"]).stderr_null().unchecked().read().unwrap_or_default();
    left.extend(rules.lines().filter(|line| line.contains("labctl labctl")).map(|line| format!("rule: {line}")));
    left
}

/// `labctl exec --seat SEAT NODE -- sh -c SCRIPT`: (exit status, what the script printed).
fn on(class: &E2eCluster, seat: u32, node: &str, script: &str) -> (i32, String) {
    let seat = seat.to_string();
    let run = class.labctl(&["exec", "--seat", &seat, node, "--", "sh", "-c", &format!("{script} 2>&1")]);
    (run.code, run.stdout)
}

#[test]
#[ignore = "end-to-end: needs root, Docker, the offline test images and lab stand-ins, and Incus (scripts/test-incus installs and starts it); bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_a_class_on_incus_solves_checks_logs_in_stays_apart_and_goes_without_a_trace() {
    require_e2e();
    let Some(_) = require_tool("incus", "incus") else { return };
    let Some(ssh) = require_tool("ssh", "openssh-client") else { return };
    let class = E2eCluster::class(CLASS, CONFIG);
    let up = class.labctl(&["up", "--seat", "all"]).success();
    eprintln!("e2e_incus: up said\n{}", up.stderr);

    // Every node is an unprivileged instance of the class's project, with its limits.
    let listed = incus(&["list", "--project", "labctl-labctl-e2e-incus", "--format", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("incus lists the class's project");
    let names: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|node| node["name"].as_str()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for node in listed.as_array().unwrap() {
        let config = &node["config"];
        assert_eq!(node["status"], "Running", "{node:#}");
        assert_eq!(config["limits.processes"], PIDS.to_string());
        assert_eq!(config["limits.memory"], "1024MiB");
        assert_ne!(config["security.privileged"], "true");
    }
    let (code, said) = on(&class, 1, "manager", "docker node ls --format '{{.Hostname}} {{.Status}}' | sort");
    assert_eq!((code, said.as_str()), (0, "manager Ready\nnode1 Ready\n"), "seat 1's swarm");

    // The lab, on both seats.
    class.labctl(&["solve", LAB, "--seat", "all"]).success();
    let graded = class.labctl(&["check", LAB, "--seat", "all"]);
    assert_eq!(graded.code, 0, "both seats pass: {graded:#?}");

    // The students' logins, and the probe through seat 1's.
    let (code, stdout, stderr) =
        Seat::of_class(class.workspace.path(), CLASS, SSH_BASE, 1, "127.0.0.1").login(&ssh, PROBE);
    assert_eq!(code, 0, "seat 1's login: {stderr}");
    let seen = doors(&stdout);
    eprintln!("e2e_incus: the escape probe\n{seen:#?}");
    assert_eq!(seen.len(), 5, "{stdout}");
    for (door, verdict, detail) in &seen {
        let wanted = if door == "a container inside the node" { "works" } else { "refused" };
        assert_eq!(verdict, wanted, "{door}: {detail}");
    }

    // Seat 1 reaches neither seat 2 nor this host's Docker.
    let (code, said) = on(
        &class,
        1,
        "manager",
        "timeout 3 wget -qO- http://10.95.1.10:7946/ || timeout 3 wget -qO- http://10.95.1.10:2377/",
    );
    assert_ne!(code, 0, "seat 1 reached seat 2's manager: {said}");
    let (code, said) = on(
        &class,
        1,
        "manager",
        "timeout 3 wget -qO- http://10.95.0.1:2375/version || timeout 3 wget -qO- http://172.17.0.1:2375/version",
    );
    assert_ne!(code, 0, "seat 1 reached this host's Docker: {said}");

    // A fork bomb in seat 1's manager stops at its limit; seat 2 goes on.
    let bomb =
        fork_bomb("incus", &["exec", "--project", "labctl-labctl-e2e-incus", "labctl-e2e-incus-s01-manager", "--"], 20);
    std::thread::sleep(Duration::from_secs(5));
    let started = Instant::now();
    let graded = class.labctl(&["check", LAB, "--seat", "2"]);
    let took = started.elapsed();
    assert_eq!(graded.code, 0, "seat 2 is graded beside seat 1's bomb: {graded:#?}");
    eprintln!("e2e_incus: seat 2's check beside seat 1's bomb took {took:.2?}");
    assert!(took < Duration::from_secs(60), "{took:.2?}");
    bomb.wait().unwrap();
    let status = class.labctl(&["class", "status"]);
    eprintln!("e2e_incus: class status after the bomb\n{}", status.stdout);
    // (Seat 1 may still be full: a bomb's fork that races the kill survives it.)
    assert!(status.stdout.lines().any(|line| line.starts_with("s02") && line.contains("2/2")), "{}", status.stdout);

    // Seat 1, its process limit maybe still full of the bomb's survivors,
    // goes down (its nodes stopped, their disks kept) and comes back up with
    // its swarm and its lab: what the instructor does for such a seat.
    let down = class.labctl(&["down", "--seat", "1"]).success();
    assert!(down.stderr.contains("stopped 2 nodes"), "{}", down.stderr);
    class.labctl(&["up", "--seat", "1"]).success();
    // The swarm starts the lab's task again on its own, in a while.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut graded = class.labctl(&["check", LAB, "--seat", "1"]);
    while graded.code != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(3));
        graded = class.labctl(&["check", LAB, "--seat", "1"]);
    }
    assert_eq!(graded.code, 0, "seat 1 after down and up: {graded:#?}");
    let status = class.labctl(&["class", "status"]).success();
    for seat in ["s01", "s02"] {
        let row = status.stdout.lines().find(|line| line.starts_with(seat)).unwrap_or_default().to_string();
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(columns.get(2..5), Some(&["incus", "incus", "2/2"][..]), "engine, isolation, nodes: {row}");
    }

    // `destroy` leaves nothing of the class behind: seat 1 from its
    // workspace, seat 2 by its name alone, once its workspace is gone.
    assert!(!left_of_the_class().is_empty(), "the class is there before destroy");
    class.labctl(&["destroy", "--seat", "1", "--yes"]).success();
    std::fs::remove_file(class.workspace.path().join("labctl.toml")).unwrap();
    let elsewhere = Workspace::new();
    let listed = elsewhere.run_with_host_tools(&["list"]);
    let seat2 = format!("{CLASS}-s02");
    assert!(
        listed.stdout.lines().any(|line| line.starts_with(&format!("{seat2} ")) && line.contains(" incus ")),
        "labctl list: {listed:#?}"
    );
    let by_name = elsewhere.run_with_host_tools(&["destroy", "--name", &seat2, "--yes"]);
    assert_eq!(by_name.code, 0, "{by_name:#?}");
    assert_eq!(left_of_the_class(), Vec::<String>::new(), "everything of the class is gone");
}
