//! The rendered provisioning scripts, run for real against files in a
//! temporary folder (their `/etc/...` path variables are pointed there) and
//! with fake system tools (apt-get, dnf, systemctl, ufw, …) that record
//! their calls. Only basic tools from this host are reachable.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::support::{make_executable, Workspace};

/// Basic tools the scripts may use from this host.
const TOOLS: [&str; 16] = [
    "cat", "awk", "cmp", "rm", "mv", "cp", "chmod", "dirname", "mkdir", "grep", "sed", "seq", "sleep", "id", "sh",
    "bash",
];

struct Sandbox {
    root: TempDir,
    /// Rendered scripts of the default class (or the config given).
    rendered: Workspace,
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Sandbox {
    fn new(config: &str) -> Sandbox {
        let rendered = Workspace::new();
        rendered.file("labctl.toml", config);
        rendered.run(&["render"]).success();
        let sandbox = Sandbox { root: tempfile::tempdir().unwrap(), rendered };
        std::fs::create_dir_all(sandbox.bin()).unwrap();
        std::fs::create_dir_all(sandbox.tools()).unwrap();
        for tool in TOOLS {
            sandbox.link_tool(tool);
        }
        sandbox
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    fn bin(&self) -> PathBuf {
        self.path("bin")
    }

    fn tools(&self) -> PathBuf {
        self.path("tools")
    }

    fn link_tool(&self, tool: &str) {
        // The system's own binaries, not wrappers such as pyenv shims.
        let system = ["/usr/bin", "/bin"].iter().map(|dir| Path::new(dir).join(tool)).find(|path| path.exists());
        let real = system.unwrap_or_else(|| panic!("{tool} is needed by the provisioning tests (apt-get install it)"));
        std::os::unix::fs::symlink(real, self.tools().join(tool)).unwrap();
    }

    fn write(&self, relative: &str, content: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap_or_else(|error| panic!("{relative}: {error}"))
    }

    /// A fake program that records `name args…` in calls.log and then runs `body`.
    fn fake(&self, name: &str, body: &str) {
        let path = self.bin().join(name);
        let script = format!("#!/bin/sh\necho \"{name} $*\" >> '{}'\n{body}\n", self.path("calls.log").display());
        std::fs::write(&path, script).unwrap();
        make_executable(&path);
    }

    /// The recorded calls, without the `hostname` look-ups.
    fn calls(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.path("calls.log")).unwrap_or_default();
        log.lines().filter(|call| !call.starts_with("hostname")).map(String::from).collect()
    }

    /// Run a rendered script with `variable=/etc/...` lines pointed into the sandbox.
    fn run(&self, script: &str, paths: &[(&str, &str)]) -> Outcome {
        self.run_with(script, paths, &[])
    }

    /// [`Sandbox::run`] with arguments (the ssh provider passes the node's name).
    fn run_with(&self, script: &str, paths: &[(&str, &str)], args: &[&str]) -> Outcome {
        let mut text = self.rendered.read(&format!(".labctl/vagrant/provision/{script}"));
        for (variable, relative) in paths {
            let line =
                text.lines().find(|line| line.starts_with(&format!("{variable}="))).expect("path variable").to_string();
            text = text.replace(&line, &format!("{variable}={}", self.path(relative).display()));
        }
        let copy = self.path(script);
        std::fs::write(&copy, text).unwrap();
        let search_path = format!("{}:{}", self.bin().display(), self.tools().display());
        let argv: Vec<String> =
            std::iter::once(copy.display().to_string()).chain(args.iter().map(|arg| arg.to_string())).collect();
        let output = duct::cmd("/bin/bash", argv)
            .full_env([("PATH", search_path)])
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .unwrap();
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Outcome {
    #[track_caller]
    fn success(self) -> Outcome {
        assert_eq!(self.code, 0, "script failed:\n{}\n{}", self.stdout, self.stderr);
        self
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("invalid JSON ({error}):\n{text}"))
}

// --- /etc/hosts --------------------------------------------------------------

const HOSTS: &[(&str, &str)] = &[("hosts_file", "etc/hosts")];

#[test]
fn hosts_block_is_added_once_and_the_rest_kept() {
    let sandbox = Sandbox::new("");
    let original = "127.0.0.1 localhost\n127.0.2.1 manager manager\n::1 ip6-localhost\n";
    sandbox.write("etc/hosts", original);
    sandbox.run("10-hosts.sh", HOSTS).success();
    let hosts = sandbox.read("etc/hosts");
    let expected_block = "# labctl begin swarm-lab\n192.168.56.10 manager\n192.168.56.11 node1\n192.168.56.12 node2\n192.168.56.13 node3\n# labctl end swarm-lab\n";
    assert_eq!(hosts, format!("{original}{expected_block}"));

    let again = sandbox.run("10-hosts.sh", HOSTS).success();
    assert!(again.stdout.contains("already lists"), "{}", again.stdout);
    assert_eq!(sandbox.read("etc/hosts"), hosts);
}

#[test]
fn hosts_block_is_replaced_when_the_cluster_changes() {
    let sandbox = Sandbox::new("");
    sandbox.write("etc/hosts", "127.0.0.1 localhost\n");
    sandbox.run("10-hosts.sh", HOSTS).success();
    let bigger = Sandbox::new("[cluster]\nworkers = 4\n");
    bigger.write("etc/hosts", &sandbox.read("etc/hosts"));
    bigger.run("10-hosts.sh", HOSTS).success();
    let hosts = bigger.read("etc/hosts");
    assert_eq!(hosts.matches("# labctl begin swarm-lab").count(), 1, "{hosts}");
    assert!(hosts.contains("192.168.56.14 node4\n# labctl end swarm-lab\n"), "{hosts}");
    assert!(hosts.starts_with("127.0.0.1 localhost\n"));
}

// --- /etc/docker/daemon.json -------------------------------------------------

const DAEMON: &[(&str, &str)] = &[
    ("config", "etc/docker/daemon.json"),
    ("systemd_dir", "run/systemd/system"),
    ("docker_pid_file", "run/docker.pid"),
];
const DOCKER_ACTIVE: &str = "[ \"$1\" = is-active ] && exit 0; exit 0";

fn daemon_sandbox(config: &str, with_python: bool) -> Sandbox {
    let sandbox = Sandbox::new(config);
    if with_python {
        sandbox.link_tool("python3");
    }
    sandbox.fake("systemctl", DOCKER_ACTIVE);
    std::fs::create_dir_all(sandbox.path("run/systemd/system")).unwrap();
    sandbox
}

#[test]
fn daemon_json_is_created_with_exactly_the_registry() {
    let sandbox = daemon_sandbox("", true);
    sandbox.run("30-daemon-json.sh", DAEMON).success();
    assert_eq!(
        json(&sandbox.read("etc/docker/daemon.json")),
        serde_json::json!({"insecure-registries": ["manager:5000"]})
    );
    assert!(!sandbox.path("etc/docker/daemon.json.labctl.bak").exists());
    assert_eq!(sandbox.calls(), vec!["systemctl is-active --quiet docker", "systemctl reload docker"]);
}

#[test]
fn daemon_json_is_merged_backed_up_and_left_alone_when_current() {
    let sandbox = daemon_sandbox("[registry]\nmirror = \"https://mirror.example.test\"\n", true);
    let mine = r#"{"log-driver": "json-file", "insecure-registries": ["other:5000"]}"#;
    sandbox.write("etc/docker/daemon.json", mine);
    sandbox.run("30-daemon-json.sh", DAEMON).success();
    assert_eq!(
        json(&sandbox.read("etc/docker/daemon.json")),
        serde_json::json!({
            "log-driver": "json-file",
            "insecure-registries": ["other:5000", "manager:5000"],
            "registry-mirrors": ["https://mirror.example.test"],
        })
    );
    assert_eq!(sandbox.read("etc/docker/daemon.json.labctl.bak"), mine);
    assert_eq!(sandbox.calls().iter().filter(|call| call.as_str() == "systemctl reload docker").count(), 1);

    let again = sandbox.run("30-daemon-json.sh", DAEMON).success();
    assert!(again.stdout.contains("already allows manager:5000"), "{}", again.stdout);
    assert_eq!(
        sandbox.calls().iter().filter(|call| call.as_str() == "systemctl reload docker").count(),
        1,
        "no second reload"
    );
    assert_eq!(sandbox.read("etc/docker/daemon.json.labctl.bak"), mine, "the first backup stays");
}

#[test]
fn without_systemd_the_running_dockerd_is_told_to_reload() {
    // A machine without systemd (WSL, a container): dockerd re-reads the
    // registries on SIGHUP. A stand-in that records the signal it gets.
    let sandbox = Sandbox::new("");
    sandbox.link_tool("python3");
    let marker = sandbox.path("got-hup");
    let stand_in = duct::cmd("sh", ["-c", "trap 'touch \"$1\"; exit 0' HUP; while :; do sleep 0.05; done", "dockerd"])
        .before_spawn({
            let marker = marker.clone();
            move |command| {
                command.arg(&marker);
                Ok(())
            }
        })
        .stdout_null()
        .start()
        .unwrap();
    let pid = stand_in.pids()[0];
    sandbox.write("run/docker.pid", &pid.to_string());
    sandbox.fake("systemctl", "echo 'System has not been booted with systemd' >&2; exit 1");
    let outcome = sandbox.run("30-daemon-json.sh", DAEMON).success();
    assert!(outcome.stdout.contains(&format!("told dockerd (pid {pid}) to reload")), "{}", outcome.stdout);
    stand_in.wait().unwrap();
    assert!(marker.exists(), "dockerd got no SIGHUP");
    assert!(sandbox.calls().is_empty(), "systemctl is not used without systemd: {:?}", sandbox.calls());
}

#[test]
fn invalid_daemon_json_is_reported_and_not_touched() {
    let sandbox = daemon_sandbox("", true);
    sandbox.write("etc/docker/daemon.json", "{ broken");
    let outcome = sandbox.run("30-daemon-json.sh", DAEMON);
    assert_ne!(outcome.code, 0);
    assert!(outcome.stderr.contains("is not valid JSON"), "{}", outcome.stderr);
    assert_eq!(sandbox.read("etc/docker/daemon.json"), "{ broken");
    assert!(sandbox.calls().is_empty());
}

#[test]
fn without_python_a_new_daemon_json_is_still_written() {
    let sandbox = daemon_sandbox("[registry]\nmirror = \"https://mirror.example.test\"\n", false);
    sandbox.run("30-daemon-json.sh", DAEMON).success();
    assert_eq!(
        json(&sandbox.read("etc/docker/daemon.json")),
        serde_json::json!({"insecure-registries": ["manager:5000"], "registry-mirrors": ["https://mirror.example.test"]})
    );
}

#[test]
fn without_python_an_existing_daemon_json_is_not_clobbered() {
    let sandbox = daemon_sandbox("", false);
    sandbox.write("etc/docker/daemon.json", r#"{"debug": true}"#);
    let outcome = sandbox.run("30-daemon-json.sh", DAEMON);
    assert_ne!(outcome.code, 0);
    assert!(
        outcome.stderr.contains("add \"insecure-registries\": [\"manager:5000\"] to it by hand"),
        "{}",
        outcome.stderr
    );
    assert_eq!(sandbox.read("etc/docker/daemon.json"), r#"{"debug": true}"#);
}

#[test]
fn a_python3_without_its_json_module_is_no_python_to_merge_with() {
    // python3-minimal (minimal cloud images): `import json` fails.
    let sandbox = daemon_sandbox("", false);
    sandbox.fake("python3", "echo \"ModuleNotFoundError: No module named 'json'\" >&2; exit 1");
    sandbox.write("etc/docker/daemon.json", r#"{"debug": true}"#);
    let outcome = sandbox.run("30-daemon-json.sh", DAEMON);
    assert_ne!(outcome.code, 0);
    assert!(outcome.stderr.contains("there is no python3 (with its json module) to merge it"), "{}", outcome.stderr);
    assert_eq!(sandbox.read("etc/docker/daemon.json"), r#"{"debug": true}"#);
}

#[test]
fn no_registry_and_no_mirror_leaves_daemon_json_alone() {
    let sandbox = daemon_sandbox("[registry]\nenabled = false\n", true);
    sandbox.run("30-daemon-json.sh", DAEMON).success();
    assert!(!sandbox.path("etc/docker/daemon.json").exists());
}

// --- firewall -------------------------------------------------------------------

const FIREWALL: &[(&str, &str)] = &[("ufw_defaults", "etc/default/ufw"), ("record", "var/lib/labctl/firewall")];

fn firewall_sandbox(hostname: &str) -> Sandbox {
    let sandbox = Sandbox::new("");
    sandbox.fake("hostname", &format!("echo {hostname}"));
    sandbox.write("etc/default/ufw", "IPV6=yes\nDEFAULT_FORWARD_POLICY=\"DROP\"\n");
    sandbox
}

#[test]
fn active_ufw_opens_the_swarm_ports_and_allows_forwarding() {
    let sandbox = firewall_sandbox("manager");
    sandbox.fake("ufw", "[ \"$1\" = status ] && echo 'Status: active'; exit 0");
    sandbox.run("40-firewall.sh", FIREWALL).success();
    let calls = sandbox.calls();
    for rule in ["2377/tcp", "7946/tcp", "7946/udp", "4789/udp", "5000/tcp"] {
        assert!(calls.contains(&format!("ufw allow {rule}")), "{rule} not opened: {calls:#?}");
    }
    assert!(calls.contains(&"ufw allow proto esp from any to any".to_string()));
    assert_eq!(calls.last().map(String::as_str), Some("ufw reload"));
    assert_eq!(sandbox.read("etc/default/ufw"), "IPV6=yes\nDEFAULT_FORWARD_POLICY=\"ACCEPT\"\n");
}

#[test]
fn ufw_rules_labctl_adds_are_recorded_once_and_rules_there_before_are_not() {
    let sandbox = firewall_sandbox("manager");
    // ufw as it answers: a rule it has is skipped.
    let rules = sandbox.path("ufw-rules");
    sandbox.write("ufw-rules", "2377/tcp\n");
    sandbox.fake(
        "ufw",
        &format!(
            "rules='{}'\ncase $1 in status) echo 'Status: active' ;; allow) shift; rule=\"$*\"; if grep -qxF -- \"$rule\" \"$rules\"; then echo 'Skipping adding existing rule'; else echo \"$rule\" >> \"$rules\"; echo 'Rule added'; echo 'Rule added (v6)'; fi ;; esac",
            rules.display()
        ),
    );
    sandbox.run("40-firewall.sh", FIREWALL).success();
    sandbox.run("40-firewall.sh", FIREWALL).success();
    assert_eq!(
        sandbox.read("var/lib/labctl/firewall"),
        "ufw 7946/tcp\nufw 7946/udp\nufw 4789/udp\nufw 5000/tcp\nufw-esp\nufw-forward-policy DROP\n"
    );
}

#[test]
fn the_registry_port_is_opened_only_on_the_registry_node() {
    let sandbox = firewall_sandbox("node1");
    sandbox.fake("ufw", "[ \"$1\" = status ] && echo 'Status: active'; exit 0");
    sandbox.run("40-firewall.sh", FIREWALL).success();
    assert!(!sandbox.calls().contains(&"ufw allow 5000/tcp".to_string()));
    assert!(sandbox.calls().contains(&"ufw allow 2377/tcp".to_string()));
}

#[test]
fn a_machine_named_otherwise_is_told_which_node_it_is() {
    // The ssh provider's machines keep their own hostnames.
    let sandbox = firewall_sandbox("lab-pc-07");
    sandbox.fake("ufw", "[ \"$1\" = status ] && echo 'Status: active'; exit 0");
    sandbox.run_with("40-firewall.sh", FIREWALL, &["manager"]).success();
    assert!(sandbox.calls().contains(&"ufw allow 5000/tcp".to_string()), "{:?}", sandbox.calls());
}

#[test]
fn running_firewalld_gets_permanent_ports_and_a_reload() {
    let sandbox = firewall_sandbox("manager");
    // 2377/tcp is open already: left as it is, and not recorded as labctl's.
    sandbox
        .fake("firewall-cmd", "case \"$*\" in *--query-port=2377/tcp*) exit 0 ;; *--query-*) exit 1 ;; esac; exit 0");
    sandbox.run("40-firewall.sh", FIREWALL).success();
    let calls = sandbox.calls();
    assert_eq!(calls[0], "firewall-cmd --state");
    assert!(!calls.contains(&"firewall-cmd --quiet --permanent --add-port=2377/tcp".to_string()), "{calls:#?}");
    assert_eq!(
        sandbox.read("var/lib/labctl/firewall"),
        "firewalld 7946/tcp\nfirewalld 7946/udp\nfirewalld 4789/udp\nfirewalld 5000/tcp\nfirewalld-esp\n",
        "what it added, for destroy to take back"
    );
    assert!(calls.contains(&"firewall-cmd --quiet --permanent --add-port=4789/udp".to_string()), "{calls:#?}");
    assert!(calls.contains(&"firewall-cmd --quiet --permanent --add-protocol=esp".to_string()));
    assert_eq!(calls.last().map(String::as_str), Some("firewall-cmd --quiet --reload"));
}

#[test]
fn inactive_firewalls_are_left_alone() {
    let sandbox = firewall_sandbox("manager");
    sandbox.fake("ufw", "echo 'Status: inactive'");
    sandbox.fake("firewall-cmd", "echo 'not running'; exit 252");
    let outcome = sandbox.run("40-firewall.sh", FIREWALL).success();
    assert!(outcome.stdout.contains("no active ufw or firewalld; nothing to open"), "{}", outcome.stdout);
    assert_eq!(sandbox.calls(), vec!["ufw status", "firewall-cmd --state"]);
    assert!(sandbox.read("etc/default/ufw").contains("\"DROP\""));
}

// --- Docker Engine ----------------------------------------------------------------

const DOCKER: &[(&str, &str)] = &[("os_release", "etc/os-release"), ("systemd_dir", "run/systemd/system")];

/// A package manager whose install of a Docker package puts fake docker/dockerd on PATH.
fn package_manager(sandbox: &Sandbox, name: &str, docker_package: &str) {
    let bin = sandbox.bin();
    let docker = "#!/bin/sh\\necho 24.0.7\\n";
    let body = format!(
        "case \" $* \" in *' {docker_package} '*) for p in docker dockerd; do printf '{docker}' > '{bin}/'$p; chmod +x '{bin}/'$p; done ;; esac",
        bin = bin.display()
    );
    sandbox.fake(name, &body);
}

fn docker_sandbox(os_release: &str) -> Sandbox {
    let sandbox = Sandbox::new("");
    sandbox.write("etc/os-release", os_release);
    sandbox.fake("systemctl", "exit 0");
    std::fs::create_dir_all(sandbox.path("run/systemd/system")).unwrap();
    sandbox
}

#[test]
fn without_systemd_docker_is_started_with_its_init_script_when_it_does_not_answer() {
    let sandbox = docker_sandbox("ID=debian\n");
    std::fs::remove_dir_all(sandbox.path("run/systemd")).unwrap();
    let started = sandbox.path("started");
    sandbox.fake(
        "docker",
        &format!(
            "case $1 in info) [ -e '{0}' ] ;; version) echo 20.10.24 ;; *) echo 'Docker version 20.10.24' ;; esac",
            started.display()
        ),
    );
    sandbox.fake("dockerd", "exit 0");
    sandbox.fake("service", &format!(": > '{}'", started.display()));
    let outcome = sandbox.run("20-docker.sh", DOCKER).success();
    let calls: Vec<String> = sandbox.calls().into_iter().filter(|call| !call.starts_with("docker")).collect();
    assert_eq!(calls, ["service docker start"]);
    assert!(outcome.stdout.contains("Docker 20.10.24 is running"), "{}", outcome.stdout);

    // Already running: left alone.
    std::fs::remove_file(sandbox.path("calls.log")).unwrap();
    sandbox.run("20-docker.sh", DOCKER).success();
    assert!(!sandbox.calls().iter().any(|call| call.starts_with("service")), "{:?}", sandbox.calls());
}

#[test]
fn docker_already_installed_is_not_installed_again() {
    let sandbox = docker_sandbox("ID=ubuntu\n");
    sandbox.fake("docker", "echo 'Docker version 24.0.7'");
    sandbox.fake("dockerd", "exit 0");
    let outcome = sandbox.run("20-docker.sh", DOCKER).success();
    assert!(outcome.stdout.contains("Docker is already installed"), "{}", outcome.stdout);
    assert!(!sandbox.calls().iter().any(|call| call.starts_with("apt-get") || call.starts_with("dnf")));
}

#[test]
fn ubuntu_gets_docker_io_from_the_distribution() {
    let sandbox = docker_sandbox("ID=ubuntu\nID_LIKE=debian\nPRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\n");
    package_manager(&sandbox, "apt-get", "docker.io");
    let outcome = sandbox.run("20-docker.sh", DOCKER).success();
    let calls = sandbox.calls();
    assert_eq!(calls[0..2], ["apt-get update -q".to_string(), "apt-get install -y -q docker.io".to_string()]);
    assert!(calls.contains(&"systemctl enable --now docker".to_string()), "{calls:#?}");
    assert!(outcome.stdout.contains("is running"), "{}", outcome.stdout);
}

#[test]
fn rocky_gets_docker_ce_from_dockers_repository() {
    let sandbox = docker_sandbox("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nPRETTY_NAME=\"Rocky Linux 9.3\"\n");
    package_manager(&sandbox, "dnf", "docker-ce");
    sandbox.run("20-docker.sh", DOCKER).success();
    let calls = sandbox.calls();
    assert!(
        calls.contains(
            &"dnf config-manager --add-repo https://download.docker.com/linux/centos/docker-ce.repo".to_string()
        ),
        "{calls:#?}"
    );
    assert!(
        calls.contains(&"dnf -y -q install docker-ce docker-ce-cli containerd.io docker-compose-plugin".to_string())
    );
}

#[test]
fn an_unknown_distribution_fails_with_advice() {
    let sandbox = docker_sandbox("ID=alpine\n");
    let outcome = sandbox.run("20-docker.sh", DOCKER);
    assert_eq!(outcome.code, 1);
    assert!(outcome.stderr.contains("use a Debian/Ubuntu or RHEL-family box"), "{}", outcome.stderr);
}

// --- The handouts' tools -----------------------------------------------------

const TOOLS_PATHS: &[(&str, &str)] =
    &[("os_release", "etc/os-release"), ("completion", "usr/share/bash-completion/bash_completion")];

#[test]
fn missing_handout_tools_are_installed_from_the_distribution() {
    let sandbox = docker_sandbox("ID=ubuntu\nID_LIKE=debian\n");
    sandbox.fake("apt-get", "exit 0");
    let outcome = sandbox.run("50-tools.sh", TOOLS_PATHS).success();
    assert!(outcome.stdout.contains("installing the handouts' tools (missing: curl tree vim"), "{}", outcome.stdout);
    assert_eq!(
        sandbox.calls(),
        [
            "apt-get update -q",
            "apt-get install -y -q --no-install-recommends curl tree vim bash bash-completion util-linux openssh-server openssh-client"
        ]
    );

    let rocky = docker_sandbox("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n");
    rocky.fake("dnf", "exit 0");
    rocky.run("50-tools.sh", TOOLS_PATHS).success();
    assert_eq!(
        rocky.calls(),
        ["dnf -y -q install curl tree vim-enhanced bash bash-completion util-linux openssh-server openssh"]
    );
}

#[test]
fn handout_tools_already_there_are_not_installed_again() {
    let sandbox = docker_sandbox("ID=ubuntu\n");
    for tool in ["curl", "tree", "vim", "nsenter", "sshd", "ssh-keygen"] {
        sandbox.fake(tool, "exit 0");
    }
    sandbox.write("usr/share/bash-completion/bash_completion", "");
    let outcome = sandbox.run("50-tools.sh", TOOLS_PATHS).success();
    assert!(outcome.stdout.contains("the handouts' tools are installed"), "{}", outcome.stdout);
    assert!(sandbox.calls().is_empty(), "{:?}", sandbox.calls());

    let alpine = docker_sandbox("ID=alpine\n");
    let outcome = alpine.run("50-tools.sh", TOOLS_PATHS);
    assert_eq!(outcome.code, 1);
    assert!(
        outcome.stderr.contains("cannot install curl tree vim nsenter sshd ssh-keygen bash-completion on 'alpine '"),
        "{}",
        outcome.stderr
    );
}
