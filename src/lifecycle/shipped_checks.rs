//! The shipped labs' checks, run on canned cluster answers: each test
//! feeds what a student's cluster would show and reads the verdicts.

use std::path::Path;

use super::check::{run_checks, Outcome};
use super::mesh::Mesh;
use crate::config::{test_settings, Cluster};
use crate::exec::fake::RecordingRunner;
use crate::labs::manifest::Language;
use crate::labs::Catalog;
use crate::provider::docker::DockerProvider;
use crate::provider::NodeShell;
use crate::templates::Templates;

const MANAGER: &str = "docker exec swarm-lab-manager";

/// Every check of `lab`, in English, against `runner`'s answers.
fn outcomes(lab: &str, runner: &RecordingRunner) -> Vec<Outcome> {
    let settings = test_settings("");
    let catalog = Catalog::load(Path::new("/nonexistent")).unwrap();
    let lab = catalog.resolve(lab).unwrap();
    let templates = Templates::load(Path::new("/nonexistent")).unwrap();
    let cluster = Cluster::new(&settings, &catalog).unwrap();
    let provider = DockerProvider::new(&cluster, runner);
    run_checks(lab, &cluster, &templates, NodeShell::new(&provider, runner), Language::En, &Mesh::default()).unwrap()
}

/// The outcome of the check whose name starts with `name`.
fn outcome(outcomes: &[Outcome], name: &str) -> Outcome {
    outcomes
        .iter()
        .find(|outcome| outcome.name.starts_with(name))
        .cloned()
        .unwrap_or_else(|| panic!("no check {name:?} in {outcomes:#?}"))
}

/// The page at `url` on `node` answers `status` and `body`, fetched
/// directly or through the routing mesh.
fn http_answer(runner: &RecordingRunner, node: &str, url: &str, status: u16, body: &str) {
    for script in ["labctl-http", "labctl-published"] {
        runner.always(
            &format!("docker exec swarm-lab-{node} sh -c '#!/bin/sh…' {script} {url}"),
            0,
            &format!("status {status}\n{body}"),
            "",
        );
    }
}

/// `docker service inspect` of `service`'s endpoint spec answers `json`.
fn endpoint(runner: &RecordingRunner, service: &str, json: &str) {
    runner.always(
        &format!("{MANAGER} docker service inspect --format '{{{{json .Spec.EndpointSpec}}}}' -- {service}"),
        0,
        json,
        "",
    );
}

/// `service` publishes `port` through the routing mesh: an ingress check
/// then fetches the published port (on a host whose kernel has IPVS, as
/// [`http_answer`]'s answers say).
fn routing_mesh(runner: &RecordingRunner, service: &str, port: u16, target: u16) {
    runner.always(
        &format!("{MANAGER} sh -c '#!/bin/sh…' labctl-ports"),
        0,
        &format!("{service} tcp/ingress/{port}/{target}\n"),
        "",
    );
}

const NO_PORTS: &str = r#"{"Mode":"vip"}"#;
const NGINX_8088: &str =
    r#"{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8088,"PublishMode":"ingress"}]}"#;
const QUIZ_PAGE: &str = "<title>labctl quiz: my-web</title>";

#[test]
fn lab2_refuses_an_api_published_directly_and_passes_through_nginx_proxy() {
    // The shortcut: api itself on 8088, nginx publishing nothing; the page
    // on 8088 is the quiz page all the same.
    let shortcut = RecordingRunner::lenient();
    endpoint(&shortcut, "my-web_api", NGINX_8088);
    endpoint(&shortcut, "my-web_nginx", NO_PORTS);
    http_answer(&shortcut, "node1", "http://localhost:8088/", 200, QUIZ_PAGE);
    routing_mesh(&shortcut, "my-web_api", 8088, 80);
    let verdicts = outcomes("lab2", &shortcut);
    let api = outcome(&verdicts, "my-web_api publishes no port");
    assert!(!api.passed, "{api:?}");
    assert_eq!(api.detail, "publishes 8088:80, no port expected");
    assert!(api.hint.contains("nginx-proxy"), "{}", api.hint);
    let nginx = outcome(&verdicts, "my-web_nginx publishes 8088:80");
    assert!(!nginx.passed, "{nginx:?}");
    assert_eq!(nginx.detail, "publishes no port, 8088:80 expected");

    let answer = RecordingRunner::lenient();
    endpoint(&answer, "my-web_api", "null");
    endpoint(&answer, "my-web_nginx", NGINX_8088);
    // The student's own words in index.html: what counts is that nginx hands on the api's page.
    let page = "<h1>my own page</h1>";
    http_answer(&answer, "node1", "http://localhost:8088/", 200, page);
    own_page(&answer, "my-web_api", "http://127.0.0.1:80/", page);
    routing_mesh(&answer, "my-web_nginx", 8088, 80);
    let verdicts = outcomes("lab2", &answer);
    for name in ["my-web_api publishes no port", "my-web_nginx publishes 8088:80", "port 8088 on a worker"] {
        let found = outcome(&verdicts, name);
        assert!(found.passed, "{found:?}");
    }
    assert_eq!(outcome(&verdicts, "port 8088 on a worker").detail, "status 200, my-web_api's own page (20 bytes)");

    // nginx answers, but with a page the api does not serve (its own welcome page).
    let other = RecordingRunner::lenient();
    http_answer(&other, "node1", "http://localhost:8088/", 200, "<html>Welcome to nginx!</html>");
    own_page(&other, "my-web_api", "http://127.0.0.1:80/", page);
    routing_mesh(&other, "my-web_nginx", 8088, 80);
    let found = outcome(&outcomes("lab2", &other), "port 8088 on a worker");
    assert!(!found.passed, "{found:?}");
    assert!(found.detail.contains("but not the page my-web_api answers itself"), "{}", found.detail);
}

/// A task of `service` on the first node answers `body` on `url` itself.
fn own_page(runner: &RecordingRunner, service: &str, url: &str, body: &str) {
    runner.always(
        &format!("docker exec swarm-lab-manager sh -c '#!/bin/sh…' labctl-on-network {service} {url}"),
        0,
        &format!("status 200\n{body}"),
        "",
    );
}

#[test]
fn lab2_says_when_a_service_is_missing_and_names_the_shared_alias_trap() {
    let runner = RecordingRunner::lenient();
    runner.always(&format!("{MANAGER} docker service inspect"), 1, "", "Error: no such service: my-web_api");
    http_answer(&runner, "node1", "http://localhost:8088/", 502, "Bad Gateway");
    let verdicts = outcomes("lab2", &runner);
    assert_eq!(outcome(&verdicts, "my-web_api publishes no port").detail, "no such service");
    let page = outcome(&verdicts, "port 8088 on a worker");
    assert!(!page.passed);
    assert!(page.hint.contains("`api:80`") && page.hint.contains("simple-web"), "{}", page.hint);
}

#[test]
fn lab1_passes_with_any_greeting_when_a_task_answers_with_its_host_name() {
    let runner = RecordingRunner::lenient();
    // The class's own hello.js: another greeting, and the host name alone.
    http_answer(&runner, "node1", "http://localhost:80/", 200, "Hello Docker!!\n3f1c2a9b8e7d\n");
    tasks(&runner, "simple-web_api", &["3f1c2a9b8e7d0a1b2c3d4e5f", "77aa11bb22cc33dd44ee55ff"]);
    routing_mesh(&runner, "simple-web_nginx", 80, 80);
    let page = outcome(&outcomes("lab1", &runner), "port 80 on a worker");
    assert!(page.passed, "{page:?}");
    assert_eq!(page.detail, "status 200, answered by simple-web_api's task 3f1c2a9b8e7d");

    // A page that names no running task: not simple-web's answer (an old
    // task's, or nginx's own page).
    let runner = RecordingRunner::lenient();
    http_answer(&runner, "node1", "http://localhost:80/", 200, "hostname: 0123456789ab\n");
    tasks(&runner, "simple-web_api", &["3f1c2a9b8e7d0a1b2c3d4e5f"]);
    routing_mesh(&runner, "simple-web_nginx", 80, 80);
    let page = outcome(&outcomes("lab1", &runner), "port 80 on a worker");
    assert!(!page.passed, "{page:?}");
    assert_eq!(page.detail, "status 200, but the page names none of simple-web_api's 1 running tasks by its host name");
}

/// `service`'s running tasks are these containers.
fn tasks(runner: &RecordingRunner, service: &str, containers: &[&str]) {
    runner.always(
        &format!("{MANAGER} sh -c '#!/bin/sh…' labctl-task-containers {service}"),
        0,
        &format!("{}\n", containers.join("\n")),
        "",
    );
}

#[test]
fn visualizer_wants_every_node_in_apis_nodes() {
    let nodes = "manager|Leader\nnode1|\nnode2|\nnode3|\n";
    let url = "http://localhost:9000/apis/nodes";
    // The page answers even without the Docker socket; the API does not
    // know the nodes then.
    let runner = RecordingRunner::lenient();
    runner.always(&format!("{MANAGER} docker node ls"), 0, nodes, "");
    http_answer(&runner, "manager", url, 200, r#"{"objects":[]}"#);
    let listed = outcome(&outcomes("visualizer", &runner), "the visualizer reads the swarm");
    assert!(!listed.passed, "{listed:?}");
    assert_eq!(listed.detail, "status 200, but the answer names no node");
    assert!(listed.hint.contains("docker.sock"), "{}", listed.hint);

    let runner = RecordingRunner::lenient();
    runner.always(&format!("{MANAGER} docker node ls"), 0, nodes, "");
    let objects: Vec<String> = ["manager", "node1", "node2", "node3"]
        .iter()
        .map(|host| format!(r#"{{"ID":"x","Description":{{"Hostname":"{host}"}}}}"#))
        .collect();
    http_answer(&runner, "manager", url, 200, &format!(r#"{{"objects":[{}]}}"#, objects.join(",")));
    let listed = outcome(&outcomes("visualizer", &runner), "the visualizer reads the swarm");
    assert!(listed.passed, "{listed:?}");
    assert_eq!(listed.detail, "names every node (manager, node1, node2, node3)");
}

#[test]
fn a_labs_checks_cost_one_round_trip_a_node_and_share_their_reads() {
    let runner = RecordingRunner::lenient();
    let verdicts = outcomes("lab3", &runner);
    assert_eq!(verdicts.len(), 7);
    let batches = runner.batch_lines();
    // One more first: whether the stack was deployed under the notes' name.
    assert_eq!(batches.len(), 2, "every read is on the manager: {batches:#?}");
    assert!(batches.iter().all(|batch| batch.starts_with(&format!("{MANAGER} sh -c"))), "{batches:#?}");
    let lines: Vec<String> = runner
        .command_lines()
        .into_iter()
        .filter(|line| {
            !line.contains("labctl-service-networks")
                && !line.contains("docker service inspect --format '{{.Spec.Name}}' -- todo_mysql_master")
        })
        .collect();
    let node_lists = lines.iter().filter(|line| line.contains("docker node ls")).count();
    assert_eq!(node_lists, 1, "two placement checks, one node list: {lines:#?}");
    // The network, the catalog, each service's tasks (for its replicas and
    // its placement), the node list and the replication command.
    assert_eq!(lines.len(), 6, "7 checks, 6 reads: {lines:#?}");
    assert!(!lines.iter().any(|line| line.contains("docker version")), "a read that succeeded says Docker answers");
}

#[test]
fn when_no_read_gets_an_answer_from_docker_labctl_asks_whether_it_answers() {
    // Nothing of lab 3 deployed: every read of Docker fails, and that is a
    // grade, not an unreachable cluster, once Docker says it answers.
    let runner = RecordingRunner::default();
    runner.always(&format!("{MANAGER} docker"), 1, "", "Error: No such object\n");
    runner.always(&format!("{MANAGER} sh -c '#!/bin/sh…' labctl-service-networks"), 1, "", "");
    runner.always(&format!("{MANAGER} sh -c '#!/bin/sh…' labctl-http"), 0, "status 000\n", "");
    runner.always(&format!("{MANAGER} sh -c 'docker run"), 1, "", "Error: network todoapp not found\n");
    runner.answer(&format!("{MANAGER} docker version"), 0, "20.10.24\n", "");
    let verdicts = outcomes("lab3", &runner);
    assert!(verdicts.iter().all(|outcome| !outcome.passed), "{verdicts:#?}");
    assert_eq!(outcome(&verdicts, "network todoapp").detail, "no such network");
    assert_eq!(runner.batch_lines().len(), 3, "the notes' stack name, the reads, then the question");
}

#[test]
fn lab4_follows_the_stack_deployed_under_the_notes_name_on_its_network() {
    // The notes' way: lab 2's stack removed, the file deployed as my-web.
    let runner = RecordingRunner::lenient();
    runner.always(&format!("{MANAGER} docker service inspect --format '{{{{.Spec.Name}}}}' -- ch04_nginx"), 1, "", "");
    runner.always(&format!("{MANAGER} sh -c '#!/bin/sh…' labctl-service-networks my-web_nginx"), 0, "ch04\n", "");
    let running = "Running 5 seconds ago|node1\nRunning 5 seconds ago|node2\nRunning 5 seconds ago|node3\n";
    runner.always(&format!("{MANAGER} docker service ps --filter desired-state=running --format '{{{{.CurrentState}}}}|{{{{.Node}}}}' -- my-web_api"), 0, running, "");
    let replicas = outcome(&outcomes("lab4", &runner), "ch04_api runs 3 replicas");
    assert!(replicas.passed, "{replicas:?}");
    assert_eq!(replicas.detail, "3 running, 3 expected (stack ch04 deployed as my-web)");

    // Lab 2's my-web on its own network ch03 is not lab 4's.
    let runner = RecordingRunner::lenient();
    runner.always(&format!("{MANAGER} docker service inspect --format '{{{{.Spec.Name}}}}' -- ch04_nginx"), 1, "", "");
    runner.always(&format!("{MANAGER} sh -c '#!/bin/sh…' labctl-service-networks my-web_nginx"), 0, "ch03\n", "");
    runner.always(&format!("{MANAGER} docker service ps --filter desired-state=running --format '{{{{.CurrentState}}}}|{{{{.Node}}}}' -- my-web_api"), 0, running, "");
    let replicas = outcome(&outcomes("lab4", &runner), "ch04_api runs 3 replicas");
    assert!(!replicas.passed, "{replicas:?}");
    assert_eq!(replicas.detail, "0 running, 3 expected");
}
