//! End-to-end (LABCTL_E2E=1): what students wrote survives a node container
//! removed on the host, and `destroy` removes the volumes that kept it.
//! Its cluster has its own name and subnet, so it runs beside e2e.rs and
//! e2e_labs.rs.

use crate::support::{free_port, host_docker, require_e2e, Run, Workspace};

const CLUSTER: &str = "labctl-e2e-data";

/// A lab whose setup writes into the lab directory, where the student
/// keeps notes in the same file.
const SETUP_LAB: &str = r#"id = "e2esetup"
title = "Setup writes here"
title_ko = "설정이 여기에 씁니다"
dir = "e2esetup"
files = ["stack.yml"]
setup = ["echo 'write your notes here' > notes.txt"]
"#;

/// Destroys the cluster however the test ends.
struct Cluster {
    workspace: Workspace,
}

impl Cluster {
    fn labctl(&self, args: &[&str]) -> Run {
        self.workspace.run_with_host_tools(args)
    }

    fn exec(&self, node: &str, script: &str) -> String {
        self.workspace.node_script(node, script)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.labctl(&["destroy", "--yes"]);
    }
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_student_work_survives_a_removed_node_container() {
    require_e2e();
    let workspace = Workspace::new();
    // One worker, two labs, one of them outside the lab root, no registry: quick.
    workspace.file(
        "labctl.toml",
        &format!(
            "[cluster]\nname = \"{CLUSTER}\"\nprovider = \"docker\"\nsubnet = \"192.168.59.0/24\"\nmanager_ip = \"192.168.59.10\"\nworker_ip_start = \"192.168.59.11\"\nworkers = 1\n\n[[forward]]\nhost = {}\nguest = 9000\n\n[registry]\nenabled = false\n\n[labs]\nseed = [\"lab1\", \"lab2\", \"e2esetup\"]\n\n[labs.target]\nlab2 = \"/srv/quiz\"\n\n[docker]\nnode_image = \"labctl-test/node:bookworm\"\n",
            free_port()
        ),
    );
    workspace
        .file("labs/e2esetup/lab.toml", SETUP_LAB)
        .file("labs/e2esetup/stack.yml", "version: \"3.8\"\n")
        .file("labs/e2esetup/README.md", "# 설정\n")
        .file("labs/e2esetup/README.en.md", "# Setup\n");
    let cluster = Cluster { workspace };
    cluster.labctl(&["destroy", "--yes"]);
    cluster.labctl(&["up"]).success();

    // A student edits a seeded file, adds files (on a worker too) and runs a service.
    cluster.exec(
        "manager",
        "set -e; echo 'student edit' > /root/work/ingress/ch03-webapi.yml; echo 'my notes' > /root/work/notes.txt; \
         echo 'quiz answer' > /srv/quiz/answer.txt; \
         d=$(mktemp -d); cp /bin/busybox \"$d/busybox\"; \
         tar -C \"$d\" -c . | docker import -c 'CMD [\"/busybox\", \"sleep\", \"3600\"]' - e2e/sleeper >/dev/null; \
         docker service create --detach --name kept --constraint node.role==manager e2e/sleeper >/dev/null 2>&1",
    );
    cluster.exec("node1", "mkdir -p /root/work && echo 'worker notes' > /root/work/worker.txt");

    // Both containers removed on the host, as `docker container prune` after `down` would.
    host_docker(&["rm", "--force", &format!("{CLUSTER}-manager"), &format!("{CLUSTER}-node1")]);
    let up = cluster.labctl(&["up"]).success();
    assert!(up.stderr.contains("2 recreated on kept volumes"), "{}", up.stderr);
    assert!(up.stderr.contains("labs already seeded"), "nothing re-seeded over the student's work: {}", up.stderr);

    assert_eq!(cluster.exec("manager", "cat /root/work/ingress/ch03-webapi.yml"), "student edit\n");
    assert_eq!(cluster.exec("manager", "cat /root/work/notes.txt"), "my notes\n");
    assert_eq!(cluster.exec("manager", "cat /srv/quiz/answer.txt"), "quiz answer\n");
    assert_eq!(cluster.exec("node1", "cat /root/work/worker.txt"), "worker notes\n");
    assert_eq!(cluster.exec("manager", "docker service ls --format '{{.Name}}'").trim(), "kept");
    let status: serde_json::Value =
        serde_json::from_str(&cluster.labctl(&["status", "--json"]).success().stdout).unwrap();
    let nodes = status["nodes"].as_array().unwrap();
    assert!(nodes.iter().all(|node| node["swarm"] == "active" && node["status"] == "Ready"), "{status:#}");

    // Reset backs the student's notes up before the lab's setup writes the
    // template again, each reset into a folder of its own.
    cluster.exec("manager", "echo 'student notes' > /root/work/e2esetup/notes.txt");
    let reset = cluster.labctl(&["reset", "e2esetup"]).success();
    assert!(reset.stderr.contains("backed up 1 file to .labctl/backups/e2esetup/"), "{}", reset.stderr);
    assert_eq!(cluster.exec("manager", "cat /root/work/e2esetup/notes.txt"), "write your notes here\n");
    cluster.exec("manager", "echo 'more notes' > /root/work/e2esetup/notes.txt");
    cluster.labctl(&["reset", "e2esetup"]).success();
    let backups = cluster.workspace.path().join(".labctl/backups/e2esetup");
    let mut kept: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path().join("notes.txt")).unwrap())
        .collect();
    kept.sort();
    assert_eq!(kept, vec!["more notes\n", "student notes\n"]);

    // Destroy removes every volume of the cluster, the students' too.
    cluster.labctl(&["destroy", "--yes"]).success();
    let filter = format!("label=labctl.cluster={CLUSTER}");
    assert_eq!(host_docker(&["volume", "ls", "--quiet", "--filter", &filter]).trim(), "");
}
