//! End-to-end (LABCTL_E2E=1): students reach their seat with the system
//! `ssh` client. A class of two seats (one worker each) comes up with an SSH
//! server on every node; each seat's key opens its own seat (whose swarm is
//! its own) and not the other; the workers are reached through the manager
//! (ProxyJump); every host key is checked against the known_hosts that `up`
//! wrote; sshd comes back after a restart, and a node made anew keeps its
//! host key. Then seat 2 switches to password mode. No private key and no
//! password is in any process's command line while `up` runs, nor in what
//! labctl prints. Its subnets (10.67.0-1.0/24), ports and name are its own.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{host_docker, require_e2e, require_tool, ArgvWatch, Run, Workspace};

const CLASS: &str = "labctl-e2e-access";
/// Every OpenSSH private key's text starts so (base64 of "openssh-key-v1").
const PRIVATE_KEY_MARK: &str = "b3BlbnNzaC1rZXktdjE";

fn config(access: &str) -> String {
    format!(
        "[cluster]\nname = \"{CLASS}\"\nprovider = \"docker\"\nsubnet = \"10.67.0.0/24\"\nmanager_ip = \"10.67.0.10\"\nworker_ip_start = \"10.67.0.11\"\nworkers = 1\n\n[[forward]]\nhost = 29130\nguest = 9000\n\n[registry]\nenabled = false\n\n[labs]\nseed = []\n\n[docker]\nnode_image = \"labctl-test/node:bookworm\"\n\n[class]\nseats = 2\nssh_port_base = 2330\nssh_bind = \"127.0.0.1\"\naccess = \"{access}\"\n\n[cache]\nenabled = false\n"
    )
}

/// The class's workspace; every seat destroyed however the test ends.
struct Class {
    workspace: Workspace,
}

impl Drop for Class {
    fn drop(&mut self) {
        self.labctl(&["destroy", "--seat", "all", "--yes"]);
    }
}

impl Class {
    fn labctl(&self, args: &[&str]) -> Run {
        self.workspace.run_with_host_tools(args)
    }

    fn seat_dir(&self, seat: u32) -> PathBuf {
        self.workspace.path().join(format!(".labctl/access/s{seat:02}"))
    }

    /// `ssh` to seat `seat`'s manager on its published port, as `key` (a
    /// seat's private key) or, without a key, with the seat's password
    /// given by an askpass program; host keys checked against the seat's
    /// known_hosts. Returns (exit status, stdout, stderr).
    fn ssh(&self, ssh: &Path, port: u16, seat: u32, key: Option<&Path>, command: &str) -> (i32, String, String) {
        let known_hosts = self.seat_dir(seat).join("known_hosts");
        let mut args: Vec<String> = vec![
            "-p".into(),
            port.to_string(),
            "-F".into(),
            "/dev/null".into(),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", known_hosts.display()),
            "-o".into(),
            format!("HostKeyAlias={CLASS}-s{seat:02}-manager"),
            "-o".into(),
            "ConnectTimeout=10".into(),
        ];
        let mut expression = match key {
            Some(key) => {
                args.extend(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i"].map(String::from));
                args.push(key.display().to_string());
                args.extend(["root@127.0.0.1".to_string(), command.to_string()]);
                duct::cmd(ssh, &args)
            }
            None => {
                // No sshpass needed: OpenSSH asks this program for the password.
                let askpass = self.workspace.path().join("askpass.sh");
                let password = self.seat_dir(seat).join("password");
                std::fs::write(&askpass, format!("#!/bin/sh\ncat '{}'\n", password.display())).unwrap();
                std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
                let options =
                    ["PubkeyAuthentication=no", "PreferredAuthentications=password", "NumberOfPasswordPrompts=1"];
                for option in options {
                    args.extend(["-o".to_string(), option.to_string()]);
                }
                args.extend(["root@127.0.0.1".to_string(), command.to_string()]);
                duct::cmd(ssh, &args)
                    .env("SSH_ASKPASS", &askpass)
                    .env("SSH_ASKPASS_REQUIRE", "force")
                    .env("DISPLAY", ":0")
            }
        };
        expression = expression.stdin_null().stdout_capture().stderr_capture().unchecked();
        let output = expression.run().expect("ssh runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// `ssh -F <seat>/ssh_config NODE COMMAND`: the instructor's config,
    /// the workers through the manager.
    fn ssh_config(&self, ssh: &Path, seat: u32, node: &str, command: &str) -> (i32, String, String) {
        let config = self.seat_dir(seat).join("ssh_config");
        let config = config.display().to_string();
        let args = ["-F", config.as_str(), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", node, command];
        let output = duct::cmd(ssh, args).stdin_null().stdout_capture().stderr_capture().unchecked().run().unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

/// `labctl ARGS` while every command line on this host is sampled: none may
/// hold a private key, nor `secret` (read after the run, when it is made by it).
fn watched(class: &Class, args: &[&str], secret: impl Fn() -> Option<String>) -> Run {
    let watch = ArgvWatch::start(|_| true);
    let run = class.labctl(args);
    let seen = watch.finish();
    let run = run.success();
    let keys: Vec<&String> = seen.iter().filter(|line| line.contains(PRIVATE_KEY_MARK)).collect();
    assert!(keys.is_empty(), "a private key was in a process's argv: {keys:?}");
    if let Some(secret) = secret() {
        assert!(!seen.iter().any(|line| line.contains(&secret)), "the password was in a process's argv");
        assert!(!run.stdout.contains(&secret) && !run.stderr.contains(&secret), "labctl printed the password");
    }
    assert!(!run.stdout.contains("PRIVATE KEY") && !run.stderr.contains("PRIVATE KEY"), "{run:?}");
    run
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|error| panic!("{}: {error}", path.display())).permissions().mode() & 0o777
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_students_log_in_to_their_own_seat_only_with_the_system_ssh_client() {
    require_e2e();
    let Some(ssh) = require_tool("ssh", "openssh-client") else { return };
    let class = Class { workspace: Workspace::new() };
    class.workspace.file("labctl.toml", &config("key"));
    // Seats left over by an interrupted run would make `up` a repair.
    class.labctl(&["destroy", "--seat", "all", "--yes"]);

    let up = watched(&class, &["up", "--seat", "all"], || None);
    assert!(
        up.stderr.contains("students log in on port 2331 (key): key pair made, sshd set up on 2 nodes"),
        "{}",
        up.stderr
    );
    assert!(up.stderr.contains("students log in on port 2332 (key)"), "{}", up.stderr);

    let roster = class.labctl(&["class", "roster"]).success();
    for seat in [1u32, 2] {
        let line = format!(
            "ssh -p {} -i .labctl/access/s{seat:02}/id_ed25519 -o HostKeyAlias={CLASS}-s{seat:02}-manager -o StrictHostKeyChecking=yes -o UserKnownHostsFile=.labctl/access/s{seat:02}/known_hosts -L 29130:localhost:9000 root@127.0.0.1",
            2330 + seat
        );
        assert!(roster.stdout.contains(&line), "{}", roster.stdout);
        // The line as printed logs in, checking the seat's real host key.
        let typed = duct::cmd("sh", ["-c", &format!("{line} -o BatchMode=yes -o ExitOnForwardFailure=no hostname")])
            .dir(class.workspace.path())
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&typed.stdout), "manager\n", "{}", String::from_utf8_lossy(&typed.stderr));
        let dir = class.seat_dir(seat);
        assert_eq!(mode(&dir), 0o700);
        for file in ["id_ed25519", "id_ed25519.pub", "known_hosts", "README.txt", "ssh_config"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
        let key = std::fs::read_to_string(dir.join("id_ed25519")).unwrap();
        assert!(class.workspace.read(&format!(".labctl/access/s{seat:02}/README.txt")).contains(key.trim()));
    }
    assert!(!roster.stdout.contains(PRIVATE_KEY_MARK) && !roster.stderr.contains(PRIVATE_KEY_MARK));

    // A student follows the handout on a computer that never saw the seat:
    // the key as ~/.ssh/labctl-s01, the handout's host key lines, then its
    // login line. With no line for the seat, ssh refuses instead of trusting.
    let handout = class.workspace.read(".labctl/access/s01/README.txt");
    let command = handout
        .lines()
        .skip_while(|line| !line.starts_with("3. Log in"))
        .find(|line| line.trim_start().starts_with("ssh "))
        .unwrap_or_else(|| panic!("{handout}"))
        .trim()
        .replace("root@127.0.0.1", "-o BatchMode=yes -o ExitOnForwardFailure=no root@127.0.0.1 hostname");
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".ssh")).unwrap();
    std::fs::copy(class.seat_dir(1).join("id_ed25519"), home.path().join(".ssh/labctl-s01")).unwrap();
    let student = |known_hosts: &str| {
        let file = home.path().join(".ssh/known_hosts");
        std::fs::write(&file, known_hosts).unwrap();
        // ssh reads ~/.ssh from the password database, not $HOME: name the file.
        let typed = command.replacen("ssh ", &format!("ssh -o UserKnownHostsFile={} ", file.display()), 1);
        duct::cmd("sh", ["-c", &typed])
            .env("HOME", home.path())
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .unwrap()
    };
    let first_login = student("");
    assert!(
        String::from_utf8_lossy(&first_login.stderr).contains("Host key verification failed"),
        "an unknown host key is refused: {first_login:?}"
    );
    let lines: String = handout
        .lines()
        .filter(|line| line.trim_start().starts_with(&format!("{CLASS}-s01-")) && line.contains(" ssh-ed25519 "))
        .map(|line| format!("{}\n", line.trim()))
        .collect();
    assert_eq!(lines.lines().count(), 2, "the handout's host key lines: {handout}");
    let logged_in = student(&lines);
    assert_eq!(String::from_utf8_lossy(&logged_in.stdout), "manager\n", "{logged_in:?}");
    assert_eq!(mode(&class.workspace.path().join(".labctl/access")), 0o700);

    // Each key opens its own seat, whose swarm is its own.
    let key = |seat: u32| class.seat_dir(seat).join("id_ed25519");
    let swarm_address = "docker info --format '{{.Swarm.NodeAddr}} {{.Swarm.Nodes}}'";
    let (code, stdout, stderr) = class.ssh(&ssh, 2331, 1, Some(&key(1)), swarm_address);
    assert_eq!((code, stdout.trim()), (0, "10.67.0.10 2"), "{stderr}");
    let (code, stdout, stderr) = class.ssh(&ssh, 2332, 2, Some(&key(2)), swarm_address);
    assert_eq!((code, stdout.trim()), (0, "10.67.1.10 2"), "{stderr}");
    let (code, stdout, stderr) = class.ssh(&ssh, 2331, 1, Some(&key(1)), "docker node ls --format '{{.Hostname}}'");
    assert_eq!((code, stdout.lines().count()), (0, 2), "{stdout}{stderr}");

    // Seat 1's key does not open seat 2.
    let (code, _, stderr) = class.ssh(&ssh, 2332, 2, Some(&key(1)), "true");
    assert_eq!(code, 255, "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");

    // The workers through the manager, every host key checked.
    let (code, stdout, stderr) =
        class.ssh_config(&ssh, 1, "node1", "hostname; docker info --format '{{.Swarm.NodeAddr}}'");
    assert_eq!((code, stdout.as_str()), (0, "node1\n10.67.0.11\n"), "{stderr}");

    // A login forwards to the seat's forwards and nodes only: not into the
    // server's networks (the seat's gateway, another seat's manager).
    let seat_config = class.seat_dir(1).join("ssh_config").display().to_string();
    for (target, allowed) in [("localhost:9000", true), ("10.67.0.1:22", false), ("10.67.1.10:22", false)] {
        let opened = duct::cmd(&ssh, ["-F", &seat_config, "-o", "BatchMode=yes", "-W", target, "manager"])
            .stdin_bytes(Vec::new())
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .unwrap();
        let stderr = String::from_utf8_lossy(&opened.stderr);
        assert_eq!(!stderr.contains("administratively prohibited"), allowed, "-W {target}: {stderr}");
    }

    // A restarted manager has no sshd running until `up` starts it again,
    // with the same host key.
    host_docker(&["restart", &format!("{CLASS}-s01-manager")]);
    let up = watched(&class, &["up", "--seat", "1"], || None);
    assert!(up.stderr.contains("sshd started on 1 node"), "{}", up.stderr);
    let (code, stdout, stderr) = class.ssh(&ssh, 2331, 1, Some(&key(1)), "hostname");
    assert_eq!((code, stdout.as_str()), (0, "manager\n"), "{stderr}");

    // A worker made anew (its container removed) keeps its host key on its volume.
    host_docker(&["rm", "--force", &format!("{CLASS}-s01-node1")]);
    let up = watched(&class, &["up", "--seat", "1"], || None);
    assert!(!up.stderr.contains("new SSH host keys"), "{}", up.stderr);
    assert!(up.stderr.contains("credential installed on 1 node"), "{}", up.stderr);
    let (code, stdout, stderr) = class.ssh_config(&ssh, 1, "node1", "hostname");
    assert_eq!((code, stdout.as_str()), (0, "node1\n"), "{stderr}");

    // Seat 2 switches to passwords: set with chpasswd from stdin, never in argv.
    class.workspace.file("labctl.toml", &config("password"));
    let password_file = class.seat_dir(2).join("password");
    let read_password = || std::fs::read_to_string(&password_file).ok().map(|text| text.trim().to_string());
    let up = watched(&class, &["up", "--seat", "2"], read_password);
    assert!(up.stderr.contains("students log in on port 2332 (password): password made"), "{}", up.stderr);
    let password = read_password().expect("a password for seat 2");
    assert_eq!(mode(&password_file), 0o600);
    let roster = class.labctl(&["class", "roster", "--seat", "2"]).success();
    assert!(!roster.stdout.contains(&password) && !roster.stderr.contains(&password), "{}", roster.stdout);
    assert!(
        roster.stdout.contains(&format!("ssh -p 2332 -o HostKeyAlias={CLASS}-s02-manager -o StrictHostKeyChecking=yes -o UserKnownHostsFile=.labctl/access/s02/known_hosts -L 29130:localhost:9000 root@127.0.0.1")),
        "{}",
        roster.stdout
    );
    assert!(class.workspace.read(".labctl/access/s02/README.txt").contains(&password));
    let (code, stdout, stderr) = class.ssh(&ssh, 2332, 2, None, "hostname");
    assert_eq!((code, stdout.as_str()), (0, "manager\n"), "{stderr}");
    let (code, _, stderr) = class.ssh(&ssh, 2332, 2, Some(&key(2)), "true");
    assert_eq!(code, 255, "labctl's key no longer opens a password seat: {stderr}");
}
