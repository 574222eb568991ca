//! End-to-end: the ssh provider on machines the test makes (LABCTL_E2E=1).
//! Each "machine" is a container of labctl-test/ssh-host (sshd and dockerd,
//! like a lab PC without systemd) on a docker network of the test's own,
//! 10.70.0.0/24: the manager at 10.70.0.10 is reached there, node1 through
//! a port published on 127.0.0.1 with advertise_ip 10.70.0.11 (a cloud VM's
//! public and private address). The test makes the ssh key, the known_hosts
//! and a user with passwordless sudo, then runs up (the join token in no
//! process's argv meanwhile), status, solve, check, reset, destroy, and the
//! faults: a user without sudo, a changed host key, a machine that does not
//! answer. Everything it made is removed however it ends.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::e2e_swarm::{has_token, mask};
use crate::support::ArgvWatch;
use crate::support::{host_docker, require_e2e, Run, Workspace, EXPLICIT_CAPABILITIES};

const IMAGE: &str = "labctl-test/ssh-host:bookworm";
const REGISTRY_IMAGE: &str = "labctl-test/registry:2";
const NETWORK: &str = "labctl-e2e-ssh";
const LABEL: &str = "labctl-e2e=ssh";
const MANAGER: &str = "labctl-e2e-ssh-manager";
const NODE1: &str = "labctl-e2e-ssh-node1";

const LAB: &str = r#"id = "e2essh"
title = "The ssh provider's checks"
title_ko = "ssh 검사"
dir = "e2essh"
language = "en"
files = ["stack.yml"]
instructor_only = ["solution/solve.sh"]
solve = "solution/solve.sh"

[[networks]]
name = "sshnet"

[[stacks]]
name = "e2e"
file = "stack.yml"
services = ["web"]

[[checks]]
kind = "service_replicas"
name = "e2e_web runs on the worker"
service = "e2e_web"
replicas = 1
hint_ko = "스택을 배포하세요"
hint_en = "deploy stack.yml as e2e"

[[checks]]
kind = "http"
name = "node1 serves the page on 8090"
node = "node1"
url = "http://localhost:8090/"
contains = "labctl-e2e-ssh-marker"
hint_ko = "포트를 확인하세요"
hint_en = "publish 8090 in host mode"
"#;

const STACK: &str = r#"version: "3.8"
services:
  web:
    image: manager:5000/e2e/ssh-httpd
    networks: [sshnet]
    ports:
      - { target: 80, published: 8090, mode: host }
    deploy:
      mode: global
      placement:
        constraints: [node.role == worker]
networks:
  sshnet:
    external: true
"#;

/// Built on the manager from its busybox, pushed to the class registry
/// (which needs daemon.json's insecure-registries, reloaded by up), pulled
/// by node1.
const SOLVE: &str = r#"#!/bin/sh
set -eu
. "$LABCTL_SOLVE_LIB"
need_network sshnet
d=$(mktemp -d)
mkdir -p "$d/www"
cp /bin/busybox "$d/"
echo labctl-e2e-ssh-marker > "$d/www/index.html"
tar -C "$d" -c . | docker import -c 'CMD ["/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]' - "$LABCTL_REGISTRY/e2e/ssh-httpd" >/dev/null
docker push "$LABCTL_REGISTRY/e2e/ssh-httpd" >/dev/null
deploy stack.yml e2e
"#;

/// The manager's own daemon.json, which up must merge and back up.
const OWN_DAEMON_JSON: &str = "{\"labels\": [\"owner=school\"]}\n";

/// Started on a machine: its dockerd looks a name up every 0.3 s until the
/// test kills it, so its cached copy of /etc/hosts is always fresh. The name
/// is the machine's own loopback, in its /etc/hosts: no query leaves it.
const KEEP_RESOLVING: &str = "echo '127.0.0.1 labctl-e2e-loopback' >> /etc/hosts; \
     sh -c 'while :; do docker pull labctl-e2e-loopback:5000/x >/dev/null 2>&1; sleep 0.3; done' \
     >/dev/null 2>&1 & echo $! > /run/labctl-e2e-resolving.pid";

/// The machines and their network; removed however the test ends.
struct Machines {
    /// node1's sshd, published on 127.0.0.1.
    node1_port: u16,
}

impl Machines {
    fn start() -> Machines {
        Self::remove();
        host_docker(&["network", "create", "--subnet", "10.70.0.0/24", "--label", LABEL, NETWORK]);
        start_machine(MANAGER, "lab-pc-01", "10.70.0.10", false);
        start_machine(NODE1, "lab-pc-07", "10.70.0.11", true);
        let published = host_docker(&["port", NODE1, "22/tcp"]);
        let node1_port = published.lines().find_map(|line| line.rsplit_once(':')).unwrap().1.trim().parse().unwrap();
        for machine in [MANAGER, NODE1] {
            wait_until(machine, "docker info >/dev/null 2>&1 && [ -s /etc/ssh/ssh_host_ed25519_key.pub ]");
        }
        Machines { node1_port }
    }

    fn remove() {
        let ids = duct::cmd("docker", ["ps", "--all", "--quiet", "--filter", &format!("label={LABEL}")])
            .read()
            .unwrap_or_default();
        for id in ids.split_whitespace() {
            quietly(&["rm", "--force", "--volumes", id]);
        }
        quietly(&["network", "rm", NETWORK]);
    }
}

impl Drop for Machines {
    fn drop(&mut self) {
        Self::remove();
    }
}

/// `docker ARGS`, whatever it says.
fn quietly(args: &[&str]) {
    let _ = duct::cmd("docker", args).stdout_null().stderr_null().unchecked().run();
}

/// Whether `docker ARGS` succeeded, and what it said.
fn docker_output(args: &[&str]) -> (bool, String) {
    let output = duct::cmd("docker", args).stderr_to_stdout().stdout_capture().unchecked().run().unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
}

fn docker_succeeds(args: &[&str]) -> bool {
    duct::cmd("docker", args).stdout_null().stderr_null().unchecked().run().is_ok_and(|output| output.status.success())
}

/// A machine: --privileged, or where this host refuses it, every capability it can grant.
fn start_machine(name: &str, hostname: &str, ip: &str, publish: bool) {
    let mut common = vec![
        "run",
        "--detach",
        "--name",
        name,
        "--hostname",
        hostname,
        "--network",
        NETWORK,
        "--ip",
        ip,
        "--label",
        LABEL,
    ];
    if publish {
        common.extend(["--publish", "127.0.0.1::22"]);
    }
    let privileged = [&common[..], &["--privileged", IMAGE]].concat();
    if docker_succeeds(&privileged) {
        return;
    }
    quietly(&["rm", "--force", "--volumes", name]);
    host_docker(&[&common[..], &EXPLICIT_CAPABILITIES, &[IMAGE]].concat());
}

/// `sh -c script` as root in `machine` (the test's own setup, not labctl's).
fn on_machine(machine: &str, script: &str) -> String {
    host_docker(&["exec", machine, "sh", "-c", script])
}

fn wait_until(machine: &str, condition: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !docker_succeeds(&["exec", machine, "sh", "-c", condition]) {
        assert!(Instant::now() < deadline, "{machine}: never `{condition}`: {}", host_docker(&["logs", machine]));
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// How many logins sshd accepted for `user` so far.
fn logins(machine: &str, user: &str) -> usize {
    on_machine(machine, "cat /var/log/sshd.log").matches(&format!("Accepted publickey for {user} ")).count()
}

/// The workspace: labctl.toml for the machines, the key, known_hosts, ssh config and the lab.
struct Class {
    workspace: Workspace,
    /// $XDG_RUNTIME_DIR of every run: the control sockets live here.
    runtime: PathBuf,
}

impl Class {
    fn new(name: &str, machines: &Machines, node1_user: &str) -> Class {
        let workspace = Workspace::new();
        let runtime = workspace.path().join("run");
        std::fs::create_dir_all(&runtime).unwrap();
        let key = workspace.path().join("id_ed25519");
        duct::cmd("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "labctl-e2e", "-f", key.to_str().unwrap()])
            .run()
            .unwrap();
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        for machine in [MANAGER, NODE1] {
            add_users(machine, &public);
        }
        let host_key = |machine: &str| on_machine(machine, "cat /etc/ssh/ssh_host_ed25519_key.pub");
        let known_hosts =
            format!("10.70.0.10 {}[127.0.0.1]:{} {}", host_key(MANAGER), machines.node1_port, host_key(NODE1));
        let config = format!(
            "[cluster]\nname = \"{name}\"\nprovider = \"ssh\"\nworkers = 1\n\n[registry]\nimage = \"{REGISTRY_IMAGE}\"\n\n[labs]\nseed = [\"e2essh\"]\n\n[ssh]\nconfig_file = \"ssh_config\"\nknown_hosts_file = \"known_hosts\"\n\n[[ssh.hosts]]\nnode = \"manager\"\naddress = \"10.70.0.10\"\nuser = \"labctl\"\nidentity_file = \"id_ed25519\"\n\n[[ssh.hosts]]\nnode = \"node1\"\naddress = \"127.0.0.1\"\nport = {}\nuser = \"{node1_user}\"\nidentity_file = \"id_ed25519\"\nadvertise_ip = \"10.70.0.11\"\n",
            machines.node1_port
        );
        workspace
            .file("labctl.toml", &config)
            .file("known_hosts", &known_hosts)
            // The class's own ssh config: this host's ~/.ssh/config plays no part.
            .file("ssh_config", "# the class's own ssh settings\nLogLevel ERROR\n")
            .file("labs/e2essh/lab.toml", LAB)
            .file("labs/e2essh/stack.yml", STACK)
            .file("labs/e2essh/solution/solve.sh", SOLVE)
            .file("labs/e2essh/README.md", "# ssh\n")
            .file("labs/e2essh/README.en.md", "# ssh\n");
        Class { workspace, runtime }
    }

    fn labctl(&self, args: &[&str]) -> Run {
        self.labctl_with(args, &[])
    }

    fn labctl_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let runtime = self.runtime.to_str().unwrap();
        let env: Vec<(&str, &str)> = [("XDG_RUNTIME_DIR", runtime)].into_iter().chain(env.iter().copied()).collect();
        self.workspace.run_with_host_tools_and(args, &env)
    }

    /// The multiplexed connections open now (their control sockets).
    fn sockets(&self) -> Vec<PathBuf> {
        let dir = self.runtime.join("labctl/ssh");
        std::fs::read_dir(dir).map(|entries| entries.flatten().map(|entry| entry.path()).collect()).unwrap_or_default()
    }

    fn check(&self, lab: &str) -> (i32, serde_json::Value) {
        let run = self.labctl(&["check", lab, "--json"]);
        (run.code, serde_json::from_str(&run.stdout).unwrap_or_else(|_| panic!("not JSON: {run:?}")))
    }
}

impl Drop for Class {
    fn drop(&mut self) {
        // No ssh master may outlive the test.
        for socket in self.sockets() {
            let path = format!("ControlPath={}", socket.display());
            let _ = duct::cmd("ssh", ["-o", &path, "-O", "exit", "labctl-e2e"])
                .stdout_null()
                .stderr_null()
                .unchecked()
                .run();
        }
    }
}

/// `labctl` with passwordless sudo and `student` without sudo, both logging in with `public`.
fn add_users(machine: &str, public: &str) {
    let script = format!(
        "set -e; for user in labctl student; do id $user >/dev/null 2>&1 || useradd --create-home --shell /bin/bash $user; \
         mkdir -p /home/$user/.ssh; printf '%s' '{public}' > /home/$user/.ssh/authorized_keys; \
         chown -R $user: /home/$user/.ssh; chmod 700 /home/$user/.ssh; chmod 600 /home/$user/.ssh/authorized_keys; done; \
         echo 'labctl ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/labctl; chmod 440 /etc/sudoers.d/labctl"
    );
    on_machine(machine, &script);
}

fn outcome<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"].as_array().unwrap().iter().find(|check| check["name"] == name).unwrap()
}

fn swarm_state(machine: &str) -> String {
    on_machine(machine, "docker info --format '{{.Swarm.LocalNodeState}}'").trim().to_string()
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_ssh_provider_on_existing_machines() {
    require_e2e();
    if !docker_succeeds(&["image", "inspect", IMAGE]) {
        panic!("{IMAGE} is missing: run `bash scripts/test-images` (as root) first");
    }
    let machines = Machines::start();
    let class = Class::new("e2e-ssh", &machines, "labctl");
    // The registry image comes from this host (nothing can be pulled), and
    // the manager already has Docker with a daemon.json of its own.
    duct::cmd("docker", ["save", REGISTRY_IMAGE])
        .pipe(duct::cmd("docker", ["exec", "-i", MANAGER, "docker", "load", "--quiet"]))
        .stdout_null()
        .run()
        .unwrap();
    on_machine(MANAGER, &format!("mkdir -p /etc/docker; printf '%s' '{OWN_DAEMON_JSON}' > /etc/docker/daemon.json"));

    // Each machine's dockerd keeps looking a name up while up runs, as a
    // busy lab PC's does: Go's resolver in it then answers from the
    // /etc/hosts it read last for up to 5 s after up adds the class's names.
    for machine in [MANAGER, NODE1] {
        on_machine(machine, KEEP_RESOLVING);
    }

    // --- up: every machine provisioned, one ssh connection each.
    let started = Instant::now();
    let watch = ArgvWatch::start(has_token);
    let up = class.labctl(&["up"]);
    let seen = watch.finish();
    let up = up.success();
    let took = started.elapsed();
    // Right after up, a student's first push and pull by the registry's
    // name work on every machine: up waited until every daemon resolved it.
    let first_push =
        format!("docker tag {REGISTRY_IMAGE} manager:5000/e2e/first-push && docker push manager:5000/e2e/first-push");
    let pushed = docker_output(&["exec", MANAGER, "sh", "-c", &first_push]);
    let pulled = docker_output(&["exec", NODE1, "docker", "pull", "manager:5000/e2e/first-push"]);
    for machine in [MANAGER, NODE1] {
        on_machine(machine, "kill $(cat /run/labctl-e2e-resolving.pid)");
    }
    assert!(pushed.0, "the first push right after up failed: {}\n{}", pushed.1, up.stderr);
    assert!(pulled.0, "the first pull right after up failed: {}\n{}", pulled.1, up.stderr);
    assert!(up.stderr.contains("registry started at manager:5000, reached by name from all 2 nodes"), "{}", up.stderr);
    // The join token went to node1 on ssh's stdin: in no argv on this host,
    // the machines' processes (containers) included.
    let token = on_machine(MANAGER, "docker swarm join-token --quiet worker").trim().to_string();
    let leaks: Vec<String> = seen.iter().filter(|line| line.contains(&token)).map(|line| mask(line)).collect();
    assert!(leaks.is_empty(), "the join token was in a process's argv:\n{}", leaks.join("\n"));
    assert!(up.stderr.contains("provider ssh (set in labctl.toml; 2 machines of [[ssh.hosts]])"), "{}", up.stderr);
    assert!(up.stderr.contains("nodes running (2): 2 provisioned"), "{}", up.stderr);
    assert!(up.stderr.contains("swarm initialised on manager 10.70.0.10; 1 worker joined"), "{}", up.stderr);
    let connections = [logins(MANAGER, "labctl"), logins(NODE1, "labctl")];
    assert_eq!(connections, [1, 1], "one ssh connection per machine during up");
    assert_eq!(class.sockets().len(), 2, "one multiplexed connection per machine stays open");
    eprintln!(
        "PERF ssh up: {:.1}s on 2 machines with Docker installed, {} ssh connections",
        took.as_secs_f64(),
        connections.iter().sum::<usize>()
    );

    // The machines keep their hostnames; the swarm knows them by ID.
    let status = class.labctl(&["status"]).success();
    assert!(status.stdout.contains("10.70.0.11"), "{}", status.stdout);
    // daemon.json merged, its first version kept, Docker reloaded (not restarted).
    let merged: serde_json::Value = serde_json::from_str(&on_machine(MANAGER, "cat /etc/docker/daemon.json")).unwrap();
    assert_eq!(merged["labels"], serde_json::json!(["owner=school"]));
    assert_eq!(merged["insecure-registries"], serde_json::json!(["manager:5000"]));
    assert_eq!(on_machine(MANAGER, "cat /etc/docker/daemon.json.labctl.bak"), OWN_DAEMON_JSON);
    assert!(on_machine(MANAGER, "docker info --format '{{.Labels}}'").contains("owner=school"), "reloaded");
    assert!(on_machine(NODE1, "grep -c 'labctl begin e2e-ssh' /etc/hosts").starts_with('1'));
    // Docker and the handouts' tools were there: provisioning installed
    // nothing (and so reached no package mirror).
    for machine in [MANAGER, NODE1] {
        assert_eq!(on_machine(machine, "ls /var/log/apt/history.log 2>/dev/null || echo none").trim(), "none");
    }

    // --- a second up changes nothing and opens no connection.
    let again = class.labctl(&["up"]).success();
    assert!(again.stderr.contains("no changes: cluster e2e-ssh was already up"), "{}", again.stderr);
    assert_eq!([logins(MANAGER, "labctl"), logins(NODE1, "labctl")], [1, 1]);

    // --- a lab: solved, checked, changed by a student, reset.
    let solved = class.labctl(&["solve", "e2essh"]).success();
    assert!(solved.stderr.contains("2 of 2 checks pass"), "{}", solved.stderr);
    let (code, report) = class.check("e2essh");
    assert_eq!(code, 0, "{report:#}");
    on_machine(MANAGER, "echo 'student edit' > /root/work/e2essh/stack.yml; echo notes > /root/work/e2essh/notes.txt");
    let reset = class.labctl(&["reset", "e2essh"]).success();
    assert!(reset.stderr.contains("stacks removed: e2e"), "{}", reset.stderr);
    assert_eq!(on_machine(MANAGER, "cat /root/work/e2essh/stack.yml"), STACK);
    let backups = class.workspace.path().join(".labctl/backups/e2essh");
    let backup = std::fs::read_dir(&backups).unwrap().next().unwrap().unwrap().path();
    assert_eq!(std::fs::read_to_string(backup.join("notes.txt")).unwrap(), "notes\n");
    let (code, report) = class.check("e2essh");
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(outcome(&report, "e2e_web runs on the worker")["passed"], false);

    // --- down powers nothing off.
    let down = class.labctl(&["down"]).success();
    assert!(down.stderr.contains("nothing was stopped"), "{}", down.stderr);
    assert_eq!(swarm_state(NODE1), "active");

    // --- destroy: labctl's things go, the machines and Docker stay.
    let destroy = class.labctl(&["destroy", "--yes"]).success();
    assert!(
        destroy.stderr.contains("removed labctl's things from 2 machines (swarm left on 2, registry, the lab folders it made, /var/lib/labctl); the machines still run"),
        "{}",
        destroy.stderr
    );
    for machine in [MANAGER, NODE1] {
        assert_eq!(host_docker(&["inspect", "--format", "{{.State.Running}}", machine]).trim(), "true");
        assert_eq!(swarm_state(machine), "inactive", "{machine}");
        assert_eq!(on_machine(machine, "ls /root/work /var/lib/labctl 2>/dev/null | wc -l").trim(), "0", "{machine}");
    }
    assert_eq!(on_machine(MANAGER, "docker ps --all --quiet --filter name=labctl-registry").trim(), "");
    assert!(on_machine(MANAGER, "cat /etc/docker/daemon.json").contains("manager:5000"), "daemon.json stays");
    assert!(class.sockets().is_empty(), "destroy closes the connections: {:?}", class.sockets());

    // --- swarms labctl did not make: node1 leads the school's own swarm.
    on_machine(NODE1, "docker swarm init --advertise-addr 10.70.0.11 >/dev/null");
    let refused = class.labctl(&["up"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("a worker is in a swarm labctl did not make: node1 (state active, node ID "),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("managers at 10.70.0.11:2377); labctl does not make a machine leave a swarm it did not make"),
        "{}",
        refused.stderr
    );
    assert_eq!(swarm_state(NODE1), "active", "node1 stays in its swarm");
    assert_eq!(swarm_state(MANAGER), "inactive", "nothing was started on the manager either");
    on_machine(NODE1, "docker swarm leave --force >/dev/null");
    // The manager's machine leads one with a service of its own.
    on_machine(
        MANAGER,
        &format!("docker swarm init --advertise-addr 10.70.0.10 >/dev/null && docker service create --detach --no-resolve-image --replicas 0 --name school-printer {REGISTRY_IMAGE} >/dev/null"),
    );
    let refused = class.labctl(&["up"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("manager is already the manager of a swarm labctl did not make (state active, node ID "),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(", 1 node, 1 service: school-printer); labctl neither takes over"),
        "{}",
        refused.stderr
    );
    assert_eq!(swarm_state(NODE1), "inactive", "node1 did not join the school's swarm");
    // destroy leaves that swarm where it is, service and all.
    let destroy = class.labctl(&["destroy", "--yes"]).success();
    assert!(destroy.stderr.contains("kept the swarm on lab-pc-01 (labctl did not make it)"), "{}", destroy.stderr);
    assert_eq!(swarm_state(MANAGER), "active");
    assert_eq!(on_machine(MANAGER, "docker service ls --format '{{.Name}}'").trim(), "school-printer");
    on_machine(MANAGER, "docker swarm leave --force >/dev/null");

    // --- faults, each named with what to do.
    let no_sudo = Class::new("e2e-ssh-nosudo", &machines, "student");
    let refused = no_sudo.labctl(&["up"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("user student on host node1 (127.0.0.1) cannot run sudo without a password: sudo: a password is required; add `student ALL=(ALL) NOPASSWD:ALL` to /etc/sudoers.d/labctl there"),
        "{}",
        refused.stderr
    );
    drop(no_sudo);

    // node1 gets a new host key (reinstalled, or someone in between).
    on_machine(NODE1, "rm /etc/ssh/ssh_host_*; ssh-keygen -A >/dev/null; kill -HUP $(cat /run/sshd.pid)");
    let changed = class.labctl(&["up"]);
    assert_eq!(changed.code, 1, "{changed:?}");
    let known_hosts = class.workspace.path().join("known_hosts");
    let expected = format!("`ssh-keygen -R '[127.0.0.1]:{}' -f {}`", machines.node1_port, known_hosts.display());
    assert!(changed.stderr.contains("host node1 (labctl@127.0.0.1:"), "{}", changed.stderr);
    assert!(changed.stderr.contains(&expected), "{}\nwanted {expected}", changed.stderr);
    assert!(changed.stderr.contains("shows another host key"), "{}", changed.stderr);
    assert!(!std::fs::read_to_string(&known_hosts).unwrap().is_empty(), "the known key is not replaced");

    // The manager's machine is off: a bounded wait, naming it.
    host_docker(&["stop", "--time", "1", MANAGER]);
    let started = Instant::now();
    let silent = class.labctl_with(&["status"], &[("LABCTL_TIMEOUT_SCALE", "0.2")]);
    assert_eq!(silent.code, 3, "{silent:?}");
    assert!(started.elapsed() < Duration::from_secs(20), "waited {:?}", started.elapsed());
    assert!(silent.stdout.contains("unreachable") || silent.stderr.contains("unreachable"), "{silent:?}");
    let up_silent = class.labctl_with(&["up"], &[("LABCTL_TIMEOUT_SCALE", "0.2")]);
    assert_eq!(up_silent.code, 1, "{up_silent:?}");
    assert!(up_silent.stderr.contains("host manager (labctl@10.70.0.10) does not answer"), "{}", up_silent.stderr);
    drop(class);
}
