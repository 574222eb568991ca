//! Commands that change several seats of a class: the seats run at once
//! under a bound, each prints its lines with its label, one seat's failure
//! never stops the others, and a report at the end says how each did.

use std::time::{Duration, Instant};

use crate::support::{Run, Workspace};

/// A class of `seats` seats named demo, one worker each, with `class_keys`
/// in `[class]`. The fake `docker` lists two running nodes for every seat
/// but seat 2 when `s02-broken` exists; `docker stop` runs `stop.sh`.
fn class(seats: u32, class_keys: &str, stop: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.file(
        "labctl.toml",
        &format!(
            "[cluster]\nname = \"demo\"\nprovider = \"docker\"\nworkers = 1\n\n[class]\nseats = {seats}\naccess = \"none\"\nport_step = 10\n{class_keys}"
        ),
    );
    workspace.file("stop.sh", stop);
    for tool in ["sh", "mkdir", "rmdir", "ls", "wc", "sleep", "cat"] {
        workspace.link_host_tool(tool);
    }
    workspace.fake_program(
        "docker",
        r#"case "$1" in
  version) echo 27.3.1 ;;
  ps)
    for arg; do case "$arg" in label=labctl.cluster=*) cluster=${arg#label=labctl.cluster=} ;; esac; done
    if [ "$cluster" = demo-s02 ] && [ -f s02-broken ]; then
      echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
      exit 1
    fi
    printf 'manager\trunning\nnode1\trunning\n' ;;
  stop) shift 3; sh stop.sh "$1" || exit 1 ;;
esac
exit 0"#,
    );
    workspace
}

/// Lines of stderr that start with `prefix`.
fn lines_of<'a>(run: &'a Run, prefix: &str) -> Vec<&'a str> {
    run.stderr.lines().filter(|line| line.starts_with(prefix)).collect()
}

#[test]
fn a_change_to_a_class_without_seat_is_refused_in_one_line() {
    let workspace = class(3, "", "");
    for args in [&["down"][..], &["destroy", "--yes"], &["up"], &["reset", "lab2"], &["solve", "lab2"]] {
        let error = workspace.run(args).single_error();
        assert!(
            error.ends_with(
                "labctl.toml:7:9: this workspace is a class of 3 seats; say which this acts on: --seat 3, --seat 2-5 or --seat all"
            ),
            "labctl {args:?}: {error}"
        );
    }
    assert!(!workspace.calls().contains("docker"), "nothing ran: {}", workspace.calls());
}

#[test]
fn one_seat_failing_never_stops_the_others() {
    let workspace = class(3, "", "exit 0\n");
    workspace.file("s02-broken", "");
    let run = workspace.run(&["down", "--seat", "all"]);
    assert_eq!(run.code, 1, "{run:#?}");
    // Seats 1 and 3 were stopped, seat 2 could not be.
    let calls = workspace.calls();
    assert!(calls.contains("docker stop --time 10 demo-s01-manager demo-s01-node1"), "{calls}");
    assert!(calls.contains("docker stop --time 10 demo-s03-manager demo-s03-node1"), "{calls}");
    assert!(!calls.contains("demo-s02-manager"), "{calls}");

    // What every seat would say alike is said once, by the first seat to say it.
    assert_eq!(run.stderr.matches("provider docker (set in labctl.toml)").count(), 1, "{}", run.stderr);
    // Each seat's lines carry its label; its error is said in full among them.
    let stopped = "s01 │ ✓ demo-s01: stopped 2 nodes; their disks are kept, `labctl up` starts them again ";
    assert!(lines_of(&run, "s01 │ ").iter().any(|line| line.starts_with(stopped)), "{}", run.stderr);
    let seat2 = lines_of(&run, "s02 │ ");
    assert!(seat2.iter().any(|line| line.starts_with("s02 │ ✗ stopping the nodes of demo-s02 ")), "{}", run.stderr);
    assert!(
        seat2.iter().any(|line| line.starts_with("s02 │ error: could not list the node containers")
            && line.contains("Cannot connect to the Docker daemon")),
        "{}",
        run.stderr
    );

    // The report: one line per seat, in seat order, then one error line naming what to retry.
    let report: Vec<&str> = run.stderr.lines().skip_while(|line| !line.contains("SEAT")).collect();
    assert_eq!(report.len(), 5, "{}", run.stderr);
    assert!(report[0].starts_with("  SEAT  CLUSTER   ENGINE  TIME"), "{}", report[0]);
    assert!(report[1].starts_with("✓ s01   demo-s01  local   "), "{}", report[1]);
    assert!(report[1].ends_with(" done"), "{}", report[1]);
    assert!(report[2].starts_with("✗ s02   demo-s02  local   "), "{}", report[2]);
    assert!(report[2].contains(" could not list the node containers"), "{}", report[2]);
    assert!(report[3].starts_with("✓ s03   demo-s03  local   "), "{}", report[3]);
    assert_eq!(
        report[4],
        "error: 1 of 3 seats failed: s02; the others are done. Run the same command with --seat 2 to retry them"
    );
}

#[test]
fn seats_run_together_up_to_the_bound() {
    // Each `docker stop` waits until every seat's has begun: seats taken one
    // at a time would never get past the first.
    let together = "mkdir -p began; mkdir began/$1\n\
        for i in $(seq 1 100); do [ \"$(ls began | wc -l)\" -ge 3 ] && exit 0; sleep 0.1; done\n\
        echo \"only $(ls began) began\" >&2; exit 1\n";
    let workspace = class(3, "parallel = 3\n", together);
    workspace.link_host_tool("seq");
    let started = Instant::now();
    let run = workspace.run(&["down", "--seat", "all"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(started.elapsed() < Duration::from_secs(9), "they waited for each other");
    assert!(run.stderr.starts_with("3 seats, 3 at a time ([class] parallel = 3)\n"), "{}", run.stderr);

    // With a bound of 2, no more than 2 seats are ever stopping at once.
    let counting = "mkdir -p running; mkdir running/$1\nls running | wc -l >> at-once.log\nsleep 1\n\
        ls running | wc -l >> at-once.log\nrmdir running/$1\n";
    let workspace = class(5, "parallel = 2\n", counting);
    let run = workspace.run(&["down", "--seat", "all"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let counts: Vec<usize> = workspace.read("at-once.log").split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert_eq!(counts.len(), 10, "every seat stopped once: {counts:?}");
    assert!(counts.iter().all(|&count| count <= 2), "more than 2 at once: {counts:?}");
    assert!(counts.contains(&2), "2 did run together: {counts:?}");
}

#[test]
fn without_a_configured_bound_the_host_decides_and_says_why() {
    let workspace = class(3, "", "exit 0\n");
    let run = workspace.run(&["down", "--seat", "1-3"]).success();
    let first = run.stderr.lines().next().unwrap();
    assert!(first.starts_with("3 seats, "), "{first}");
    assert!(first.contains(" at a time (this host: "), "{first}");
    assert!(first.ends_with("; set [class] parallel to change it)"), "{first}");
}

#[test]
fn seats_that_cannot_be_reached_exit_3() {
    // No seat has a running node: nothing is reset anywhere.
    let workspace = class(2, "", "exit 0\n");
    workspace.fake_program("docker", "case \"$1\" in version) echo 27.3.1 ;; esac\nexit 0");
    let run = workspace.run(&["reset", "lab2", "--seat", "all", "--yes"]);
    assert_eq!(run.code, 3, "{run:#?}");
    for seat in ["s01", "s02"] {
        let line = format!("{seat} │ error: cluster demo-{seat} is not up (no node is running): run labctl up");
        assert!(run.stderr.lines().any(|said| said == line), "{line}\n{}", run.stderr);
    }
    assert!(run.stderr.contains("error: 2 of 2 seats failed: s01, s02;"), "{}", run.stderr);
    assert!(!workspace.calls().contains("docker exec"), "{}", workspace.calls());
}

#[test]
fn a_reset_of_several_seats_asks_first_and_without_a_terminal_needs_yes() {
    let workspace = class(2, "", "exit 0\n");
    workspace.fake_program("docker", "case \"$1\" in version) echo 27.3.1 ;; esac\nexit 0");
    let error = workspace.run(&["reset", "lab2", "--seat", "all"]).single_error();
    assert_eq!(
        error,
        "resetting lab2 puts it back to its start on 2 seats of class demo (s01-s02); pass --yes to confirm (no terminal to ask on)"
    );
    assert!(!workspace.calls().contains("docker ps"), "nothing was asked of the seats: {}", workspace.calls());
    // One seat: as before, no question.
    let one = workspace.run(&["reset", "lab2", "--seat", "1"]);
    assert_eq!(one.code, 3, "{one:#?}");
}

#[test]
fn one_seat_of_a_class_runs_as_a_single_cluster() {
    let workspace = class(3, "", "exit 0\n");
    let run = workspace.run(&["down", "--seat", "3"]).success();
    // No prefix, no report: the lines of a single cluster.
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    assert_eq!(lines[0], "provider docker (set in labctl.toml)");
    assert!(lines[1].starts_with("✓ demo-s03: stopped 2 nodes; their disks are kept"), "{}", lines[1]);
}

#[test]
fn seats_destroyed_at_once_leave_the_class_cache_to_one_step_after_them() {
    // Three seats' networks and the class cache on one engine. A network
    // takes a moment to remove, so the seats' removals overlap; removing
    // the cache twice at once fails as Docker does ("already in progress").
    let workspace = class(3, "parallel = 3\n", "");
    for tool in ["rm", "touch"] {
        workspace.link_host_tool(tool);
    }
    for seat in ["s01", "s02", "s03"] {
        workspace.file(&format!("nets/labctl-demo-{seat}"), "");
    }
    workspace.file("cache", "");
    workspace.fake_program(
        "docker",
        r#"last() { for arg; do :; done; printf '%s' "$arg"; }
case "$1 $2" in
  version*) echo 27.3.1 ;;
  "ps --all") for arg; do case "$arg" in label=labctl.cluster=*) echo "id-${arg#label=labctl.cluster=}" ;; esac; done ;;
  "network ls")
    case "$*" in
      *--quiet*) for arg; do case "$arg" in label=labctl.cluster=*) net="labctl-${arg#label=labctl.cluster=}"; [ -f "nets/$net" ] && echo "$net" ;; esac; done ;;
      *) ls nets ;;
    esac ;;
  "network rm") sleep 0.3; rm "nets/$3" ;;
  "container inspect")
    [ -f cache ] || { echo "Error: No such container: labctl-cache-demo" >&2; exit 1; }
    printf 'c0ffee\trunning\tnone\tread-only\tregistry:2\t'; for net in $(ls nets); do printf '%s=10.0.0.254 ' "$net"; done; echo ;;
  "rm --force")
    [ "$3" = labctl-cache-demo ] || exit 0
    mkdir removing 2>/dev/null || { echo "Error response from daemon: removal of container $(last "$@") is already in progress" >&2; exit 1; }
    sleep 0.3; rm cache ;;
esac
exit 0"#,
    );
    let run = workspace.run(&["destroy", "--seat", "all", "--yes"]);
    assert_eq!(run.code, 0, "{run:#?}");
    let calls = workspace.calls();
    let calls: Vec<&str> = calls.lines().collect();
    let cache_removals: Vec<usize> =
        (0..calls.len()).filter(|&at| calls[at] == "docker rm --force labctl-cache-demo").collect();
    assert_eq!(cache_removals.len(), 1, "the class cache is removed once: {calls:#?}");
    let last_network = calls.iter().rposition(|call| call.starts_with("docker network rm ")).unwrap();
    assert!(cache_removals[0] > last_network, "after every seat's network: {calls:#?}");
    let said =
        "✓ removed class cache labctl-cache-demo with its storage (no seat of the class is left on engine local)";
    assert_eq!(run.stderr.lines().filter(|line| *line == said).count(), 1, "{}", run.stderr);
}

#[test]
fn images_load_leaves_out_a_seat_that_is_not_up_and_gives_the_others_their_images() {
    let workspace = class(2, "", "");
    workspace.file("s02-broken", "");
    workspace.fake_program(
        "docker",
        r#"case "$1" in
  version) echo 27.3.1; exit 0 ;;
  ps)
    for arg; do case "$arg" in label=labctl.cluster=*) cluster=${arg#label=labctl.cluster=} ;; esac; done
    if [ "$cluster" = demo-s02 ] && [ -f s02-broken ]; then
      echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
      exit 1
    fi
    printf 'manager\trunning\nnode1\trunning\n'; exit 0 ;;
  image) echo sha256:slim; exit 0 ;;
  save) echo image-bytes; exit 0 ;;
esac
case "$*" in
  *"docker image inspect"*) echo "Error: No such image: node:slim" >&2; exit 1 ;;
  *"docker load"*) cat >/dev/null; echo "Loaded image: node:slim" ;;
esac
exit 0"#,
    );
    let run = workspace.run(&["images", "load", "--seat", "all", "node:slim"]);
    assert_eq!(run.code, 3, "{run:#?}");
    let calls = workspace.calls();
    for node in ["demo-s01-manager", "demo-s01-node1"] {
        let load = format!("docker exec --interactive {node} timeout -s KILL 1795 docker load --quiet");
        assert!(calls.contains(&load), "{calls}");
    }
    assert!(!calls.contains("demo-s02-manager docker load"), "{calls}");
    assert!(run.stderr.contains("error: s02: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("error: 1 of 2 seats got no images: s02; once they are up, `labctl images load --seat 2`"),
        "{}",
        run.stderr
    );
}

#[test]
fn seats_brought_up_at_once_build_the_node_image_once_before_any_of_them() {
    // labctl's node image is missing on the engine until a build (which
    // takes a moment) makes it.
    let workspace = class(3, "parallel = 3\n", "");
    workspace.link_host_tool("touch");
    workspace.fake_program(
        "docker",
        r#"case "$1" in
  version) echo 27.3.1; exit 0 ;;
  build) cat >/dev/null; sleep 0.3; touch built; exit 0 ;;
  image) case "$*" in *labctl/node:*) [ -f built ] || { echo "Error: No such image" >&2; exit 1; } ;; esac; echo sha256:x; exit 0 ;;
esac
exit 0"#,
    );
    let run = workspace.run(&["up", "--seat", "all"]);
    let calls = workspace.calls();
    let calls: Vec<&str> = calls.lines().collect();
    let builds: Vec<usize> = (0..calls.len()).filter(|&at| calls[at].starts_with("docker build ")).collect();
    assert_eq!(builds.len(), 1, "one build for the class: {calls:#?}\n{}", run.stderr);
    let first_node =
        calls.iter().position(|call| call.starts_with("docker run ") || call.starts_with("docker network create"));
    assert!(first_node.is_none_or(|at| at > builds[0]), "built before any seat: {calls:#?}");
    assert!(run.stderr.contains(" is not on this host: it is built once, from docker:dind"), "{}", run.stderr);
}
