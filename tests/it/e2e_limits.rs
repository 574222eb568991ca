//! End to end (LABCTL_E2E=1): one seat cannot starve another. A class of
//! two seats (a manager and a worker each, 10.73.0-1.0/24) on this host's
//! rootful engine with `[resources]` limits: seat 1's manager runs a fork
//! bomb and its worker a memory hog, and seat 2's `check` still passes
//! within its usual time. The limits are read back from Docker first, so
//! that a missing limit fails the test before the bomb could hurt the host.

use std::time::{Duration, Instant};

use crate::support::{fork_bomb, host_docker, quiet_docker, require_e2e, E2eCluster};

const CLASS: &str = "labctl-e2e-limits";
const MEMORY_MB: u64 = 640;
const PIDS: u64 = 400;
/// The lab seat 2 is graded on: one check on the manager, the visualizer's
/// offline stand-in.
const LAB: &str = "visualizer";

fn config() -> String {
    format!(
        r#"[cluster]
name = "{CLASS}"
provider = "docker"
subnet = "10.73.0.0/24"
manager_ip = "10.73.0.10"
worker_ip_start = "10.73.0.11"
workers = 1

[resources]
memory_mb = {MEMORY_MB}
cpus = 1
pids = {PIDS}
log_mb = 1

[[forward]]
host = 29135
guest = 9000

[registry]
image = "labctl-test/registry:2"

[labs]
seed = ["{LAB}"]

[docker]
node_image = "labctl-test/node:bookworm"

[class]
seats = 2
access = "none"
port_step = 1

[cache]
enabled = false
"#
    )
}

fn container(seat: u32, node: &str) -> String {
    format!("{CLASS}-s{seat:02}-{node}")
}

/// `labctl check LAB --seat 2`, which must pass; how long it took.
fn seat2_check(class: &E2eCluster) -> Duration {
    let started = Instant::now();
    let run = class.labctl(&["check", LAB, "--seat", "2"]);
    let took = started.elapsed();
    assert_eq!(run.code, 0, "seat 2's check fails: {run:#?}");
    took
}

/// The number of processes in `container`'s pids cgroup (cgroup v1 or v2).
fn processes_in(container: &str) -> u64 {
    let id = host_docker(&["inspect", "--format", "{{.Id}}", container]).trim().to_string();
    let candidates = [
        format!("/sys/fs/cgroup/pids/docker/{id}/pids.current"),
        format!("/sys/fs/cgroup/system.slice/docker-{id}.scope/pids.current"),
        format!("/sys/fs/cgroup/docker/{id}/pids.current"),
    ];
    candidates
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pids cgroup for {container} among {candidates:?}"))
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_a_fork_bomb_and_a_memory_hog_in_one_seat_leave_the_other_graded() {
    require_e2e();
    let class = E2eCluster::class(CLASS, &config());
    class.labctl(&["up", "--seat", "all"]).success();
    class.labctl(&["images", "load", "--seat", "2", "dockersamples/visualizer"]).success();
    class.labctl(&["solve", LAB, "--seat", "2"]).success();

    // Every node carries the limits (checked before anything hungry runs).
    for seat in 1..=2 {
        for node in ["manager", "node1"] {
            let limits = host_docker(&[
                "inspect",
                "--format",
                "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}}",
                &container(seat, node),
            ]);
            assert_eq!(limits.trim(), format!("{} 1000000000 {PIDS} json-file 1m", MEMORY_MB * 1024 * 1024), "{node}");
        }
    }
    let idle = processes_in(&container(1, "manager"));
    eprintln!("e2e_limits: an idle manager runs {idle} processes and threads");
    assert!(idle < PIDS / 2, "an idle node needs {idle} of its {PIDS} processes");

    // Seat 2's usual time, twice: the first warms its node's caches.
    seat2_check(&class);
    let usual = seat2_check(&class);

    // Seat 1's worker fills its memory; the kernel stops it at the node's limit.
    let hog = quiet_docker(&[
        "exec",
        &container(1, "node1"),
        "sh",
        "-c",
        "head -c 2000m /dev/zero | tail > /dev/null; echo \"exit $?\"",
    ]);
    assert_eq!(hog.trim(), "exit 137", "the hog was not stopped at {MEMORY_MB} MB");

    // Seat 1's manager forks without end for 25 s (the bomb dies with it).
    let bomb = fork_bomb("docker", &["exec", &container(1, "manager")], 25);
    std::thread::sleep(Duration::from_secs(5));
    let bombed = processes_in(&container(1, "manager"));
    eprintln!("e2e_limits: seat 1's manager under the bomb runs {bombed} processes and threads");
    assert!(bombed > idle * 2 && bombed <= PIDS, "the bomb runs {bombed} processes (limit {PIDS}, idle {idle})");

    let under_bomb = seat2_check(&class);
    eprintln!("e2e_limits: seat 2's check took {usual:.2?} alone, {under_bomb:.2?} beside seat 1's bomb");
    assert!(
        under_bomb <= usual * 3 + Duration::from_secs(3),
        "seat 2's check took {under_bomb:.2?} beside the bomb, {usual:.2?} alone"
    );
    bomb.wait().unwrap();

    // The node's own log stays within its size.
    let log = host_docker(&["inspect", "--format", "{{.LogPath}}", &container(1, "manager")]);
    let size = std::fs::metadata(log.trim()).map(|meta| meta.len()).unwrap_or(0);
    assert!(size <= 1024 * 1024 + 64 * 1024, "the manager's log is {size} bytes, over log_mb = 1");
}
