//! End-to-end: a class of two seats on two real Docker engines on this
//! machine. Engine 1 is this host's dockerd (the `default` context); engine
//! 2 is a docker-in-docker container started by the test from the offline
//! node image, its socket published in a temporary folder of this host, the
//! node image loaded into it (nothing can be pulled). Each seat lives wholly
//! on its engine, both swarms work, and an engine that hangs or is gone
//! fails only its own seat, within the read limit, naming the engine.

use std::path::Path;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support::{host_docker, require_e2e, Run, Workspace, EXPLICIT_CAPABILITIES};

const NODE_IMAGE: &str = "labctl-test/node:bookworm";
const CLUSTER: &str = "e2e-engines";
const ENGINE_CONTAINER: &str = "labctl-e2e-engines-engine2";

/// The second engine: a dockerd in a container of this host's Docker.
/// Removed, with everything inside it, however the test ends.
struct SecondEngine {
    /// Holds its socket, `docker.sock`.
    folder: TempDir,
}

impl SecondEngine {
    fn start() -> SecondEngine {
        Self::remove();
        let folder = tempfile::tempdir().expect("temp dir");
        let engine = SecondEngine { folder };
        let mount = format!("{}:/run/engine", engine.folder.path().display());
        let volume = format!("type=volume,src={ENGINE_CONTAINER},dst=/var/lib/docker");
        let common = [
            "run",
            "--detach",
            "--name",
            ENGINE_CONTAINER,
            "--label",
            "labctl-e2e=engines",
            "--volume",
            &mount,
            "--mount",
            &volume,
            "--env",
            "DOCKER_TLS_CERTDIR=",
        ];
        let dockerd = [NODE_IMAGE, "dockerd", "--host=unix:///run/engine/docker.sock", "--storage-driver=overlay2"];
        // As labctl starts nodes: --privileged, or where this host refuses
        // it, every capability it can grant.
        let privileged = [&common[..], &["--privileged"], &dockerd].concat();
        if !docker_succeeds(&privileged) {
            Self::remove();
            host_docker(&[&common[..], &EXPLICIT_CAPABILITIES, &dockerd].concat());
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while !docker_succeeds(&["--host", &engine.host(), "version"]) {
            assert!(Instant::now() < deadline, "engine 2 did not answer: {}", host_docker(&["logs", ENGINE_CONTAINER]));
            std::thread::sleep(Duration::from_millis(300));
        }
        // No pulls here: the nodes' image comes from this host.
        duct::cmd("docker", ["save", NODE_IMAGE])
            .pipe(duct::cmd("docker", ["--host", &engine.host(), "load", "--quiet"]))
            .stdout_null()
            .run()
            .expect("the node image loads into engine 2");
        engine
    }

    fn host(&self) -> String {
        format!("unix://{}", self.folder.path().join("docker.sock").display())
    }

    /// `docker --host <engine 2> ARGS`; panics unless it succeeds.
    fn docker(&self, args: &[&str]) -> String {
        host_docker(&[&["--host", &self.host()][..], args].concat())
    }

    /// The engine stopped: its dockerd stops its containers first, so
    /// nothing of them is left on this host.
    fn stop(&self) {
        host_docker(&["stop", "--time", "60", ENGINE_CONTAINER]);
    }

    fn remove() {
        duct::cmd("docker", ["rm", "--force", "--volumes", ENGINE_CONTAINER])
            .stdout_null()
            .stderr_null()
            .unchecked()
            .run()
            .ok();
        duct::cmd("docker", ["volume", "rm", ENGINE_CONTAINER]).stdout_null().stderr_null().unchecked().run().ok();
    }
}

impl Drop for SecondEngine {
    fn drop(&mut self) {
        // Unpaused, so that it can stop its nodes cleanly.
        duct::cmd("docker", ["unpause", ENGINE_CONTAINER]).stdout_null().stderr_null().unchecked().run().ok();
        duct::cmd("docker", ["stop", "--time", "60", ENGINE_CONTAINER])
            .stdout_null()
            .stderr_null()
            .unchecked()
            .run()
            .ok();
        Self::remove();
    }
}

fn docker_succeeds(args: &[&str]) -> bool {
    duct::cmd("docker", args).stdout_null().stderr_null().unchecked().run().is_ok_and(|output| output.status.success())
}

/// The class workspace; seat 1 (on this host's engine) destroyed however the
/// test ends (seat 2 goes with engine 2).
struct Class {
    workspace: Workspace,
}

impl Class {
    fn new(engine2: &SecondEngine) -> Class {
        let workspace = Workspace::new();
        workspace.file(
            "labctl.toml",
            &format!(
                "[cluster]\nname = \"{CLUSTER}\"\nprovider = \"docker\"\nsubnet = \"10.68.0.0/24\"\nmanager_ip = \"10.68.0.10\"\nworker_ip_start = \"10.68.0.11\"\nworkers = 1\n\n[class]\nseats = 2\naccess = \"none\"\n\n[[class.engines]]\nname = \"this-host\"\ncontext = \"default\"\nseats = 1\n\n[[class.engines]]\nname = \"engine-2\"\nhost = \"{}\"\nseats = 1\n\n[[forward]]\nhost = 29140\nguest = 9000\n\n[registry]\nimage = \"labctl-test/registry:2\"\n\n[docker]\nnode_image = \"{NODE_IMAGE}\"\n\n[cache]\nenabled = false\n",
                engine2.host()
            ),
        );
        let class = Class { workspace };
        // A seat left over by an interrupted run would make `up` a repair.
        class.labctl(&["destroy", "--seat", "1", "--yes"]);
        class
    }

    fn labctl(&self, args: &[&str]) -> Run {
        self.workspace.run_with_host_tools(args)
    }

    fn labctl_within(&self, args: &[&str], scale: &str) -> (Run, Duration) {
        let started = Instant::now();
        let run = self.workspace.run_with_host_tools_and(args, &[("LABCTL_TIMEOUT_SCALE", scale)]);
        (run, started.elapsed())
    }

    /// The Hostname and Status of every node of seat `seat`'s swarm.
    fn swarm_nodes(&self, seat: &str) -> String {
        let run = self.labctl(&[
            "exec",
            "--seat",
            seat,
            "manager",
            "--",
            "docker",
            "node",
            "ls",
            "--format",
            "{{.Hostname}} {{.Status}}",
        ]);
        run.success().stdout
    }
}

impl Drop for Class {
    fn drop(&mut self) {
        let run = self.labctl(&["destroy", "--seat", "1", "--yes"]);
        if run.code != 0 {
            eprintln!("cleanup: destroy --seat 1 failed: {}", run.stderr);
        }
    }
}

/// The one error line of a run that exited 3.
#[track_caller]
fn unreachable_error(run: &Run) -> String {
    assert_eq!(run.code, 3, "expected exit 3: {run:#?}");
    let errors: Vec<&str> = run.stderr.lines().filter(|line| line.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{}", run.stderr);
    errors[0].to_string()
}

fn containers(docker: impl Fn(&[&str]) -> String, seat: &str) -> Vec<String> {
    let filter = format!("label=labctl.cluster={CLUSTER}-{seat}");
    let names = docker(&["ps", "--all", "--filter", &filter, "--format", "{{.Names}}"]);
    let mut names: Vec<String> = names.lines().map(String::from).collect();
    names.sort();
    names
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_a_class_on_two_engines_keeps_each_seat_on_its_engine_and_survives_a_dead_one() {
    require_e2e();
    let engine2 = SecondEngine::start();
    let class = Class::new(&engine2);
    class.labctl(&["up", "--seat", "all"]).success();

    // Each seat wholly on its engine.
    let on_host = |args: &[&str]| host_docker(args);
    let on_engine2 = |args: &[&str]| engine2.docker(args);
    let seat1 = [format!("{CLUSTER}-s01-manager"), format!("{CLUSTER}-s01-node1")];
    let seat2 = [format!("{CLUSTER}-s02-manager"), format!("{CLUSTER}-s02-node1")];
    assert_eq!(containers(on_host, "s01"), seat1);
    assert_eq!(containers(on_engine2, "s02"), seat2);
    assert!(containers(on_host, "s02").is_empty() && containers(on_engine2, "s01").is_empty());
    assert!(Path::new(&engine2.folder.path().join("docker.sock")).exists());

    // Both swarms work, each with its two nodes Ready.
    for seat in ["1", "2"] {
        assert_eq!(class.swarm_nodes(seat), "manager Ready\nnode1 Ready\n", "seat {seat}");
    }
    let status = class.labctl(&["status", "--seat", "2", "--json"]).success();
    let status: serde_json::Value = serde_json::from_str(&status.stdout).expect("JSON");
    assert_eq!(status["engine"], "engine-2");
    assert_eq!(status["nodes"][1]["ip"], "10.68.1.11", "seat 2's own subnet");

    // Engine 2 hangs (its dockerd frozen): seat 2 fails within the read
    // limit (6 s at scale 0.2), naming the engine; seat 1 goes on.
    host_docker(&["pause", ENGINE_CONTAINER]);
    let named = format!("engine \"engine-2\" ({}) does not answer: no reply within 6.0s", engine2.host());
    for args in [&["status", "--seat", "2"][..], &["up", "--seat", "2"]] {
        let (run, took) = class.labctl_within(args, "0.2");
        let error = unreachable_error(&run);
        assert!(error.contains(&named), "labctl {args:?}: {error}");
        assert!(took < Duration::from_secs(30), "labctl {args:?} took {took:?}");
    }
    let (status1, _) = class.labctl_within(&["status", "--seat", "1"], "0.2");
    status1.success();
    let up1 = class.labctl(&["up", "--seat", "1"]).success();
    assert!(up1.stderr.contains(&format!("no changes: cluster {CLUSTER}-s01 was already up")), "{}", up1.stderr);
    host_docker(&["unpause", ENGINE_CONTAINER]);

    // Engine 2 gone (its socket left behind, nothing listening).
    engine2.stop();
    let (run, took) = class.labctl_within(&["status", "--seat", "2"], "0.2");
    let error = unreachable_error(&run);
    let gone = format!("engine \"engine-2\" ({}) does not answer: Cannot connect to the Docker daemon", engine2.host());
    assert!(error.contains(&gone), "{error}");
    assert!(took < Duration::from_secs(10), "a dead socket is told at once: {took:?}");
    assert_eq!(class.swarm_nodes("1"), "manager Ready\nnode1 Ready\n");
}
