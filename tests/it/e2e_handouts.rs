//! End to end, per lab (LABCTL_E2E=1): the five class labs on ONE real
//! 4-node docker-provider cluster, their images preloaded once from this
//! host's Docker (the offline stand-ins of scripts/test-lab-images). For
//! each lab, in the order a class does them:
//! 1. `labctl check` fails on the fresh lab with the lab's own hints;
//! 2. `labctl solve` makes every check pass (lab3: a row written on the
//!    master is read back on every slave task);
//! 3. the handout replay: every ```` ```shell runnable ```` block of README.md
//!    runs as written on the manager, in order, and succeeds; the checks
//!    still pass afterwards (handout.rs keeps README.en.md in step);
//! 4. `labctl reset` brings the checks back to failing, with the file the
//!    student changed backed up.
//!
//! Every lab runs even when an earlier one failed; the test then fails with
//! the list of what broke, lab by lab and step by step.
//! Its cluster has its own name and subnet (192.168.64.0/24), so it runs
//! beside the other end-to-end tests.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::handout::{self, Block};
use crate::support::{require_e2e, E2eCluster};

const CLUSTER: &str = "labctl-e2e-handouts";
const OCTET: u8 = 64;

/// The handouts write the addresses of the default subnet (192.168.56.0/24).
const HANDOUT_SUBNET: &str = "192.168.56.";

/// A check as lab.toml declares it.
#[derive(Debug)]
struct Check {
    name: String,
    kind: String,
    hint_ko: String,
    ingress: bool,
}

/// What the test needs from a lab's lab.toml.
struct Lab {
    id: &'static str,
    dir: String,
    files: Vec<String>,
    checks: Vec<Check>,
    /// Files the student writes in a step that is not runnable, and the
    /// instructor's version the replay puts there (`[handout.written]`).
    written: Vec<(String, String)>,
}

impl Lab {
    fn load(id: &'static str) -> Lab {
        let manifest = handout::manifest(id);
        let text = |value: &Value, key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let manifest = serde_json::to_value(manifest).unwrap();
        assert_eq!(text(&manifest, "language"), "ko", "{id}: the hints asserted here are the Korean ones");
        let checks = manifest["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|check| Check {
                name: text(check, "name"),
                kind: text(check, "kind"),
                hint_ko: text(check, "hint_ko"),
                ingress: check["ingress"] == true,
            })
            .collect();
        let files = manifest["files"].as_array().unwrap().iter().map(|file| file.as_str().unwrap().to_string());
        let written = manifest["handout"]["written"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(file, solution)| (file.clone(), solution.as_str().unwrap().to_string()))
            .collect();
        Lab { id, dir: text(&manifest, "dir"), files: files.collect(), checks, written }
    }

    fn check_named(&self, name: &str) -> &Check {
        self.checks.iter().find(|check| check.name == name).unwrap_or_else(|| panic!("{}: no check {name}", self.id))
    }
}

struct Suite {
    cluster: E2eCluster,
    /// (lab, step, what went wrong)
    failures: Vec<(String, &'static str, String)>,
}

impl Suite {
    /// Run one step of one lab; a failure is recorded and the suite goes on.
    fn step(&mut self, lab: &Lab, step: &'static str, body: impl FnOnce(&E2eCluster, &Lab)) {
        let started = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| body(&self.cluster, lab)));
        let verdict = match outcome {
            Ok(()) => "ok".to_string(),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                    .unwrap_or_default();
                self.failures.push((lab.id.to_string(), step, message));
                "FAILED".to_string()
            }
        };
        eprintln!("e2e_handouts: {} {step}: {verdict} ({:.0?})", lab.id, started.elapsed());
    }
}

/// `labctl check LAB --json`: (exit code, report).
fn check(cluster: &E2eCluster, lab: &str) -> (i32, Value) {
    let run = cluster.labctl(&["check", lab, "--json"]);
    let report = serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("check {lab} printed no JSON: {run:?}"));
    (run.code, report)
}

fn outcomes(report: &Value) -> Vec<(String, bool, String, String)> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| (text(&check["name"]), check["passed"] == true, text(&check["detail"]), text(&check["hint"])))
        .collect()
}

/// Checks until every one passes (`ingress = true` ones too: without IPVS
/// labctl checks the service on its network); panics with the last report
/// after `limit`.
fn wait_until_checks_pass(cluster: &E2eCluster, lab: &Lab, limit: Duration) {
    let started = Instant::now();
    loop {
        let (_, report) = check(cluster, lab.id);
        let failing: Vec<_> = outcomes(&report).into_iter().filter(|(_, passed, ..)| !passed).collect();
        if failing.is_empty() {
            return;
        }
        assert!(started.elapsed() < limit, "{}: checks still failing after {limit:?}: {failing:#?}", lab.id);
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// Step 1: on the fresh lab, what the student has to build fails with the
/// lab's own hint; what labctl prepared (the networks) passes.
fn fresh_checks_fail(cluster: &E2eCluster, lab: &Lab) {
    let (code, report) = check(cluster, lab.id);
    assert_eq!(code, 1, "{}: a fresh lab must fail its check: {report:#}", lab.id);
    let results = outcomes(&report);
    assert_eq!(results.len(), lab.checks.len(), "{report:#}");
    for (name, passed, detail, hint) in &results {
        let declared = lab.check_named(name);
        match declared.kind.as_str() {
            "registry_repository" | "service_replicas" => {
                assert!(!passed, "{}: {name} passes on the fresh lab: {detail}", lab.id)
            }
            "network" => assert!(passed, "{}: {name} fails although labctl up made the network: {detail}", lab.id),
            _ => {}
        }
        if !passed {
            assert_eq!(hint, &declared.hint_ko, "{}: {name} shows another hint than its hint_ko", lab.id);
        }
    }
    assert!(results.iter().any(|(_, passed, ..)| !passed));
}

/// Step 2: the reference solution makes every check pass.
fn solve_passes(cluster: &E2eCluster, lab: &Lab) {
    let solved = cluster.labctl(&["solve", lab.id]).success();
    let all = lab.checks.len();
    assert!(solved.stderr.contains(&format!("{all} of {all} checks pass")), "{}: {}", lab.id, solved.stderr);
    wait_until_checks_pass(cluster, lab, Duration::from_secs(120));
    if !routing_mesh_here() {
        // What passed the checks that go through the routing mesh was the
        // fallback onto the service's network.
        let (_, report) = check(cluster, lab.id);
        for (name, _, detail, _) in outcomes(&report) {
            if lab.check_named(&name).ingress {
                assert!(detail.starts_with("routing mesh unavailable on this host"), "{}: {name}: {detail}", lab.id);
            }
        }
    }
}

/// The node and container of every running task of SERVICE.
fn task_containers(cluster: &E2eCluster, service: &str) -> Vec<(String, String)> {
    let format = "{{.Node}} {{.Name}}.{{.ID}}";
    let listed = cluster.exec(
        "manager",
        &format!("docker service ps --no-trunc --filter desired-state=running --format '{format}' {service}"),
    );
    listed
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(node, container)| (node.to_string(), container.to_string()))
        .collect()
}

/// SQL as root in a task's container, on its node; the rows, tab-separated.
fn mysql(cluster: &E2eCluster, (node, container): &(String, String), sql: &str) -> String {
    let script = "MYSQL_PWD=\"$MYSQL_ROOT_PASSWORD\" exec mysql -uroot -N -e \"$1\"";
    let run = cluster.labctl(&["exec", node, "--", "docker", "exec", container, "sh", "-c", script, "mysql", sql]);
    assert_eq!(run.code, 0, "{sql} in {container} on {node}: {run:#?}");
    run.stdout
}

/// Step 2, lab3: a row inserted on todo_mysql_master is read back on every
/// slave task.
fn replication_works(cluster: &E2eCluster, _lab: &Lab) {
    let masters = task_containers(cluster, "todo_mysql_master");
    let slaves = task_containers(cluster, "todo_mysql_slave");
    assert_eq!((masters.len(), slaves.len()), (1, 2), "tasks: {masters:?} {slaves:?}");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let title = format!("labctl-e2e-{nanos}");
    mysql(
        cluster,
        &masters[0],
        &format!("INSERT INTO tododb.todo (title, content, status, created, updated) VALUES ('{title}', 'replicated', 'TODO', NOW(), NOW())"),
    );
    for slave in &slaves {
        let started = Instant::now();
        let select = format!("SELECT title FROM tododb.todo WHERE title = '{title}'");
        while mysql(cluster, slave, &select).trim() != title {
            assert!(started.elapsed() < Duration::from_secs(60), "{slave:?} never got the row written on the master");
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// Step 2, lab3: the book's DDL (no `IF NOT EXISTS`), as a student who
/// copies the instructor's 01_ddl.sql has it: the schema was made when the
/// server first started, and init-data.sh still loads the rows instead of
/// stopping on "Table 'todo' already exists".
fn the_books_ddl_still_loads_the_rows(cluster: &E2eCluster, _lab: &Lab) {
    let master = &task_containers(cluster, "todo_mysql_master")[0];
    let count = "SELECT COUNT(*) FROM tododb.todo";
    let before: u32 = mysql(cluster, master, count).trim().parse().unwrap();
    let script =
        "sed -i 's/IF NOT EXISTS //g' /sql/01_ddl.sql && grep -q 'CREATE TABLE todo' /sql/01_ddl.sql && init-data.sh";
    let run = cluster.labctl(&["exec", &master.0, "--", "docker", "exec", &master.1, "bash", "-c", script]);
    assert_eq!(run.code, 0, "init-data.sh with the book's DDL: {run:#?}");
    assert!(run.stdout.contains("skipping /sql/01_ddl.sql: tododb has its tables already"), "{}", run.stdout);
    let after: u32 = mysql(cluster, master, count).trim().parse().unwrap();
    assert!(after > before, "the rows were loaded: {before} → {after}");
}

/// Whether this host's kernel has IPVS loaded, which the routing mesh needs.
fn routing_mesh_here() -> bool {
    std::path::Path::new("/proc/net/ip_vs").exists()
}

/// The shell session a student has on the manager: the runnable blocks of
/// README.md, one after the other, stopped at the first command that fails.
fn replay_script(lab: &Lab, blocks: &[Block]) -> String {
    let placeholders = handout::placeholders(lab.id);
    let mut script = String::from(
        "set -e\ntrap 'echo \"labctl-replay: README.md:$block: this command failed: $BASH_COMMAND\" >&2' ERR\ncd /root\n",
    );
    for block in blocks {
        let text = handout::fill(&block.text, &placeholders).replace(HANDOUT_SUBNET, &format!("192.168.{OCTET}."));
        script.push_str(&format!("block={}\necho \"labctl-replay: README.md:$block\"\n{text}", block.line));
    }
    script
}

/// Step 3: the handout's runnable blocks succeed on the manager, and the
/// lab still passes its checks afterwards.
fn handout_replays(cluster: &E2eCluster, lab: &Lab) {
    // What the student writes by hand: the instructor's version.
    for (file, solution) in &lab.written {
        let text = std::fs::read_to_string(handout::lab_dir(lab.id).join(solution)).unwrap();
        write_on_manager(cluster, &format!("/root/work/{}/{file}", lab.dir), &text);
    }
    let blocks = handout::runnable(&handout::handout(lab.id, false));
    let (run, skipped): (Vec<Block>, Vec<Block>) =
        blocks.into_iter().partition(|block| !block.needs_mesh() || routing_mesh_here());
    for block in &skipped {
        eprintln!(
            "e2e_handouts: {} README.md:{}: not run, it needs the routing mesh (no IPVS here)",
            lab.id, block.line
        );
    }
    let script = replay_script(lab, &run);
    let replay = cluster.labctl(&["exec", "manager", "--", "bash", "-c", &script]);
    assert_eq!(replay.code, 0, "{}: the handout failed on the manager:\n{}\n{}", lab.id, replay.stdout, replay.stderr);
    let ran = replay.stdout.matches("labctl-replay: README.md:").count();
    assert_eq!(ran, run.len(), "{}: not every block ran:\n{}", lab.id, replay.stdout);
    wait_until_checks_pass(cluster, lab, Duration::from_secs(120));
}

/// `text` into `path` on the manager.
fn write_on_manager(cluster: &E2eCluster, path: &str, text: &str) {
    let quoted = text.replace('\'', "'\\''");
    cluster.exec("manager", &format!("printf '%s' '{quoted}' > '{path}'"));
}

/// The notes' own self-practice file (Linux & Docker day 5, "4. 혼자 실습"),
/// as typed from them: BACKEND_HOST my-web_api:80, 8088, depends_on.
const NOTES_CH04: &str = r#"version: "3"
services:
    nginx:
        image: gihyodocker/nginx-proxy
        deploy:
            replicas: 3
            placement:
                constraints: [node.role != manager]
        networks:
            - ch04
        depends_on:
            - api
        ports:
            - 8088:80
        environment:
            BACKEND_HOST: my-web_api:80
    api:
        image: manager:5000/example/my-web
        deploy:
            replicas: 3
            placement:
                constraints: [node.role != manager]
        networks:
            - ch04
networks:
    ch04:
        external: true
"#;

/// Step 5, lab4: the notes' way. Lab 2's stack removed, the notes' file
/// deployed as my-web: every check passes, following that stack; reset
/// removes it.
fn the_notes_way_passes(cluster: &E2eCluster, lab: &Lab) {
    cluster.exec("manager", "docker stack rm my-web ch04 >/dev/null 2>&1 || true; for i in $(seq 60); do [ -z \"$(docker service ls -q --filter label=com.docker.stack.namespace=my-web)\" ] && break; sleep 1; done");
    write_on_manager(cluster, &format!("/root/work/{}/ch04-my-web.yml", lab.dir), NOTES_CH04);
    cluster.exec("manager", &format!("cd /root/work/{} && docker stack deploy -c ch04-my-web.yml my-web", lab.dir));
    wait_until_checks_pass(cluster, lab, Duration::from_secs(150));
    let (_, report) = check(cluster, lab.id);
    let followed =
        outcomes(&report).iter().filter(|(_, _, detail, _)| detail.contains("(stack ch04 deployed as my-web)")).count();
    assert!(followed >= 4, "{}: the checks follow the stack my-web: {report:#}", lab.id);
    cluster.labctl(&["reset", lab.id]).success();
    let left = cluster.exec("manager", "docker stack ls --format '{{.Name}}'");
    assert!(!left.lines().any(|name| name == "my-web"), "reset removes the notes' stack on ch04: {left}");
}

/// Step 4: a student changed a file; reset backs it up, restores the lab and
/// the checks fail again.
fn reset_fails_and_backs_up(cluster: &E2eCluster, lab: &Lab) {
    let file = &lab.files[0];
    let path = format!("/root/work/{}/{file}", lab.dir);
    cluster.exec("manager", &format!("echo '# labctl-e2e: a student was here' >> '{path}'"));
    let changed = cluster.exec("manager", &format!("cat '{path}'"));

    cluster.labctl(&["reset", lab.id]).success();
    let (code, report) = check(cluster, lab.id);
    assert_eq!(code, 1, "{}: the check passes after reset: {report:#}", lab.id);
    for (name, passed, detail, _) in outcomes(&report) {
        if lab.check_named(&name).kind == "service_replicas" {
            assert!(!passed, "{}: {name} passes after reset: {detail}", lab.id);
        }
    }
    let pristine = std::fs::read_to_string(handout::lab_dir(lab.id).join(file)).unwrap();
    assert_eq!(cluster.exec("manager", &format!("cat '{path}'")), pristine, "{}: {file} not restored", lab.id);
    let backups = cluster.workspace.path().join(".labctl/backups").join(lab.id);
    let saved: Vec<String> = std::fs::read_dir(&backups)
        .unwrap_or_else(|error| panic!("{}: no backups in {}: {error}", lab.id, backups.display()))
        .filter_map(|entry| std::fs::read_to_string(entry.unwrap().path().join(file)).ok())
        .collect();
    assert!(saved.contains(&changed), "{}: the student's {file} is not in {}", lab.id, backups.display());
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_handouts() {
    require_e2e();
    let started = Instant::now();
    let cluster = E2eCluster::with_config(CLUSTER, OCTET, "\n[images]\npreload = true\n");
    cluster.labctl(&["up"]).success();
    eprintln!("e2e_handouts: labctl up with preload: {:.0?}", started.elapsed());
    let labs: Vec<Lab> = handout::LABS.iter().map(|id| Lab::load(id)).collect();
    let mut suite = Suite { cluster, failures: Vec::new() };

    // Every lab fresh, before any was solved (lab4 reuses lab2's image).
    for lab in &labs {
        suite.step(lab, "1 check fails on the fresh lab", fresh_checks_fail);
    }
    for lab in &labs {
        suite.step(lab, "2 solve passes every check", solve_passes);
        if lab.id == "lab3" {
            suite.step(lab, "2 replication to every slave", replication_works);
            suite.step(lab, "2 the book's DDL still loads the rows", the_books_ddl_still_loads_the_rows);
        }
        suite.step(lab, "3 handout replay", handout_replays);
        suite.step(lab, "4 reset fails again, with a backup", reset_fails_and_backs_up);
        if lab.id == "lab4" {
            suite.step(lab, "5 the notes' way (stack my-web) passes", the_notes_way_passes);
        }
    }
    eprintln!("e2e_handouts: took {:.0?}", started.elapsed());
    let report: Vec<String> =
        suite.failures.iter().map(|(lab, step, message)| format!("--- {lab}, step {step}:\n{message}")).collect();
    assert!(suite.failures.is_empty(), "{} step(s) failed:\n{}", suite.failures.len(), report.join("\n"));
}
