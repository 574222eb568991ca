use std::path::Path;

use super::*;
use crate::config::{test_cluster, test_settings};
use crate::exec::fake::RecordingRunner;
use crate::provider::NodeShell;
use crate::ui::Verbosity;

/// A manager that logs in as ubuntu (sudo) and a worker as root.
const MACHINES: &str = r#"[cluster]
provider = "ssh"
workers = 1
[[ssh.hosts]]
node = "manager"
address = "10.0.1.10"
user = "ubuntu"
[[ssh.hosts]]
node = "node1"
address = "10.0.1.11"
user = "root"
"#;

fn templates() -> Templates {
    Templates::load(Path::new("/nonexistent")).unwrap()
}

fn provider<'a>(cluster: &'a Cluster<'a>, runner: &'a RecordingRunner) -> SshProvider<'a> {
    SshProvider::new(cluster, runner, &templates(), HostKeys::Known).unwrap().unmultiplexed()
}

/// How every command to a machine starts, as displayed.
fn ssh(address: &str, user: &str) -> String {
    format!("ssh -o BatchMode=yes -o ConnectTimeout=15 -o StrictHostKeyChecking=yes -l {user} -T -- {address}")
}

const MANAGER: (&str, &str) = ("10.0.1.10", "ubuntu");
const NODE1: (&str, &str) = ("10.0.1.11", "root");

fn probe_prefix((address, user): (&str, &str)) -> String {
    format!(r"{} 'sh -c '\''#!/bin/sh…'\'' labctl-probe", ssh(address, user))
}

fn answer_probe(runner: &RecordingRunner, machine: (&str, &str), stdout: &str) {
    runner.always(&probe_prefix(machine), 0, stdout, "");
}

fn running(stamp: &str) -> String {
    format!("user=ubuntu\nsudo=yes\nos=ubuntu debian\ndocker=24.0.7\nprovisioned={stamp}\n")
}

#[test]
fn node_commands_go_through_sudo_n_unless_the_login_is_root() {
    let settings = test_settings(MACHINES);
    let cluster = test_cluster(&settings);
    let runner = RecordingRunner::lenient();
    let provider = provider(&cluster, &runner);
    let shell = NodeShell::new(&provider, &runner);
    runner.run(&shell.probe("manager", &["docker", "info"], "ask")).unwrap();
    runner.run(&shell.probe("node1", &["docker", "info", "--format", "{{json .Swarm}}"], "ask")).unwrap();
    assert_eq!(
        runner.command_lines(),
        [
            format!("{} 'sudo -n -- docker info'", ssh("10.0.1.10", "ubuntu")),
            format!(r"{} 'docker info --format '\''{{{{json .Swarm}}}}'\'''", ssh("10.0.1.11", "root")),
        ]
    );
    let spec = &runner.calls()[0];
    assert_eq!(spec.timeout, Some(Duration::from_secs(30)), "the read limit");
    assert!(spec.args.last().unwrap().starts_with("sudo -n -- timeout -s KILL 27 docker info"), "{spec}");
    assert_eq!(
        provider.shell_command("manager").to_string(),
        "ssh -o BatchMode=yes -o ConnectTimeout=15 -o StrictHostKeyChecking=yes -l ubuntu -t -- 10.0.1.10 'sudo -i'"
    );
}

#[test]
fn up_provisions_only_the_machines_that_need_it_with_scripts_fed_on_stdin() {
    let settings = test_settings(MACHINES);
    let cluster = test_cluster(&settings);
    let templates = templates();
    let stamp = stamp(&crate::provider::provision::scripts(&cluster, &templates).unwrap());
    let runner = RecordingRunner::lenient();
    answer_probe(&runner, MANAGER, &running(&stamp));
    answer_probe(&runner, NODE1, "user=root\nsudo=yes\nos=debian\ndocker=missing\nprovisioned=\n");
    let provider = provider(&cluster, &runner);
    let ui = Ui::new(Verbosity::Quiet);
    let plan = provider.plan_nodes(&ui, &templates).unwrap();
    assert_eq!(
        plan.changes,
        [("manager".to_string(), NodeChange::AlreadyRunning), ("node1".to_string(), NodeChange::DockerInstalled)]
    );
    assert_eq!(plan.notes, ["node1's machine has no Docker: provisioning installs it from the distribution (debian)"]);
    assert_eq!(runner.changes(), Vec::<String>::new(), "planning only probes");

    provider.bring_up(&plan, &ui).unwrap();
    let changes = runner.changes();
    let scripts = ["10-hosts", "20-docker", "30-daemon-json", "40-firewall", "50-tools"];
    let expected: Vec<String> = scripts
        .iter()
        .map(|name| format!(r"{} 'sh -c '\''#!/bin/sh…'\'' provision/{name}.sh node1'", ssh("10.0.1.11", "root")))
        .chain([format!(
            r"{} 'sh -c '\''#!/bin/sh…'\'' labctl-record /var/lib/labctl/provisioned'",
            ssh("10.0.1.11", "root")
        )])
        .collect();
    assert_eq!(changes, expected);
    let calls = runner.calls();
    let fed: Vec<String> = calls
        .iter()
        .filter_map(|spec| spec.stdin.as_ref())
        .map(|bytes| String::from_utf8_lossy(bytes).into())
        .collect();
    assert!(fed[1].contains("install Docker Engine on"), "the 20-docker script itself is fed: {}", fed[1]);
    assert_eq!(fed.last().unwrap(), &format!("{stamp}\n"));
    assert!(calls.iter().all(|spec| spec.args.iter().all(|arg| !arg.contains("apt-get"))), "no script in an argv");
}

#[test]
fn a_user_without_passwordless_sudo_and_a_changed_host_key_stop_up_naming_both() {
    let settings = test_settings(MACHINES);
    let cluster = test_cluster(&settings);
    let runner = RecordingRunner::default();
    answer_probe(&runner, MANAGER, "user=ubuntu\nsudo=no\nsudo_error=sudo: a password is required\n");
    let changed = "@@@@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\nHost key for 10.0.1.11 has changed and you have requested strict checking.\r\nHost key verification failed.\r\n";
    runner.always(&probe_prefix(NODE1), 255, "", changed);
    let error = provider(&cluster, &runner).plan_nodes(&Ui::new(Verbosity::Quiet), &templates()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "2 machines cannot be used:\n  user ubuntu on host manager (10.0.1.10) cannot run sudo without a password: sudo: a password is required; add `ubuntu ALL=(ALL) NOPASSWD:ALL` to /etc/sudoers.d/labctl there (`sudo visudo -f /etc/sudoers.d/labctl`), or log in as a user who has it\n  host node1 (root@10.0.1.11) shows another host key than the one known for 10.0.1.11, so labctl does not log in (another machine at that address, or someone in between); if the machine was reinstalled, check its new key, remove the old one with `ssh-keygen -R 10.0.1.11`, then run `labctl up --accept-new-host-keys`"
    );
    let machines = provider(&cluster, &runner).machines().unwrap();
    let states: Vec<(&str, &str, bool)> =
        machines.iter().map(|machine| (machine.node.as_str(), machine.state.as_str(), machine.running)).collect();
    assert_eq!(states, [("manager", "no sudo", false), ("node1", "host key changed", false)]);
}

#[test]
fn destroy_takes_labctls_things_off_the_workers_then_the_manager() {
    let settings = test_settings(MACHINES);
    let cluster = test_cluster(&settings);
    let runner = RecordingRunner::default();
    runner.always(&ssh("10.0.1.11", "root"), 0, "left the swarm\nremoved /root/work/ingress\nkept /srv/db\n", "");
    runner.always(&ssh("10.0.1.10", "ubuntu"), 0, "left the swarm\nremoved the registry\n", "");
    let removed = provider(&cluster, &runner).destroy().unwrap();
    assert_eq!(
        removed,
        [
            "labctl's things from 2 machines (swarm left on 2, registry, the lab folders it made, /var/lib/labctl)",
            "kept /srv/db (they were there before labctl seeded its labs)"
        ]
    );
    let lines = runner.changes();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with(&ssh("10.0.1.11", "root")), "workers first: {lines:#?}");
    let manager = &runner.calls()[1];
    let remote = manager.args.last().unwrap();
    assert!(remote.starts_with("sudo -n -- timeout -s KILL "), "{remote}");
    let tail = remote.rsplit_once('\n').unwrap().1;
    assert_eq!(
        tail,
        "' labctl-take-off /var/lib/labctl labctl-registry labctl-registry /root/work /var/lib/labctl/swarm-node-id",
        "the folders come from the machine's own records"
    );
}

#[test]
fn a_machine_that_does_not_answer_is_named_and_the_others_are_still_done() {
    let settings = test_settings(MACHINES);
    let cluster = test_cluster(&settings);
    let runner = RecordingRunner::lenient();
    runner.always(
        &ssh("10.0.1.11", "root"),
        255,
        "",
        "ssh: connect to host 10.0.1.11 port 22: Connection timed out\r\n",
    );
    let error = provider(&cluster, &runner).destroy().unwrap_err().to_string();
    assert_eq!(
        error,
        "host node1 (root@10.0.1.11) does not answer: ssh: connect to host 10.0.1.11 port 22: Connection timed out; check that it is on and that this host reaches it on port 22 (the other 1 machines are done)"
    );
    assert!(runner.changes().iter().any(|line| line.starts_with(&ssh("10.0.1.10", "ubuntu"))), "the manager was done");
}
