//! The docker provider: each node is a docker-in-docker container named
//! `<cluster>-<node>` on the bridge network `labctl-<cluster>`, with the
//! node's hostname, static IP and short name as a network alias. Nodes are
//! found through labels, never through a state file.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};

use super::{Machine, NodeChange, NodeIo, Provider, ProviderKind};
use crate::config::{Node, Role, Settings};
use crate::exec::{CommandSpec, Runner};
use crate::ui::Ui;

pub const CLUSTER_LABEL: &str = "labctl.cluster";
const NODE_LABEL: &str = "labctl.node";
const ROLE_LABEL: &str = "labctl.role";

/// How long a node's dockerd may take to answer after its container starts.
const DOCKERD_DEADLINE: Duration = Duration::from_secs(60);

/// The capability set DEVELOPERS.md establishes for hosts that refuse
/// `--privileged` ("unable to apply caps").
const EXPLICIT_CAPABILITIES: [&str; 14] = [
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
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup:rw",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    Privileged,
    ExplicitCapabilities,
}

pub struct DockerProvider<'a> {
    settings: &'a Settings,
    runner: &'a dyn Runner,
    /// Decided by the first container start of this run.
    security: OnceLock<Security>,
}

impl<'a> DockerProvider<'a> {
    pub fn new(settings: &'a Settings, runner: &'a dyn Runner) -> Self {
        DockerProvider { settings, runner, security: OnceLock::new() }
    }

    pub fn container(&self, node: &str) -> String {
        format!("{}-{node}", self.settings.cluster_name)
    }

    pub fn network(&self) -> String {
        format!("labctl-{}", self.settings.cluster_name)
    }

    fn cluster_filter(&self) -> String {
        format!("label={CLUSTER_LABEL}={}", self.settings.cluster_name)
    }

    fn ensure_network(&self) -> Result<()> {
        let network = self.network();
        let inspect = CommandSpec::new(
            "docker",
            &["network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", &network],
            "look for the cluster network",
        )
        .probe();
        let found = self.runner.run(&inspect)?;
        let subnet = self.settings.subnet.to_string();
        if found.success() {
            if found.stdout.split_whitespace().any(|existing| existing == subnet) {
                return Ok(());
            }
            bail!(
                "docker network {network} has subnet {}, but labctl.toml says {subnet}; run `labctl destroy` first to recreate it",
                found.stdout.trim()
            );
        }
        let gateway = self.settings.subnet.hosts().next().expect("validated subnets have hosts").to_string();
        let create = CommandSpec::new(
            "docker",
            &["network", "create", "--driver", "bridge", "--subnet", &subnet, "--gateway", &gateway],
            "create the cluster network",
        )
        .args([
            "--label".to_string(),
            format!("{CLUSTER_LABEL}={}", self.settings.cluster_name),
            network.clone(),
        ]);
        let created = self.runner.run(&create)?;
        if !created.success() && created.stderr.contains("Pool overlaps") {
            bail!(
                "cannot create docker network {network}: {subnet} overlaps a network this host already has (a VirtualBox host-only adapter or another docker network); remove it or pick another [cluster] subnet"
            );
        }
        created.checked(&create).map(|_| ())
    }

    /// `docker run` for one node, with the given security flags.
    fn run_command(&self, node: &Node, security: Security) -> CommandSpec {
        let cluster = &self.settings.cluster_name;
        let role = match node.role {
            Role::Manager => "manager",
            Role::Worker => "worker",
        };
        let mut spec = CommandSpec::new("docker", &["run", "--detach"], &format!("start node {}", node.name)).args([
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
            "--mount".into(),
            format!(
                "type=volume,src={cluster}-{}-docker,dst=/var/lib/docker,volume-label={CLUSTER_LABEL}={cluster}",
                node.name
            ),
            // docker:dind would otherwise generate TLS certificates and listen on 2376.
            "--env".into(),
            "DOCKER_TLS_CERTDIR=".into(),
        ]);
        spec = match security {
            Security::Privileged => spec.arg("--privileged"),
            Security::ExplicitCapabilities => spec.args(EXPLICIT_CAPABILITIES),
        };
        for forward in self.settings.forwards.iter().filter(|forward| forward.node == node.name) {
            // Loopback only: the visualizer exposes the docker socket.
            spec = spec.args([
                "--publish".to_string(),
                format!("127.0.0.1:{}:{}/{}", forward.host, forward.guest, forward.protocol),
            ]);
        }
        spec.arg(self.settings.node_image.clone()).args(self.dockerd_command())
    }

    fn dockerd_command(&self) -> Vec<String> {
        let mut command = vec![
            "dockerd".to_string(),
            "--host=unix:///var/run/docker.sock".into(),
            "--storage-driver=overlay2".into(),
        ];
        if let Some(registry) = &self.settings.registry {
            command.push(format!("--insecure-registry={}", registry.address()));
        }
        if let Some(mirror) = &self.settings.registry_mirror {
            command.push(format!("--registry-mirror={mirror}"));
        }
        command
    }

    /// Start one node's container, choosing the security flags on the first
    /// start of this run: `--privileged`, or where the host refuses it, the
    /// explicit capability set.
    fn create_node(&self, node: &Node, ui: &Ui) -> Result<()> {
        if let Some(security) = self.security.get() {
            return self.runner.run_checked(&self.run_command(node, *security)).map(|_| ());
        }
        let privileged = self.run_command(node, Security::Privileged);
        let output = self.runner.run(&privileged)?;
        if output.success() {
            let _ = self.security.set(Security::Privileged);
            return Ok(());
        }
        if !output.stderr.contains("unable to apply caps") {
            return output.checked(&privileged).map(|_| ());
        }
        ui.note("this host refuses --privileged (unable to apply caps); starting nodes with an explicit capability set instead");
        self.remove_containers(&[self.container(&node.name)])?;
        let _ = self.security.set(Security::ExplicitCapabilities);
        self.runner.run_checked(&self.run_command(node, Security::ExplicitCapabilities)).map(|_| ())
    }

    fn remove_containers(&self, containers: &[String]) -> Result<()> {
        if containers.is_empty() {
            return Ok(());
        }
        let spec =
            CommandSpec::new("docker", &["rm", "--force", "--volumes"], "remove node containers").args(containers);
        self.runner.run_checked(&spec).map(|_| ())
    }

    /// Wait until `node`'s dockerd answers, polling inside the container.
    fn wait_for_dockerd(&self, node: &str) -> Result<()> {
        let tries = DOCKERD_DEADLINE.as_millis() / 100;
        let poll = format!(
            "i=0; until docker info >/dev/null 2>&1; do i=$((i+1)); [ \"$i\" -ge {tries} ] && exit 1; sleep 0.1; done"
        );
        let argv = vec!["sh".to_string(), "-c".to_string(), poll];
        let spec = self.node_command(node, &argv, NodeIo::Captured).timeout(DOCKERD_DEADLINE + Duration::from_secs(10));
        let spec = CommandSpec { purpose: format!("wait for Docker on {node}"), ..spec };
        let answered = self.runner.run(&spec).map(|output| output.success()).unwrap_or(false);
        if answered {
            return Ok(());
        }
        let logs =
            CommandSpec::new("docker", &["logs", "--tail", "8", &self.container(node)], "read the node's log").probe();
        let tail = self.runner.run(&logs).map(|output| output.tail(8)).unwrap_or_default();
        Err(anyhow!(
            "node {node}: Docker did not answer within {}s; its last log lines: {tail}",
            DOCKERD_DEADLINE.as_secs()
        ))
    }

    fn list_containers(&self) -> Result<Vec<(String, String)>> {
        let format = format!("{{{{.Label \"{NODE_LABEL}\"}}}}\t{{{{.State}}}}");
        let spec = CommandSpec::new(
            "docker",
            &["ps", "--all", "--filter", &self.cluster_filter(), "--format", &format],
            "list the node containers",
        )
        .probe();
        let output = self.runner.run_checked(&spec)?;
        Ok(output
            .stdout
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .map(|(node, state)| (node.to_string(), state.to_string()))
            .collect())
    }

    /// IDs of every container of the cluster, running or not.
    fn all_containers(&self) -> Result<Vec<String>> {
        let spec = CommandSpec::new(
            "docker",
            &["ps", "--all", "--quiet", "--filter", &self.cluster_filter()],
            "list the node containers",
        )
        .probe();
        Ok(self.runner.run_checked(&spec)?.stdout.split_whitespace().map(String::from).collect())
    }

    /// Names of the cluster's volumes or networks (`kind`).
    fn labelled(&self, kind: &str) -> Result<Vec<String>> {
        let spec = CommandSpec::new(
            "docker",
            &[kind, "ls", "--quiet", "--filter", &self.cluster_filter()],
            &format!("list the cluster's {kind}s"),
        )
        .probe();
        Ok(self.runner.run_checked(&spec)?.stdout.split_whitespace().map(String::from).collect())
    }
}

/// Run `work` for every item at once, one thread each; the first error wins.
pub(crate) fn in_parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> Result<R> + Sync) -> Result<Vec<R>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = items.iter().map(|item| scope.spawn(|| work(item))).collect();
        handles.into_iter().map(|handle| handle.join().expect("worker thread panicked")).collect()
    })
}

impl Provider for DockerProvider<'_> {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Docker
    }

    fn bring_up(&self, ui: &Ui) -> Result<Vec<(String, NodeChange)>> {
        let existing = self.list_containers()?;
        self.ensure_network()?;
        let state_of =
            |node: &Node| existing.iter().find(|(name, _)| name == &node.name).map(|(_, state)| state.as_str());

        let mut changes = Vec::new();
        let mut to_start = Vec::new();
        let mut to_create = Vec::new();
        for node in &self.settings.nodes {
            match state_of(node) {
                Some("running") => changes.push((node.name.clone(), NodeChange::AlreadyRunning)),
                Some(_) => to_start.push(node),
                None => to_create.push(node),
            }
        }
        if !to_start.is_empty() {
            let names: Vec<String> = to_start.iter().map(|node| self.container(&node.name)).collect();
            self.runner.run_checked(&CommandSpec::new("docker", &["start"], "start the stopped nodes").args(names))?;
            changes.extend(to_start.iter().map(|node| (node.name.clone(), NodeChange::Started)));
        }
        // The first creation decides the security flags; the rest start together.
        if let Some((first, rest)) = to_create.split_first() {
            self.create_node(first, ui)?;
            in_parallel(rest, |node| self.create_node(node, ui))?;
            changes.extend(to_create.iter().map(|node| (node.name.clone(), NodeChange::Created)));
        }
        let waiting: Vec<&str> = to_start.iter().chain(&to_create).map(|node| node.name.as_str()).collect();
        in_parallel(&waiting, |node| self.wait_for_dockerd(node))?;
        Ok(changes)
    }

    fn machines(&self) -> Result<Vec<Machine>> {
        let existing = self.list_containers()?;
        Ok(self
            .settings
            .nodes
            .iter()
            .map(|node| {
                let state = existing.iter().find(|(name, _)| name == &node.name).map(|(_, state)| state.clone());
                Machine {
                    node: node.name.clone(),
                    running: state.as_deref() == Some("running"),
                    state: state.unwrap_or_else(|| "missing".into()),
                }
            })
            .collect())
    }

    fn node_command(&self, node: &str, argv: &[String], io: NodeIo) -> CommandSpec {
        let flags: &[&str] = match io {
            NodeIo::Captured => &[],
            NodeIo::Stdin => &["--interactive"],
            NodeIo::Terminal => &["--interactive", "--tty"],
        };
        CommandSpec::new("docker", &["exec"], &format!("run a command on {node}"))
            .args(flags.iter().copied())
            .arg(self.container(node))
            .args(argv.iter().cloned())
    }

    fn shell_command(&self, node: &str) -> CommandSpec {
        let login = "if command -v bash >/dev/null; then exec bash -l; else exec sh -l; fi".to_string();
        let argv = vec!["sh".to_string(), "-c".to_string(), format!("cd; {login}")];
        self.node_command(node, &argv, NodeIo::Terminal)
    }

    fn stop(&self) -> Result<usize> {
        let running: Vec<String> = self
            .list_containers()?
            .into_iter()
            .filter(|(_, state)| state == "running")
            .map(|(node, _)| self.container(&node))
            .collect();
        if !running.is_empty() {
            let spec = CommandSpec::new("docker", &["stop", "--time", "10"], "stop the nodes").args(running.clone());
            self.runner.run_checked(&spec)?;
        }
        Ok(running.len())
    }

    fn destroy(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        let containers = self.all_containers()?;
        if !containers.is_empty() {
            self.remove_containers(&containers)?;
            removed.push(format!("{} containers", containers.len()));
        }
        let volumes = self.labelled("volume")?;
        if !volumes.is_empty() {
            let spec = CommandSpec::new("docker", &["volume", "rm"], "remove the nodes' volumes").args(volumes.clone());
            self.runner.run_checked(&spec)?;
            removed.push(format!("{} volumes", volumes.len()));
        }
        let networks = self.labelled("network")?;
        if !networks.is_empty() {
            let spec =
                CommandSpec::new("docker", &["network", "rm"], "remove the cluster network").args(networks.clone());
            self.runner.run_checked(&spec)?;
            removed.push(format!("network {}", self.network()));
        }
        Ok(removed)
    }
}
