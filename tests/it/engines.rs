//! A class spread over two Docker engines, with a fake `docker` that answers
//! per engine: every command for a seat goes to that seat's engine, and an
//! engine that does not answer fails only its seats, within the read limit,
//! naming the engine.

use std::time::{Duration, Instant};

use crate::support::Workspace;

const SECOND_ENGINE: &str = "ssh://ubuntu@10.0.0.5";

/// Seat 1 on this host's engine (by its socket), seat 2 on lab-server-2.
/// The fake `docker` takes `--host X` first; when `engine2-down` exists,
/// anything sent to lab-server-2 hangs, as an engine behind a dead link does.
fn class_on_two_engines() -> Workspace {
    let workspace = Workspace::new();
    workspace.file(
        "labctl.toml",
        &format!(
            "[cluster]\nname = \"cls\"\nprovider = \"docker\"\n\n[class]\nseats = 2\naccess = \"none\"\n\n[[class.engines]]\nname = \"here\"\nhost = \"unix:///run/docker.sock\"\nseats = 1\n\n[[class.engines]]\nname = \"lab-server-2\"\nhost = \"{SECOND_ENGINE}\"\nseats = 1\n"
        ),
    );
    // node, state, workspace, container ID
    let running: String =
        ["manager", "node1", "node2", "node3"].map(|node| format!("{node}\trunning\t\tc-{node}\n")).concat();
    workspace.file("containers.txt", &running);
    let node_list: String = ["manager", "node1", "node2", "node3"]
        .map(|node| format!("{{\"ID\":\"id-{node}\",\"Hostname\":\"{node}\",\"Status\":\"Ready\",\"Availability\":\"Active\",\"ManagerStatus\":\"\"}}\n"))
        .concat();
    workspace.file("node-ls.txt", &node_list);
    for tool in ["cat", "sleep"] {
        workspace.link_host_tool(tool);
    }
    workspace.fake_program(
        "docker",
        &format!(
            r#"engine=this-host
case "$1" in --host|--context) engine=$2; shift 2 ;; esac
[ "$engine" = "{SECOND_ENGINE}" ] && [ -f engine2-down ] && {{ sleep 60; exit 1; }}
case "$1" in
  version) echo 27.3.1 ;;
  ps) case "$*" in *labctl.cache.writer*) ;; *) cat containers.txt ;; esac ;;
  image) echo sha256:on-this-host ;;
  save) echo image-archive ;;
  volume) [ "$2" = ls ] && echo cls-s02-manager-docker ;;
  network) [ "$2" = ls ] && echo labctl-cls-s02 ;;
  exec)
    shift
    while [ "${{1#-}}" != "$1" ]; do shift; done
    container=$1; shift
    [ "$1" = timeout ] && shift 4
    case "$*" in
      "docker version"*) echo 27.3.1 ;;
      "docker info"*) echo '{{"LocalNodeState":"active","NodeID":"x"}}' ;;
      "docker node ls"*) cat node-ls.txt ;;
      "docker image inspect"*) exit 1 ;;
      "docker load"*) cat >/dev/null ;;
      "sh -c"*) ;;
      *) echo "ran on $container: $*" ;;
    esac ;;
esac
exit 0"#
        ),
    );
    workspace
}

#[test]
fn every_docker_command_for_a_seat_goes_to_its_engine() {
    let workspace = class_on_two_engines();
    let status = workspace.run(&["status", "--seat", "2", "--json"]).success();
    let status: serde_json::Value = serde_json::from_str(&status.stdout).expect("JSON on stdout");
    assert_eq!((status["cluster"].as_str(), status["engine"].as_str()), (Some("cls-s02"), Some("lab-server-2")));
    let text = workspace.run(&["status", "--seat", "2"]).success();
    assert!(text.stdout.starts_with("cluster cls-s02 (docker provider, engine lab-server-2, rootful engine: root in a node is root on its host)\n"), "{}", text.stdout);
    let exec = workspace.run(&["exec", "--seat", "2", "manager", "--", "hostname"]).success();
    assert_eq!(exec.stdout, "ran on cls-s02-manager: hostname\n");
    workspace.run(&["images", "load", "--seat", "2", "mysql:5.7"]).success();
    workspace.run(&["down", "--seat", "2"]).success();
    workspace.run(&["destroy", "--seat", "2", "--yes"]).success();

    let calls = workspace.calls();
    let on_engine = format!("docker --host {SECOND_ENGINE} ");
    let mut from_this_host = Vec::new();
    // A script passed as one argument spans lines: only the first line of
    // each call starts with `docker `.
    for call in calls.lines().filter(|line| line.starts_with("docker ")) {
        match call.strip_prefix("docker ") {
            Some(rest) if rest.starts_with("image inspect") || rest.starts_with("save") => from_this_host.push(rest),
            _ => assert!(call.starts_with(&on_engine), "`{call}` does not go to seat 2's engine:\n{calls}"),
        }
    }
    // The image is read out of this host's docker and saved once, then fed
    // to each of seat 2's nodes on its engine.
    assert_eq!(from_this_host, ["image inspect --format {{.Id}} -- mysql:5.7", "save -- mysql:5.7"]);
    let loads = calls
        .lines()
        .filter(|line| line.contains(" exec --interactive cls-s02-") && line.ends_with("docker load --quiet"));
    assert_eq!(loads.count(), 4, "{calls}");
    for what in ["stop --time 10 cls-s02-manager", "rm --force --volumes", "volume rm", "network rm"] {
        assert!(calls.contains(&format!("{on_engine}{what}")), "{what}:\n{calls}");
    }
}

#[test]
fn an_engine_that_does_not_answer_fails_only_its_seats_within_the_read_limit() {
    let workspace = class_on_two_engines();
    workspace.file("engine2-down", "");
    // A read may take 3 s here.
    let scale = [("LABCTL_TIMEOUT_SCALE", "0.1")];
    let expected = format!(
        "engine \"lab-server-2\" ({SECOND_ENGINE}) does not answer: no reply within 3.0s (on a slow host, LABCTL_TIMEOUT_SCALE=2 doubles every time limit); check that it runs and that this host reaches it (`docker --host {SECOND_ENGINE} version`)"
    );
    for (args, prefix) in [
        (&["status", "--seat", "2"][..], "cluster cls-s02 cannot be reached: "),
        (&["up", "--seat", "2"], ""),
        (&["check", "lab1", "--seat", "2"], "cluster cls-s02 cannot be reached: "),
    ] {
        let started = Instant::now();
        let run = workspace.with_envs(args, &scale);
        let took = started.elapsed();
        assert_eq!(run.code, 3, "labctl {args:?}: {run:#?}");
        let errors: Vec<&str> = run.stderr.lines().filter(|line| line.starts_with("error: ")).collect();
        assert_eq!(errors, [format!("error: {prefix}{expected}")], "labctl {args:?}:\n{}", run.stderr);
        assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(15), "labctl {args:?} took {took:?}");
    }
    // Seat 1's engine answers: its commands go on.
    workspace.with_envs(&["status", "--seat", "1"], &scale).success();
    let exec = workspace.with_envs(&["exec", "--seat", "1", "node1", "--", "hostname"], &scale).success();
    assert_eq!(exec.stdout, "ran on cls-s01-node1: hostname\n");
    // doctor names the engine and the seats it holds.
    let doctor = workspace.with_envs(&["doctor"], &scale);
    assert_eq!(doctor.code, 1, "{doctor:#?}");
    let line_of = |name: &str| doctor.stdout.lines().find(|line| line.contains(name)).unwrap_or_default().to_string();
    let here = line_of("engine here ");
    assert!(
        here.starts_with("  ✓") && here.ends_with("answers (--host unix:///run/docker.sock); holds seat 1"),
        "{here}"
    );
    let silent = line_of("engine lab-server-2 ");
    assert!(silent.starts_with("  ✗"), "{silent}");
    assert!(silent.contains(&format!("does not answer (--host {SECOND_ENGINE}): no reply within 3.0s")), "{silent}");
    assert!(silent.ends_with("it holds seat 2"), "{silent}");
}
