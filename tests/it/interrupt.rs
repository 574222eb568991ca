//! Bounded waits and Ctrl-C: a hung node command or a signal never leaves
//! labctl, its children or the cluster lock hanging.

use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use crate::support::{Run, Workspace};

/// Wait up to `limit` for labctl to exit; kill it and fail when it does not.
#[track_caller]
fn finish_within(handle: duct::Handle, limit: Duration) -> (Run, Duration) {
    let started = Instant::now();
    match handle.wait_timeout(limit).expect("labctl can be waited for") {
        Some(output) => (Run::from(output.clone()), started.elapsed()),
        None => {
            handle.kill().ok();
            panic!("labctl was still running after {limit:?}");
        }
    }
}

/// Whether process `pid` is gone (a zombie runs no more), waiting up to 2s.
fn gone(pid: &str) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat.rsplit_once(") ").is_none_or(|(_, state)| state.starts_with('Z')) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn wait_for_file(workspace: &Workspace, relative: &str) -> String {
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(workspace.path().join(relative)) {
            if text.ends_with('\n') {
                return text.trim().to_string();
            }
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{relative} never appeared: {}", workspace.calls());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A docker provider workspace whose fake `docker` answers like a running
/// cluster, except that `hang_on` (a shell `case` pattern on its arguments)
/// sleeps, once, in a background `sleep` whose pid lands in `sleep.pid`.
fn hanging_workspace(hang_on: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[cluster]\nprovider = \"docker\"\n");
    let dir = workspace.path().display().to_string();
    let script = format!(
        r#"case "$*" in
  {hang_on})
    if [ ! -e '{dir}/hung' ]; then
      touch '{dir}/hung'
      sleep 300 &
      echo $! > '{dir}/sleep.pid'
      wait
    fi ;;
esac
case "$1" in
  version) echo 27.3.1 ;;
  ps) printf 'manager\trunning\nnode1\trunning\nnode2\trunning\nnode3\trunning\n' ;;
  network) echo '192.168.56.0/24 ' ;;
  exec) case "$*" in *"docker info --format"*) echo '{{"LocalNodeState":"active","NodeID":"x","ControlAvailable":true}}' ;; esac ;;
esac
exit 0"#
    );
    workspace.fake_program("docker", &script);
    for tool in ["sleep", "touch"] {
        workspace.link_host_tool(tool);
    }
    workspace
}

#[test]
fn a_hung_node_command_ends_within_its_limit_naming_the_node() {
    let workspace = hanging_workspace(r#"*swarm-lab-node2*"docker info --format"*"#);
    // Reads get 30s × 0.05 = 1.5s.
    let handle = workspace.start_with_env(&["up"], "LABCTL_TIMEOUT_SCALE", "0.05");
    let (run, took) = finish_within(handle, Duration::from_secs(20));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(run.code, 1, "{run:?}");
    let error = run.stderr.lines().find(|line| line.starts_with("error: ")).unwrap_or_default();
    assert!(
        error.starts_with("error: could not read the swarm state on node2: no answer within 1.5s (`docker exec swarm-lab-node2 timeout -s KILL 1 docker info"),
        "{}",
        run.stderr
    );
    assert!(error.ends_with("on a slow host, LABCTL_TIMEOUT_SCALE=2 doubles every time limit"), "{error}");
    assert!(gone(&wait_for_file(&workspace, "sleep.pid")), "the hung command's own child was left running");
}

#[test]
fn a_bad_timeout_scale_is_one_line_naming_the_variable() {
    let workspace = Workspace::new();
    let error = workspace.with_env(&["status"], "LABCTL_TIMEOUT_SCALE", "-1").single_error();
    assert_eq!(
        error,
        "LABCTL_TIMEOUT_SCALE=\"-1\" is not a factor between 0.01 and 100; set it to e.g. 2 (every time limit twice as long) or unset it"
    );
}

fn interrupt_up(signal: Signal, code: i32) {
    let workspace = hanging_workspace("ps*");
    let handle = workspace.start(&["up"]);
    let sleeper = wait_for_file(&workspace, "sleep.pid");
    let labctl = Pid::from_raw(handle.pids()[0] as i32).unwrap();
    kill_process(labctl, signal).unwrap();
    let (run, took) = finish_within(handle, Duration::from_secs(10));
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(run.code, code, "{run:?}");
    let interrupted: Vec<&str> = run.stderr.lines().filter(|line| line.contains("interrupted")).collect();
    assert_eq!(
        interrupted,
        vec!["error: interrupted `labctl up` while trying to list the node containers; run `labctl up` again to finish the job"],
        "{}",
        run.stderr
    );
    assert!(gone(&sleeper), "the fake's sleep was left running");
    // The lock died with the process: the next command takes the cluster at once.
    let next = workspace.with_env(&["down"], "LABCTL_LOCK_WAIT", "0");
    assert!(!next.stderr.contains("busy"), "{next:?}");
    next.success();
}

#[test]
fn ctrl_c_ends_the_children_frees_the_lock_and_says_how_to_finish() {
    interrupt_up(Signal::INT, 130);
}

#[test]
fn sigterm_ends_the_children_frees_the_lock_and_says_how_to_finish() {
    interrupt_up(Signal::TERM, 143);
}
