//! Exit statuses a grading script can trust: 1 is a wrong answer, 3 is a
//! cluster that is not up (nothing was checked), with one line saying why.

use crate::support::{Run, Workspace};

const NODES: [&str; 4] = ["manager", "node1", "node2", "node3"];

/// A docker-provider workspace whose fake `docker` lists the node containers
/// from `containers.txt`, answers docker commands on the nodes only when
/// `dockerd-answers` exists, and reports every node Ready.
fn cluster(states: &[(&str, &str)], dockerd_answers: bool) -> Workspace {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[cluster]\nprovider = \"docker\"\n");
    let listing: String = states.iter().map(|(node, state)| format!("{node}\t{state}\n")).collect();
    workspace.file("containers.txt", &listing);
    let node_list: String = NODES
        .iter()
        .map(|node| format!("{{\"ID\":\"id-{node}\",\"Hostname\":\"{node}\",\"Status\":\"Ready\",\"Availability\":\"Active\",\"ManagerStatus\":\"\"}}\n"))
        .collect();
    workspace.file("node-ls.txt", &node_list);
    if dockerd_answers {
        workspace.file("dockerd-answers", "");
    }
    // A batch of reads runs on the "node" (here) through the real script;
    // its docker commands are the node's own.
    for tool in ["cat", "sh", "mktemp", "rm"] {
        workspace.link_host_tool(tool);
    }
    workspace.fake_program(
        "docker",
        r#"[ -n "${FAKE_NODE:-}" ] && set -- exec "$FAKE_NODE" docker "$@"
case "$1" in
  version) echo 27.3.1 ;;
  ps) cat containers.txt ;;
  exec)
    shift
    while [ "${1#-}" != "$1" ]; do shift; done
    container=$1; shift
    # labctl bounds node commands on the node too: `timeout -s KILL SECS cmd…`.
    [ "$1" = timeout ] && shift 4
    if [ "$1 $2 $4" = "sh -c labctl-reads" ]; then
      script=$3
      shift 4
      FAKE_NODE=$container exec sh -c "$script" labctl-reads "$@"
    fi
    case "$*" in
      "docker "*) [ -f dockerd-answers ] || { echo "Cannot connect to the Docker daemon" >&2; exit 1; } ;;
    esac
    case "$*" in
      "docker version"*) echo 27.3.1 ;;
      "docker info"*) echo '{"LocalNodeState":"active","NodeID":"x"}' ;;
      "docker node ls"*) cat node-ls.txt ;;
      *) echo "ran on $container: $*" ;;
    esac ;;
esac
exit 0"#,
    );
    workspace
}

fn all(state: &str) -> Vec<(&'static str, &str)> {
    NODES.iter().map(|node| (*node, state)).collect()
}

/// The run exited 3 with exactly one error line (after the provider note); returns it.
#[track_caller]
fn not_up_error(run: Run) -> String {
    assert_eq!(run.code, 3, "expected exit 3, got {run:#?}");
    let errors: Vec<&str> = run.stderr.lines().filter(|line| line.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "expected one error line, got:\n{}", run.stderr);
    let others: Vec<&str> =
        run.stderr.lines().filter(|line| !line.starts_with("error: ") && !line.starts_with("provider ")).collect();
    assert!(others.is_empty(), "nothing but the error line:\n{}", run.stderr);
    errors[0].trim_start_matches("error: ").to_string()
}

const NO_NODE: &str = "cluster swarm-lab is not up (no node is running): run labctl up";

#[test]
fn commands_that_need_the_cluster_exit_3_when_no_node_exists() {
    let workspace = cluster(&[], false);
    for args in [
        &["check", "lab2"][..],
        &["solve", "lab2"],
        &["reset", "lab2"],
        &["reset", "lab2", "--dry-run"],
        &["exec", "node1", "--", "true"],
        &["ssh", "manager"],
        &["images", "load", "mysql:5.7"],
    ] {
        let error = not_up_error(workspace.run(args));
        assert_eq!(error, NO_NODE, "labctl {args:?}");
    }
    // Nothing ran on a node, and no student hint was shown.
    assert!(!workspace.calls().contains("docker exec"), "{}", workspace.calls());
}

#[test]
fn stopped_nodes_are_named() {
    let workspace = cluster(&all("exited"), true);
    assert_eq!(not_up_error(workspace.run(&["check", "lab2"])), NO_NODE);

    let mut states = all("running");
    states[0].1 = "exited";
    states[2].1 = "exited";
    let workspace = cluster(&states, true);
    let error = not_up_error(workspace.run(&["check", "lab2"]));
    assert_eq!(error, "cluster swarm-lab is not up (not running: manager (exited)): run labctl up");
    // Loading images needs every node.
    let error = not_up_error(workspace.run(&["images", "load", "mysql:5.7"]));
    assert_eq!(error, "cluster swarm-lab is not up (not running: manager (exited), node2 (exited)): run labctl up");
    // exec and ssh need only their own node.
    let run = workspace.run(&["exec", "node1", "--", "hostname"]).success();
    assert_eq!(run.stdout, "ran on swarm-lab-node1: hostname\n");
    let error = not_up_error(workspace.run(&["exec", "node2", "--", "hostname"]));
    assert_eq!(error, "cluster swarm-lab is not up (not running: node2 (exited)): run labctl up");
}

#[test]
fn a_manager_whose_docker_does_not_answer_is_not_up() {
    let workspace = cluster(&all("running"), false);
    for args in [&["reset", "lab2"][..], &["check", "lab2"], &["check", "lab2", "--seat", "all"]] {
        let error = not_up_error(workspace.run(args));
        assert_eq!(error, "cluster swarm-lab is not up (Docker does not answer on manager): run labctl up", "{args:?}");
    }
    // check asks with its first reads, and shows no verdict built on them.
    let run = workspace.run(&["check", "lab2"]);
    assert!(!run.stdout.contains('✗') && !run.stderr.contains('✗'), "{run:#?}");
    // A shell on the manager is how one looks at its Docker: still allowed.
    workspace.run(&["exec", "manager", "--", "true"]).success();
}

#[test]
fn check_json_says_the_cluster_was_not_reachable() {
    let workspace = cluster(&[], false);
    let run = workspace.run(&["check", "lab2", "--json"]);
    assert_eq!(run.code, 3, "{run:#?}");
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(report["lab"], "lab2");
    assert_eq!(report["reachable"], false);
    assert_eq!(report["passed"], false);
    assert_eq!(report["checks"], serde_json::json!([]));
    assert_eq!(report["error"], NO_NODE);
    assert_eq!(not_up_error(run), NO_NODE);
}

#[test]
fn status_exits_3_unless_every_node_is_ready() {
    let workspace = cluster(&[], false);
    let run = workspace.run(&["status"]);
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(
        run.stdout.contains("manager  manager  192.168.56.10  missing"),
        "the table is still printed: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains("cluster swarm-lab is not up: not Ready: manager (missing), node1 (missing)"),
        "{}",
        run.stderr
    );
    let json = workspace.run(&["status", "--json"]);
    assert_eq!(json.code, 3, "{json:#?}");
    let status: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON on stdout");
    assert_eq!(status["nodes"][0]["state"], "missing");

    let workspace = cluster(&all("running"), true);
    let run = workspace.run(&["status"]).success();
    assert!(run.stdout.contains("node3    worker   192.168.56.13  running  active  Ready"), "{}", run.stdout);
}

#[test]
fn a_docker_engine_that_does_not_answer_means_the_cluster_cannot_be_reached() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[cluster]\nprovider = \"docker\"\n");
    workspace.fake_program(
        "docker",
        "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock' >&2\nexit 1",
    );
    for args in [&["check", "lab1"][..], &["status"]] {
        let run = workspace.run(args);
        assert_eq!(run.code, 3, "labctl {args:?}: {run:#?}");
        let error = run.stderr.lines().find(|line| line.starts_with("error: ")).unwrap_or_default();
        assert!(
            error.starts_with("error: cluster swarm-lab cannot be reached: provider docker (set in labctl.toml): the Docker engine does not answer"),
            "{}",
            run.stderr
        );
    }
}
