//! A small builder around a temporary workspace and the labctl binary.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

pub struct Workspace {
    dir: TempDir,
    bin: TempDir,
}

/// What one run of labctl left behind.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "labctl failed:\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    /// The run failed with exactly one `error:` line (the contract for bad input); returns it.
    #[track_caller]
    pub fn single_error(self) -> String {
        assert_eq!(self.code, 1, "expected failure, got {self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one error line, got:\n{}", self.stderr);
        assert!(lines[0].starts_with("error: "), "{}", self.stderr);
        assert!(!self.stderr.contains("panicked") && !self.stderr.contains("Error {"), "{}", self.stderr);
        lines[0].trim_start_matches("error: ").to_string()
    }
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace { dir: tempfile::tempdir().expect("temp dir"), bin: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, relative: &str, content: &str) -> &Workspace {
        let path = self.dir.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    /// What `labctl doctor` (and `up`, for routes) reads as this host's
    /// /proc and /dev (LABCTL_HOST_ROOT): a roomy x86 host with VT-x and
    /// IPVS, no /dev/kvm, routes to 192.0.2.0/24 on eth0 and the default
    /// route, the same on every machine.
    pub fn host_root(&self) -> PathBuf {
        let root = self.bin.path().join("host-root");
        if !root.exists() {
            let proc = root.join("proc");
            std::fs::create_dir_all(proc.join("net")).unwrap();
            std::fs::write(proc.join("meminfo"), "MemTotal: 33554432 kB\nMemAvailable: 16777216 kB\n").unwrap();
            std::fs::write(proc.join("cpuinfo"), "processor\t: 0\nflags\t\t: fpu sse2 vmx\n").unwrap();
            std::fs::write(proc.join("modules"), "ip_vs 184320 0 - Live 0x0\n").unwrap();
            std::fs::write(
                proc.join("net/route"),
                "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n",
            )
            .unwrap();
            self.host_route("eth0", "0.0.0.0/0");
            self.host_route("eth0", "192.0.2.0/24");
        }
        root
    }

    /// Add a route to `network` (e.g. "192.168.56.0/24") through `interface`
    /// to the fake host's /proc/net/route, written as the kernel writes it.
    pub fn host_route(&self, interface: &str, network: &str) -> &Workspace {
        let (address, prefix) = network.split_once('/').expect("a network with its prefix length");
        let address: std::net::Ipv4Addr = address.parse().unwrap();
        let prefix: u32 = prefix.parse().unwrap();
        let mask = std::net::Ipv4Addr::from(u32::MAX.checked_shl(32 - prefix).unwrap_or(0));
        let hex = |address: std::net::Ipv4Addr| format!("{:08X}", u32::from_ne_bytes(address.octets()));
        let line = format!("{interface}\t{}\t00000000\t0001\t0\t0\t0\t{}\t0\t0\t0\n", hex(address), hex(mask));
        let path = self.host_root().join("proc/net/route");
        let mut routes = std::fs::read_to_string(&path).unwrap();
        routes.push_str(&line);
        std::fs::write(path, routes).unwrap();
        self
    }

    /// Where labctl remembers workspaces in tests (LABCTL_DATA_DIR).
    pub fn data_dir(&self) -> PathBuf {
        self.bin.path().join("data")
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(relative)).unwrap_or_else(|error| panic!("{relative}: {error}"))
    }

    /// Put a shell script named `name` first on PATH. It appends its
    /// arguments to `calls.log` in the bin folder, then runs `body`.
    pub fn fake_program(&self, name: &str, body: &str) -> &Workspace {
        let path = self.bin.path().join(name);
        let log = self.bin.path().join("calls.log");
        let script = format!("#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> '{}'\n{body}\n", log.display());
        std::fs::write(&path, script).unwrap();
        make_executable(&path);
        self
    }

    /// Make one of this host's programs available to the fakes.
    pub fn link_host_tool(&self, name: &str) {
        let real = ["/usr/bin", "/bin"].iter().map(|dir| Path::new(dir).join(name)).find(|path| path.exists());
        let real = real.unwrap_or_else(|| panic!("{name} is needed by the tests"));
        std::os::unix::fs::symlink(real, self.bin.path().join(name)).unwrap();
    }

    pub fn calls(&self) -> String {
        std::fs::read_to_string(self.bin.path().join("calls.log")).unwrap_or_default()
    }

    /// Run with the fakes first and then this host's real PATH (end-to-end tests).
    pub fn run_with_host_tools(&self, args: &[&str]) -> Run {
        self.run_with_host_tools_and(args, &[])
    }

    /// Run with the fakes, this host's real PATH and these variables.
    pub fn run_with_host_tools_and(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut path = self.bin.path().as_os_str().to_owned();
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        let output = self.expression(args, &path, env).run().expect("labctl runs");
        Run::from(output)
    }

    /// `labctl exec NODE -- sh -c SCRIPT` with this host's tools (end-to-end
    /// tests); panics unless it succeeds, returns its stdout.
    pub fn node_script(&self, node: &str, script: &str) -> String {
        let run = self.run_with_host_tools(&["exec", node, "--", "sh", "-c", script]);
        assert_eq!(run.code, 0, "{script} failed on {node}:\n{}\n{}", run.stdout, run.stderr);
        run.stdout
    }

    pub fn run(&self, args: &[&str]) -> Run {
        // Only the fakes: the tests must not depend on what this host has installed.
        self.run_with_path(args, self.bin.path().as_os_str())
    }

    /// Run labctl (fakes only on PATH) from `relative`, a folder inside the workspace.
    pub fn run_in(&self, relative: &str, args: &[&str]) -> Run {
        let dir = self.dir.path().join(relative);
        std::fs::create_dir_all(&dir).unwrap();
        // duct applies the innermost setting last: this folder, not the workspace.
        let command = duct::cmd(env!("CARGO_BIN_EXE_labctl"), args).dir(dir);
        Run::from(self.set_up(command, self.bin.path().as_os_str(), &[]).run().expect("labctl runs"))
    }

    fn run_with_path(&self, args: &[&str], path: &std::ffi::OsStr) -> Run {
        let output = self.expression(args, path, &[]).run().expect("labctl runs");
        Run::from(output)
    }

    /// Start labctl in the background with the fakes and this host's PATH.
    pub fn start_with_host_tools(&self, args: &[&str]) -> duct::Handle {
        let mut path = self.bin.path().as_os_str().to_owned();
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        self.expression(args, &path, &[]).start().expect("labctl starts")
    }

    /// Start labctl in the background (fakes only on PATH).
    pub fn start(&self, args: &[&str]) -> duct::Handle {
        self.expression(args, self.bin.path().as_os_str(), &[]).start().expect("labctl starts")
    }

    fn expression(&self, args: &[&str], path: &std::ffi::OsStr, env: &[(&str, &str)]) -> duct::Expression {
        self.set_up(duct::cmd(env!("CARGO_BIN_EXE_labctl"), args), path, env)
    }

    /// `command` (labctl, or a program that runs it) in this workspace.
    fn set_up(&self, mut command: duct::Expression, path: &std::ffi::OsStr, env: &[(&str, &str)]) -> duct::Expression {
        // duct applies the innermost setting last, so the test's own values go first.
        for (key, value) in env {
            command = command.env(key, value);
        }
        command
            .dir(self.dir.path())
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .env("LABCTL_VBOX_NETWORKS_CONF", self.dir.path().join("networks.conf"))
            .env("LABCTL_HOST_ROOT", self.host_root())
            .env("LABCTL_DATA_DIR", self.data_dir())
            // Each workspace locks its clusters on its own, so tests never wait on each other.
            .env("LABCTL_LOCK_DIR", self.dir.path())
            .env_remove("LABCTL_NODE_IMAGE")
            .env_remove("LABCTL_LOCK_WAIT")
            .env_remove("LABCTL_TIMEOUT_SCALE")
            // With CI set, anstream colours a terminal even under TERM=dumb
            // (CI logs show colour); the tests describe a user's terminal.
            .env_remove("CI")
            .stdin_null()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
    }

    /// Start labctl in the background (fakes only on PATH) with one more variable.
    pub fn start_with_env(&self, args: &[&str], key: &str, value: &str) -> duct::Handle {
        self.expression(args, self.bin.path().as_os_str(), &[(key, value)]).start().expect("labctl starts")
    }

    pub fn with_env(&self, args: &[&str], key: &str, value: &str) -> Run {
        self.with_envs(args, &[(key, value)])
    }

    /// Run with these environment variables set (an empty value counts as unset for labctl).
    pub fn with_envs(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let output = self.expression(args, self.bin.path().as_os_str(), env).run().expect("labctl runs");
        Run::from(output)
    }

    /// Run on a pseudo-terminal (util-linux `script`) with these variables
    /// (NO_COLOR=1 unless they say otherwise), as a user at a terminal
    /// would; stdout and stderr arrive mixed, in `stdout`. `None` (the test skipped, saying why) without `script`.
    pub fn in_terminal(&self, args: &[&str], env: &[(&str, &str)]) -> Option<Run> {
        let script = require_tool("script", "bsdutils")?;
        let line: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_labctl"))
            .chain(args.iter().copied())
            .map(|word| format!("'{word}'"))
            .collect();
        let command = duct::cmd(script, ["-qec", &line.join(" "), "/dev/null"]);
        let output = self.set_up(command, self.bin.path().as_os_str(), env).run().expect("script runs");
        Some(Run::from(output))
    }
}

impl From<std::process::Output> for Run {
    fn from(output: std::process::Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A real tool the test needs. CI installs them all, so there a missing tool
/// fails the test; elsewhere the test is skipped with the reason printed.
pub fn require_tool(name: &str, package: &str) -> Option<PathBuf> {
    match which::which(name) {
        Ok(path) => Some(path),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("{name} is missing: apt-get install {package}")
        }
        Err(_) => {
            eprintln!("SKIPPED: {name} is not installed (apt-get install {package}); `bash scripts/test` installs it");
            None
        }
    }
}

/// Every file under `dir`, in its subfolders too; none when it cannot be read.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .flat_map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// A TCP port that nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap().local_addr().unwrap().port()
}

/// The end-to-end tests are `#[ignore]`d with the reason, so that a run
/// without them names each one and why (`… ignored, end-to-end: …`);
/// `bash scripts/test` runs them as root with `--include-ignored` and
/// LABCTL_E2E=1. Asked for without that setting, one fails saying how to
/// set it up rather than pass without running.
pub fn require_e2e() {
    if std::env::var("LABCTL_E2E").as_deref() != Ok("1") {
        panic!(
            "end-to-end tests need Docker and the offline images: as root, `bash scripts/test` runs them all; \
             or `bash scripts/test-images && bash scripts/test-lab-images && LABCTL_E2E=1 cargo test -- --include-ignored e2e`"
        );
    }
}

/// What a docker-in-docker container the tests start themselves (a second
/// engine, an ssh machine) is given where this host refuses --privileged:
/// every capability it can grant, as labctl's docker provider does.
pub const EXPLICIT_CAPABILITIES: [&str; 14] = [
    "--cap-add",
    "ALL",
    "--cap-drop",
    "SYS_RESOURCE",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--security-opt",
    "systempaths=unconfined",
    "--device-cgroup-rule",
    "a *:* rwm",
    "--volume",
    "/sys/fs/cgroup:/sys/fs/cgroup:rw",
];

/// `docker …` on this host; panics with its output when it fails.
pub fn host_docker(args: &[&str]) -> String {
    let output = duct::cmd("docker", args).stdout_capture().stderr_capture().unchecked().run().expect("docker runs");
    assert!(output.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `docker …` on this host whose failure is fine (cleanup); its stdout.
pub fn quiet_docker(args: &[&str]) -> String {
    let output = duct::cmd("docker", args).stdout_capture().stderr_null().unchecked().run().expect("docker runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A docker-provider cluster of the offline test images for one end-to-end
/// test, with its own name and subnet (192.168.`octet`.0/24) so that tests
/// run side by side; destroyed however the test ends.
pub struct E2eCluster {
    pub workspace: Workspace,
    pub name: String,
    /// How it is removed: `destroy --yes`, with `--seat all` for a class.
    destroy: &'static [&'static str],
    /// Variables every labctl run gets (e.g. `INCUS_CONF`).
    env: Vec<(String, String)>,
}

impl E2eCluster {
    pub fn new(name: &str, octet: u8) -> E2eCluster {
        E2eCluster::configured(name, octet, "", "")
    }

    /// Like [`E2eCluster::new`], with more `[cluster]` keys (e.g. "workers = 1\n").
    pub fn with_cluster_keys(name: &str, octet: u8, keys: &str) -> E2eCluster {
        E2eCluster::configured(name, octet, keys, "")
    }

    /// A cluster whose labctl.toml has `extra` (whole tables) at its end.
    pub fn with_config(name: &str, octet: u8, extra: &str) -> E2eCluster {
        E2eCluster::configured(name, octet, "", extra)
    }

    fn configured(name: &str, octet: u8, keys: &str, extra: &str) -> E2eCluster {
        let workspace = Workspace::new();
        let config = format!(
            "[cluster]\n{keys}name = \"{name}\"\nprovider = \"docker\"\nsubnet = \"192.168.{octet}.0/24\"\nmanager_ip = \"192.168.{octet}.10\"\nworker_ip_start = \"192.168.{octet}.11\"\n\n[[forward]]\nhost = {}\nguest = 9000\n\n[registry]\nimage = \"labctl-test/registry:2\"\n\n[docker]\nnode_image = \"labctl-test/node:bookworm\"\n{extra}",
            free_port()
        );
        workspace.file("labctl.toml", &config);
        E2eCluster::written(workspace, name, &["destroy", "--yes"], Vec::new())
    }

    /// A class named `name` whose whole labctl.toml is `config` (its own
    /// subnets and host ports); every seat destroyed however the test ends.
    pub fn class(name: &str, config: &str) -> E2eCluster {
        E2eCluster::class_with_env(name, config, &[])
    }

    /// Like [`E2eCluster::class`], with `env` in every labctl run.
    pub fn class_with_env(name: &str, config: &str, env: &[(&str, &str)]) -> E2eCluster {
        let workspace = Workspace::new();
        workspace.file("labctl.toml", config);
        let env = env.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect();
        E2eCluster::written(workspace, name, &["destroy", "--seat", "all", "--yes"], env)
    }

    fn written(
        workspace: Workspace,
        name: &str,
        destroy: &'static [&'static str],
        env: Vec<(String, String)>,
    ) -> E2eCluster {
        let cluster = E2eCluster { workspace, name: name.to_string(), destroy, env };
        // A cluster left over by an interrupted run would make `up` a repair.
        cluster.labctl(cluster.destroy);
        cluster
    }

    pub fn labctl(&self, args: &[&str]) -> Run {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(key, value)| (key.as_str(), value.as_str())).collect();
        self.workspace.run_with_host_tools_and(args, &env)
    }

    /// `sh -c script` as root on `node`; panics unless it exits 0.
    pub fn exec(&self, node: &str, script: &str) -> String {
        let run = self.labctl(&["exec", node, "--", "sh", "-c", script]);
        assert_eq!(run.code, 0, "{script} failed on {node}:\n{}\n{}", run.stdout, run.stderr);
        run.stdout
    }

    /// The host's name for a node's container.
    pub fn container(&self, node: &str) -> String {
        format!("{}-{node}", self.name)
    }
}

impl Drop for E2eCluster {
    fn drop(&mut self) {
        self.labctl(self.destroy);
    }
}

/// Samples every process's command line (/proc/*/cmdline, which on this
/// host includes every process inside the node containers) every 20 ms and
/// keeps the distinct ones that `keep` accepts: a secret must be in none.
pub struct ArgvWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    samples: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    thread: std::thread::JoinHandle<std::collections::BTreeSet<String>>,
}

impl ArgvWatch {
    pub fn start(keep: fn(&[u8]) -> bool) -> ArgvWatch {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let samples = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (stop_flag, counter) = (stop.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            while !stop_flag.load(Ordering::Relaxed) {
                seen.extend(command_lines(keep));
                counter.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            seen
        });
        ArgvWatch { stop, samples, thread }
    }

    /// Stop sampling; the command lines seen that `keep` accepted.
    pub fn finish(self) -> Vec<String> {
        use std::sync::atomic::Ordering;
        self.stop.store(true, Ordering::Relaxed);
        let seen = self.thread.join().expect("the sampler does not panic");
        assert!(self.samples.load(Ordering::Relaxed) >= 5, "the sampler barely ran");
        seen.into_iter().collect()
    }
}

fn command_lines(keep: fn(&[u8]) -> bool) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().bytes().all(|byte| byte.is_ascii_digit()))
        // A process may end between the listing and the read.
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|argv| keep(argv))
        .map(|argv| String::from_utf8_lossy(&argv).replace('\0', " "))
        .collect()
}

/// A fork bomb that `program prefix…` runs on a node (`docker exec C`,
/// `incus exec …`), killed after `seconds` with all it forked: started in
/// the background, output dropped.
pub fn fork_bomb(program: &str, prefix: &[&str], seconds: u32) -> duct::Handle {
    let seconds = seconds.to_string();
    let bomb = ["timeout", "-s", "KILL", &seconds, "bash", "-c", "b() { b | b & }; b; wait"];
    let args: Vec<&str> = prefix.iter().copied().chain(bomb).collect();
    duct::cmd(program, args).stdout_null().stderr_null().unchecked().start().expect("the bomb starts")
}
