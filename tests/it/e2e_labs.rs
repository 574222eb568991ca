//! End-to-end lab lifecycle with the docker provider (LABCTL_E2E=1):
//! reset after a student changed things, checks that pass and fail on a
//! real deployment, and images loaded from this host into every node.
//! Its cluster has its own name and subnet, so it runs beside e2e.rs.

use std::time::{Duration, Instant};

use crate::support::{free_port, host_docker, require_e2e, Run, Workspace};

const CLUSTER: &str = "labctl-e2e-labs";

/// A lab of the test's own whose checks can all pass on this host (ports
/// published in host mode: no routing mesh needed).
const E2E_LAB: &str = r#"id = "e2echeck"
title = "End-to-end checks"
title_ko = "종단 간 검사"
dir = "e2echeck"
language = "en"
files = ["stack.yml"]
instructor_only = ["solution/solve.sh"]
solve = "solution/solve.sh"
images = ["labctl-e2e/preload:1", "labctl-e2e/absent:1"]

[[networks]]
name = "e2enet"

[[stacks]]
name = "e2e"
file = "stack.yml"
services = ["web"]

[[checks]]
kind = "network"
name = "e2enet is an attachable overlay"
network = "e2enet"
driver = "overlay"
attachable = true
hint_ko = "네트워크를 만드세요"
hint_en = "create the network"

[[checks]]
kind = "registry_repository"
name = "the registry has e2e/httpd"
repository = "e2e/httpd"
hint_ko = "이미지를 푸시하세요"
hint_en = "push e2e/httpd to the registry"

[[checks]]
kind = "service_replicas"
name = "e2e_web runs on the three workers"
service = "e2e_web"
replicas = 3
hint_ko = "스택을 배포하세요"
hint_en = "deploy stack.yml as e2e and check `docker service ps e2e_web`"

[[checks]]
kind = "placement"
name = "e2e_web is on workers only"
service = "e2e_web"
role = "worker"
hint_ko = "배치 제약을 확인하세요"
hint_en = "keep node.role == worker"

[[checks]]
kind = "http"
name = "node1 serves the page on 8090"
node = "node1"
url = "http://localhost:8090/"
contains = "labctl-e2e-marker"
hint_ko = "포트를 확인하세요"
hint_en = "publish 8090 in host mode"

[[checks]]
kind = "command"
name = "stack e2e is deployed"
command = "docker stack ls --format '{{.Name}}' | grep -qx e2e"
hint_ko = "스택을 배포하세요"
hint_en = "run docker stack deploy"
"#;

const E2E_STACK: &str = r#"version: "3.8"
services:
  web:
    image: manager:5000/e2e/httpd
    networks: [e2enet]
    ports:
      - { target: 80, published: 8090, mode: host }
    deploy:
      mode: global
      placement:
        constraints: [node.role == worker]
networks:
  e2enet:
    external: true
"#;

/// The reference solution: an httpd image built offline, pushed, deployed
/// with the helpers labctl provides.
const E2E_SOLVE: &str = r#"#!/bin/sh
set -eu
. "$LABCTL_SOLVE_LIB"
need_network e2enet
d=$(mktemp -d)
mkdir -p "$d/www"
cp /bin/busybox "$d/"
echo labctl-e2e-marker > "$d/www/index.html"
tar -C "$d" -c . | docker import -c 'CMD ["/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]' - "$LABCTL_REGISTRY/e2e/httpd" >/dev/null
docker push "$LABCTL_REGISTRY/e2e/httpd" >/dev/null
deploy stack.yml e2e
say "deployed from $PWD with $LABCTL_SOLUTION_DIR"
"#;

struct Cluster {
    workspace: Workspace,
}

impl Cluster {
    fn new() -> Cluster {
        let workspace = Workspace::new();
        workspace.file(
            "labctl.toml",
            &format!(
                "[cluster]\nname = \"{CLUSTER}\"\nprovider = \"docker\"\nsubnet = \"192.168.57.0/24\"\nmanager_ip = \"192.168.57.10\"\nworker_ip_start = \"192.168.57.11\"\n\n[[forward]]\nhost = {}\nguest = 9000\n\n[registry]\nimage = \"labctl-test/registry:2\"\n\n[images]\npreload = true\n\n[docker]\nnode_image = \"labctl-test/node:bookworm\"\n",
                free_port()
            ),
        );
        workspace
            .file("labs/e2echeck/lab.toml", E2E_LAB)
            .file("labs/e2echeck/stack.yml", E2E_STACK)
            .file("labs/e2echeck/solution/solve.sh", E2E_SOLVE)
            .file("labs/e2echeck/README.md", "# 검사\n")
            .file("labs/e2echeck/README.en.md", "# Checks\n");
        let cluster = Cluster { workspace };
        cluster.labctl(&["destroy", "--yes"]);
        host_image(PRELOADED);
        remove_host_image(ABSENT);
        cluster
    }

    fn labctl(&self, args: &[&str]) -> Run {
        self.workspace.run_with_host_tools(args)
    }

    fn exec(&self, node: &str, script: &str) -> String {
        self.workspace.node_script(node, script)
    }

    fn check(&self, lab: &str) -> (i32, serde_json::Value) {
        let run = self.labctl(&["check", lab, "--json"]);
        (run.code, serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("not JSON: {run:?}")))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.labctl(&["destroy", "--yes"]);
        remove_host_image(PRELOADED);
    }
}

fn remove_host_image(name: &str) {
    let _ = duct::cmd("docker", ["image", "rm", name]).stdout_null().stderr_null().unchecked().run();
}

/// An image only this host has (the e2echeck lab lists it).
const PRELOADED: &str = "labctl-e2e/preload:1";
/// An image the e2echeck lab lists and no host has (whatever else this
/// host's Docker holds, e.g. the offline stand-ins of the labs' images).
const ABSENT: &str = "labctl-e2e/absent:1";

/// Make a tiny image in this host's Docker.
fn host_image(name: &str) {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("hello.txt"), format!("{name}\n")).unwrap();
    let tarball =
        duct::cmd("tar", ["-C", root.path().to_str().unwrap(), "-c", "."]).stdout_capture().run().unwrap().stdout;
    duct::cmd("docker", ["import", "-", name]).stdin_bytes(tarball).stdout_null().run().unwrap();
}

fn outcome<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}"))
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_reset_check_and_images() {
    require_e2e();
    let cluster = Cluster::new();
    let up = cluster.labctl(&["up"]).success();
    // [images] preload: what this host has reaches every node; the rest is said.
    let missing = up.stderr.lines().find_map(|line| line.split_once("not on this host, so the nodes will pull them: "));
    let missing = missing.unwrap_or_else(|| panic!("no line names the missing images: {}", up.stderr)).1;
    assert!(missing.split(", ").any(|image| image.starts_with(ABSENT)), "{missing}");
    assert!(!missing.contains(PRELOADED), "{missing}");
    let preloaded = host_docker(&["image", "inspect", "--format", "{{.Id}}", PRELOADED]);
    assert_eq!(cluster.exec("node2", &format!("docker image inspect --format '{{{{.Id}}}}' {PRELOADED}")), preloaded);

    // --- reset: a student changed and added files and deployed a stack on ch03.
    cluster.exec(
        "manager",
        "set -e; cd /root/work/ingress; echo 'student edit' > ch03-webapi.yml; echo 'my notes' > notes.txt; \
         d=$(mktemp -d); mkdir -p \"$d/www\"; cp /bin/busybox \"$d/\"; echo labctl-e2e-marker > \"$d/www/index.html\"; \
         tar -C \"$d\" -c . | docker import -c 'CMD [\"/busybox\", \"httpd\", \"-f\", \"-p\", \"8000\", \"-h\", \"/www\"]' - manager:5000/example/simple-web >/dev/null; \
         docker push manager:5000/example/simple-web >/dev/null; \
         printf 'version: \"3.8\"\\nservices:\\n  api:\\n    image: manager:5000/example/simple-web\\n    networks: [ch03]\\nnetworks:\\n  ch03:\\n    external: true\\n' > /tmp/student.yml; \
         docker stack deploy -c /tmp/student.yml simple-web >/dev/null",
    );
    let dry = cluster.labctl(&["reset", "lab1", "--dry-run"]).success();
    assert!(dry.stdout.contains("remove stacks:      simple-web"), "{}", dry.stdout);
    assert!(dry.stdout.contains("back up, then remove (added):    notes.txt"), "{}", dry.stdout);
    assert!(
        cluster.exec("manager", "docker stack ls --format '{{.Name}}'").contains("simple-web"),
        "a dry run changes nothing"
    );

    let reset = cluster.labctl(&["reset", "lab1"]).success();
    assert!(reset.stderr.contains("lab1 reset: stacks removed: simple-web"), "{}", reset.stderr);
    assert!(!cluster.exec("manager", "docker stack ls --format '{{.Name}}'").contains("simple-web"));
    assert!(!cluster.exec("manager", "docker service ls --format '{{.Name}}'").contains("simple-web_api"));
    assert_eq!(
        cluster.exec("manager", "docker network inspect --format '{{.Driver}} {{.Attachable}}' ch03").trim(),
        "overlay true"
    );
    let pristine = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/labs/lab1/ch03-webapi.yml")).unwrap();
    assert_eq!(cluster.exec("manager", "cat /root/work/ingress/ch03-webapi.yml"), pristine);
    assert_eq!(cluster.exec("manager", "ls /root/work/ingress/notes.txt 2>/dev/null || echo gone").trim(), "gone");
    let backups = cluster.workspace.path().join(".labctl/backups/lab1");
    let backup = std::fs::read_dir(&backups).unwrap().next().unwrap().unwrap().path();
    assert_eq!(std::fs::read_to_string(backup.join("ch03-webapi.yml")).unwrap(), "student edit\n");
    assert_eq!(std::fs::read_to_string(backup.join("notes.txt")).unwrap(), "my notes\n");
    // A lab whose directory was deleted comes back whole.
    cluster.exec("manager", "rm -rf /root/work/db");
    let restored = cluster.labctl(&["reset", "db"]).success();
    assert!(restored.stderr.contains("restored 9 files"), "{}", restored.stderr);
    assert!(cluster.exec("manager", "ls -l /root/work/db/add-server-id.sh").starts_with("-rwxr-xr-x"));

    // The registry kept its images.
    assert!(cluster.exec("manager", "wget -q -O- http://manager:5000/v2/_catalog").contains("example/simple-web"));

    // --- check: fails with the right hints before the lab is done, passes after.
    let (code, before) = cluster.check("e2echeck");
    assert_eq!(code, 1);
    assert_eq!(outcome(&before, "e2enet is an attachable overlay")["passed"], true, "set up by up");
    let replicas = outcome(&before, "e2e_web runs on the three workers");
    assert_eq!(replicas["passed"], false);
    assert_eq!(replicas["hint"], "deploy stack.yml as e2e and check `docker service ps e2e_web`");

    // The reference solution runs, then labctl waits until the checks pass.
    let solved = cluster.labctl(&["-v", "solve", "e2echeck"]).success();
    assert!(solved.stderr.contains("6 of 6 checks pass"), "{}", solved.stderr);
    // The solution used labctl's helpers (-v shows what it printed).
    assert!(solved.stderr.contains("solve e2echeck: network e2enet is ready"), "{}", solved.stderr);
    assert!(
        !cluster.exec("manager", "ls /root/work/e2echeck").contains("solution"),
        "the solution stays off the lab folder"
    );
    let (code, after) = cluster.check("e2echeck");
    assert_eq!(code, 0, "{after:#}");
    assert_eq!(after["passed"], true);
    let table = cluster.labctl(&["check", "e2echeck"]).success();
    assert!(table.stdout.contains("e2echeck: all 6 checks pass"), "{}", table.stdout);

    // Break it: no node may run the service any more.
    cluster.exec("manager", "docker service update --detach --constraint-add node.role==manager e2e_web >/dev/null");
    let started = Instant::now();
    loop {
        let (code, report) = cluster.check("e2echeck");
        let replicas = outcome(&report, "e2e_web runs on the three workers");
        if code == 1 && replicas["passed"] == false {
            assert!(replicas["detail"].as_str().unwrap().ends_with("3 expected"));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the check never failed: {report:#}");
        std::thread::sleep(Duration::from_secs(1));
    }

    // --- images load: a host image reaches every node, once.
    let image = "labctl-e2e/tiny:1";
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("hello.txt"), "hi\n").unwrap();
    let tarball =
        duct::cmd("tar", ["-C", root.path().to_str().unwrap(), "-c", "."]).stdout_capture().run().unwrap().stdout;
    duct::cmd("docker", ["import", "-", image]).stdin_bytes(tarball).stdout_null().run().unwrap();
    let loaded = cluster.labctl(&["images", "load", image]).success();
    assert!(loaded.stderr.contains(&format!(": {image} on manager, node1, node2, node3")), "{}", loaded.stderr);
    let id = host_docker(&["image", "inspect", "--format", "{{.Id}}", image]);
    for node in ["manager", "node1", "node2", "node3"] {
        assert_eq!(cluster.exec(node, &format!("docker image inspect --format '{{{{.Id}}}}' {image}")), id, "{node}");
    }
    let again = cluster.labctl(&["images", "load", image]).success();
    assert!(again.stderr.contains(&format!("{image}: already on every node")), "{}", again.stderr);

    // --- a stopped worker: status and images load exit 3 naming it; the rest still works.
    host_docker(&["stop", "--time", "1", &format!("{CLUSTER}-node2")]);
    let status = cluster.labctl(&["status"]);
    assert_eq!(status.code, 3, "{status:#?}");
    let load = cluster.labctl(&["images", "load", image]);
    assert_eq!(load.code, 3, "{load:#?}");
    assert!(
        load.stderr
            .contains(&format!("error: cluster {CLUSTER} is not up (not running: node2 (exited)): run labctl up")),
        "{}",
        load.stderr
    );
    let (code, report) = cluster.check("e2echeck");
    assert_eq!((code, &report["reachable"]), (1, &serde_json::json!(true)), "the manager is up: checked, {report:#}");
    host_docker(&["image", "rm", image]);
}
