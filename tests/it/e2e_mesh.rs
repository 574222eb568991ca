//! End to end (LABCTL_E2E=1): an `ingress = true` http check of a port
//! published through the routing mesh, on this host's kernel. Without IPVS
//! (this CI host) the check reaches the service on its overlay network
//! instead and says so; with IPVS it goes through the published port. And
//! `solve` stops waiting as soon as a check can never pass.

use std::time::{Duration, Instant};

use crate::support::{require_e2e, E2eCluster};

const CLUSTER: &str = "labctl-e2e-mesh";
const OCTET: u8 = 62;
const FALLBACK_NOTE: &str =
    "routing mesh unavailable on this host (no IPVS); checked the service on its network instead";

/// A web service on the stack's default network (not attachable), published
/// in ingress mode, its one task on the worker. The check asks the manager,
/// which runs no task, so that without IPVS labctl must find the task's node.
const MESH_LAB: &str = r#"id = "meshweb"
title = "Routing mesh"
title_ko = "라우팅 메시"
dir = "meshweb"
language = "en"
files = ["stack.yml"]
instructor_only = ["solution/solve.sh"]
solve = "solution/solve.sh"

[[stacks]]
name = "mesh"
file = "stack.yml"
services = ["web"]

[[checks]]
kind = "http"
name = "port 8093 answers with the page"
node = "manager"
url = "http://localhost:8093/"
contains = "labctl-mesh-marker"
ingress = true
hint_ko = "스택을 배포하세요"
hint_en = "deploy stack.yml as mesh"
"#;

const MESH_STACK: &str = r#"version: "3.8"
services:
  web:
    image: manager:5000/e2e/mesh-httpd
    ports:
      - "8093:80"
    deploy:
      replicas: 1
      placement:
        constraints: [node.role == worker]
"#;

const MESH_SOLVE: &str = r#"#!/bin/sh
set -eu
. "$LABCTL_SOLVE_LIB"
d=$(mktemp -d)
mkdir -p "$d/www"
cp /bin/busybox "$d/"
echo labctl-mesh-marker > "$d/www/index.html"
tar -C "$d" -c . | docker import -c 'CMD ["/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]' - "$LABCTL_REGISTRY/e2e/mesh-httpd" >/dev/null
docker push "$LABCTL_REGISTRY/e2e/mesh-httpd" >/dev/null
deploy stack.yml mesh
"#;

/// A lab whose check asks a port that its solution never publishes (as when
/// a handout and its check disagree): no amount of waiting helps.
const DEAD_LAB: &str = r#"id = "meshdead"
title = "Never answers"
title_ko = "응답 없음"
dir = "meshdead"
language = "en"
files = ["notes.txt"]
instructor_only = ["solution/solve.sh"]
solve = "solution/solve.sh"

[[checks]]
kind = "http"
name = "port 8094 answers"
node = "node1"
url = "http://localhost:8094/"
ingress = true
hint_ko = "포트를 확인하세요"
hint_en = "publish 8094"

[[checks]]
kind = "service_replicas"
name = "dead_web runs"
service = "dead_web"
replicas = 1
hint_ko = "배포하세요"
hint_en = "deploy it"
"#;

/// Whether this host's kernel has IPVS (see src/lifecycle/mesh.rs).
fn host_has_ipvs() -> bool {
    std::path::Path::new("/proc/net/ip_vs").exists() || std::path::Path::new("/sys/module/ip_vs").exists()
}

fn check(cluster: &E2eCluster, lab: &str) -> (i32, serde_json::Value) {
    let run = cluster.labctl(&["check", lab, "--json"]);
    (run.code, serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("not JSON: {run:?}")))
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_ingress_checks_without_the_routing_mesh() {
    require_e2e();
    let cluster = E2eCluster::with_cluster_keys(CLUSTER, OCTET, "workers = 1\n");
    cluster
        .workspace
        .file("labs/meshweb/lab.toml", MESH_LAB)
        .file("labs/meshweb/stack.yml", MESH_STACK)
        .file("labs/meshweb/solution/solve.sh", MESH_SOLVE)
        .file("labs/meshweb/README.md", "# 메시\n")
        .file("labs/meshweb/README.en.md", "# Mesh\n")
        .file("labs/meshdead/lab.toml", DEAD_LAB)
        .file("labs/meshdead/notes.txt", "nothing\n")
        .file("labs/meshdead/solution/solve.sh", "#!/bin/sh\necho nothing to deploy\n")
        .file("labs/meshdead/README.md", "# 없음\n")
        .file("labs/meshdead/README.en.md", "# None\n");
    cluster.labctl(&["up"]).success();

    // Before the lab is done: no service publishes the port, for good.
    let (code, before) = check(&cluster, "meshweb");
    assert_eq!(code, 1, "{before:#}");
    assert_eq!(before["checks"][0]["detail"], "no service publishes port 8093", "{before:#}");
    assert_eq!(before["checks"][0]["failure"], "final", "{before:#}");

    let solved = cluster.labctl(&["solve", "meshweb"]).success();
    assert!(solved.stderr.contains("1 of 1 checks pass"), "{}", solved.stderr);
    let (code, after) = check(&cluster, "meshweb");
    assert_eq!(code, 0, "{after:#}");
    let detail = after["checks"][0]["detail"].as_str().unwrap();
    if host_has_ipvs() {
        assert_eq!(detail, "status 200", "through the published port");
    } else {
        assert_eq!(detail, format!("{FALLBACK_NOTE} (http://tasks.mesh_web:80/: status 200)"));
    }
    assert!(after["checks"][0].get("failure").is_none(), "{after:#}");
    let table = cluster.labctl(&["check", "meshweb"]).success();
    println!("{}", table.stdout);
    // The node is left as it was: its resolv.conf was only replaced inside
    // the fetch's own mount namespace.
    assert!(!cluster.exec("node1", "cat /etc/resolv.conf").is_empty());
    assert_eq!(cluster.exec("node1", "grep -c ' /etc/resolv.conf ' /proc/self/mountinfo").trim(), "1");

    // A lab whose check can never pass: solve gives up once that is sure.
    let started = Instant::now();
    let dead = cluster.labctl(&["solve", "meshdead"]);
    let took = started.elapsed();
    eprintln!("{}", dead.stderr);
    assert_eq!(dead.code, 1, "{dead:#?}");
    assert!(took < Duration::from_secs(60), "solve waited {took:?}");
    assert!(dead.stderr.contains("stopped waiting: a check cannot pass by waiting"), "{}", dead.stderr);
    assert!(
        dead.stderr.contains(
            "port 8094 answers: no service publishes port 8094 [cannot pass by waiting] (hint: publish 8094)"
        ),
        "{}",
        dead.stderr
    );
}
