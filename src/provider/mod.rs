//! Providers make the nodes: Vagrant VMs or docker-in-docker containers.
//! Everything above them (swarm, registry, labs) talks to nodes through
//! [`NodeShell`], which runs a command as root on a node, whatever the
//! provider.

use anyhow::Result;
use serde::Serialize;

use crate::config::Settings;
use crate::exec::{CommandSpec, Output, Runner};
use crate::ui::Ui;

mod choice;
pub mod docker;
pub mod vagrant;

pub use choice::{choose, existing, hypervisor_label, hypervisor_program, Choice, Host};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Vagrant,
    Docker,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Vagrant => "vagrant",
            ProviderKind::Docker => "docker",
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
}

impl Machine {
    /// One machine per configured node from the runtime's (node, state)
    /// pairs; a node the runtime does not list is in state `absent`.
    pub fn for_nodes(settings: &Settings, states: &[(String, String)], absent: &str) -> Vec<Machine> {
        let state_of = |node: &str| states.iter().find(|(name, _)| name == node).map(|(_, state)| state.clone());
        settings
            .nodes
            .iter()
            .map(|node| {
                let state = state_of(&node.name).unwrap_or_else(|| absent.to_string());
                Machine { node: node.name.clone(), running: state == "running", state }
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

pub trait Provider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    /// Make every configured node exist and run, and wait until Docker
    /// answers on each. Idempotent: running nodes are left alone.
    fn bring_up(&self, ui: &Ui) -> Result<Vec<(String, NodeChange)>>;

    /// Every configured node's machine, read from the runtime.
    fn machines(&self) -> Result<Vec<Machine>>;

    /// The command that runs `argv` as root on `node`.
    fn node_command(&self, node: &str, argv: &[String], io: NodeIo) -> CommandSpec;

    /// The command for an interactive root shell on `node`.
    fn shell_command(&self, node: &str) -> CommandSpec;

    /// Stop every node, keeping its disk. Returns how many were running.
    fn stop(&self) -> Result<usize>;

    /// Remove nodes, networks and volumes. Returns what was removed, in words.
    fn destroy(&self) -> Result<Vec<String>>;
}

/// Runs commands as root on the cluster's nodes.
#[derive(Clone, Copy)]
pub struct NodeShell<'a> {
    pub provider: &'a dyn Provider,
    pub runner: &'a dyn Runner,
}

impl<'a> NodeShell<'a> {
    pub fn new(provider: &'a dyn Provider, runner: &'a dyn Runner) -> Self {
        NodeShell { provider, runner }
    }

    /// A command that changes state on `node` (add `.probe()` for reads).
    pub fn command(&self, node: &str, argv: &[&str], purpose: &str) -> CommandSpec {
        let argv: Vec<String> = argv.iter().map(|arg| arg.to_string()).collect();
        let mut spec = self.provider.node_command(node, &argv, NodeIo::Captured);
        spec.purpose = format!("{purpose} on {node}");
        spec
    }

    /// Like [`NodeShell::command`], with `stdin` fed to the command.
    pub fn command_with_stdin(&self, node: &str, argv: &[&str], purpose: &str, stdin: Vec<u8>) -> CommandSpec {
        let argv: Vec<String> = argv.iter().map(|arg| arg.to_string()).collect();
        let mut spec = self.provider.node_command(node, &argv, NodeIo::Stdin);
        spec.purpose = format!("{purpose} on {node}");
        spec.stdin(stdin)
    }

    /// Like [`NodeShell::command`], with `source`'s output fed to the command
    /// (`docker save IMAGE | <on node> docker load`).
    pub fn command_piped(&self, node: &str, argv: &[&str], purpose: &str, source: CommandSpec) -> CommandSpec {
        let argv: Vec<String> = argv.iter().map(|arg| arg.to_string()).collect();
        let mut spec = self.provider.node_command(node, &argv, NodeIo::Stdin);
        spec.purpose = format!("{purpose} on {node}");
        spec.pipe_from(source)
    }

    pub fn run(&self, spec: &CommandSpec) -> Result<Output> {
        self.runner.run(spec)
    }

    pub fn run_checked(&self, spec: &CommandSpec) -> Result<Output> {
        self.runner.run_checked(spec)
    }
}
