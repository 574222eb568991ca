//! The docker provider: each node is a docker-in-docker container named
//! `<cluster>-<node>` on the bridge network `labctl-<cluster>`, with the
//! node's hostname, static IP and short name as a network alias. Nodes are
//! found through labels, never through a state file.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};

use super::cache;
use super::engine_facts::EngineFacts;
use super::node_image::NodeImage;
use super::{
    bounded, on_node_within, Isolation, Machine, NodeChange, NodeIo, NodesPlan, Preparation, Provider, ProviderKind,
    ProviderSteps, TaggedShell, SHELL_TAG, STATE_DIR,
};
use crate::config::{Cluster, Engine, Node, Role};
use crate::exec::{CommandSpec, Runner};
use crate::parallel::in_parallel;
use crate::templates::Templates;
use crate::timeouts::{Timeouts, Wait};
use crate::ui::Ui;

use super::docker_cli::DockerCli;
use super::labels::{
    another_workspace, foreign_workspace, network_name, CLASS_LABEL, CLUSTER_LABEL, NODE_LABEL, ROLE_LABEL, SEAT_LABEL,
    WORKSPACE_LABEL,
};

/// How long a node's dockerd may take to answer after its container starts
/// (on a normal host; scaled by `LABCTL_TIMEOUT_SCALE`).
const DOCKERD_DEADLINE: Duration = Duration::from_secs(60);
/// Asks a node's Docker until it answers (its arguments in its header).
const WAIT_FOR_DOCKER_SCRIPT: &str = "node/wait-for-docker.sh.tera";

/// Everything `--privileged` gives a node, as explicit flags, for hosts
/// whose Docker cannot grant every capability ("unable to apply caps"):
/// all capabilities but the ones it lacks, and the same confinement off.
const EXPLICIT_CAPABILITIES: [&str; 12] = [
    "--cap-add",
    "ALL",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--security-opt",
    "systempaths=unconfined",
    "--device-cgroup-rule",
    "a *:* rwm",
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup:rw",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Security {
    Privileged,
    /// The explicit set, without these capabilities (e.g. `SYS_RESOURCE`).
    ExplicitCapabilities(Vec<String>),
}

/// Linux capability names by number (capability.h), for `--cap-drop`.
const CAPABILITY_NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The classic capabilities every Docker release knows by name (up to
/// CAP_AUDIT_READ); newer ones (PERFMON, BPF, …) are not in older releases'
/// `ALL`, and their names would be refused by `--cap-drop`.
const CLASSIC_CAPABILITIES: usize = 38;

/// Whether `engine` is the dockerd of this machine, whose capabilities
/// /proc shows: not a `[[class.engines]]` engine (even a unix socket may be
/// another dockerd, e.g. one in a container), not a remote DOCKER_HOST,
/// not a docker context other than the default one.
/// A root login shell in the home directory, in UTF-8, so that Korean typed
/// at the prompt shows as typed (the node image sets no locale; C.UTF-8 is
/// in every glibc).
fn login_shell() -> Vec<String> {
    let login = "if command -v bash >/dev/null; then exec bash -l; else exec sh -l; fi";
    let locale = "export LANG=\"${LANG:-C.UTF-8}\"";
    vec!["sh".to_string(), "-c".to_string(), format!("cd; {locale}; {login}")]
}

pub fn engine_is_this_machines(engine: &Engine) -> bool {
    let set = |name: &str| crate::exec::env_var(name);
    let remote_host = set("DOCKER_HOST").is_some_and(|host| !host.starts_with("unix://"));
    let context = set("DOCKER_CONTEXT").or_else(current_docker_context);
    !engine.is_configured() && !remote_host && context.is_none_or(|context| context == "default")
}

/// `currentContext` of the docker CLI's config (`docker context use`).
fn current_docker_context() -> Option<String> {
    let dir = crate::exec::env_var("DOCKER_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| crate::exec::env_var("HOME").map(|home| std::path::Path::new(&home).join(".docker")))?;
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    config.get("currentContext")?.as_str().filter(|context| !context.is_empty()).map(String::from)
}

/// Classic capabilities the local dockerd cannot grant (missing from its
/// bounding set), when `engine` is the dockerd of this machine and /proc
/// shows it; `None` when that cannot be told (a remote engine, another
/// namespace): then the first node start tries `--privileged` and falls
/// back on the engine's refusal.
fn capabilities_dockerd_lacks(engine: &Engine) -> Option<Vec<String>> {
    if !engine_is_this_machines(engine) {
        return None;
    }
    let last: usize = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok()?.trim().parse().ok()?;
    // The rootful dockerd: a rootless one beside it (another user's) runs
    // in a user namespace whose capabilities say nothing of this engine's.
    let status = std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        if comm.trim() != "dockerd" {
            return None;
        }
        let status = std::fs::read_to_string(entry.path().join("status")).ok()?;
        let root = status
            .lines()
            .any(|line| line.strip_prefix("Uid:").is_some_and(|ids| ids.split_whitespace().next() == Some("0")));
        root.then_some(status)
    })?;
    let bounding = status.lines().find_map(|line| line.strip_prefix("CapBnd:"))?;
    let bits = u64::from_str_radix(bounding.trim(), 16).ok()?;
    Some(
        (0..=last.min(CLASSIC_CAPABILITIES - 1))
            .filter(|bit| bits & (1 << bit) == 0)
            .map(|bit| CAPABILITY_NAMES[bit].to_string())
            .collect(),
    )
}

pub struct DockerProvider<'a> {
    cluster: &'a Cluster<'a>,
    runner: &'a dyn Runner,
    /// Decided by the first container start of this run.
    security: OnceLock<Security>,
    /// What the seat's engine says it can do, asked once before nodes are made.
    facts: OnceLock<EngineFacts>,
}

impl<'a> DockerProvider<'a> {
    pub fn new(cluster: &'a Cluster<'a>, runner: &'a dyn Runner) -> Self {
        DockerProvider { cluster, runner, security: OnceLock::new(), facts: OnceLock::new() }
    }

    /// What the seat's engine can do for its nodes (asked once a run).
    pub fn facts(&self) -> &EngineFacts {
        self.facts.get_or_init(|| EngineFacts::read(&self.engine(), self.runner))
    }

    /// `docker ARGS` on the seat's engine, within the limit of its kind; a read is a probe.
    fn docker(&self, args: &[&str], purpose: &str, wait: Wait) -> CommandSpec {
        self.engine().of_kind(wait, args, purpose)
    }

    fn engine(&self) -> DockerCli {
        DockerCli::on(self.cluster.engine(), self.cluster.timeouts())
    }

    pub fn container(&self, node: &str) -> String {
        format!("{}-{node}", self.cluster.name())
    }

    /// The volume that keeps a node's /var/lib/docker: its swarm state.
    fn docker_volume(&self, node: &str) -> String {
        format!("{}-{node}-docker", self.cluster.name())
    }

    /// The directories that hold what students wrote and labctl's records
    /// of it, each with the named volume that keeps it on `node`: the lab
    /// root, labctl's state directory, and every lab target outside both.
    /// On volumes they outlive the container (`docker rm`, a prune), so a
    /// recreated node gets its students' work back, not pristine files.
    fn data_volumes(&self, node: &str) -> Vec<(String, String)> {
        let name = |what: &str| format!("{}-{node}-{what}", self.cluster.name());
        let mut volumes =
            vec![(name("work"), self.cluster.labs_root().to_string()), (name("labctl"), STATE_DIR.to_string())];
        for (lab, target) in self.cluster.lab_targets() {
            let target = target.trim_end_matches('/');
            let covered = volumes.iter().any(|(_, dir)| target == dir || target.starts_with(&format!("{dir}/")));
            if !covered {
                volumes.push((name(&format!("lab-{lab}")), target.to_string()));
            }
        }
        volumes
    }

    pub fn network(&self) -> String {
        network_name(self.cluster)
    }

    fn cluster_filter(&self) -> String {
        format!("label={CLUSTER_LABEL}={}", self.cluster.name())
    }

    /// What a seat's container, network and volumes carry besides the
    /// cluster label: the class and the seat number (none for a single
    /// cluster), so that a whole class is found by one filter.
    fn seat_labels(&self) -> Vec<String> {
        let seat = self.cluster.seat_of_class();
        match seat.is_only() {
            true => Vec::new(),
            false => {
                vec![format!("{CLASS_LABEL}={}", self.cluster.class_name()), format!("{SEAT_LABEL}={}", seat.number)]
            }
        }
    }

    /// The command that creates the cluster network, when there is none;
    /// an error when one of that name has another subnet.
    fn plan_network(&self) -> Result<Option<CommandSpec>> {
        let network = self.network();
        let inspect = self.docker(
            &["network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", &network],
            "look for the cluster network",
            Wait::Read,
        );
        let found = self.runner.run(&inspect)?;
        let subnet = self.cluster.subnet().to_string();
        if found.success() {
            if found.stdout.split_whitespace().any(|existing| existing == subnet) {
                return Ok(None);
            }
            bail!(
                "docker network {network} has subnet {}, but labctl.toml says {subnet}; run `labctl destroy` first to recreate it",
                found.stdout.trim()
            );
        }
        let gateway = self.cluster.subnet().hosts().next().expect("validated subnets have hosts").to_string();
        let create = self
            .docker(
                &["network", "create", "--driver", "bridge", "--subnet", &subnet, "--gateway", &gateway],
                "create the cluster network",
                Wait::Change,
            )
            .args(["--label".to_string(), format!("{CLUSTER_LABEL}={}", self.cluster.name())])
            .args(self.seat_labels().into_iter().flat_map(|label| ["--label".to_string(), label]))
            .arg(network);
        Ok(Some(create))
    }

    /// Make this seat's network when it does not exist yet (the class
    /// cache is created on the first seat's before any seat comes up).
    pub fn ensure_network(&self) -> Result<()> {
        match self.plan_network()? {
            Some(create) => self.create_network(&create),
            None => Ok(()),
        }
    }

    fn create_network(&self, create: &CommandSpec) -> Result<()> {
        let created = self.runner.run(create)?;
        if !created.success() && created.stderr.contains("Pool overlaps") {
            bail!(
                "cannot create docker network {}: {} overlaps a network this host already has (a VirtualBox host-only adapter or another docker network); remove it or pick another [cluster] subnet",
                self.network(),
                self.cluster.subnet()
            );
        }
        created.checked(create).map(|_| ())
    }

    /// `docker run` for one node from `image`, with the given security flags.
    fn run_command(&self, node: &Node, image: &str, security: Security) -> Result<CommandSpec> {
        let cluster = &self.cluster.name();
        let role = match node.role {
            Role::Manager => "manager",
            Role::Worker => "worker",
        };
        // Long: a given node image may have to be pulled first.
        let mut spec = self.docker(&["run", "--detach"], &format!("start node {}", node.name), Wait::Long).args([
            "--name".to_string(),
            self.container(&node.name),
            "--hostname".into(),
            node.name.clone(),
            "--network".into(),
            self.network(),
            "--ip".into(),
            node.ip.to_string(),
            "--network-alias".into(),
            node.name.clone(),
            "--label".into(),
            format!("{CLUSTER_LABEL}={cluster}"),
            "--label".into(),
            format!("{NODE_LABEL}={}", node.name),
            "--label".into(),
            format!("{ROLE_LABEL}={role}"),
        ]);
        if let Some(workspace) = self.cluster.workspace().to_str().filter(|path| !path.is_empty()) {
            spec = spec.args(["--label".to_string(), format!("{WORKSPACE_LABEL}={workspace}")]);
        }
        spec = spec.args(self.seat_labels().into_iter().flat_map(|label| ["--label".to_string(), label]));
        let volumes = std::iter::once((self.docker_volume(&node.name), "/var/lib/docker".to_string()))
            .chain(self.data_volumes(&node.name));
        for (volume, dir) in volumes {
            spec = spec.args(["--mount".to_string(), self.mount(&volume, &dir)]);
        }
        // docker:dind would otherwise generate TLS certificates and listen on 2376.
        spec = spec.args(["--env", "DOCKER_TLS_CERTDIR="]);
        spec = spec.args(self.limits(node));
        spec = match security {
            Security::Privileged => spec.arg("--privileged"),
            Security::ExplicitCapabilities(lacking) => spec
                .args(EXPLICIT_CAPABILITIES)
                .args(lacking.iter().flat_map(|capability| ["--cap-drop".to_string(), capability.clone()])),
        };
        if let Some((_, port)) = self.cluster.student_access().filter(|_| node.role == Role::Manager) {
            // The students' way in: the seat's SSH server, on the address
            // `[class] ssh_bind` stands for (see `listen`).
            let bind = super::listen::url_host(&super::listen::students_bind(self.cluster)?.0.to_string());
            spec = spec.args(["--publish".to_string(), format!("{bind}:{port}:22/tcp")]);
        }
        for forward in self.cluster.forwards_to(&node.name) {
            // Loopback only: the visualizer exposes the docker socket.
            spec = spec.args([
                "--publish".to_string(),
                format!("127.0.0.1:{}:{}/{}", forward.host, forward.guest, forward.protocol),
            ]);
        }
        Ok(spec.arg(image).args(self.dockerd_command()))
    }

    /// The flags that keep one node from starving the others: its memory,
    /// CPUs and processes, where the engine can apply them (see
    /// [`DockerProvider::note_missing_limits`]), and always the size of its
    /// log (dockerd's output; the containers inside are limited by
    /// [`DockerProvider::dockerd_command`]).
    fn limits(&self, node: &Node) -> Vec<String> {
        let facts = self.facts();
        let mut flags = vec!["--log-driver".to_string(), "json-file".to_string()];
        flags.extend(self.log_limits().into_iter().flat_map(|option| ["--log-opt".to_string(), option]));
        if facts.memory_limit {
            let memory = format!("{}m", node.memory_mb);
            // Where the engine can, no swap beyond it: a hog is stopped, not swapped.
            if facts.swap_limit {
                flags.extend(["--memory-swap".to_string(), memory.clone()]);
            }
            flags.extend(["--memory".to_string(), memory]);
        }
        if facts.cpu_limit {
            // Docker refuses more CPUs than the engine's host has.
            let cpus = match facts.cpus {
                0 => node.cpus,
                engine => node.cpus.min(engine),
            };
            flags.extend(["--cpus".to_string(), cpus.to_string()]);
        }
        if facts.pids_limit {
            flags.extend(["--pids-limit".to_string(), node.pids.to_string()]);
        }
        flags
    }

    /// A log's size and count, as `--log-opt` values (the node's and, as
    /// the inner dockerd's default, each of its containers').
    fn log_limits(&self) -> [String; 2] {
        [format!("max-size={}m", self.cluster.log_mb()), "max-file=2".to_string()]
    }

    /// Say once, before nodes are made, which limits the seat's engine
    /// cannot apply: one seat could then starve the others of them.
    fn note_missing_limits(&self, ui: &Ui) {
        let facts = self.facts();
        let missing = facts.missing_limits();
        if missing.is_empty() {
            return;
        }
        let why = match (facts.rootless, facts.cgroup_v2) {
            (true, false) => " (a rootless engine on a cgroup v1 host has no cgroups of its own)",
            (true, true) => " (a rootless engine whose user was given no cgroup controllers: systemd's Delegate=)",
            _ => "",
        };
        ui.note_once(&format!(
            "{} cannot limit each node's {} use{why}: one seat can starve the others of it; [resources] applies on a rootful engine or a rootless one on cgroup v2",
            self.cluster.engine().in_words(),
            missing.join(", ")
        ));
    }

    /// `--mount` for the named volume `volume` at `dir`, labelled with the
    /// cluster when docker creates it (so `destroy` finds it). The value is
    /// CSV: a directory with a comma or quote is written as a quoted field.
    fn mount(&self, volume: &str, dir: &str) -> String {
        let destination = format!("dst={dir}");
        let destination = if destination.contains([',', '"']) {
            format!("\"{}\"", destination.replace('"', "\"\""))
        } else {
            destination
        };
        let labels: String = self.seat_labels().iter().map(|label| format!(",volume-label={label}")).collect();
        format!("type=volume,src={volume},{destination},volume-label={CLUSTER_LABEL}={}{labels}", self.cluster.name())
    }

    fn dockerd_command(&self) -> Vec<String> {
        let mut command = vec![
            "dockerd".to_string(),
            "--host=unix:///var/run/docker.sock".into(),
            "--storage-driver=overlay2".into(),
        ];
        // The containers students run inside a node: their logs stay small too.
        command.extend(self.log_limits().iter().map(|option| format!("--log-opt={option}")));
        // An engine without cgroups (rootless on cgroup v1) gives its nodes
        // none to make: the node's dockerd runs its containers without them,
        // as dockerd does for "rootful dockerd in rootless dockerd".
        if self.facts().no_cgroups {
            command.push("--rootless".into());
        }
        if let Some(registry) = self.cluster.registry() {
            command.push(format!("--insecure-registry={}", registry.address()));
        }
        // The class cache first: dockerd asks the mirrors in order, then
        // Docker Hub itself, so a configured mirror is the cache's fallback.
        if let Some(cache) = self.cluster.cache_endpoint() {
            command.push(format!("--insecure-registry={cache}"));
            command.push(format!("--registry-mirror=http://{cache}"));
        }
        if let Some(mirror) = self.cluster.registry_mirror() {
            command.push(format!("--registry-mirror={mirror}"));
        }
        command
    }

    /// Nodes whose container runs dockerd with other flags than labctl.toml
    /// gives now (a class cache or mirror set after they were created), with
    /// what differs. A container's command is fixed when it is created, so
    /// only recreating it applies the new one; `None` when Docker cannot
    /// tell (the probe is best effort: the nodes still come up).
    fn outdated_daemons(&self, nodes: &[&Node]) -> Vec<(String, String)> {
        if nodes.is_empty() {
            return Vec::new();
        }
        let format =
            format!("{{{{index .Config.Labels \"{NODE_LABEL}\"}}}}{{{{range .Config.Cmd}}}}\t{{{{.}}}}{{{{end}}}}");
        let inspect = self
            .docker(&["inspect", "--format", &format], "read the nodes' dockerd flags", Wait::Read)
            .args(nodes.iter().map(|node| self.container(&node.name)));
        let Ok(output) = self.runner.run(&inspect) else { return Vec::new() };
        if !output.success() {
            return Vec::new();
        }
        let wanted = self.dockerd_command();
        output
            .stdout
            .lines()
            .filter_map(|line| {
                let mut words = line.split('\t');
                let node = words.next()?.to_string();
                let current: Vec<&str> = words.collect();
                let missing: Vec<&str> =
                    wanted.iter().map(String::as_str).filter(|flag| !current.contains(flag)).collect();
                let dropped: Vec<&str> =
                    current.iter().copied().filter(|flag| !wanted.iter().any(|want| want == flag)).collect();
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("without {}", missing.join(" ")));
                }
                if !dropped.is_empty() {
                    parts.push(format!("still with {}", dropped.join(" ")));
                }
                (!parts.is_empty()).then(|| (node, parts.join(", ")))
            })
            .collect()
    }

    /// The note for nodes whose dockerd flags are outdated: what differs and
    /// how to recreate them on their kept volumes.
    fn outdated_note(&self, outdated: &[(String, String)]) -> String {
        let nodes: Vec<&str> = outdated.iter().map(|(node, _)| node.as_str()).collect();
        let remove = self
            .docker(&["rm", "--force"], "remove the outdated nodes", Wait::Change)
            .args(nodes.iter().map(|node| self.container(node)));
        let seat = self.cluster.seat_of_class();
        let up = if seat.is_only() { "labctl up".to_string() } else { format!("labctl up --seat {}", seat.number) };
        let differences: Vec<String> = outdated.iter().map(|(node, what)| format!("{node} {what}")).collect();
        format!(
            "{} of {} run dockerd with older flags than labctl.toml gives ({}): a container keeps the command it was created with. Nothing is changed; to recreate them on their kept volumes (swarm state, lab folders and labctl's records stay; anything else in the container is lost): `{remove}`, then `{up}`",
            nodes.join(", "),
            self.cluster.name(),
            differences.join("; ")
        )
    }

    /// Decide the security flags before starting nodes when the local
    /// dockerd's capabilities show that `--privileged` cannot work.
    fn decide_security(&self, ui: &Ui) {
        // A rootless engine grants every capability of its own user
        // namespace: --privileged works there, whatever this host's /proc says.
        if self.facts().rootless {
            let _ = self.security.set(Security::Privileged);
            return;
        }
        if let Some(lacking) = capabilities_dockerd_lacks(self.cluster.engine()).filter(|lacking| !lacking.is_empty()) {
            ui.note_once(&format!(
                "Docker here cannot grant CAP_{} (so --privileged would fail); starting nodes with an explicit capability set instead",
                lacking.join(", CAP_")
            ));
            let _ = self.security.set(Security::ExplicitCapabilities(lacking));
        }
    }

    /// Start one node's container, choosing the security flags on the first
    /// start of this run: `--privileged`, or where the host refuses it, the
    /// explicit capability set.
    fn create_node(&self, node: &Node, image: &str, ui: &Ui) -> Result<()> {
        if let Some(security) = self.security.get() {
            return self.runner.run_checked(&self.run_command(node, image, security.clone())?).map(|_| ());
        }
        let privileged = self.run_command(node, image, Security::Privileged)?;
        let output = self.runner.run(&privileged)?;
        if output.success() {
            let _ = self.security.set(Security::Privileged);
            return Ok(());
        }
        if !output.stderr.contains("unable to apply caps") {
            return output.checked(&privileged).map(|_| ());
        }
        let refuses = match self.cluster.engine().is_configured() {
            true => format!("{} refuses", self.cluster.engine().describe()),
            false => "this host refuses".to_string(),
        };
        ui.note_once(&format!(
            "{refuses} --privileged (unable to apply caps); starting nodes with an explicit capability set instead"
        ));
        self.remove_containers(&[self.container(&node.name)])?;
        let fallback = Security::ExplicitCapabilities(vec!["SYS_RESOURCE".into()]);
        let _ = self.security.set(fallback.clone());
        self.runner.run_checked(&self.run_command(node, image, fallback)?).map(|_| ())
    }

    fn remove_containers(&self, containers: &[String]) -> Result<()> {
        if containers.is_empty() {
            return Ok(());
        }
        let spec =
            self.docker(&["rm", "--force", "--volumes"], "remove node containers", Wait::Change).args(containers);
        self.runner.run_checked(&spec).map(|_| ())
    }

    /// Wait until `node`'s dockerd answers, polling inside the container
    /// with `script` (node/wait-for-docker.sh).
    fn wait_for_dockerd(&self, node: &str, script: &str) -> Result<()> {
        let deadline = self.cluster.timeouts().scaled(DOCKERD_DEADLINE);
        if super::docker_answers(self, self.runner, node, script, deadline) {
            return Ok(());
        }
        let logs = self.docker(&["logs", "--tail", "8", &self.container(node)], "read the node's log", Wait::Read);
        let tail = self.runner.run(&logs).map(|output| output.tail(8)).unwrap_or_default();
        Err(anyhow!("node {node}: Docker did not answer within {}s; its last log lines: {tail}", deadline.as_secs()))
    }

    /// (node, state) of each node container of the cluster, once sure that
    /// they are this workspace's (see [`foreign_workspace`]).
    fn list_containers(&self) -> Result<Vec<(String, String)>> {
        Ok(self.containers()?.into_iter().map(|container| (container.node, container.state)).collect())
    }

    /// The cluster's node containers (ID, node, state), once sure they are
    /// this workspace's: another workspace's cluster of the same name is an
    /// error naming both folders.
    fn containers(&self) -> Result<Vec<NodeContainer>> {
        let format = format!(
            "{{{{.Label \"{NODE_LABEL}\"}}}}\t{{{{.State}}}}\t{{{{.Label \"{WORKSPACE_LABEL}\"}}}}\t{{{{.ID}}}}"
        );
        let spec = self.docker(
            &["ps", "--all", "--filter", &self.cluster_filter(), "--format", &format],
            "list the node containers",
            Wait::Read,
        );
        let output = self.runner.run_checked(&spec)?;
        let rows: Vec<Vec<&str>> = output.stdout.lines().map(|line| line.split('\t').collect()).collect();
        let made_from = rows.iter().filter_map(|row| row.get(2).copied());
        if let Some(other) = foreign_workspace(made_from, self.cluster.workspace()) {
            let what = format!("cluster {}", self.cluster.name());
            bail!("{}", another_workspace(&what, "its nodes were made", &other, self.cluster));
        }
        Ok(rows
            .iter()
            .filter_map(|row| match row[..] {
                [node, state, ..] => Some(NodeContainer {
                    id: row.get(3).copied().unwrap_or_default().to_string(),
                    node: node.to_string(),
                    state: state.to_string(),
                }),
                _ => None,
            })
            .collect())
    }

    /// Names of the cluster's volumes or networks (`kind`).
    fn labelled(&self, kind: &str) -> Result<Vec<String>> {
        let spec = self.docker(
            &[kind, "ls", "--quiet", "--filter", &self.cluster_filter()],
            &format!("list the cluster's {kind}s"),
            Wait::Read,
        );
        Ok(self.runner.run_checked(&spec)?.stdout.split_whitespace().map(String::from).collect())
    }
}

/// One node container of the cluster, as `docker ps` lists it.
struct NodeContainer {
    id: String,
    node: String,
    state: String,
}

/// What the docker provider's part of a [`NodesPlan`] runs.
#[derive(Debug)]
pub(super) struct Steps {
    create_network: Option<CommandSpec>,
    /// `docker start` of the stopped nodes.
    start: Option<CommandSpec>,
    image: NodeImage,
    /// `docker build` of labctl's node image, when it is not on this host.
    build: Option<CommandSpec>,
    /// The nodes whose container is created.
    create: Vec<String>,
    /// The node script that waits until a node's dockerd answers.
    wait_script: String,
}

impl Provider for DockerProvider<'_> {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Docker
    }

    fn isolation(&self) -> Isolation {
        self.facts().isolation()
    }

    fn placement(&self, _machines: &[Machine]) -> Option<String> {
        Some(self.cluster.engine().name.clone())
    }

    fn forwards_here(&self) -> bool {
        engine_is_this_machines(self.cluster.engine())
    }

    fn prepare(&self, _templates: &Templates) -> Result<Option<Preparation>> {
        Ok(None)
    }

    fn plan_nodes(&self, ui: &Ui, templates: &Templates) -> Result<NodesPlan> {
        let existing = self.list_containers()?;
        let create_network = self.plan_network()?;
        let state_of =
            |node: &Node| existing.iter().find(|(name, _)| name == &node.name).map(|(_, state)| state.to_string());
        let states: Vec<(&Node, Option<String>)> =
            self.cluster.nodes().iter().map(|node| (node, state_of(node))).collect();
        let volumes = match states.iter().any(|(_, state)| state.is_none()) {
            true => self.labelled("volume")?,
            false => Vec::new(),
        };
        let changes: Vec<(String, NodeChange)> = states
            .iter()
            .map(|(node, state)| {
                let change = match state.as_deref() {
                    Some("running") => NodeChange::AlreadyRunning,
                    Some(_) => NodeChange::Started,
                    None if volumes.contains(&self.docker_volume(&node.name)) => NodeChange::Recreated,
                    None => NodeChange::Created,
                };
                (node.name.clone(), change)
            })
            .collect();
        let nodes_that = |wanted: &dyn Fn(NodeChange) -> bool| -> Vec<&Node> {
            self.cluster
                .nodes()
                .iter()
                .zip(&changes)
                .filter(|(_, (_, change))| wanted(*change))
                .map(|(node, _)| node)
                .collect()
        };
        let existing_nodes = nodes_that(&|change| matches!(change, NodeChange::AlreadyRunning | NodeChange::Started));
        let outdated = self.outdated_daemons(&existing_nodes);
        let to_start = nodes_that(&|change| change == NodeChange::Started);
        let to_create = nodes_that(&|change| matches!(change, NodeChange::Created | NodeChange::Recreated));

        let start = (!to_start.is_empty()).then(|| {
            let names: Vec<String> = to_start.iter().map(|node| self.container(&node.name)).collect();
            self.docker(&["start"], "start the stopped nodes", Wait::Change).args(names)
        });
        // Only a new container needs the image (a stopped one keeps its own).
        let image = NodeImage::for_cluster(self.cluster, templates)?;
        let build = match to_create.is_empty() {
            true => None,
            false => {
                self.note_missing_limits(ui);
                self.decide_security(ui);
                image.build_command(self.cluster.engine(), self.runner, &self.cluster.timeouts())?
            }
        };
        let security = self.security.get().cloned().unwrap_or(Security::Privileged);
        let runs = to_create
            .iter()
            .map(|node| self.run_command(node, image.name(), security.clone()))
            .collect::<Result<Vec<_>>>()?;
        let commands = create_network.iter().chain(&start).chain(&build).cloned().chain(runs).collect();
        let mut notes: Vec<String> = build.iter().map(|_| image.build_note()).collect();
        if !outdated.is_empty() {
            notes.push(self.outdated_note(&outdated));
        }
        let create = to_create.iter().map(|node| node.name.clone()).collect();
        let wait_script = templates.node_script(WAIT_FOR_DOCKER_SCRIPT)?;
        let steps = Steps { create_network, start, image, build, create, wait_script };
        Ok(NodesPlan { changes, notes, commands, steps: ProviderSteps::Docker(Box::new(steps)) })
    }

    fn bring_up(&self, plan: &NodesPlan, ui: &Ui) -> Result<()> {
        let ProviderSteps::Docker(steps) = &plan.steps else {
            bail!("internal error: the docker provider was given another provider's plan")
        };
        if let Some(create) = &steps.create_network {
            self.create_network(create)?;
        }
        if let Some(start) = &steps.start {
            self.runner.run_checked(start)?;
        }
        if let Some(build) = &steps.build {
            steps.image.build(build, self.cluster.engine(), self.runner, &self.cluster.timeouts())?;
        }
        let to_create: Vec<&Node> =
            self.cluster.nodes().iter().filter(|node| steps.create.contains(&node.name)).collect();
        // Unless already decided, the first creation decides the security
        // flags; the rest start together.
        let (first, rest) = match self.security.get() {
            Some(_) => (&[][..], &to_create[..]),
            None => to_create.split_at(to_create.len().min(1)),
        };
        let image = steps.image.name();
        in_parallel(first, |node| self.create_node(node, image, ui))?;
        in_parallel(rest, |node| self.create_node(node, image, ui))?;
        // Running nodes too: an earlier `up` cut short may have started a
        // container whose dockerd has not answered yet.
        let waiting = self.cluster.nodes().names();
        in_parallel(&waiting, |node| self.wait_for_dockerd(node, &steps.wait_script))?;
        Ok(())
    }

    fn machines(&self) -> Result<Vec<Machine>> {
        Ok(Machine::for_nodes(self.cluster.nodes(), &self.list_containers()?, "missing"))
    }

    fn timeouts(&self) -> Timeouts {
        self.cluster.timeouts()
    }

    fn node_command(&self, node: &str, argv: &[String], io: NodeIo, limit: Option<Duration>) -> CommandSpec {
        let flags: &[&str] = match io {
            NodeIo::Captured => &[],
            NodeIo::Stdin => &["--interactive"],
            NodeIo::Terminal => &["--interactive", "--tty"],
        };
        let spec = self
            .engine()
            .unbounded(&["exec"], &format!("run a command on {node}"))
            .args(flags.iter().copied())
            .arg(self.container(node))
            .args(on_node_within(argv, limit));
        bounded(spec, limit)
    }

    fn daemon_log(&self, node: &str) -> CommandSpec {
        // dockerd is the container's main process: its log is the container's.
        self.docker(
            &["logs", "--tail", "5000", &self.container(node)],
            &format!("read {node}'s Docker log"),
            Wait::Read,
        )
    }

    fn shell_command(&self, node: &str) -> CommandSpec {
        // The user's own shell: no limit (see `RealRunner::run_interactive`).
        self.node_command(node, &login_shell(), NodeIo::Terminal, None)
    }

    /// Docker does not end an exec when its client goes (moby#9098): the
    /// shell, and whatever runs in its foreground, would stay on the node.
    /// The shell carries `LABCTL_SHELL=tag` in its environment (its children
    /// inherit it; the lab's containers, started by dockerd, do not), and
    /// `hang_up` sends each process that carries it SIGHUP, as sshd does to
    /// its session, then ends the shell itself if it is still there.
    fn tagged_shell(&self, node: &str, tag: &str, templates: &Templates) -> Result<TaggedShell> {
        let open = self
            .engine()
            .unbounded(&["exec"], &format!("open a shell on {node}"))
            .args(["--interactive", "--tty", "--env"])
            .arg(format!("{SHELL_TAG}={tag}"))
            .arg(self.container(node))
            .args(login_shell());
        Ok(TaggedShell { open, hang_up: Some(super::hang_up(self, node, tag, templates)?) })
    }

    fn stop(&self) -> Result<usize> {
        let running: Vec<String> = self
            .list_containers()?
            .into_iter()
            .filter(|(_, state)| state == "running")
            .map(|(node, _)| self.container(&node))
            .collect();
        if !running.is_empty() {
            let spec = self.docker(&["stop", "--time", "10"], "stop the nodes", Wait::Change).args(running.clone());
            self.runner.run_checked(&spec)?;
        }
        Ok(running.len())
    }

    fn destroy(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        // Never another workspace's nodes, though they carry this name.
        let containers: Vec<String> =
            self.containers()?.into_iter().map(|container| container.id).filter(|id| !id.is_empty()).collect();
        if !containers.is_empty() {
            self.remove_containers(&containers)?;
            removed.push(format!("{} containers", containers.len()));
        }
        let volumes = self.labelled("volume")?;
        if !volumes.is_empty() {
            let spec = self.docker(&["volume", "rm"], "remove the nodes' volumes", Wait::Change).args(volumes.clone());
            self.runner.run_checked(&spec)?;
            removed.push(format!("{} volumes", volumes.len()));
        }
        let networks = self.labelled("network")?;
        if !networks.is_empty() {
            // The class cache is on the seat's network too: off it first.
            cache::leave(self.cluster, self.runner)?;
            let spec =
                self.docker(&["network", "rm"], "remove the cluster network", Wait::Change).args(networks.clone());
            self.runner.run_checked(&spec)?;
            removed.push(format!("network {}", self.network()));
        }
        // The class cache, shared by the class's seats, is the destroy
        // command's to remove once every seat it destroys is gone.
        Ok(removed)
    }
}

/// For tests: this host's Docker answers that the default cluster's four node
/// containers run on its network (`test_settings("")`).
#[cfg(test)]
pub(crate) fn answer_running_cluster(runner: &crate::exec::fake::RecordingRunner) {
    let running: String = ["manager", "node1", "node2", "node3"].map(|node| format!("{node}\trunning\n")).concat();
    runner.always("docker ps --all --filter label=labctl.cluster=swarm-lab --format", 0, &running, "");
    runner.always("docker network inspect", 0, "192.168.56.0/24 ", "");
    runner.always(
        "docker info --format",
        0,
        r#"{"CgroupDriver":"cgroupfs","CgroupVersion":"1","MemoryLimit":true}"#,
        "",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{test_cluster, test_settings};
    use crate::exec::fake::RecordingRunner;
    use crate::ui::Verbosity;

    fn templates() -> Templates {
        Templates::load(std::path::Path::new("/nonexistent")).unwrap()
    }

    /// Plan bringing the nodes up and carry the plan out; returns what each node took.
    fn plan_and_bring_up(provider: &DockerProvider) -> Result<Vec<(String, NodeChange)>> {
        let ui = Ui::new(Verbosity::Quiet);
        let plan = provider.plan_nodes(&ui, &templates())?;
        provider.bring_up(&plan, &ui)?;
        Ok(plan.changes)
    }

    /// The `--mount` values of every `docker run` that started `node`.
    fn mounts_of(runner: &RecordingRunner, node: &str) -> Vec<String> {
        run_values(runner, node, "--mount")
    }

    /// The values of `flag` in the last `docker run` of container `node`.
    fn run_values(runner: &RecordingRunner, node: &str, flag: &str) -> Vec<String> {
        let mut runs = runner.calls().into_iter().filter(|spec| {
            spec.args.first().is_some_and(|arg| arg == "run") && spec.args.iter().any(|arg| arg == node)
        });
        let run = runs.next_back().unwrap_or_else(|| panic!("{node} was never started: {:#?}", runner.command_lines()));
        run.args.windows(2).filter(|pair| pair[0] == flag).map(|pair| pair[1].clone()).collect()
    }

    /// The commands that bring up a new cluster configured by `config`.
    fn new_cluster_brought_up(config: &str) -> RecordingRunner {
        let settings = test_settings(config);
        let runner = RecordingRunner::lenient();
        runner.always("docker network inspect", 0, "192.168.56.0/24 ", "");
        plan_and_bring_up(&DockerProvider::new(&test_cluster(&settings), &runner)).unwrap();
        runner
    }

    #[test]
    fn a_tagged_shell_is_ended_on_its_node_by_its_own_tag_only() {
        let settings = test_settings("");
        let runner = RecordingRunner::lenient();
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, &runner);
        let shell = provider.tagged_shell("manager", "aa11", &templates()).unwrap().retagged("aa11", "aa11-7");
        let open = shell.open.args.join(" ");
        assert!(
            open.starts_with("exec --interactive --tty --env LABCTL_SHELL=aa11-7 swarm-lab-manager sh -c cd;"),
            "{open}"
        );
        let hang_up = shell.hang_up.expect("docker leaves an exec's shell behind: it needs ending");
        assert_eq!(hang_up.args.last().map(String::as_str), Some("aa11-7"), "the tag is the script's argument");
        assert!(hang_up.args.iter().any(|arg| arg.contains("grep -qx \"LABCTL_SHELL=$1\"")), "{hang_up:?}");
        assert!(hang_up.timeout.is_some(), "a node that does not answer does not hold the hang-up");
    }

    #[test]
    fn each_node_publishes_only_its_own_forwards_on_loopback() {
        let runner = new_cluster_brought_up(
            "[[forward]]\nhost = 8080\nguest = 80\n\n[[forward]]\nnode = \"node2\"\nhost = 5353\nguest = 53\nprotocol = \"udp\"\n",
        );
        assert_eq!(run_values(&runner, "swarm-lab-manager", "--publish"), vec!["127.0.0.1:8080:80/tcp"]);
        assert_eq!(run_values(&runner, "swarm-lab-node2", "--publish"), vec!["127.0.0.1:5353:53/udp"]);
        assert_eq!(run_values(&runner, "swarm-lab-node1", "--publish"), Vec::<String>::new());
    }

    #[test]
    fn students_ports_on_an_engine_named_by_context_need_an_address() {
        let settings = test_settings(
            "[cluster]\nname = \"cls\"\n[class]\nseats = 2\n[[class.engines]]\ncontext = \"second\"\nseats = 2\n",
        );
        let seat = Cluster::seat(&settings, crate::config::test_catalog(), 1).unwrap();
        let runner = RecordingRunner::lenient();
        runner.always("docker --context second network inspect", 1, "", "Error: No such network: labctl-cls-s01");
        let error = plan_and_bring_up(&DockerProvider::new(&seat, &runner)).unwrap_err().to_string();
        assert_eq!(error, "[class] ssh_bind = \"auto\" cannot tell the address of engine \"second\" (docker context second); set [class] ssh_bind to the address students reach that engine's host at");
        assert!(runner.changes().iter().all(|line| !line.contains(" run ")), "no node started: {:?}", runner.changes());
    }

    #[test]
    fn a_seat_of_a_class_has_its_own_names_network_labels_and_ports_on_its_engine() {
        let settings = test_settings(
            "[cluster]\nname = \"cls\"\n[class]\nseats = 4\nssh_port_base = 2200\nssh_bind = \"0.0.0.0\"\n[[class.engines]]\ncontext = \"second\"\nseats = 4\n",
        );
        let catalog = crate::config::test_catalog();
        let seat = Cluster::seat(&settings, catalog, 3).unwrap();
        let runner = RecordingRunner::lenient();
        runner.always("docker --context second network inspect", 1, "", "Error: No such network: labctl-cls-s03");
        plan_and_bring_up(&DockerProvider::new(&seat, &runner)).unwrap();
        let lines = runner.command_lines();
        assert!(lines.iter().all(|line| line.starts_with("docker --context second ")), "{lines:#?}");
        let run = |flag| {
            let mut runs = runner.calls().into_iter().filter(|spec| spec.args.iter().any(|arg| arg == "run"));
            let run = runs.find(|spec| spec.args.iter().any(|arg| arg == "cls-s03-manager")).expect("manager started");
            run.args.windows(2).filter(|pair| pair[0] == flag).map(|pair| pair[1].clone()).collect::<Vec<_>>()
        };
        assert_eq!(run("--network"), ["labctl-cls-s03"]);
        assert_eq!(run("--ip"), ["192.168.58.10"]);
        assert_eq!(run("--hostname"), ["manager"], "the handout's node names in every seat");
        let labels = run("--label");
        for label in ["labctl.cluster=cls-s03", "labctl.class=cls", "labctl.seat=3"] {
            assert!(labels.contains(&label.to_string()), "{label} in {labels:?}");
        }
        // Its network and volumes too: a whole class is found by one filter.
        let seat_labels =
            "volume-label=labctl.cluster=cls-s03,volume-label=labctl.class=cls,volume-label=labctl.seat=3";
        assert_eq!(
            run("--mount")[0],
            format!("type=volume,src=cls-s03-manager-docker,dst=/var/lib/docker,{seat_labels}")
        );
        let network = runner.command_lines().into_iter().find(|line| line.contains(" network create ")).unwrap();
        assert!(
            network.ends_with(
                "--label labctl.cluster=cls-s03 --label labctl.class=cls --label labctl.seat=3 labctl-cls-s03"
            ),
            "{network}"
        );
        assert_eq!(run("--publish"), ["0.0.0.0:2203:22/tcp", "127.0.0.1:49002:9000/tcp"]);
    }

    /// The dockerd command (after the image) of the last `docker run` of `container`.
    fn dockerd_of(runner: &RecordingRunner, container: &str) -> Vec<String> {
        let run = runner
            .calls()
            .into_iter()
            .rfind(|spec| spec.args.iter().any(|arg| arg == "run") && spec.args.iter().any(|arg| arg == container))
            .unwrap_or_else(|| panic!("{container} was never started"));
        run.args.iter().skip_while(|arg| *arg != "dockerd").cloned().collect()
    }

    #[test]
    fn every_node_of_a_seat_pulls_through_the_class_cache_before_a_configured_mirror() {
        let settings = test_settings(
            "[cluster]\nname = \"cls\"\n[registry]\nmirror = \"https://mirror.gcr.io\"\n[class]\nseats = 2\naccess = \"none\"\n",
        );
        let seat = Cluster::seat(&settings, crate::config::test_catalog(), 2).unwrap();
        let runner = RecordingRunner::lenient();
        runner.always("docker network inspect", 0, "192.168.57.0/24 ", "");
        plan_and_bring_up(&DockerProvider::new(&seat, &runner)).unwrap();
        for node in ["manager", "node1", "node2", "node3"] {
            assert_eq!(
                dockerd_of(&runner, &format!("cls-s02-{node}")),
                [
                    "dockerd",
                    "--host=unix:///var/run/docker.sock",
                    "--storage-driver=overlay2",
                    "--log-opt=max-size=10m",
                    "--log-opt=max-file=2",
                    "--insecure-registry=manager:5000",
                    "--insecure-registry=192.168.57.254:5000",
                    "--registry-mirror=http://192.168.57.254:5000",
                    "--registry-mirror=https://mirror.gcr.io",
                ],
                "{node}"
            );
        }

        // Without a class cache, only the configured mirror.
        let runner = new_cluster_brought_up("[registry]\nmirror = \"https://mirror.gcr.io\"\n");
        let dockerd = dockerd_of(&runner, "swarm-lab-node1");
        assert_eq!(dockerd.iter().filter(|flag| flag.starts_with("--registry-mirror")).count(), 1, "{dockerd:?}");
    }

    #[test]
    fn nodes_created_before_the_cache_are_reported_and_left_running() {
        // The class got a cache after its nodes were made: their containers
        // keep the dockerd command they were created with.
        let settings = test_settings("[cache]\nenabled = true\n");
        let runner = RecordingRunner::default();
        answer_running_cluster(&runner);
        let old = "\tdockerd\t--host=unix:///var/run/docker.sock\t--storage-driver=overlay2\t--log-opt=max-size=10m\t--log-opt=max-file=2\t--insecure-registry=manager:5000";
        let new =
            format!("{old}\t--insecure-registry=192.168.56.254:5000\t--registry-mirror=http://192.168.56.254:5000");
        runner.always("docker inspect --format", 0, &format!("manager{new}\nnode1{old}\nnode2{new}\nnode3{old}\n"), "");
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, &runner);
        let plan = provider.plan_nodes(&Ui::new(Verbosity::Quiet), &templates()).unwrap();
        let note = plan.notes.iter().find(|note| note.contains("older flags")).expect("reported");
        assert!(note.starts_with("node1, node3 of swarm-lab run dockerd with older flags than labctl.toml gives (node1 without --insecure-registry=192.168.56.254:5000 --registry-mirror=http://192.168.56.254:5000; node3 without"), "{note}");
        assert!(note.contains("`docker rm --force swarm-lab-node1 swarm-lab-node3`, then `labctl up`"), "{note}");
        assert!(plan.commands.is_empty(), "nothing is recreated unasked: {:#?}", plan.commands);

        // Up to date: no note.
        let runner = RecordingRunner::default();
        answer_running_cluster(&runner);
        runner.always("docker inspect --format", 0, &format!("manager{new}\nnode1{new}\nnode2{new}\nnode3{new}\n"), "");
        let provider = DockerProvider::new(&cluster, &runner);
        let plan = provider.plan_nodes(&Ui::new(Verbosity::Quiet), &templates()).unwrap();
        assert!(plan.notes.is_empty(), "{:#?}", plan.notes);
    }

    #[test]
    fn a_class_engine_decides_its_own_security_by_trying_privileged_first() {
        // This machine's /proc says nothing about another engine (here its
        // dockerd may lack capabilities the engine has, or the reverse):
        // the engine's own refusal decides, and the note names it.
        let settings = test_settings(
            "[class]\nseats = 2\naccess = \"none\"\n[[class.engines]]\nhost = \"unix:///run/docker.sock\"\nseats = 1\n[[class.engines]]\nname = \"e2\"\nhost = \"unix:///tmp/e2/docker.sock\"\nseats = 1\n",
        );
        let seat = Cluster::seat(&settings, crate::config::test_catalog(), 2).unwrap();
        let runner = RecordingRunner::lenient();
        let docker = "docker --host unix:///tmp/e2/docker.sock";
        runner.always(&format!("{docker} network inspect"), 0, "192.168.57.0/24 ", "");
        let refusal = "docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply caps: operation not permitted: unknown";
        runner.answer(&format!("{docker} run"), 125, "", refusal);
        plan_and_bring_up(&DockerProvider::new(&seat, &runner)).unwrap();
        let runs: Vec<String> =
            runner.command_lines().into_iter().filter(|line| line.starts_with(&format!("{docker} run "))).collect();
        assert_eq!(runs.len(), 5, "{runs:#?}");
        assert!(runs[0].contains(" --privileged "), "tried first: {}", runs[0]);
        for run in &runs[1..] {
            assert!(!run.contains("--privileged") && run.contains(" --cap-add ALL "), "{run}");
            assert!(run.contains(" --cap-drop SYS_RESOURCE "), "{run}");
        }
        let lines = runner.command_lines();
        assert!(lines
            .iter()
            .any(|line| line.starts_with(&format!("{docker} rm --force --volumes swarm-lab-s02-manager"))));
        assert!(lines.iter().all(|line| line.starts_with(&format!("{docker} "))), "{lines:#?}");
    }

    /// `docker info --format '{{json .}}'` of an engine.
    fn info(rootless: bool, cgroup: &str, limits: bool, cpus: u32) -> String {
        let driver = if rootless && cgroup == "1" { "none" } else { "cgroupfs" };
        let security = match rootless {
            true => r#"["name=seccomp,profile=default","name=rootless"]"#,
            false => r#"["name=seccomp,profile=default"]"#,
        };
        format!(
            r#"{{"SecurityOptions":{security},"CgroupDriver":"{driver}","CgroupVersion":"{cgroup}","MemoryLimit":{limits},"SwapLimit":{limits},"CpuCfsQuota":{limits},"PidsLimit":{limits},"NCPU":{cpus}}}"#
        )
    }

    #[test]
    fn nodes_get_resources_limits_and_small_logs_where_the_engine_applies_them() {
        let settings = test_settings(
            "[resources]\nmemory_mb = 1024\ncpus = 4\npids = 700\nlog_mb = 5\n[resources.node.node2]\npids = 900\n",
        );
        let runner = RecordingRunner::lenient();
        runner.always("docker network inspect", 0, "192.168.56.0/24 ", "");
        runner.always("docker info", 0, &info(false, "1", true, 2), "");
        plan_and_bring_up(&DockerProvider::new(&test_cluster(&settings), &runner)).unwrap();
        for node in ["manager", "node1", "node2", "node3"] {
            let container = format!("swarm-lab-{node}");
            assert_eq!(run_values(&runner, &container, "--memory"), ["1024m"]);
            assert_eq!(run_values(&runner, &container, "--memory-swap"), ["1024m"]);
            assert_eq!(run_values(&runner, &container, "--cpus"), ["2"], "no more than the engine's host has");
            let pids = if node == "node2" { "900" } else { "700" };
            assert_eq!(run_values(&runner, &container, "--pids-limit"), [pids]);
            assert_eq!(run_values(&runner, &container, "--log-driver"), ["json-file"]);
            assert_eq!(run_values(&runner, &container, "--log-opt"), ["max-size=5m", "max-file=2"]);
            let dockerd = dockerd_of(&runner, &container);
            assert!(dockerd.contains(&"--log-opt=max-size=5m".to_string()), "{dockerd:?}");
            assert!(dockerd.contains(&"--log-opt=max-file=2".to_string()), "{dockerd:?}");
        }
        let asked = runner.command_lines().iter().filter(|line| line.starts_with("docker info")).count();
        assert_eq!(asked, 1, "the engine is asked once a run");
    }

    #[test]
    fn an_engine_that_cannot_limit_nodes_gets_no_limit_flags_and_the_user_is_told_once() {
        let settings = test_settings("");
        let runner = RecordingRunner::lenient();
        runner.always("docker network inspect", 0, "192.168.56.0/24 ", "");
        runner.always("docker info", 0, &info(true, "1", false, 2), "");
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, &runner);
        let ui = Ui::new(Verbosity::Quiet);
        let plan = provider.plan_nodes(&ui, &templates()).unwrap();
        provider.bring_up(&plan, &ui).unwrap();
        for flag in ["--memory", "--cpus", "--pids-limit"] {
            assert!(run_values(&runner, "swarm-lab-node1", flag).is_empty(), "{flag}");
        }
        assert_eq!(run_values(&runner, "swarm-lab-node1", "--log-opt"), ["max-size=10m", "max-file=2"]);
        // Its user namespace grants every capability, whatever this host's
        // own dockerd lacks; the node's dockerd makes no cgroups either.
        let runs: Vec<String> =
            runner.command_lines().into_iter().filter(|line| line.starts_with("docker run")).collect();
        assert!(runs.iter().all(|run| run.contains(" --privileged ") && !run.contains("--cap-add")), "{runs:#?}");
        assert!(dockerd_of(&runner, "swarm-lab-manager").contains(&"--rootless".to_string()));
        let notes = ui.notes_given();
        let said: Vec<&String> = notes.iter().filter(|note| note.contains("cannot limit")).collect();
        assert_eq!(said.len(), 1, "{notes:#?}");
        assert!(
            said[0].starts_with("this host's Docker cannot limit each node's memory, CPU, process (pids) use (a rootless engine on a cgroup v1 host has no cgroups of its own)"),
            "{}",
            said[0]
        );
    }

    #[test]
    fn student_work_and_labctl_records_live_on_labelled_volumes_on_every_node() {
        // A container removed by hand or by a prune must not take the lab
        // root or labctl's records with it: each is on a named volume that
        // `destroy` finds by its label. A target outside the root gets one of
        // its own (its directory has a comma: a quoted CSV field).
        let runner = new_cluster_brought_up(
            "[labs]\nroot = \"/home/class/\"\n\n[labs.target]\nlab2 = \"/srv/quiz,2024\"\nlab3 = \"/home/class/db2\"\n",
        );
        let label = "volume-label=labctl.cluster=swarm-lab";
        for node in ["manager", "node1", "node2", "node3"] {
            assert_eq!(
                mounts_of(&runner, &format!("swarm-lab-{node}")),
                vec![
                    format!("type=volume,src=swarm-lab-{node}-docker,dst=/var/lib/docker,{label}"),
                    format!("type=volume,src=swarm-lab-{node}-work,dst=/home/class,{label}"),
                    format!("type=volume,src=swarm-lab-{node}-labctl,dst=/var/lib/labctl,{label}"),
                    format!("type=volume,src=swarm-lab-{node}-lab-lab2,\"dst=/srv/quiz,2024\",{label}"),
                ],
                "{node}"
            );
        }
    }

    #[test]
    fn new_nodes_run_labctls_node_image_built_first_when_missing() {
        let settings = test_settings("");
        let runner = RecordingRunner::lenient();
        runner.always("docker network inspect", 0, "192.168.56.0/24 ", "");
        runner.always("docker image inspect", 1, "", "Error: No such image");
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, &runner);
        plan_and_bring_up(&provider).unwrap();
        let tag = NodeImage::for_cluster(&cluster, &templates()).unwrap().name().to_string();
        assert!(tag.starts_with("labctl/node:"), "{tag}");
        let lines = runner.command_lines();
        let build = lines.iter().position(|line| line.starts_with("docker build --tag labctl/node:"));
        let first_run = lines.iter().position(|line| line.starts_with("docker run"));
        assert!(build.is_some() && build < first_run, "built before the first node starts: {lines:#?}");
        let runs: Vec<&String> = lines.iter().filter(|line| line.starts_with("docker run")).collect();
        assert_eq!(runs.len(), 4);
        assert!(runs.iter().all(|line| line.contains(&format!(" {tag} dockerd "))), "{runs:#?}");

        // A given image is run as is: no build.
        let settings = test_settings("[docker]\nnode_image = \"my/node:1\"\n");
        let runner = RecordingRunner::lenient();
        runner.always("docker network inspect", 0, "192.168.56.0/24 ", "");
        runner.always("docker image inspect", 1, "", "Error: No such image");
        plan_and_bring_up(&DockerProvider::new(&test_cluster(&settings), &runner)).unwrap();
        let lines = runner.command_lines();
        assert!(!lines.iter().any(|line| line.starts_with("docker build")), "{lines:#?}");
        assert!(lines.iter().any(|line| line.starts_with("docker run") && line.contains(" my/node:1 dockerd ")));
    }

    #[test]
    fn a_node_recreated_on_its_docker_volume_is_told_apart_from_a_new_one() {
        // Only the docker volume says the node's Docker was in a swarm; a
        // kept lab root alone does not.
        let settings = test_settings("");
        let runner = RecordingRunner::lenient();
        runner.always("docker network inspect", 0, "192.168.56.0/24 ", "");
        runner.always(
            "docker volume ls",
            0,
            "swarm-lab-manager-docker\nswarm-lab-manager-work\nswarm-lab-node1-work\n",
            "",
        );
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, &runner);
        let changes = plan_and_bring_up(&provider).unwrap();
        let change_of = |node: &str| changes.iter().find(|(name, _)| name == node).unwrap().1;
        assert_eq!(change_of("manager"), NodeChange::Recreated);
        assert_eq!(change_of("node1"), NodeChange::Created);
    }

    #[test]
    fn running_nodes_are_not_trusted_until_their_docker_answers() {
        // An `up` killed after starting the containers leaves them running
        // with a dockerd that may not answer yet: the next `up` waits for it.
        let settings = test_settings("");
        let runner = RecordingRunner::lenient();
        answer_running_cluster(&runner);
        runner.always("docker exec swarm-lab-manager sh -c '#!/bin/sh…' labctl-wait-docker 600", 1, "", "");
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, &runner);
        let error = plan_and_bring_up(&provider).unwrap_err().to_string();
        assert!(error.starts_with("node manager: Docker did not answer within 60s"), "{error}");
        let waits = runner.command_lines().iter().filter(|line| line.contains("labctl-wait-docker 600")).count();
        assert_eq!(waits, 4, "every node is waited for");
    }
}
