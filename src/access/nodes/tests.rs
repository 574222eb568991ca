use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::*;
use crate::config::{test_catalog, test_settings, Settings};
use crate::exec::fake::RecordingRunner;
use crate::exec::Output;
use crate::provider::docker::DockerProvider;
use crate::templates::Templates;

const PRIVATE_KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ-test-private\n-----END OPENSSH PRIVATE KEY-----\n";

/// Records everything like a lenient [`RecordingRunner`]; `ssh-keygen`
/// also writes a key pair where its `-f` says, as the real one does.
struct Host {
    recorded: RecordingRunner,
}

impl Default for Host {
    fn default() -> Host {
        Host { recorded: RecordingRunner::lenient() }
    }
}

impl Runner for Host {
    fn run(&self, spec: &CommandSpec) -> Result<Output> {
        if spec.program == "ssh-keygen" {
            let at = spec.args.iter().position(|arg| arg == "-f").expect("ssh-keygen -f PATH");
            let path = Path::new(&spec.args[at + 1]);
            let comment = &spec.args[spec.args.iter().position(|arg| arg == "-C").unwrap() + 1];
            std::fs::write(path, PRIVATE_KEY)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            std::fs::write(format!("{}.pub", path.display()), format!("ssh-ed25519 AAAAC3NzaTEST {comment}\n"))?;
        }
        self.recorded.run(spec)
    }

    fn run_interactive(&self, spec: &CommandSpec) -> Result<i32> {
        self.recorded.run_interactive(spec)
    }
}

fn class(access: &str) -> Settings {
    test_settings(&format!("[cluster]\nname = \"cls\"\nworkers = 1\n\n[class]\nseats = 2\naccess = \"{access}\"\n"))
}

/// Seat 2 of `settings`, its folder under `root`, run through `host`.
fn with_seat<R>(settings: &Settings, root: &Path, host: &Host, work: impl FnOnce(&SeatAccess) -> R) -> R {
    let cluster = Cluster::seat(settings, test_catalog(), 2).unwrap();
    let provider = DockerProvider::new(&cluster, host);
    let templates = Templates::load(Path::new("/nonexistent")).unwrap();
    let (access, _) = cluster.student_access().expect("students log in");
    let seat = SeatAccess {
        cluster: &cluster,
        access,
        files: SeatFiles::new(root, &cluster),
        shell: NodeShell::new(&provider, host),
        host,
        script: templates.node_script(SCRIPT).unwrap(),
    };
    work(&seat)
}

/// Both nodes answer the check with `todo` lines (and a host key, if any).
fn nodes_answer(host: &Host, todo: &[&str], host_keys: bool) {
    for node in ["manager", "node1"] {
        let mut answer: String = todo.iter().map(|word| format!("todo {word}\n")).collect();
        if host_keys {
            answer.push_str(&format!("host-key ssh-ed25519 AAAA{node}\n"));
        }
        let check = format!("docker exec --interactive cls-s02-{node} sh -c '#!/bin/sh…' labctl-ssh-access check");
        host.recorded.always(&check, 0, &answer, "");
        let apply = format!("docker exec --interactive cls-s02-{node} sh -c '#!/bin/sh…' labctl-ssh-access apply");
        host.recorded.always(&apply, 0, &format!("host-key ssh-ed25519 AAAA{node}\n"), "");
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// No command line anywhere holds `secret`, nor does what labctl shows.
fn assert_nowhere_in_argv(host: &Host, secret: &str) {
    for spec in host.recorded.calls() {
        let argv = std::iter::once(&spec.program).chain(&spec.args);
        assert!(argv.into_iter().all(|word| !word.contains(secret)), "in argv: {spec:?}");
    }
    assert!(host.recorded.command_lines().iter().all(|line| !line.contains(secret)));
}

#[test]
fn a_new_seat_gets_a_key_pair_here_and_its_public_key_on_every_node_by_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::default();
    nodes_answer(&host, &["host-key", "config", "credential", "start"], false);
    let settings = class("key");
    with_seat(&settings, dir.path(), &host, |seat| {
        let plan = seat.plan(&[]).unwrap();
        assert!(host.recorded.changes().is_empty(), "planning only probes: {:#?}", host.recorded.changes());
        assert!(plan.key_generation.is_some() && !plan.new_password);
        let probes = host.recorded.command_lines();
        assert!(
            probes.iter().all(|line| line
                .ends_with("labctl-ssh-access check /var/lib/labctl key none 'manager:22 node1:22 localhost:9000'")),
            "{probes:#?}"
        );

        let report = seat.apply(&plan).unwrap();
        assert!(report.credential_made);
        assert_eq!(report.changed.len(), 2);
        assert_eq!(report.renewed_host_keys, Vec::<String>::new());
    });
    let files = dir.path().join("s02");
    assert_eq!(mode(dir.path()), 0o700);
    assert_eq!(mode(&files), 0o700);
    for file in ["id_ed25519", "id_ed25519.pub", "known_hosts"] {
        assert_eq!(mode(&files.join(file)), 0o600, "{file}");
    }
    assert_eq!(
        std::fs::read_to_string(files.join("known_hosts")).unwrap(),
        "cls-s02-manager ssh-ed25519 AAAAmanager\ncls-s02-node1 ssh-ed25519 AAAAnode1\n"
    );
    let changes = host.recorded.changes();
    assert_eq!(
        changes[0],
        format!("ssh-keygen -q -t ed25519 -N '' -C labctl@cls-s02 -f {}", files.join("id_ed25519").display())
    );
    let applied: Vec<CommandSpec> =
        host.recorded.calls().into_iter().filter(|spec| spec.args.iter().any(|arg| arg == "apply")).collect();
    assert_eq!(applied.len(), 2, "{changes:#?}");
    let public_key = "ssh-ed25519 AAAAC3NzaTEST labctl@cls-s02\n";
    for spec in &applied {
        assert_eq!(spec.stdin.as_deref(), Some(public_key.as_bytes()), "the public key goes on stdin");
        assert!(!spec.args.iter().any(|arg| arg.contains("AAAAC3NzaTEST")), "nor in argv: {spec:?}");
    }
    assert_nowhere_in_argv(&host, "b3BlbnNzaC1rZXktdjE");
}

#[test]
fn a_password_goes_to_chpasswd_on_stdin_only_and_is_masked_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::default();
    nodes_answer(&host, &["host-key", "config", "credential", "start"], false);
    let settings = class("password");
    with_seat(&settings, dir.path(), &host, |seat| {
        let plan = seat.plan(&[]).unwrap();
        assert!(plan.new_password && plan.key_generation.is_none());
        seat.apply(&plan).unwrap();
    });
    // A node whose chpasswd fails, saying what it was given.
    let stored = std::fs::read_to_string(dir.path().join("s02/password")).unwrap();
    let failing = Host::default();
    nodes_answer(&failing, &["credential"], true);
    let apply = "docker exec --interactive cls-s02-node1 sh -c '#!/bin/sh…' labctl-ssh-access apply";
    failing.recorded.answer(apply, 1, "", &format!("chpasswd: cannot take root:{}", stored.trim()));
    let error = with_seat(&settings, dir.path(), &failing, |seat| seat.apply(&seat.plan(&[]).unwrap()).unwrap_err());
    let error = format!("{error:#}");
    let password = std::fs::read_to_string(dir.path().join("s02/password")).unwrap();
    let password = password.trim();
    assert_eq!(password.len(), 16);
    assert_eq!(mode(&dir.path().join("s02/password")), 0o600);
    assert!(!error.contains(password) && error.contains("root:****"), "{error}");
    let applied: Vec<CommandSpec> =
        host.recorded.calls().into_iter().filter(|spec| spec.args.iter().any(|arg| arg == "apply")).collect();
    assert_eq!(applied.len(), 2);
    for spec in &applied {
        assert_eq!(spec.stdin.as_deref(), Some(format!("root:{password}\n").as_bytes()));
        assert!(spec.args.iter().any(|arg| arg == "password"), "{spec:?}");
        assert!(spec.secrets.iter().any(|secret| secret == password));
    }
    assert_nowhere_in_argv(&host, password);
}

/// Seat 2's folder with a key pair and `known_hosts` as a first `up` leaves them.
fn seat_with_a_key(root: &Path) {
    let files = root.join("s02");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("id_ed25519"), PRIVATE_KEY).unwrap();
    std::fs::write(files.join("id_ed25519.pub"), "ssh-ed25519 AAAAC3NzaTEST labctl@cls-s02\n").unwrap();
    std::fs::write(
        files.join("known_hosts"),
        "cls-s02-manager ssh-ed25519 AAAAmanager\ncls-s02-node1 ssh-ed25519 AAAAnode1\n",
    )
    .unwrap();
}

#[test]
fn after_a_restart_only_the_servers_that_stopped_are_started_again() {
    let dir = tempfile::tempdir().unwrap();
    seat_with_a_key(dir.path());
    let host = Host::default();
    nodes_answer(&host, &[], true);
    let check = "docker exec --interactive cls-s02-manager sh -c '#!/bin/sh…' labctl-ssh-access check";
    host.recorded.answer(check, 0, "todo start\nhost-key ssh-ed25519 AAAAmanager\n", "");
    let settings = class("key");
    let report = with_seat(&settings, dir.path(), &host, |seat| seat.apply(&seat.plan(&[]).unwrap()).unwrap());
    assert!(!report.credential_made);
    assert_eq!(report.changed, vec![("manager".to_string(), vec![Todo::Start])]);
    assert_eq!(report.renewed_host_keys, Vec::<String>::new(), "the host key is kept on the state volume");
    let id = Credential::Key { public_key: "ssh-ed25519 AAAAC3NzaTEST labctl@cls-s02".into() }.id();
    assert_eq!(
        host.recorded.changes(),
        vec![format!("docker exec --interactive cls-s02-manager sh -c '#!/bin/sh…' labctl-ssh-access apply /var/lib/labctl key {id} 'manager:22 node1:22 localhost:9000'")]
    );
    let probe = host.recorded.calls().into_iter().find(|spec| spec.args.iter().any(|arg| arg == "check")).unwrap();
    assert_eq!(
        probe.stdin.as_deref(),
        Some(&b"ssh-ed25519 AAAAC3NzaTEST labctl@cls-s02\n"[..]),
        "it looks for the key"
    );

    // Nothing missing: nothing runs but the probes.
    let healthy = Host::default();
    nodes_answer(&healthy, &[], true);
    let report = with_seat(&settings, dir.path(), &healthy, |seat| seat.apply(&seat.plan(&[]).unwrap()).unwrap());
    assert!(report.changed.is_empty() && !report.credential_made);
    assert_eq!(healthy.recorded.changes(), Vec::<String>::new());
}

#[test]
fn a_node_made_anew_with_a_new_host_key_is_reported_not_taken_silently() {
    let dir = tempfile::tempdir().unwrap();
    seat_with_a_key(dir.path());
    let host = Host::default();
    nodes_answer(&host, &[], true);
    let check = "docker exec --interactive cls-s02-node1 sh -c '#!/bin/sh…' labctl-ssh-access check";
    host.recorded.answer(check, 0, "todo host-key\ntodo config\ntodo credential\ntodo start\n", "");
    let apply = "docker exec --interactive cls-s02-node1 sh -c '#!/bin/sh…' labctl-ssh-access apply";
    host.recorded.answer(apply, 0, "host-key ssh-ed25519 AAAAnewer\n", "");
    let report = with_seat(&class("key"), dir.path(), &host, |seat| seat.apply(&seat.plan(&[]).unwrap()).unwrap());
    assert_eq!(report.renewed_host_keys, vec!["node1".to_string()]);
    let known = std::fs::read_to_string(dir.path().join("s02/known_hosts")).unwrap();
    assert_eq!(known, "cls-s02-manager ssh-ed25519 AAAAmanager\ncls-s02-node1 ssh-ed25519 AAAAnewer\n");
}

#[test]
fn a_node_without_sshd_stops_the_plan_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::default();
    nodes_answer(&host, &[], true);
    let check = "docker exec --interactive cls-s02-node1 sh -c '#!/bin/sh…' labctl-ssh-access check";
    host.recorded.answer(check, 0, "missing sshd\n", "");
    let error = with_seat(&class("key"), dir.path(), &host, |seat| seat.plan(&[]).unwrap_err().to_string());
    assert!(
        error.starts_with("node node1 has no SSH server (sshd): its container runs an image without openssh-server"),
        "{error}"
    );
    assert!(error.contains("run labctl up again"), "{error}");
}

#[test]
fn a_dry_run_asks_no_node_that_is_not_running_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::default();
    let root = dir.path().join("access");
    let commands = with_seat(&class("key"), &root, &host, |seat| {
        let plan = seat.plan(&["manager".to_string(), "node1".to_string()]).unwrap();
        assert!(plan.nodes.iter().all(|node| node.todo.len() == 4 && node.host_key.is_none()));
        seat.commands(&plan).unwrap()
    });
    assert!(host.recorded.calls().is_empty(), "{:#?}", host.recorded.command_lines());
    assert!(!root.exists(), "nothing written");
    let shown: Vec<String> = commands.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 3, "{shown:#?}");
    assert!(shown[0].starts_with("ssh-keygen -q -t ed25519"), "{shown:#?}");
    assert!(
        shown[2].ends_with("labctl-ssh-access apply /var/lib/labctl key new 'manager:22 node1:22 localhost:9000'"),
        "{shown:#?}"
    );
}

#[test]
fn students_may_forward_to_their_nodes_ssh_and_the_seats_forwards_only() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::default();
    let settings = test_settings(
        "[cluster]\nname = \"cls\"\nworkers = 2\n\n[[forward]]\nhost = 49000\nguest = 9000\n\n[[forward]]\nnode = \"node2\"\nhost = 8080\nguest = 80\n\n[[forward]]\nhost = 5353\nguest = 53\nprotocol = \"udp\"\n\n[class]\nseats = 2\n",
    );
    with_seat(&settings, dir.path(), &host, |seat| {
        assert_eq!(seat.permitted_forwards(), "manager:22 node1:22 node2:22 localhost:9000 node2:80");
    });
}
