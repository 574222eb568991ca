//! End to end (LABCTL_E2E=1, as root, Incus installed: `scripts/test-incus`):
//! a class of two seats on an Incus cluster of two members, reached as an
//! Incus remote. `scripts/test-incus-cluster` makes the cluster for this
//! test: two incusd, each in a network namespace of its own (m1 at
//! 10.97.0.2, m2 at 10.97.0.3), and removes it after.
//!
//! Incus places each seat (the manager where it chooses, the workers
//! beside it, on the seat's bridge), so the two seats land on the two
//! members; `class status` says which member each runs on; the visualizer
//! lab solves and checks on both; `class roster` sends each student to
//! their own member's address, where their login works. When m2 goes away,
//! only its seat fails, by name, within a bound, and seat on m1 is graded;
//! when m2 comes back, `destroy` leaves nothing on the cluster.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::e2e_rootless::Seat;
use crate::support::{require_e2e, require_tool, E2eCluster};

const CLASS: &str = "labctl-e2e-incl";
const REMOTE: &str = "labctl-e2e";
const SSH_BASE: u16 = 2400;
const LAB: &str = "visualizer";
/// The members, their addresses and namespaces (scripts/test-incus-cluster).
const MEMBERS: [(&str, &str); 2] = [("m1", "10.97.0.2"), ("m2", "10.97.0.3")];

const CONFIG: &str = r#"[cluster]
name = "labctl-e2e-incl"
provider = "incus"
subnet = "10.96.0.0/24"
manager_ip = "10.96.0.10"
worker_ip_start = "10.96.0.11"
workers = 1

[incus]
remote = "labctl-e2e"

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
ssh_port_base = 2400

[cache]
enabled = false
"#;

/// The two-member cluster of `scripts/test-incus-cluster`, removed however
/// the test ends; its client configuration (`INCUS_CONF`) in a folder of
/// its own.
struct TwoMembers {
    client: tempfile::TempDir,
}

impl TwoMembers {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/test-incus-cluster")
    }

    fn up() -> TwoMembers {
        let client = tempfile::tempdir().unwrap();
        let made = duct::cmd!("bash", TwoMembers::script(), "up", client.path()).stderr_to_stdout().unchecked().run();
        let made = made.expect("bash runs");
        assert!(made.status.success(), "test-incus-cluster up: {}", String::from_utf8_lossy(&made.stdout));
        TwoMembers { client }
    }

    fn conf(&self) -> String {
        self.client.path().display().to_string()
    }

    /// `incus ARGS` with this cluster's client (stdout; empty when it fails).
    fn incus(&self, args: &[&str]) -> String {
        duct::cmd("incus", args).env("INCUS_CONF", self.conf()).stderr_null().unchecked().read().unwrap_or_default()
    }

    /// Member `member`'s link to the others and to this host, up or down.
    fn link(member: &str, up: bool) {
        let namespace = format!("labctl-cl-{member}");
        let state = if up { "up" } else { "down" };
        duct::cmd!("ip", "-n", namespace, "link", "set", "eth0", state).run().expect("ip sets the member's link");
    }

    /// Wait until `incus cluster list` says `member` is `status`.
    fn wait_member(&self, member: &str, status: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let listed = self.incus(&["cluster", "list", &format!("{REMOTE}:"), "--format", "csv"]);
            if listed.lines().any(|line| line.starts_with(&format!("{member},")) && line.contains(status)) {
                return;
            }
            assert!(Instant::now() < deadline, "member {member} is not {status} after {within:?}:\n{listed}");
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

impl Drop for TwoMembers {
    fn drop(&mut self) {
        let _ = duct::cmd!("bash", TwoMembers::script(), "down").stdout_null().unchecked().run();
    }
}

/// The member each seat's row of `class status` names: (seat, member).
fn placements(status: &str) -> Vec<(String, String)> {
    status
        .lines()
        .filter(|line| line.starts_with("s0"))
        .filter_map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            let engine = columns.get(3)?;
            Some((columns[0].to_string(), engine.strip_prefix(&format!("{REMOTE}/"))?.to_string()))
        })
        .collect()
}

#[test]
#[ignore = "end-to-end: needs root, Docker, the offline test images and lab stand-ins, and Incus (scripts/test-incus); makes its own two-member cluster; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_a_class_on_an_incus_cluster_is_placed_per_seat_and_a_member_going_fails_only_its_seat() {
    require_e2e();
    let Some(_) = require_tool("incus", "incus") else { return };
    let Some(ssh) = require_tool("ssh", "openssh-client") else { return };
    let members = TwoMembers::up();
    let conf = members.conf();
    let class = E2eCluster::class_with_env(CLASS, CONFIG, &[("INCUS_CONF", &conf)]);
    let up = class.labctl(&["up", "--seat", "all"]).success();
    eprintln!("e2e_incus_cluster: up said\n{}", up.stderr);

    // Incus placed the seats, one a member, each seat's nodes together.
    let status = class.labctl(&["class", "status"]).success();
    eprintln!("e2e_incus_cluster: class status\n{}", status.stdout);
    let placed = placements(&status.stdout);
    let mut on: Vec<&str> = placed.iter().map(|(_, member)| member.as_str()).collect();
    on.sort();
    assert_eq!(on, ["m1", "m2"], "one seat on each member: {placed:?}");
    let listed = members.incus(&[
        "list",
        &format!("{REMOTE}:"),
        "--project",
        "labctl-labctl-e2e-incl",
        "--format",
        "csv",
        "--columns",
        "nL",
    ]);
    for (seat, member) in &placed {
        let nodes: Vec<&str> = listed.lines().filter(|line| line.contains(&format!("-{seat}-"))).collect();
        assert_eq!(nodes.len(), 2, "{listed}");
        assert!(nodes.iter().all(|line| line.ends_with(&format!(",{member}"))), "{seat}'s nodes on {member}: {listed}");
    }

    // The lab, on both seats.
    class.labctl(&["solve", LAB, "--seat", "all"]).success();
    let graded = class.labctl(&["check", LAB, "--seat", "all"]);
    assert_eq!(graded.code, 0, "both seats pass: {graded:#?}");

    // Each student is sent to their member, and logs in there.
    let roster = class.labctl(&["class", "roster"]).success();
    for (seat, member) in &placed {
        let address = MEMBERS.iter().find(|(name, _)| name == member).unwrap().1;
        let number: u32 = seat.trim_start_matches('s').parse().unwrap();
        assert!(
            roster.stderr.contains(&format!("students reach {address} (Incus cluster member {member}")),
            "{}",
            roster.stderr
        );
        let row = roster.stdout.lines().find(|line| line.starts_with(&format!("{number} "))).unwrap_or_default();
        assert!(row.contains(&format!("root@{address} ")), "{row}");
        let (code, stdout, stderr) =
            Seat::of_class(class.workspace.path(), CLASS, SSH_BASE, number, address).login(&ssh, "hostname");
        assert_eq!((code, stdout.trim()), (0, "manager"), "{seat}'s login on {member}: {stderr}");
    }

    // m2 goes away: only its seat fails, by name and within a bound.
    let (gone_seat, _) = placed.iter().find(|(_, member)| member == "m2").unwrap().clone();
    let (kept_seat, _) = placed.iter().find(|(_, member)| member == "m1").unwrap().clone();
    // (The least Incus allows: a member is offline after 11 s without a heartbeat.)
    duct::cmd!("incus", "config", "set", format!("{REMOTE}:"), "cluster.offline_threshold", "11")
        .env("INCUS_CONF", &conf)
        .run()
        .expect("the cluster takes a shorter offline threshold");
    TwoMembers::link("m2", false);
    let started = Instant::now();
    let status = class.labctl(&["class", "status"]);
    let took = started.elapsed();
    eprintln!("e2e_incus_cluster: class status with m2 gone ({took:.1?})\n{}\n{}", status.stdout, status.stderr);
    assert!(took < Duration::from_secs(60), "{took:?}");
    let row = |text: &str, seat: &str| text.lines().find(|line| line.starts_with(seat)).unwrap_or_default().to_string();
    assert!(row(&status.stdout, &kept_seat).contains("2/2"), "{}", status.stdout);
    assert!(row(&status.stdout, &gone_seat).contains("0/2"), "{}", status.stdout);
    members.wait_member("m2", "OFFLINE", Duration::from_secs(60));
    let status = class.labctl(&["class", "status"]);
    assert!(status.stderr.contains("Incus cluster member m2 does not answer"), "{}", status.stderr);
    let graded = class.labctl(&["check", LAB, "--seat", "all"]);
    eprintln!("e2e_incus_cluster: check with m2 gone\n{}\n{}", graded.stdout, graded.stderr);
    assert!(row(&graded.stdout, &kept_seat).ends_with("4/4"), "{}", graded.stdout);
    assert!(row(&graded.stdout, &gone_seat).contains("unreachable"), "{}", graded.stdout);

    // m2 comes back with its seat; then `destroy` leaves nothing on the cluster.
    TwoMembers::link("m2", true);
    members.wait_member("m2", "ONLINE", Duration::from_secs(90));
    class.labctl(&["destroy", "--seat", "all", "--yes"]).success();
    let remote = format!("{REMOTE}:");
    for (what, listing) in [
        ("instance", members.incus(&["list", &remote, "--all-projects", "--format", "csv", "--columns", "n"])),
        ("network", members.incus(&["network", "list", &remote, "--format", "csv"])),
        ("project", members.incus(&["project", "list", &remote, "--format", "csv"])),
        ("image", members.incus(&["image", "list", &remote, "--format", "csv", "--columns", "l"])),
    ] {
        let left: Vec<&str> = listing.lines().filter(|line| line.contains("labctl")).collect();
        assert!(left.is_empty(), "{what} left on the cluster: {left:?}");
    }
}
