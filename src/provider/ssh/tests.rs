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

/// A script with its `variable=` line pointed at `value`.
fn pointed(script: &str, variable: &str, value: &std::path::Path) -> String {
    let line = script.lines().find(|line| line.starts_with(&format!("{variable}="))).unwrap().to_string();
    script.replace(&line, &format!("{variable}={}", value.display()))
}

#[test]
fn destroy_takes_back_exactly_the_firewall_changes_provisioning_made() {
    let settings = crate::config::test_settings("");
    let cluster = crate::config::test_cluster(&settings);
    let templates = Templates::load(std::path::Path::new("/nonexistent")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (bin, defaults, rules, state) =
        (dir.path().join("bin"), dir.path().join("ufw"), dir.path().join("rules"), dir.path().join("state"));
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(&defaults, "IPV6=yes\nDEFAULT_FORWARD_POLICY=\"DROP\"\n").unwrap();
    // The school had SSH and 2377/tcp open already.
    std::fs::write(&rules, "22/tcp\n2377/tcp\n").unwrap();
    let ufw = format!(
        "#!/bin/sh\nrules='{}'\ncase $1 in\n  status) echo 'Status: active' ;;\n  allow) shift; rule=\"$*\"; if grep -qxF -- \"$rule\" \"$rules\"; then echo 'Skipping adding existing rule'; else echo \"$rule\" >> \"$rules\"; echo 'Rule added'; fi ;;\n  delete) shift 2; rule=\"$*\"; grep -vxF -- \"$rule\" \"$rules\" > \"$rules.new\"; mv \"$rules.new\" \"$rules\"; echo 'Rule deleted' ;;\nesac\n",
        rules.display()
    );
    std::fs::write(bin.join("ufw"), ufw).unwrap();
    std::fs::set_permissions(bin.join("ufw"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());

    let firewall = crate::provider::provision::scripts(&cluster, &templates)
        .unwrap()
        .into_iter()
        .find(|s| s.path.ends_with("40-firewall.sh"))
        .unwrap();
    let firewall = pointed(&pointed(&firewall.content, "ufw_defaults", &defaults), "record", &state.join("firewall"));
    let children = std::sync::Arc::new(crate::exec::Children::default());
    let runner = crate::exec::RealRunner::new(crate::ui::Ui::new(crate::ui::Verbosity::Quiet), children);
    let run = |program: &str, args: &[&str]| {
        let mut spec = crate::exec::CommandSpec::new(program, args, "run").timeout(std::time::Duration::from_secs(30));
        spec.env.push(("PATH".into(), path.clone()));
        crate::exec::Runner::run(&runner, &spec).unwrap()
    };
    for _ in 0..2 {
        let out = run("bash", &["-c", &firewall, "40-firewall", "manager"]);
        assert!(out.success(), "{out:?}");
    }
    assert!(std::fs::read_to_string(&defaults).unwrap().contains("\"ACCEPT\""));
    assert_eq!(std::fs::read_to_string(&rules).unwrap().lines().count(), 7, "5 rules added");

    let take_off = templates.node_script("node/take-off.sh.tera").unwrap();
    let take_off = pointed(&take_off, "ufw_defaults", &defaults);
    let record = state.join("swarm-node-id");
    let argv = super::take_off_argv(&take_off, state.to_str().unwrap(), "/nonexistent/work", record.to_str().unwrap());
    let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
    let out = run("sh", &args);
    let said = out.stdout.clone();
    assert!(out.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&rules).unwrap(), "22/tcp\n2377/tcp\n", "the school's rules stay: {said}");
    assert_eq!(std::fs::read_to_string(&defaults).unwrap(), "IPV6=yes\nDEFAULT_FORWARD_POLICY=\"DROP\"\n");
    assert!(said.contains("closed 7946/tcp 7946/udp 4789/udp 5000/tcp esp"), "{said}");
    assert!(said.contains("ufw's forward policy is DROP again"), "{said}");
    assert!(!state.exists());
}
