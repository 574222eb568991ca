//! The ssh provider: the nodes are machines the class already has (cloud
//! VMs, lab PCs), one per node in `[[ssh.hosts]]`, reached with the system
//! `ssh` client (see [`client`]). It makes no machine and powers none off:
//! `up` sets each one up with the same provisioning scripts as the Vagrant
//! boxes (fed to it on stdin, run under `sudo -n`), and every node command
//! is `ssh MACHINE 'sudo -n -- timeout -s KILL N ARGV…'`, each word quoted.
//!
//! One connection per machine: the first look at the machines (one probe
//! each, all at once) opens a multiplexed master connection that every
//! later command to that machine goes through, and that stays open for a
//! few minutes after the last one (`ControlPersist`).

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use sha2::{Digest, Sha256};

use super::{bounded, on_node_within, Machine, NodeChange, NodeIo, NodesPlan, Preparation, Provider, ProviderKind};
use super::{Isolation, ProviderSteps, STATE_DIR};
use crate::config::ssh::SshHost;
use crate::config::Cluster;
use crate::exec::{shell_line, CommandSpec, Runner};
use crate::files::GeneratedFile;
use crate::parallel::in_parallel;
use crate::templates::Templates;
use crate::timeouts::{Timeouts, Wait};
use crate::ui::Ui;

pub mod client;
pub mod findings;

use client::Client;
pub use client::HostKeys;
use findings::{Docker, Finding, Probe};

const PROBE_SCRIPT: &str = "node/ssh-probe.sh.tera";
const RUN_SCRIPT: &str = "node/run-script-from-stdin.sh.tera";
const RECORD_SCRIPT: &str = "node/write-stdin.sh.tera";
const TAKE_OFF_SCRIPT: &str = "node/take-off.sh.tera";
/// Where a machine keeps the stamp of the provisioning labctl last did.
const STAMP_FILE: &str = "provisioned";

pub struct SshProvider<'a> {
    cluster: &'a Cluster<'a>,
    runner: &'a dyn Runner,
    client: Client,
    probe_script: String,
    run_script: String,
    record_script: String,
    take_off_script: String,
}

impl<'a> SshProvider<'a> {
    pub fn new(
        cluster: &'a Cluster<'a>,
        runner: &'a dyn Runner,
        templates: &Templates,
        host_keys: HostKeys,
    ) -> Result<Self> {
        let workspace = cluster.workspace();
        let client = Client::new(
            cluster.ssh().config_file.as_deref(),
            cluster.ssh().known_hosts_file.as_deref(),
            workspace,
            connect_timeout(cluster.timeouts()),
            host_keys,
        )
        .multiplexed(client::control_dir(workspace));
        Ok(SshProvider {
            cluster,
            runner,
            client,
            probe_script: templates.node_script(PROBE_SCRIPT)?,
            run_script: templates.node_script(RUN_SCRIPT)?,
            record_script: templates.node_script(RECORD_SCRIPT)?,
            take_off_script: templates.node_script(TAKE_OFF_SCRIPT)?,
        })
    }

    /// The same provider without multiplexing (unit tests: no control
    /// socket folder in the commands).
    #[cfg(test)]
    pub(crate) fn unmultiplexed(mut self) -> Self {
        self.client = self.client.multiplexed(None);
        self
    }

    /// `node`'s machine. Validation gives every node of every seat one, and
    /// callers name only the cluster's nodes.
    fn host(&self, node: &str) -> &'a SshHost {
        self.cluster
            .ssh_host(node)
            .unwrap_or_else(|| panic!("internal error: node {node} has no [[ssh.hosts]] machine"))
    }

    /// `argv` as the command line the machine's shell runs as root: through
    /// `sudo -n` (never a password prompt) unless labctl logs in as root.
    fn as_root(host: &SshHost, argv: &[String]) -> String {
        match host.user.as_deref() {
            Some("root") => shell_line(argv),
            _ => format!("sudo -n -- {}", shell_line(argv)),
        }
    }

    /// A command on `node`'s machine as the login user (the probe).
    fn as_user(&self, node: &str, argv: &[&str], purpose: &str, wait: Wait) -> CommandSpec {
        let limit = self.cluster.timeouts().limit(wait);
        let argv: Vec<String> = argv.iter().map(|arg| arg.to_string()).collect();
        let remote = shell_line(&on_node_within(&argv, Some(limit)));
        bounded(self.client.command(self.host(node), &remote, false, purpose), Some(limit))
    }

    /// What each node's machine answers to the probe, all at once (one
    /// connection each, which later commands reuse).
    fn probe_all(&self) -> Result<Vec<(String, Result<Probe, Finding>)>> {
        let nodes = self.cluster.nodes().names();
        in_parallel(&nodes, |node| Ok((node.to_string(), self.probe(node))))
    }

    fn probe(&self, node: &str) -> Result<Probe, Finding> {
        let argv = ["sh", "-c", &self.probe_script, "labctl-probe", STATE_DIR];
        let purpose = format!("look at {node}'s machine");
        findings::read_probe(self.runner.run(&self.as_user(node, &argv, &purpose, Wait::Read).probe()))
    }

    /// The probes' findings as one error, a line per machine.
    fn refuse(&self, found: &[(String, Result<Probe, Finding>)]) -> Result<()> {
        let problems: Vec<String> = found
            .iter()
            .filter_map(|(node, probe)| probe.as_ref().err().map(|finding| self.explain(node, finding)))
            .collect();
        match problems.len() {
            0 => Ok(()),
            1 => bail!("{}", problems[0]),
            n => bail!("{n} machines cannot be used:\n  {}", problems.join("\n  ")),
        }
    }

    /// Every node's machine as the probe sees it, with each finding as its
    /// state word and its full sentence (for `labctl doctor`).
    pub fn look(&self) -> Result<Vec<Look>> {
        self.check_files()?;
        Ok(self
            .probe_all()?
            .into_iter()
            .map(|(node, probe)| {
                let probe = probe.map_err(|finding| (finding.state().to_string(), self.explain(&node, &finding)));
                Look { host: self.host(&node).describe(), node, probe }
            })
            .collect())
    }

    fn explain(&self, node: &str, finding: &Finding) -> String {
        finding.explain(node, self.host(node), self.client.known_hosts_file())
    }

    /// The class's own ssh files and the machines' keys must be there: ssh
    /// would fail on each machine, saying less (a missing key is only a
    /// warning to ssh, then a refused login).
    fn check_files(&self) -> Result<()> {
        if let Some(file) = self.client.config_file().filter(|file| !file.is_file()) {
            let key = "ssh.config_file";
            bail!("{}{key}: {} does not exist; create it or remove the line", self.cluster.locate(key), file.display());
        }
        for node in self.cluster.nodes() {
            let host = self.host(&node.name);
            let Some(file) = self.client.identity_file(host).filter(|file| !file.is_file()) else { continue };
            // Validation keeps every entry, in order: this one's index is its place.
            let index = self.cluster.ssh().hosts.iter().position(|entry| entry == host).unwrap_or_default();
            let key = format!("ssh.hosts[{index}].identity_file");
            bail!(
                "{}{key}: {} (the key for {}) does not exist; give the path of the private key, relative to the workspace or ~/",
                self.cluster.locate(&key),
                file.display(),
                node.name
            );
        }
        Ok(())
    }

    /// The command that runs provisioning `script` on `node`, fed on stdin.
    fn provision_command(&self, node: &str, script: &GeneratedFile) -> CommandSpec {
        let name = script.path.display().to_string();
        let argv: Vec<String> = ["sh", "-c", &self.run_script, &name, node].into_iter().map(String::from).collect();
        let spec = self.node_command(node, &argv, NodeIo::Stdin, Some(self.cluster.timeouts().limit(Wait::Long)));
        CommandSpec { purpose: format!("run {name} on {node}"), ..spec }.stdin(script.content.clone().into_bytes())
    }

    /// The command that records on `node` which provisioning it has had.
    fn stamp_command(&self, node: &str, stamp: &str) -> CommandSpec {
        let file = format!("{STATE_DIR}/{STAMP_FILE}");
        let argv: Vec<String> =
            ["sh", "-c", &self.record_script, "labctl-record", &file].into_iter().map(String::from).collect();
        let spec = self.node_command(node, &argv, NodeIo::Stdin, Some(self.cluster.timeouts().limit(Wait::Change)));
        CommandSpec { purpose: format!("record {node}'s provisioning"), ..spec }
            .stdin(format!("{stamp}\n").into_bytes())
    }

    /// Provision one machine, script by script; a failure names the machine and the script.
    fn provision(&self, node: &str, steps: &Steps) -> Result<()> {
        for script in &steps.scripts {
            let spec = self.provision_command(node, script);
            let output = self.runner.run(&spec)?;
            if !output.success() {
                let host = self.host(node);
                if output.code == Some(255) {
                    bail!("{}", self.explain(node, &findings::ssh_failure(&output)));
                }
                bail!(
                    "provisioning {node} ({}) failed in {}: {}",
                    host.describe(),
                    script.path.display(),
                    spec.mask(&output.tail(4))
                );
            }
        }
        self.runner.run_checked(&self.stamp_command(node, &steps.stamp)).map(|_| ())
    }

    /// Take labctl's things off `node`'s machine (see node/take-off.sh).
    fn take_off(&self, node: &str) -> Result<String> {
        let argv = take_off_argv(&self.take_off_script, STATE_DIR, self.cluster.labs_root(), super::SWARM_RECORD);
        let limit = Some(self.cluster.timeouts().limit(Wait::Change));
        let spec = CommandSpec {
            purpose: format!("take labctl's things off {node}"),
            ..self.node_command(node, &argv, NodeIo::Captured, limit)
        };
        let output = self.runner.run(&spec)?;
        if output.code == Some(255) {
            bail!("{}", self.explain(node, &findings::ssh_failure(&output)));
        }
        output.checked(&spec).map(|output| output.stdout)
    }
}

/// `sh -c SCRIPT …`: the take-off script (node/take-off.sh) with labctl's
/// records in `state_dir`, the labs under `labs_root`, the swarm's record at
/// `swarm_record`.
pub(crate) fn take_off_argv(script: &str, state_dir: &str, labs_root: &str, swarm_record: &str) -> Vec<String> {
    let argv = [
        script,
        "labctl-take-off",
        state_dir,
        super::REGISTRY_CONTAINER,
        super::REGISTRY_VOLUME,
        labs_root,
        swarm_record,
    ];
    ["sh", "-c"].into_iter().chain(argv).map(String::from).collect()
}

/// One machine as `labctl doctor` shows it.
pub struct Look {
    pub node: String,
    /// `user@address:port`, as configured.
    pub host: String,
    /// What it answered, or (state word, full sentence) why it cannot be used.
    pub probe: Result<Probe, (String, String)>,
}

/// ssh's own connect timeout: half the read limit, so that a machine that
/// does not answer is reported by ssh (naming it) before labctl gives up.
fn connect_timeout(timeouts: Timeouts) -> Duration {
    (timeouts.limit(Wait::Read) / 2).max(Duration::from_secs(1))
}

/// A stamp of what provisioning sets up: the scripts as rendered for this
/// cluster (its nodes' names and addresses, the registry, labctl's version).
fn stamp(scripts: &[GeneratedFile]) -> String {
    let mut hash = Sha256::new();
    for script in scripts {
        hash.update(script.path.display().to_string().as_bytes());
        hash.update([0]);
        hash.update(script.content.as_bytes());
        hash.update([0]);
    }
    hash.finalize().iter().take(8).map(|byte| format!("{byte:02x}")).collect()
}

/// What the ssh provider's part of a [`NodesPlan`] runs.
#[derive(Debug)]
pub(in crate::provider) struct Steps {
    /// The machines to provision, in the nodes' order.
    provision: Vec<String>,
    scripts: Vec<GeneratedFile>,
    stamp: String,
}

impl Provider for SshProvider<'_> {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Ssh
    }

    fn isolation(&self) -> Isolation {
        Isolation::OwnMachine
    }

    fn prepare(&self, _templates: &Templates) -> Result<Option<Preparation>> {
        Ok(None)
    }

    fn plan_nodes(&self, _ui: &Ui, templates: &Templates) -> Result<NodesPlan> {
        self.check_files()?;
        let scripts = super::provision::scripts(self.cluster, templates)?;
        let stamp = stamp(&scripts);
        let found = self.probe_all()?;
        self.refuse(&found)?;
        let mut notes = Vec::new();
        let changes: Vec<(String, NodeChange)> = found
            .iter()
            .filter_map(|(node, probe)| probe.as_ref().ok().map(|probe| (node, probe)))
            .map(|(node, probe)| {
                let change = match &probe.docker {
                    Docker::Running(_) if probe.provisioned == stamp => NodeChange::AlreadyRunning,
                    Docker::Running(_) => NodeChange::Provisioned,
                    Docker::Stopped => NodeChange::DockerInstalled,
                    Docker::Missing => {
                        notes.push(format!(
                            "{node}'s machine has no Docker: provisioning installs it from the distribution ({})",
                            probe.os.trim()
                        ));
                        NodeChange::DockerInstalled
                    }
                };
                (node.clone(), change)
            })
            .collect();
        let provision: Vec<String> = changes
            .iter()
            .filter(|(_, change)| *change != NodeChange::AlreadyRunning)
            .map(|(node, _)| node.clone())
            .collect();
        let commands = provision
            .iter()
            .flat_map(|node| {
                scripts
                    .iter()
                    .map(|script| self.provision_command(node, script))
                    .chain(std::iter::once(self.stamp_command(node, &stamp)))
            })
            .collect();
        let steps = Steps { provision, scripts, stamp };
        Ok(NodesPlan { changes, notes, commands, steps: ProviderSteps::Ssh(steps) })
    }

    fn bring_up(&self, plan: &NodesPlan, _ui: &Ui) -> Result<()> {
        let ProviderSteps::Ssh(steps) = &plan.steps else {
            bail!("internal error: the ssh provider was given another provider's plan")
        };
        // Every machine at once; each one's scripts in order.
        let outcomes = in_parallel(&steps.provision, |node| Ok(self.provision(node, steps)))?;
        let failures: Vec<String> =
            outcomes.into_iter().filter_map(|outcome| outcome.err()).map(|e| format!("{e:#}")).collect();
        match failures.len() {
            0 => Ok(()),
            1 => Err(anyhow!("{}", failures[0])),
            n => Err(anyhow!("{n} machines could not be provisioned:\n  {}", failures.join("\n  "))),
        }
    }

    fn machines(&self) -> Result<Vec<Machine>> {
        Ok(self
            .probe_all()?
            .into_iter()
            .map(|(node, probe)| match probe {
                Ok(probe) => {
                    let state = match probe.docker {
                        Docker::Running(_) => "running",
                        Docker::Stopped => "docker stopped",
                        Docker::Missing => "no docker",
                    };
                    Machine { node, state: state.to_string(), running: true, location: None }
                }
                Err(finding) => Machine { node, state: finding.state().to_string(), running: false, location: None },
            })
            .collect())
    }

    fn timeouts(&self) -> Timeouts {
        self.cluster.timeouts()
    }

    fn node_command(&self, node: &str, argv: &[String], io: NodeIo, limit: Option<Duration>) -> CommandSpec {
        let host = self.host(node);
        let remote = Self::as_root(host, &on_node_within(argv, limit));
        let spec = self.client.command(host, &remote, io == NodeIo::Terminal, &format!("run a command on {node}"));
        bounded(spec, limit)
    }

    fn shell_command(&self, node: &str) -> CommandSpec {
        // The user's own shell: no limit (see `RealRunner::run_interactive`).
        let host = self.host(node);
        let remote = match host.user.as_deref() {
            Some("root") => "exec \"${SHELL:-/bin/sh}\" -l",
            _ => "sudo -i",
        };
        self.client.command(host, remote, true, &format!("open a shell on {node}"))
    }

    fn daemon_log(&self, node: &str) -> CommandSpec {
        let argv: Vec<String> =
            ["journalctl", "--unit", "docker", "--no-pager", "--lines", "5000"].map(String::from).to_vec();
        let spec = self.node_command(node, &argv, NodeIo::Captured, Some(self.timeouts().limit(Wait::Read)));
        CommandSpec { purpose: format!("read {node}'s Docker log"), ..spec }.probe()
    }

    /// Nothing: the machines are not labctl's to power off (see `labctl down`).
    fn stop(&self) -> Result<usize> {
        Ok(0)
    }

    /// Leave the swarm labctl made (workers first, then the manager), remove
    /// the registry, the lab folders it made, the firewall rules it added and
    /// labctl's records on every machine that answers; the machines, Docker,
    /// /etc/hosts and daemon.json stay. Then
    /// close the connections. A machine that does not answer is an error
    /// naming it, after the others are done.
    fn destroy(&self) -> Result<Vec<String>> {
        let nodes = self.cluster.nodes();
        let workers: Vec<&str> = nodes.workers().iter().map(|node| node.name.as_str()).collect();
        let mut outcomes: Vec<(String, Result<String>)> =
            in_parallel(&workers, |node| Ok((node.to_string(), self.take_off(node))))?;
        let manager = &nodes.manager().name;
        outcomes.insert(0, (manager.clone(), self.take_off(manager)));
        for node in nodes.iter() {
            if let Some(close) = self.client.close_command(self.host(&node.name)) {
                // Nothing to close is fine: the connection may have ended.
                let _ = self.runner.run(&close.timeout(self.cluster.timeouts().limit(Wait::Read)));
            }
        }
        let failed: Vec<String> =
            outcomes.iter().filter_map(|(_, outcome)| outcome.as_ref().err()).map(|e| format!("{e:#}")).collect();
        if !failed.is_empty() {
            let done = outcomes.len() - failed.len();
            bail!("{} (the other {done} machines are done)", failed.join("; "));
        }
        let left = outcomes
            .iter()
            .filter(|(_, outcome)| outcome.as_ref().is_ok_and(|out| out.contains("left the swarm")))
            .count();
        let lines_with = |prefix: &str| -> Vec<String> {
            let mut lines: Vec<String> = outcomes
                .iter()
                .filter_map(|(_, outcome)| outcome.as_ref().ok())
                .flat_map(|out| out.lines().filter_map(|line| line.strip_prefix(prefix)).map(String::from))
                .collect();
            lines.sort_unstable();
            lines.dedup();
            lines
        };
        let kept = lines_with("kept ");
        let other_swarms = lines_with("kept-swarm ");
        let mut removed = vec![format!(
            "labctl's things from {} machines (swarm left on {left}, registry, the lab folders it made, {STATE_DIR})",
            outcomes.len()
        )];
        if !other_swarms.is_empty() {
            removed.push(format!(
                "kept the swarm on {} (labctl did not make it)",
                crate::mask::visible(&other_swarms.join(", "))
            ));
        }
        if !kept.is_empty() {
            removed.push(format!("kept {} (they were there before labctl seeded its labs)", kept.join(", ")));
        }
        let closed = outcomes
            .iter()
            .filter(|(_, outcome)| {
                outcome.as_ref().is_ok_and(|out| out.lines().any(|line| line.starts_with("closed ")))
            })
            .count();
        if closed > 0 {
            removed.push(format!("the firewall rules it opened on {closed} machines"));
        }
        if !lines_with("ufw's forward policy is ").is_empty() {
            removed.push("ufw's forward policy back to DROP".to_string());
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests;
