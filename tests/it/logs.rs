//! `labctl logs` writes one .tar.gz with every node's Docker log and state and
//! this host's setup, tokens masked, and prints its path.

use std::io::Read;

use crate::support::Workspace;

const DOCKER: &str = r#"case "$*" in
  "version --format"*) echo 27.3.1 ;;
  "ps --all --filter label=labctl.cluster=swarm-lab --format"*)
    printf 'manager\trunning\nnode1\trunning\nnode2\trunning\nnode3\texited\n' ;;
  "network inspect"*) echo '192.168.56.0/24 ' ;;
  "logs --tail 5000 swarm-lab-manager") echo 'level=info msg="swarm joined with SWMTKN-1-secretpart-0123"' >&2 ;;
  "logs"*) echo 'level=info msg="API listen on /var/run/docker.sock"' >&2 ;;
  exec*"docker node ls") echo 'ID HOSTNAME STATUS AVAILABILITY' ;;
  exec*) echo "answer of: $*" ;;
esac
exit 0"#;

#[test]
fn logs_bundle_every_nodes_docker_log_and_state_with_tokens_masked() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[cluster]\nprovider = \"docker\"\n");
    workspace.fake_program("docker", DOCKER);
    let out = tempfile::tempdir().unwrap();
    let run = workspace.run(&["logs", "--out", &out.path().display().to_string()]).success();
    let path = std::path::PathBuf::from(run.stdout.trim());
    assert!(path.starts_with(out.path()) && path.to_string_lossy().ends_with(".tar.gz"), "{}", run.stdout);
    let name = path.file_name().unwrap().to_string_lossy().trim_end_matches(".tar.gz").to_string();
    assert!(name.starts_with("labctl-logs-swarm-lab-"), "{name}");

    let mut files = std::collections::BTreeMap::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap()));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        let inner = entry.path().unwrap().to_string_lossy().trim_start_matches(&format!("{name}/")).to_string();
        files.insert(inner, text);
    }
    for file in [
        "host/versions.txt",
        "host/labctl.toml",
        "host/settings.json",
        "swarm-lab/status.json",
        "swarm-lab/manager/dockerd.log",
        "swarm-lab/manager/docker-node-ls.txt",
        "swarm-lab/node1/docker-info.txt",
        "swarm-lab/node3/dockerd.log",
    ] {
        assert!(files.contains_key(file), "{file} missing from {:#?}", files.keys());
    }
    assert!(!files.contains_key("swarm-lab/node1/docker-node-ls.txt"), "only the manager is asked for the swarm");
    assert!(
        files["swarm-lab/manager/dockerd.log"].contains("SWMTKN-****"),
        "{}",
        files["swarm-lab/manager/dockerd.log"]
    );
    assert!(files.values().all(|text| !text.contains("secretpart")), "a join token reached the bundle");
    assert!(files["host/settings.json"].contains("\"cluster\": \"swarm-lab\""));
    assert!(files["host/versions.txt"].starts_with("labctl "));
}

#[test]
fn every_cluster_command_keeps_its_trace_in_a_run_log_even_without_v() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[cluster]\nprovider = \"docker\"\n");
    workspace.fake_program(
        "docker",
        &DOCKER
            .replace("exec*) echo \"answer of: $*\" ;;", "exec*) echo 'refused: SWMTKN-1-leaky-0123' >&2; exit 1 ;;"),
    );
    let status = workspace.run(&["-q", "status"]);
    assert_eq!(status.stderr, "", "-q keeps the terminal quiet: {}", status.stderr);
    let logs: Vec<std::path::PathBuf> =
        std::fs::read_dir(workspace.path().join(".labctl/logs")).unwrap().flatten().map(|entry| entry.path()).collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let name = logs[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("status-") && name.ends_with(".log"), "{name}");
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(log.starts_with("labctl "), "{log}");
    assert!(log.contains("command: labctl -q status"), "{log}");
    assert!(log.contains("s] $ docker ps --all --filter label=labctl.cluster=swarm-lab"), "the commands run: {log}");
    assert!(log.contains("s]   exit 0 after"), "{log}");
    assert!(
        log.contains("s]   exit 1 after") && log.contains("refused: SWMTKN-****"),
        "a failure's lines, masked: {log}"
    );
    assert!(!log.contains("leaky"), "{log}");

    // `labctl logs` takes the run logs into its bundle.
    let run = workspace.run(&["logs"]).success();
    let bundle = workspace.path().join(run.stdout.trim());
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(&bundle).unwrap()));
    for entry in archive.entries().unwrap() {
        names.push(entry.unwrap().path().unwrap().to_string_lossy().into_owned());
    }
    assert!(names.iter().any(|path| path.ends_with(&format!("/labctl/{name}"))), "{names:#?}");
    // Only the commands that act on a cluster (or check the host) keep a log.
    workspace.run(&["labs"]).success();
    let count = std::fs::read_dir(workspace.path().join(".labctl/logs"))
        .unwrap()
        .flatten()
        .filter(|entry| entry.path().extension().is_some_and(|extension| extension == "log"))
        .count();
    assert_eq!(count, 1);
}
