//! End to end (LABCTL_E2E=1): a seat reaches nothing beyond itself. A class
//! of two seats (10.77.0-1.0/24) with the offline class cache, which is on
//! both seats' networks. From seat 1's manager, as root (what its student
//! is): seat 2's manager does not answer, not even when seat 1 routes
//! through the class cache (no packet of seat 1 reaches seat 2: counted by
//! an iptables rule on seat 2's manager), and this host's Docker API is
//! reached neither by a socket in the node nor over TCP on the seat's
//! gateway.

use crate::support::{host_docker, require_e2e, E2eCluster};

const CLASS: &str = "labctl-e2e-isolation";

const CONFIG: &str = r#"[cluster]
name = "labctl-e2e-isolation"
provider = "docker"
subnet = "10.77.0.0/24"
manager_ip = "10.77.0.10"
worker_ip_start = "10.77.0.11"
workers = 1

[[forward]]
host = 29170
guest = 9000

[registry]
image = "labctl-test/registry:2"

[labs]
seed = []

[docker]
node_image = "labctl-test/node:bookworm"

[class]
seats = 2
access = "none"

[cache]
upstream = "none"
image = "labctl-test/registry:2"
"#;

/// `labctl exec --seat SEAT manager -- sh -c SCRIPT`: (exit status, stdout, stderr).
fn on_manager(class: &E2eCluster, seat: u32, script: &str) -> (i32, String, String) {
    let seat = seat.to_string();
    let run = class.labctl(&["exec", "--seat", &seat, "manager", "--", "sh", "-c", script]);
    (run.code, run.stdout, run.stderr)
}

/// Packets from seat 1's subnet that seat 2's manager has seen since the
/// counting rule was (re)set.
fn seen_by_seat2(class: &E2eCluster) -> u64 {
    let (code, listed, error) = on_manager(class, 2, "iptables -t raw -L PREROUTING 1 -v -n -x");
    assert_eq!(code, 0, "{error}");
    let counted = listed.lines().find(|line| line.contains("10.77.0.0/24")).unwrap_or_else(|| panic!("{listed}"));
    counted.split_whitespace().next().and_then(|packets| packets.parse().ok()).unwrap_or_else(|| panic!("{counted}"))
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_a_seat_reaches_neither_another_seat_nor_this_hosts_docker() {
    require_e2e();
    let class = E2eCluster::class(CLASS, CONFIG);
    class.labctl(&["up", "--seat", "all"]).success();

    let (code, _, out) = on_manager(&class, 2, "iptables -t raw -I PREROUTING 1 -s 10.77.0.0/24");
    assert_eq!(code, 0, "{out}");
    // Seat 1's student tries seat 2's manager: its swarm port and its registry.
    let (code, _, out) = on_manager(
        &class,
        1,
        "timeout 3 wget -qO- http://10.77.1.10:5000/v2/ || timeout 3 wget -qO- http://10.77.1.10:2377/",
    );
    assert_ne!(code, 0, "seat 1 reached seat 2's manager: {out}");
    // … and through the class cache, which is on both seats' networks.
    let (code, _, out) = on_manager(
        &class,
        1,
        "ip route replace 10.77.1.0/24 via 10.77.0.254 && timeout 3 wget -qO- http://10.77.1.10:7946/",
    );
    assert_ne!(code, 0, "seat 1 reached seat 2 through the class cache: {out}");
    assert_eq!(seen_by_seat2(&class), 0, "packets of seat 1 reached seat 2's manager");
    let forwarding = host_docker(&[
        "inspect",
        "--format",
        "{{index .HostConfig.Sysctls \"net.ipv4.ip_forward\"}}",
        &format!("labctl-cache-{CLASS}"),
    ]);
    assert_eq!(forwarding.trim(), "0");

    // This host's Docker: no socket of it in the node (the node's own
    // dockerd answers there), and no API on the seat's gateway.
    let (code, name, _) = on_manager(&class, 1, "docker info --format '{{.Name}}'");
    assert_eq!((code, name.trim()), (0, "manager"), "the node's docker is its own");
    let mounts =
        host_docker(&["inspect", "--format", "{{range .Mounts}}{{.Source}} {{end}}", &format!("{CLASS}-s01-manager")]);
    assert!(!mounts.contains("docker.sock"), "{mounts}");
    let (code, _, out) = on_manager(
        &class,
        1,
        "timeout 3 wget -qO- http://10.77.0.1:2375/version || timeout 3 wget -qO- http://10.77.0.1:2376/version",
    );
    assert_ne!(code, 0, "this host's Docker API answers a seat: {out}");
}
