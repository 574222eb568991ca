//! Providers make the nodes: Vagrant VMs or docker-in-docker containers.
//! Everything above them (swarm, registry, labs) talks to nodes through
//! [`NodeShell`], which runs a command as root on a node, whatever the
//! provider.
//!
//! Every node command labctl runs on its own has a time limit, enforced
//! twice: labctl kills the local `docker exec`/`vagrant ssh` when it runs
//! past the limit, and the node ends the command itself a little earlier
//! (`timeout -s KILL SECS`, the same syntax in GNU coreutils and busybox
//! 1.30+, so on Debian/Ubuntu VMs and Alpine docker:dind alike), because
//! killing the local client leaves the process on the node running.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use crate::config::Nodes;
use crate::exec::{CommandSpec, Output, Runner};
use crate::files::{self, GeneratedFile, Outcome};
use crate::templates::Templates;
use crate::timeouts::{self, Timeouts, Wait};
use crate::ui::Ui;

pub mod cache;
mod choice;
pub mod docker;
pub mod docker_cli;
pub mod engine_facts;
pub mod incus;
pub mod inventory;
pub mod labels;
pub mod listen;
pub mod node_image;
pub mod provision;
pub mod ssh;
pub mod vagrant;

pub use choice::{choose, existing, hypervisor_label, hypervisor_program, Choice, Host};

/// Where labctl keeps its records on a node (what each seeded lab held,
/// uploaded solutions): the docker provider keeps it on a volume.
pub const STATE_DIR: &str = "/var/lib/labctl";
/// Where a node keeps the swarm node ID labctl gave it when it made or
/// joined its swarm: on machines labctl does not own, the proof that a swarm
/// is its own (see `swarm`).
pub const SWARM_RECORD: &str = "/var/lib/labctl/swarm-node-id";

/// The class registry's container and volume on its node (registry.rs
/// runs it; the ssh provider's `destroy` removes them from a machine).
pub const REGISTRY_CONTAINER: &str = "labctl-registry";
pub const REGISTRY_VOLUME: &str = "labctl-registry";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Vagrant,
    Docker,
    Ssh,
    Incus,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Vagrant => "vagrant",
            ProviderKind::Docker => "docker",
            ProviderKind::Ssh => "ssh",
            ProviderKind::Incus => "incus",
        }
    }

    /// What callers may rely on from this kind of provider.
    pub fn info(self) -> ProviderInfo {
        match self {
            ProviderKind::Docker => ProviderInfo {
                owns_machines: true,
                nodes_on_docker_engine: true,
                student_logins: true,
                class_cache: true,
            },
            ProviderKind::Vagrant => ProviderInfo {
                owns_machines: true,
                nodes_on_docker_engine: false,
                student_logins: false,
                class_cache: false,
            },
            ProviderKind::Ssh => ProviderInfo {
                owns_machines: false,
                nodes_on_docker_engine: false,
                student_logins: false,
                class_cache: false,
            },
            ProviderKind::Incus => ProviderInfo {
                owns_machines: true,
                nodes_on_docker_engine: false,
                student_logins: true,
                class_cache: false,
            },
        }
    }
}

/// What a provider can do and is, for the layers above it, so that none of
/// them switches on which provider it is (kind's `ProviderInfo` did the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderInfo {
    /// labctl made its machines and may stop and remove them; false for
    /// machines the class already has (`down` powers nothing off there,
    /// `destroy` takes labctl's things off and leaves them running).
    pub owns_machines: bool,
    /// Its nodes are containers on a Docker engine (this host's or one of
    /// `[[class.engines]]`): images this host has are loaded into them from
    /// here, and `status` names the engine.
    pub nodes_on_docker_engine: bool,
    /// It publishes each seat manager's SSH port for students' logins.
    pub student_logins: bool,
    /// The seats of a class on one engine share an image cache on it.
    pub class_cache: bool,
}

/// How far a seat's students, root inside their nodes, are from the host
/// the nodes run on: for `up`, `class status` and `doctor` to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// Containers on a rootless engine: root in a node is an unprivileged
    /// user on the engine's host.
    Rootless,
    /// Containers on a rootful engine with every capability: root in a node
    /// can reach the host's kernel settings and cgroups.
    Rootful,
    /// Virtual machines: a kernel of their own.
    VirtualMachine,
    /// Machines the class already has: students are root on them, not on this host.
    OwnMachine,
    /// Unprivileged Incus system containers: root in a node is an
    /// unprivileged user on its host, in a user namespace of its own.
    SystemContainer,
}

impl Isolation {
    /// One word for tables and messages.
    pub fn word(self) -> &'static str {
        match self {
            Isolation::Rootless => "rootless",
            Isolation::Rootful => "rootful",
            Isolation::VirtualMachine => "vm",
            Isolation::OwnMachine => "machine",
            Isolation::SystemContainer => "incus",
        }
    }

    /// For a cluster's status: `rootless engine`, `rootful engine: …`.
    pub fn describe(self) -> &'static str {
        match self {
            Isolation::Rootless => "rootless engine",
            Isolation::Rootful => "rootful engine: root in a node is root on its host",
            Isolation::VirtualMachine => "virtual machines",
            Isolation::OwnMachine => "the class's own machines",
            Isolation::SystemContainer => "unprivileged Incus containers",
        }
    }
}

/// A node's machine (VM or container) as the provider's runtime reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Machine {
    pub node: String,
    /// The runtime's own word: running, exited, poweroff, not created, …
    pub state: String,
    pub running: bool,
    /// The server it runs on, where the provider spreads nodes over
    /// several (the Incus cluster member); `None` elsewhere.
    pub location: Option<String>,
}

impl Machine {
    /// One machine per configured node from the runtime's (node, state)
    /// pairs; a node the runtime does not list is in state `absent`.
    pub fn for_nodes(nodes: &Nodes, states: &[(String, String)], absent: &str) -> Vec<Machine> {
        let state_of = |node: &str| states.iter().find(|(name, _)| name == node).map(|(_, state)| state.clone());
        nodes
            .iter()
            .map(|node| {
                let state = state_of(&node.name).unwrap_or_else(|| absent.to_string());
                Machine { node: node.name.clone(), running: state == "running", state, location: None }
            })
            .collect()
    }
}

/// What bringing a node up took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeChange {
    /// A new machine with a new disk: Docker on it has never been in a swarm.
    Created,
    /// A new machine (container) on the disk of an earlier one.
    Recreated,
    Started,
    AlreadyRunning,
    /// A machine labctl did not make (ssh provider), its Docker running:
    /// labctl's setup (/etc/hosts, daemon.json, firewall, tools) applied anew.
    Provisioned,
    /// A machine labctl did not make whose Docker did not answer:
    /// provisioning installs or starts it.
    DockerInstalled,
}

/// How a node command connects to labctl's own input and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeIo {
    /// Output captured, no input.
    Captured,
    /// Output captured, bytes fed on stdin.
    Stdin,
    /// The user's terminal (ssh, exec).
    Terminal,
}

/// Files a provider keeps on this host for its nodes (the vagrant
/// provider's environment), rendered but not yet written: a dry run shows
/// them, `up` and `render` write them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preparation {
    pub folder: PathBuf,
    pub files: Vec<GeneratedFile>,
}

impl Preparation {
    /// What writing would do to each file; reads only.
    pub fn planned(&self) -> Vec<(PathBuf, Outcome)> {
        files::planned_outcomes(&self.folder, &self.files)
    }

    /// Write the files (a hand-edited one is backed up first).
    pub fn write(&self) -> Result<Vec<(PathBuf, Outcome)>> {
        files::write_generated(&self.folder, &self.files)
    }
}

/// What bringing the nodes up takes, decided from read-only probes.
#[derive(Debug)]
pub struct NodesPlan {
    /// Per node, in the configured order (manager first).
    pub changes: Vec<(String, NodeChange)>,
    /// What to say before anything runs (a node image built first).
    pub notes: Vec<String>,
    /// The commands that change something, in the order they run.
    pub commands: Vec<CommandSpec>,
    /// What the provider that made the plan needs to carry it out.
    steps: ProviderSteps,
}

#[derive(Debug)]
enum ProviderSteps {
    Docker(Box<docker::Steps>),
    Vagrant(vagrant::Steps),
    Ssh(ssh::Steps),
    Incus(Box<incus::Steps>),
}

impl NodesPlan {
    /// The nodes whose swarm state is known without asking them: created by
    /// this plan, their Docker has never been in a swarm.
    pub fn created(&self) -> Vec<String> {
        self.changed(|change| change == NodeChange::Created)
    }

    /// The nodes this plan creates or starts: not running (no Docker to
    /// ask) before it is carried out.
    pub fn not_running(&self) -> Vec<String> {
        self.changed(|change| !matches!(change, NodeChange::AlreadyRunning | NodeChange::Provisioned))
    }

    fn changed(&self, wanted: impl Fn(NodeChange) -> bool) -> Vec<String> {
        self.changes.iter().filter(|(_, change)| wanted(*change)).map(|(node, _)| node.clone()).collect()
    }
}

pub trait Provider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    /// What this provider can do and is (see [`ProviderInfo`]).
    fn info(&self) -> ProviderInfo {
        self.kind().info()
    }

    /// How far a student, root in a node, is from the host the node runs on.
    fn isolation(&self) -> Isolation;

    /// Where the nodes run, for `status` and `class status`, from their
    /// `machines`: the Docker engine's name, the Incus cluster member;
    /// `None` where there is nothing to tell (this host's VMs, the class's
    /// own machines).
    fn placement(&self, _machines: &[Machine]) -> Option<String> {
        None
    }

    /// The address students reach the seat's SSH port at, and why, where
    /// the provider knows it better than labctl.toml: the Incus server or
    /// cluster member the seat runs on. `None` elsewhere.
    fn students_address(&self) -> Option<(String, String)> {
        None
    }

    /// Whether the `[[forward]]`s listen on this host's loopback, where
    /// `labctl serve` passes the labs' pages to them.
    fn forwards_here(&self) -> bool {
        false
    }

    /// The files this host needs before any node is made (the vagrant
    /// provider's environment), rendered from `templates`; `None` when the
    /// provider keeps none. Writes nothing: see [`Preparation::write`].
    fn prepare(&self, templates: &Templates) -> Result<Option<Preparation>>;

    /// Read (probes only) which nodes exist and run, and decide what makes
    /// every configured node run. What the nodes need from labctl's
    /// templates (the docker provider's node image recipe) comes from
    /// `templates`.
    fn plan_nodes(&self, ui: &Ui, templates: &Templates) -> Result<NodesPlan>;

    /// Carry out `plan` (made by this provider), then wait until Docker
    /// answers on every node.
    fn bring_up(&self, plan: &NodesPlan, ui: &Ui) -> Result<()>;

    /// Every configured node's machine, read from the runtime.
    fn machines(&self) -> Result<Vec<Machine>>;

    /// The limits of this run's commands.
    fn timeouts(&self) -> Timeouts;

    /// The command that runs `argv` as root on `node`, within `limit` (see
    /// [`bounded`]); `None` only for the user's own command (`labctl exec`).
    fn node_command(&self, node: &str, argv: &[String], io: NodeIo, limit: Option<Duration>) -> CommandSpec;

    /// The command for an interactive root shell on `node`.
    fn shell_command(&self, node: &str) -> CommandSpec;

    /// The shell of [`Provider::shell_command`], marked with `tag` (a
    /// token of the caller's, hex) so that what is left of it on the node
    /// can be ended once its client is gone. Where the client's end already
    /// ends the shell (ssh hangs up its session), there is nothing to end.
    fn tagged_shell(&self, node: &str, _tag: &str, _templates: &Templates) -> Result<TaggedShell> {
        Ok(TaggedShell { open: self.shell_command(node), hang_up: None })
    }

    /// A read of `node`'s Docker daemon log (its last lines), for `labctl logs`.
    fn daemon_log(&self, node: &str) -> CommandSpec;

    /// Stop every node, keeping its disk. Returns how many were running.
    fn stop(&self) -> Result<usize>;

    /// Remove nodes, networks and volumes. Returns what was removed, in words.
    fn destroy(&self) -> Result<Vec<String>>;
}

/// Ends what is left of a terminal's shell: node/hang-up.sh.
const HANG_UP_SCRIPT: &str = "node/hang-up.sh.tera";
/// How long the hang-up of a terminal may take.
const HANG_UP_LIMIT: Duration = Duration::from_secs(15);
/// The environment variable that marks a terminal's processes.
pub const SHELL_TAG: &str = "LABCTL_SHELL";

/// The command that sends SIGHUP to every process on `node` marked with
/// `tag` (`SHELL_TAG=tag` in its environment), then ends the shell itself:
/// for providers whose client's end leaves the shell running.
pub fn hang_up(provider: &dyn Provider, node: &str, tag: &str, templates: &Templates) -> Result<CommandSpec> {
    let script = templates.node_script(HANG_UP_SCRIPT)?;
    let argv = vec!["sh".to_string(), "-c".into(), script, "labctl-hang-up".into(), tag.to_string()];
    Ok(provider.node_command(node, &argv, NodeIo::Captured, Some(HANG_UP_LIMIT)))
}

/// An interactive shell, and the command that ends what is left of it on
/// its node when its client ends (see [`Provider::tagged_shell`]).
#[derive(Debug, Clone)]
pub struct TaggedShell {
    pub open: CommandSpec,
    pub hang_up: Option<CommandSpec>,
}

impl TaggedShell {
    /// The same shell with `tag` (given to [`Provider::tagged_shell`])
    /// replaced by `new` wherever it appears: one tag for each terminal
    /// that a shell made once serves.
    pub fn retagged(&self, tag: &str, new: &str) -> TaggedShell {
        let swap = |spec: &CommandSpec| CommandSpec {
            args: spec.args.iter().map(|arg| arg.replace(tag, new)).collect(),
            ..spec.clone()
        };
        TaggedShell { open: swap(&self.open), hang_up: self.hang_up.as_ref().map(swap) }
    }
}

/// Whether `node`'s dockerd answers within `deadline`, asked from inside the
/// node by `script` (node/wait-for-docker.sh) every 0.1 s.
pub fn docker_answers(
    provider: &dyn Provider,
    runner: &dyn Runner,
    node: &str,
    script: &str,
    deadline: Duration,
) -> bool {
    let tries = (deadline.as_millis() / 100).to_string();
    let argv: Vec<String> = ["sh", "-c", script, "labctl-wait-docker", &tries].into_iter().map(String::from).collect();
    let limit = deadline + provider.timeouts().scaled(Duration::from_secs(10));
    // A wait only reads: a probe.
    let spec = provider.node_command(node, &argv, NodeIo::Captured, Some(limit)).probe();
    let spec = CommandSpec { purpose: format!("wait for Docker on {node}"), ..spec };
    runner.run(&spec).map(|output| output.success()).unwrap_or(false)
}

/// `argv` under the node's own `timeout` when there is a limit.
pub fn on_node_within(argv: &[String], limit: Option<Duration>) -> Vec<String> {
    match limit {
        None => argv.to_vec(),
        Some(limit) => ["timeout", "-s", "KILL", &timeouts::node_side(limit).to_string()]
            .into_iter()
            .map(String::from)
            .chain(argv.iter().cloned())
            .collect(),
    }
}

/// `spec` (built around [`on_node_within`]) with its local and node-side limits.
pub fn bounded(spec: CommandSpec, limit: Option<Duration>) -> CommandSpec {
    match limit {
        None => spec,
        Some(limit) => {
            CommandSpec { remote_timeout: Some(Duration::from_secs(timeouts::node_side(limit))), ..spec.timeout(limit) }
        }
    }
}

/// Runs commands as root on the cluster's nodes, each within the limit of
/// its kind ([`Wait`]).
#[derive(Clone, Copy)]
pub struct NodeShell<'a> {
    pub provider: &'a dyn Provider,
    pub runner: &'a dyn Runner,
}

impl<'a> NodeShell<'a> {
    pub fn new(provider: &'a dyn Provider, runner: &'a dyn Runner) -> Self {
        NodeShell { provider, runner }
    }

    fn spec(&self, node: &str, argv: &[&str], purpose: &str, io: NodeIo, limit: Duration) -> CommandSpec {
        let argv: Vec<String> = argv.iter().map(|arg| arg.to_string()).collect();
        let mut spec = self.provider.node_command(node, &argv, io, Some(limit));
        spec.purpose = format!("{purpose} on {node}");
        spec
    }

    pub fn limit(&self, wait: Wait) -> Duration {
        self.provider.timeouts().limit(wait)
    }

    /// A read-only command on `node` (a dry run runs it too).
    pub fn probe(&self, node: &str, argv: &[&str], purpose: &str) -> CommandSpec {
        self.spec(node, argv, purpose, NodeIo::Captured, self.limit(Wait::Read)).probe()
    }

    /// A read-only command on `node` that may take up to `limit` (a wait
    /// that loops on the node itself).
    pub fn probe_within(&self, node: &str, argv: &[&str], purpose: &str, limit: Duration) -> CommandSpec {
        self.spec(node, argv, purpose, NodeIo::Captured, limit).probe()
    }

    /// The limit of a `wait` command inside a wait loop: it also ends by
    /// `deadline`, so one hung command cannot stretch the wait.
    fn limit_until(&self, wait: Wait, deadline: Instant) -> Duration {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
        self.limit(wait).min(left)
    }

    /// A read inside a wait loop that ends at `deadline`.
    pub fn probe_until(&self, node: &str, argv: &[&str], purpose: &str, deadline: Instant) -> CommandSpec {
        self.spec(node, argv, purpose, NodeIo::Captured, self.limit_until(Wait::Read, deadline)).probe()
    }

    /// A change inside a wait loop that ends at `deadline`.
    pub fn command_until(&self, node: &str, argv: &[&str], purpose: &str, deadline: Instant) -> CommandSpec {
        self.spec(node, argv, purpose, NodeIo::Captured, self.limit_until(Wait::Change, deadline))
    }

    /// A command that changes state on `node`.
    pub fn command(&self, node: &str, argv: &[&str], purpose: &str) -> CommandSpec {
        self.spec(node, argv, purpose, NodeIo::Captured, self.limit(Wait::Change))
    }

    /// A command that changes state, of the given kind (e.g. [`Wait::Long`]).
    pub fn command_for(&self, wait: Wait, node: &str, argv: &[&str], purpose: &str) -> CommandSpec {
        self.spec(node, argv, purpose, NodeIo::Captured, self.limit(wait))
    }

    /// Like [`NodeShell::command_for`], with `stdin` fed to the command.
    pub fn command_with_stdin(
        &self,
        wait: Wait,
        node: &str,
        argv: &[&str],
        purpose: &str,
        stdin: Vec<u8>,
    ) -> CommandSpec {
        self.spec(node, argv, purpose, NodeIo::Stdin, self.limit(wait)).stdin(stdin)
    }

    /// Like [`NodeShell::command_for`], with the file `input` fed to the
    /// command (a saved image into `docker load`).
    pub fn command_from_file(
        &self,
        wait: Wait,
        node: &str,
        argv: &[&str],
        purpose: &str,
        input: PathBuf,
    ) -> CommandSpec {
        self.spec(node, argv, purpose, NodeIo::Stdin, self.limit(wait)).stdin_file(input)
    }

    pub fn run(&self, spec: &CommandSpec) -> Result<Output> {
        self.runner.run(spec)
    }

    pub fn run_checked(&self, spec: &CommandSpec) -> Result<Output> {
        self.runner.run_checked(spec)
    }
}
