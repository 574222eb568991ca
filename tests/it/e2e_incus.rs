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

/// The class's bridges (each seat's), while they are there.
fn bridges_of_the_class() -> Vec<String> {
    let listed: serde_json::Value =
        serde_json::from_str(&incus(&["network", "list", "--format", "json"])).unwrap_or_default();
    let networks = listed.as_array().cloned().unwrap_or_default();
    networks
        .iter()
        .filter(|network| network["config"]["user.labctl.class"] == CLASS)
        .filter_map(|network| network["name"].as_str().map(str::to_string))
        .collect()
}

/// What of Incus (instances, networks, images, projects) mentions the
/// class, and the firewall rules of its `bridges`.
fn left_of_the_class(bridges: &[String]) -> Vec<String> {
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
    let ours = |line: &&str| bridges.iter().any(|bridge| line.contains(&format!("labctl {bridge}")));
    left.extend(rules.lines().filter(ours).map(|line| format!("rule: {line}")));
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
    let bridges = bridges_of_the_class();
    assert_eq!(bridges.len(), 2, "a bridge a seat: {bridges:?}");
    assert!(!left_of_the_class(&bridges).is_empty(), "the class is there before destroy");
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
    assert_eq!(left_of_the_class(&bridges), Vec::<String>::new(), "everything of the class is gone");
}

/// A seat of the handout's size (a manager and three workers) on Incus,
/// every built-in lab seeded.
const LABS_CONFIG: &str = r#"[cluster]
name = "labctl-e2e-inlabs"
provider = "incus"
subnet = "10.94.0.0/24"
manager_ip = "10.94.0.10"
worker_ip_start = "10.94.0.11"

[[forward]]
host = 29199
guest = 9000

[registry]
image = "labctl-test/registry:2"

[docker]
node_image = "labctl-test/node:inlabs"

[cache]
enabled = false
"#;

/// The labs whose checks can pass on this host: lab5's read the service's
/// virtual IP, which needs IPVS (this kernel has none).
const LABS: [&str; 5] = ["lab1", "lab2", "lab3", "lab4", "visualizer"];

#[test]
#[ignore = "end-to-end: needs root, Docker, the offline test images and lab stand-ins, and Incus (scripts/test-incus installs and starts it); bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_every_lab_solves_checks_resets_and_logs_on_incus() {
    require_e2e();
    let Some(_) = require_tool("incus", "incus") else { return };
    // A node image of its own (the same one, tagged anew), so that the
    // class test beside it imports and removes its own.
    let _image = TestTag::new("labctl-test/node:bookworm", "labctl-test/node:inlabs");
    let cluster = E2eCluster::class("labctl-e2e-inlabs", LABS_CONFIG);
    cluster.labctl(&["up"]).success();
    cluster.labctl(&["images", "load"]).success();
    for lab in LABS {
        cluster.labctl(&["solve", lab]).success();
        let checked = cluster.labctl(&["check", lab]);
        assert_eq!(checked.code, 0, "{lab} on Incus: {checked:#?}");
    }

    // A student's edit and notes: reset backs them up and puts the lab back.
    cluster.exec(
        "manager",
        "cd /root/work/ingress && echo 'student edit' > ch03-webapi.yml && echo 'my notes' > notes.txt",
    );
    let reset = cluster.labctl(&["reset", "lab1"]).success();
    assert!(reset.stderr.contains("lab1 reset: stacks removed: simple-web"), "{}", reset.stderr);
    let pristine = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/labs/lab1/ch03-webapi.yml")).unwrap();
    assert_eq!(cluster.exec("manager", "cat /root/work/ingress/ch03-webapi.yml"), pristine);
    let backups = cluster.workspace.path().join(".labctl/backups/lab1");
    let backup = std::fs::read_dir(&backups).unwrap().next().unwrap().unwrap().path();
    assert_eq!(std::fs::read_to_string(backup.join("ch03-webapi.yml")).unwrap(), "student edit\n");
    assert_eq!(std::fs::read_to_string(backup.join("notes.txt")).unwrap(), "my notes\n");
    let checked = cluster.labctl(&["check", "lab1"]);
    assert_eq!(checked.code, 1, "lab1 fails again after its reset: {checked:#?}");

    // `labctl logs`: every node's dockerd log, from the node's init.
    let out = tempfile::tempdir().unwrap();
    let logs = cluster.labctl(&["logs", "--out", &out.path().display().to_string()]).success();
    let bundle = std::path::PathBuf::from(logs.stdout.trim());
    let listed = duct::cmd("tar", ["-tzvf", &bundle.display().to_string()]).read().expect("tar lists the bundle");
    for node in ["manager", "node1", "node2", "node3"] {
        let line = listed
            .lines()
            .find(|line| line.ends_with(&format!("/labctl-e2e-inlabs/{node}/dockerd.log")))
            .unwrap_or_else(|| panic!("{node}'s dockerd.log is not in the bundle:\n{listed}"));
        let size: u64 = line.split_whitespace().nth(2).and_then(|size| size.parse().ok()).unwrap_or_default();
        assert!(size > 0, "{node}'s dockerd.log is empty: {line}");
    }
    cluster.labctl(&["destroy", "--yes"]).success();
}

/// An image of this host's Docker tagged anew; the tag removed on drop.
struct TestTag(&'static str);

impl TestTag {
    fn new(image: &str, tag: &'static str) -> TestTag {
        crate::support::host_docker(&["tag", image, tag]);
        TestTag(tag)
    }
}

impl Drop for TestTag {
    fn drop(&mut self) {
        crate::support::quiet_docker(&["rmi", self.0]);
    }
}
