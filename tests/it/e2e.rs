//! End-to-end with the real docker provider: a 4-node cluster on this
//! host's Docker, from nothing to destroyed. Runs when LABCTL_E2E=1 (set by
//! .ci/run, which also builds the offline images); otherwise prints why it
//! is skipped.

use std::time::{Duration, Instant};

use crate::handout::assert_nodes_have_the_handouts_commands;
use crate::support::{free_port, host_docker, require_e2e, Workspace};

const CLUSTER: &str = "labctl-e2e";
const NODE_IMAGE: &str = "labctl-test/node:bookworm";
const REGISTRY_IMAGE: &str = "labctl-test/registry:2";

/// Destroys the cluster however the test ends.
struct Cluster {
    workspace: Workspace,
}

impl Cluster {
    fn new() -> Cluster {
        let workspace = Workspace::new();
        let config = format!(
            "[cluster]\nname = \"{CLUSTER}\"\nprovider = \"docker\"\n\n[[forward]]\nhost = {}\nguest = 9000\n\n[registry]\nimage = \"{REGISTRY_IMAGE}\"\n\n[docker]\nnode_image = \"{NODE_IMAGE}\"\n",
            free_port()
        );
        workspace.file("labctl.toml", &config);
        let cluster = Cluster { workspace };
        // A cluster left over by an interrupted run would make `up` a repair.
        cluster.labctl(&["destroy", "--yes"]);
        cluster
    }

    fn labctl(&self, args: &[&str]) -> crate::support::Run {
        self.workspace.run_with_host_tools(args)
    }

    fn exec(&self, node: &str, command: &[&str]) -> String {
        let mut args = vec!["exec", node, "--"];
        args.extend(command);
        let run = self.labctl(&args);
        assert_eq!(run.code, 0, "labctl exec {node} {command:?} failed:\n{}\n{}", run.stdout, run.stderr);
        run.stdout
    }

    /// `docker node ls` on the manager as (hostname, status, manager status).
    fn swarm_nodes(&self) -> Vec<(String, String, String)> {
        let text =
            self.exec("manager", &["docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}"]);
        let mut nodes: Vec<(String, String, String)> = text
            .lines()
            .map(|line| {
                let mut words = line.split_whitespace().map(String::from);
                (words.next().unwrap_or_default(), words.next().unwrap_or_default(), words.next().unwrap_or_default())
            })
            .collect();
        nodes.sort();
        nodes
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.labctl(&["destroy", "--yes"]);
    }
}

fn all_ready() -> Vec<(String, String, String)> {
    vec![
        ("manager".into(), "Ready".into(), "Leader".into()),
        ("node1".into(), "Ready".into(), String::new()),
        ("node2".into(), "Ready".into(), String::new()),
        ("node3".into(), "Ready".into(), String::new()),
    ]
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_docker_cluster_from_nothing_to_destroyed() {
    require_e2e();
    let cluster = Cluster::new();

    // An up killed half-way leaves nothing that the next up cannot finish.
    let interrupted = cluster.workspace.start_with_host_tools(&["up"]);
    let started = Instant::now();
    let filter = format!("label=labctl.cluster={CLUSTER}");
    while host_docker(&["ps", "--quiet", "--filter", &filter]).lines().count() < 2 {
        assert!(started.elapsed() < Duration::from_secs(30), "the interrupted up never started nodes");
        std::thread::sleep(Duration::from_millis(50));
    }
    interrupted.kill().unwrap();

    // Cold up (finishing the interrupted one): four nodes, one swarm.
    let up = cluster.labctl(&["up"]).success();
    assert!(up.stderr.contains("swarm initialised on manager 192.168.56.10; 3 workers joined"), "{}", up.stderr);
    assert!(!up.stderr.contains("SWMTKN-1"), "the join token must never be shown");
    assert_eq!(cluster.swarm_nodes(), all_ready());
    for (node, ip) in [
        ("manager", "192.168.56.10"),
        ("node1", "192.168.56.11"),
        ("node2", "192.168.56.12"),
        ("node3", "192.168.56.13"),
    ] {
        let container = format!("{CLUSTER}-{node}");
        let address = host_docker(&[
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &container,
        ]);
        assert_eq!(address.trim(), ip, "{node}");
        assert_eq!(cluster.exec(node, &["hostname"]).trim(), node);
    }
    // Every command the handouts type exists on every node.
    assert_nodes_have_the_handouts_commands(&cluster.workspace, &["manager", "node1", "node2", "node3"]);

    // Every node resolves the others by name.
    assert!(cluster.exec("node3", &["getent", "hosts", "manager"]).starts_with("192.168.56.10"));

    // Labs are seeded on the manager, scripts executable, solutions not copied.
    let listing = cluster
        .exec("manager", &["ls", "-l", "/root/work/db/add-server-id.sh", "/root/work/ingress/simple-web/hello.js"]);
    assert!(listing.contains("-rwxr-xr-x"), "{listing}");
    assert!(!cluster.exec("manager", &["ls", "/root/work/work3"]).contains("solution"));
    let networks = cluster.exec("manager", &["docker", "network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert!(networks.contains("ch03 overlay") && networks.contains("todoapp overlay"), "{networks}");

    // Up again: nothing to do.
    let again = cluster.labctl(&["up"]).success();
    assert!(again.stderr.contains("no changes"), "{}", again.stderr);

    // A student's edit survives `up`.
    cluster.exec("manager", &["sh", "-c", "echo mine > /root/work/ingress/ch03-webapi.yml"]);
    cluster.labctl(&["up"]).success();
    assert_eq!(cluster.exec("manager", &["cat", "/root/work/ingress/ch03-webapi.yml"]), "mine\n");

    // A worker that left is brought back, without a stale entry.
    cluster.exec("node2", &["docker", "swarm", "leave", "--force"]);
    let healed = cluster.labctl(&["up"]).success();
    assert!(healed.stderr.contains("1 worker joined"), "{}", healed.stderr);
    assert_eq!(cluster.swarm_nodes(), all_ready());

    // A node container removed by hand is recreated and rejoins.
    host_docker(&["rm", "--force", &format!("{CLUSTER}-node3")]);
    cluster.labctl(&["up"]).success();
    assert_eq!(cluster.swarm_nodes(), all_ready());

    // The registry: push from the manager, run as a service on a worker.
    cluster.exec(
        "manager",
        &[
            "sh",
            "-c",
            "set -e; d=$(mktemp -d); cp /bin/busybox \"$d/busybox\"; \
             tar -C \"$d\" -c . | docker import -c 'CMD [\"/busybox\", \"sleep\", \"3600\"]' - manager:5000/e2e/sleeper >/dev/null; \
             docker push manager:5000/e2e/sleeper >/dev/null",
        ],
    );
    cluster.exec(
        "manager",
        &[
            "docker",
            "service",
            "create",
            "--detach",
            "--name",
            "sleeper",
            "--constraint",
            "node.role==worker",
            "manager:5000/e2e/sleeper",
        ],
    );
    let started = Instant::now();
    let placement = loop {
        let tasks =
            cluster.exec("manager", &["docker", "service", "ps", "sleeper", "--format", "{{.Node}} {{.CurrentState}}"]);
        if let Some(line) = tasks.lines().find(|line| line.contains("Running")) {
            break line.to_string();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the service never ran: {tasks}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(placement.starts_with("node"), "ran on a worker: {placement}");

    // Status, as JSON.
    let status: serde_json::Value =
        serde_json::from_str(&cluster.labctl(&["status", "--json"]).success().stdout).unwrap();
    assert_eq!(status["cluster"], CLUSTER);
    assert_eq!(status["provider"], "docker");
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    assert!(nodes
        .iter()
        .all(|node| node["state"] == "running" && node["swarm"] == "active" && node["status"] == "Ready"));
    assert_eq!(nodes[0]["manager_status"], "Leader");
    assert_eq!(status["registry"]["state"], "running");
    assert_eq!(status["labs"].as_array().unwrap().len(), 6, "every built-in lab is seeded");

    // Down keeps the disks; up brings the same cluster back.
    cluster.labctl(&["down"]).success();
    assert_eq!(host_docker(&["ps", "--quiet", "--filter", &format!("label=labctl.cluster={CLUSTER}")]).trim(), "");
    cluster.labctl(&["up"]).success();
    assert_eq!(cluster.exec("manager", &["cat", "/root/work/ingress/ch03-webapi.yml"]), "mine\n");

    // Destroy leaves nothing behind.
    let destroyed = cluster.labctl(&["destroy", "--yes"]).success();
    assert!(destroyed.stderr.contains("removed 4 containers"), "{}", destroyed.stderr);
    let filter = format!("label=labctl.cluster={CLUSTER}");
    assert_eq!(host_docker(&["ps", "--all", "--quiet", "--filter", &filter]).trim(), "");
    assert_eq!(host_docker(&["volume", "ls", "--quiet", "--filter", &filter]).trim(), "");
    assert_eq!(host_docker(&["network", "ls", "--quiet", "--filter", &filter]).trim(), "");
}
