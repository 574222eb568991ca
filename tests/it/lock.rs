//! Two commands that change the same cluster never interleave.

use std::time::{Duration, Instant};

use crate::support::{Run, Workspace};

#[test]
fn a_second_command_waits_briefly_then_names_the_holder() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[cluster]\nprovider = \"docker\"\n");
    // `docker ps` (listing the nodes) takes a while: the first `up` holds the cluster.
    workspace.fake_program("docker", "case \"$1\" in version) echo 27.3.1 ;; ps) sleep 3 ;; esac\nexit 0");
    workspace.link_host_tool("sleep");
    let first = workspace.start(&["up"]);
    // Give the first command time to take the lock.
    let started = Instant::now();
    while !workspace.calls().contains("docker ps") {
        assert!(started.elapsed() < Duration::from_secs(10), "the first up never listed the nodes");
        std::thread::sleep(Duration::from_millis(50));
    }

    let waited = Instant::now();
    let second = workspace.with_env(&["destroy", "--yes"], "LABCTL_LOCK_WAIT", "0.5");
    let error = second.single_error();
    assert!(waited.elapsed() >= Duration::from_millis(500), "it waited before giving up");
    assert!(error.starts_with("cluster swarm-lab is busy: `labctl up` (pid "), "{error}");
    assert!(error.ends_with("wait for it to finish, then run this again"), "{error}");
    assert!(!workspace.calls().contains("docker volume"), "destroy did nothing");
    // The first command was not disturbed (it fails later only because the fake docker is minimal).
    let first = Run::from(first.wait().unwrap().clone());
    assert!(!first.stderr.contains("busy"), "{first:?}");
}
