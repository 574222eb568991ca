//! The incus provider: every node an unprivileged Incus system container
//! (`security.nesting`, so that its own dockerd runs), made from labctl's
//! node image imported into Incus (see [`image`]). A class's seats share
//! one Incus project; each seat has a bridge network of its own, on
//! `cluster.subnet`, with each node at its configured address. The
//! students' SSH port and the `[[forward]]`s are Incus proxy devices on
//! the manager (or the forward's node); `[resources]` are the instance's
//! limits. Everything labctl makes carries `user.labctl.*` keys, by which
//! it is found and removed.
//!
//! A node has no init of its own: `lxc.init.cmd` runs
//! `node/incus-init.sh` (pushed into it before its first start), which
//! gives it its name, address, the other nodes' names and the cgroups a
//! cgroup v1 host leaves unmounted, then runs dockerd under tini.

pub mod cli;
pub mod firewall;
pub mod image;
pub mod inventory;
mod network;
mod placement;

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use self::cli::{IncusCli, Instance};
use super::labels::{another_workspace, foreign_workspace};
use super::node_image::NodeImage;
use super::{
    bounded, on_node_within, Isolation, Machine, NodeChange, NodeIo, NodesPlan, Preparation, Provider, ProviderKind,
    ProviderSteps, TaggedShell, SHELL_TAG,
};
use crate::config::{Cluster, Node, Role};
use crate::exec::{shell_line, CommandSpec, Runner};
use crate::parallel::in_parallel;
use crate::templates::Templates;
use crate::timeouts::{Timeouts, Wait};
use crate::ui::Ui;

/// The node's init, rendered for each node.
const INIT_TEMPLATE: &str = "node/incus-init.sh.tera";
/// Where a node's init is.
const INIT_PATH: &str = "/usr/local/sbin/labctl-init";
const WAIT_FOR_DOCKER_SCRIPT: &str = "node/wait-for-docker.sh.tera";
/// How long a node's dockerd may take to answer after it starts.
const DOCKERD_DEADLINE: Duration = Duration::from_secs(90);
/// Runs its arguments, then prints its name (`$0`, the trailer) on a line
/// of its own, and exits as they did (see [`crate::exec::CommandSpec::trailer`]).
const TRAILER_SCRIPT: &str = "\"$@\"; code=$?; printf '\\n%s\\n' \"$0\"; exit \"$code\"";
/// How often, and after how long, nodes Incus calls "already running"
/// but that do not run are started again (see `start_nodes`).
const START_RETRIES: usize = 2;
const START_RETRY_PAUSE: Duration = Duration::from_secs(2);
/// A node's state when the seat has no instance of it.
const MISSING: &str = "missing";
/// Where a node's init writes dockerd's output.
const DOCKERD_LOG: &str = "/var/log/labctl/dockerd.log";

/// The `user.*` keys labctl puts on what it makes (without `user.`).
const CLUSTER_KEY: &str = "labctl.cluster";
const NODE_KEY: &str = "labctl.node";
const ROLE_KEY: &str = "labctl.role";
const WORKSPACE_KEY: &str = "labctl.workspace";
const CLASS_KEY: &str = "labctl.class";
const SEAT_KEY: &str = "labctl.seat";
/// The node image's alias in Incus, for `destroy` without the workspace.
const IMAGE_KEY: &str = "labctl.image";

/// Held while the class's shared things are made (see `bring_up`).
static CLASS_SETUP: std::sync::Mutex<()> = std::sync::Mutex::new(());
/// Held while a seat's first node is placed on a cluster member, so that
/// Incus counts the seats placed before (see `bring_up`).
static PLACEMENT: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct IncusProvider<'a> {
    cluster: &'a Cluster<'a>,
    runner: &'a dyn Runner,
}

/// What the incus provider's part of a [`NodesPlan`] runs.
#[derive(Debug)]
pub(super) struct Steps {
    create_project: Option<CommandSpec>,
    /// On a cluster, the network on each member first, then as a whole.
    create_network: Vec<CommandSpec>,
    /// Whether Incus is a cluster: the seat's nodes then go on the member
    /// Incus places its manager on, where its bridge is.
    clustered: bool,
    /// Whether Incus lacks the node image: it is imported, as `alias`.
    import: bool,
    /// `docker build` of labctl's node image, when this host lacks it.
    build: Option<CommandSpec>,
    image: NodeImage,
    alias: String,
    /// Each new node, with its init script.
    create: Vec<(String, String)>,
    /// The instances to start, as `incus start` names them.
    start: Vec<String>,
    wait_script: String,
}

impl<'a> IncusProvider<'a> {
    pub fn new(cluster: &'a Cluster<'a>, runner: &'a dyn Runner) -> Self {
        IncusProvider { cluster, runner }
    }

    fn cli(&self) -> IncusCli {
        IncusCli::new(self.cluster.incus(), self.cluster.timeouts())
    }

    fn timeouts(&self) -> Timeouts {
        self.cluster.timeouts()
    }

    /// The instance of `node`: `<cluster>-<node>`.
    pub fn instance(&self, node: &str) -> String {
        format!("{}-{node}", self.cluster.name())
    }

    /// The seat's bridge: a Linux interface name (at most 15 characters),
    /// so a short digest of the cluster's name.
    pub fn network(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(self.cluster.name().as_bytes());
        let hex: String = digest.iter().take(4).map(|byte| format!("{byte:02x}")).collect();
        format!("labctl{hex}")
    }

    /// The keys every thing of this seat carries, as `user.K=V` words.
    fn keys(&self) -> Vec<String> {
        let mut keys = vec![format!("user.{CLUSTER_KEY}={}", self.cluster.name())];
        if let Some(workspace) = self.cluster.workspace().to_str().filter(|path| !path.is_empty()) {
            keys.push(format!("user.{WORKSPACE_KEY}={workspace}"));
        }
        let seat = self.cluster.seat_of_class();
        if !seat.is_only() {
            keys.push(format!("user.{CLASS_KEY}={}", self.cluster.class_name()));
            keys.push(format!("user.{SEAT_KEY}={}", seat.number));
        }
        keys
    }

    /// The seat's instances, once sure they are this workspace's.
    fn instances(&self) -> Result<Vec<Instance>> {
        let cli = self.cli();
        let list = cli.listing(&["list"], true, "list the nodes");
        let listed = self.runner.run(&list)?;
        if !listed.success() {
            if listed.stderr.contains("not found") || listed.stderr.contains("Project not found") {
                return Ok(Vec::new());
            }
            return Err(anyhow!(
                "Incus does not answer ({}): {}; is incusd running? `incus info` says more, and `labctl doctor` what to do",
                list,
                listed.tail(2)
            ));
        }
        let ours: Vec<Instance> = cli::instances(&listed.stdout)?
            .into_iter()
            .filter_map(|instance| self.unreachable_node(instance))
            .filter(|instance| instance.label(CLUSTER_KEY) == Some(self.cluster.name()))
            .collect();
        let made_from = ours.iter().filter_map(|instance| instance.label(WORKSPACE_KEY));
        if let Some(other) = foreign_workspace(made_from, self.cluster.workspace()) {
            let what = format!("cluster {}", self.cluster.name());
            bail!("{}", another_workspace(&what, "its nodes were made", &other, self.cluster));
        }
        Ok(ours)
    }

    /// (node, status) of each of the seat's instances.
    fn states(&self) -> Result<Vec<(String, String)>> {
        Ok(states(&self.instances()?))
    }

    /// The class's project, made when missing: it shares the default
    /// project's images, profiles, networks and storage volumes.
    fn plan_project(&self) -> Result<Option<CommandSpec>> {
        let cli = self.cli();
        let listed =
            self.runner.run(&cli.listing(&["project", "list"], false, "look for the class's Incus project"))?;
        if !listed.success() {
            bail!(
                "Incus does not answer (`incus project list`): {}; is incusd running? `labctl doctor` says what to do",
                listed.tail(2)
            );
        }
        if cli::lists(&listed.stdout, cli.project()).is_some() {
            return Ok(None);
        }
        let project = cli.on_remote(cli.project());
        let create = cli
            .global(Wait::Change, &["project", "create", &project], "create the class's Incus project")
            .args(
                [
                    "features.images=false",
                    "features.profiles=false",
                    "features.networks=false",
                    "features.storage.volumes=false",
                ]
                .into_iter()
                .flat_map(|feature| ["--config".to_string(), feature.to_string()]),
            )
            .args(["--config".to_string(), format!("user.{CLASS_KEY}={}", self.cluster.class_name())]);
        Ok(Some(create))
    }

    /// The dockerd command line of every node.
    fn dockerd_command(&self) -> Vec<String> {
        let mut command = vec![
            "dockerd".to_string(),
            "--host=unix:///var/run/docker.sock".into(),
            format!("--log-opt=max-size={}m", self.cluster.log_mb()),
            "--log-opt=max-file=2".into(),
        ];
        if let Some(registry) = self.cluster.registry() {
            command.push(format!("--insecure-registry={}", registry.address()));
        }
        if let Some(mirror) = self.cluster.registry_mirror() {
            command.push(format!("--registry-mirror={mirror}"));
        }
        command
    }

    /// `node`'s init, rendered.
    fn init_script(&self, node: &Node, templates: &Templates) -> Result<String> {
        let mut context = tera::Context::new();
        context.insert("labctl_version", env!("CARGO_PKG_VERSION"));
        context.insert("cluster", self.cluster.name());
        context.insert("node", &node.name);
        context.insert("address", &format!("{}/{}", node.ip, self.cluster.subnet().prefix_len()));
        context.insert("gateway", &self.gateway().to_string());
        let hosts: Vec<serde_json::Value> = self
            .cluster
            .nodes()
            .iter()
            .map(|other| serde_json::json!({ "ip": other.ip.to_string(), "name": other.name }))
            .collect();
        context.insert("hosts", &hosts);
        context.insert("dockerd", &shell_line(&self.dockerd_command()));
        context.insert("log_mb", &self.cluster.log_mb());
        templates.render(INIT_TEMPLATE, &context)
    }

    /// `incus init` of one node: its image, disk, network, limits, keys and init.
    /// On a cluster, `target` is the member (the manager's) or `None`:
    /// the member Incus chooses.
    fn init_command(&self, node: &Node, alias: &str, target: Option<&str>) -> CommandSpec {
        let cli = self.cli();
        let role = match node.role {
            Role::Manager => "manager",
            Role::Worker => "worker",
        };
        let raw_lxc = format!("lxc.init.cmd = {INIT_PATH}\nlxc.signal.halt = SIGTERM");
        let config = [
            "security.nesting=true".to_string(),
            format!("raw.lxc={raw_lxc}"),
            format!("limits.memory={}MiB", node.memory_mb),
            format!("limits.cpu={}", node.cpus),
            format!("limits.processes={}", node.pids),
            format!("user.{NODE_KEY}={}", node.name),
            format!("user.{ROLE_KEY}={role}"),
            format!("user.{IMAGE_KEY}={alias}"),
        ]
        .into_iter()
        .chain(self.keys());
        cli.in_project(
            Wait::Long,
            &["init", &cli.on_remote(alias), &cli.on_remote(&self.instance(&node.name))],
            &format!("make node {}", node.name),
        )
        .args(["--no-profiles", "--storage", &self.cluster.incus().storage_pool, "--network", &self.network()])
        .args(target.into_iter().flat_map(|member| ["--target".to_string(), member.to_string()]))
        .args(config.flat_map(|key| ["--config".to_string(), key]))
    }

    /// The proxy devices of `node`: the students' SSH port on the manager
    /// (on the server it runs on: cluster member `member`), and each
    /// `[[forward]]` to it on that server's loopback.
    fn proxy_devices(&self, node: &Node, member: Option<&str>) -> Result<Vec<(String, String)>> {
        let mut devices = Vec::new();
        if let Some((_, port)) = self.cluster.student_access().filter(|_| node.role == Role::Manager) {
            let bind = super::listen::url_host(&self.ssh_listen(member)?.0);
            devices.push(("labctl-ssh".to_string(), format!("tcp:{bind}:{port}|tcp:127.0.0.1:22")));
        }
        for forward in self.cluster.forwards_to(&node.name) {
            let protocol = &forward.protocol;
            devices.push((
                format!("labctl-{protocol}-{}", forward.guest),
                format!("{protocol}:127.0.0.1:{}|{protocol}:127.0.0.1:{}", forward.host, forward.guest),
            ));
        }
        Ok(devices)
    }

    /// Make `node`: the instance, its init, its proxy devices (not
    /// started). On a cluster, on member `target`, or where Incus places it
    /// when `None`; the member it is on comes back.
    fn create_node(&self, node: &Node, steps: &Steps, init: &str, target: Option<&str>) -> Result<Option<String>> {
        let cli = self.cli();
        let (alias, clustered) = (steps.alias.as_str(), steps.clustered);
        {
            let _placing = (clustered && target.is_none())
                .then(|| PLACEMENT.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            let made = self.runner.run(&self.init_command(node, alias, target))?;
            if !made.success() {
                // Another class's `destroy` may have removed the node image
                // since this `up` found it: imported again, once.
                self.import_again(steps)?;
                self.runner.run_checked(&self.init_command(node, alias, target))?;
            }
        }
        let member = match (clustered, target) {
            (false, _) => None,
            (true, Some(target)) => Some(target.to_string()),
            (true, None) => Some(self.location_of(&node.name)?.ok_or_else(|| {
                anyhow!("Incus did not say which cluster member node {} of {} is on", node.name, self.cluster.name())
            })?),
        };
        let instance = cli.on_remote(&self.instance(&node.name));
        let script = tempfile::Builder::new()
            .prefix("labctl-incus-init-")
            .tempfile()
            .context("cannot write a node's init on this host")?;
        std::fs::write(script.path(), init).context("cannot write a node's init on this host")?;
        let push = cli
            .in_project(
                Wait::Change,
                &["--quiet", "file", "push", "--uid", "0", "--gid", "0", "--mode", "0755"],
                &format!("give {} its init", node.name),
            )
            .arg(script.path().display().to_string())
            .arg(format!("{instance}{INIT_PATH}"));
        self.runner.run_checked(&push)?;
        for (device, ends) in self.proxy_devices(node, member.as_deref())? {
            let (listen, connect) = ends.split_once('|').expect("made with a |");
            let add = cli
                .in_project(
                    Wait::Change,
                    &["config", "device", "add", &instance, &device, "proxy"],
                    &format!("publish {device} of {}", node.name),
                )
                .args([format!("listen={listen}"), format!("connect={connect}")]);
            self.runner.run_checked(&add)?;
        }
        Ok(member)
    }

    /// `incus start` of `instances`.
    fn start_command(&self, instances: &[String], purpose: &str) -> CommandSpec {
        self.cli().in_project(Wait::Change, &["start"], purpose).args(instances.iter().cloned())
    }

    /// Start `instances`. One whose stop has not quite ended (a `down` just
    /// before, under load) makes Incus say "already running" and leave it
    /// stopped: those that do not run are started again, 2 s later, twice
    /// at most.
    fn start_nodes(&self, instances: &[String]) -> Result<()> {
        let mut start = self.start_command(instances, "start the nodes");
        let mut attempt = 0;
        loop {
            let started = self.runner.run(&start)?;
            if started.success() {
                return Ok(());
            }
            let running = self.running_instances()?;
            let left: Vec<String> = instances.iter().filter(|name| !running.contains(name)).cloned().collect();
            if left.is_empty() {
                return Ok(());
            }
            if attempt == START_RETRIES || !started.stderr.contains("already running") {
                return started.checked(&start).map(|_| ());
            }
            std::thread::sleep(START_RETRY_PAUSE);
            start = self.start_command(&left, "start the nodes whose stop had not ended");
            attempt += 1;
        }
    }

    /// The node image, imported again when Incus no longer has it.
    fn import_again(&self, steps: &Steps) -> Result<()> {
        let _one_at_a_time = CLASS_SETUP.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.import_unless_there(steps, None)
    }

    /// The node image imported into Incus as `steps.alias`, unless Incus
    /// has it (another seat of the class may have imported it meanwhile);
    /// built first with `build` where this host's Docker lacks it. Run
    /// under `CLASS_SETUP`.
    fn import_unless_there(&self, steps: &Steps, build: Option<&CommandSpec>) -> Result<()> {
        if image::imported(&self.cli(), self.runner, &steps.alias)? {
            return Ok(());
        }
        if let Some(build) = build {
            steps.image.build(build, self.cluster.engine(), self.runner, &self.timeouts())?;
        }
        image::import(&self.cli(), self.runner, &self.timeouts(), steps.image.name(), &steps.alias)
    }

    /// Wait until `node`'s dockerd answers; its console log says why not.
    fn wait_for_dockerd(&self, node: &str, script: &str) -> Result<()> {
        let deadline = self.timeouts().scaled(DOCKERD_DEADLINE);
        if super::docker_answers(self, self.runner, node, script, deadline) {
            return Ok(());
        }
        let tail = self.runner.run(&self.daemon_log(node)).map(|output| output.tail(8)).unwrap_or_default();
        Err(anyhow!(
            "node {node}: Docker did not answer within {}s; its Docker log's last lines: {tail}",
            deadline.as_secs()
        ))
    }

    /// Once the class's project holds no instance: the project, and the
    /// node image when no other project's nodes came from it.
    fn remove_project_when_empty(&self, alias: Option<&str>) -> Result<Vec<String>> {
        let cli = self.cli();
        let left = self.runner.run(&cli.listing(&["list"], true, "look for the class's other nodes"))?;
        if !left.success() || !cli::instances(&left.stdout)?.is_empty() {
            return Ok(Vec::new());
        }
        let mut removed = Vec::new();
        let project = cli.on_remote(cli.project());
        let delete = cli.global(Wait::Change, &["project", "delete", &project], "remove the class's Incus project");
        if self.runner.run(&delete)?.success() {
            removed.push(format!("Incus project {}", cli.project()));
        }
        if let Some(alias) = alias.filter(|alias| !self.image_in_use(alias)) {
            if image::imported(&cli, self.runner, alias)? && self.runner.run(&image::delete(&cli, alias))?.success() {
                removed.push(format!("image {alias}"));
            }
        }
        Ok(removed)
    }

    /// Whether another class's nodes (in any project) say they came from
    /// image `alias`: it stays for their next `up`. When Incus cannot tell,
    /// it stays too.
    fn image_in_use(&self, alias: &str) -> bool {
        let list = self.cli().all_projects_listing("look for other classes' nodes");
        let Ok(listed) = self.runner.run(&list) else { return true };
        let instances = match listed.success() {
            true => cli::instances(&listed.stdout).unwrap_or_default(),
            false => return true,
        };
        instances.iter().any(|instance| instance.label(IMAGE_KEY) == Some(alias))
    }
}

impl Provider for IncusProvider<'_> {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Incus
    }

    fn isolation(&self) -> Isolation {
        Isolation::SystemContainer
    }

    /// A forward is a proxy device: on this host when Incus is this host's.
    fn forwards_here(&self) -> bool {
        self.cluster.incus().remote.is_none()
    }

    /// The cluster member the manager runs on (Incus places each node);
    /// outside a cluster, the remote, or this host's Incus.
    fn placement(&self, machines: &[Machine]) -> Option<String> {
        let manager = &self.cluster.nodes().manager().name;
        let machine = machines.iter().find(|machine| machine.node == *manager && machine.state != MISSING)?;
        Some(match &machine.location {
            None => self.cluster.placed_on(),
            Some(member) => format!("{}/{member}", self.cluster.placed_on()),
        })
    }

    /// On a remote or a cluster: the address of the server the manager runs on.
    fn students_address(&self) -> Option<(String, String)> {
        let member = self.location_of(&self.cluster.nodes().manager().name).ok()?;
        if self.cluster.incus().remote.is_none() && member.is_none() {
            return None;
        }
        self.ssh_listen(member.as_deref()).ok()
    }

    fn prepare(&self, _templates: &Templates) -> Result<Option<Preparation>> {
        Ok(None)
    }

    fn plan_nodes(&self, _ui: &Ui, templates: &Templates) -> Result<NodesPlan> {
        let create_project = self.plan_project()?;
        let existing = match create_project {
            Some(_) => Vec::new(),
            None => self.states()?,
        };
        let members = self.members()?;
        let create_network = self.plan_network(&members)?;
        let changes: Vec<(String, NodeChange)> = self
            .cluster
            .nodes()
            .iter()
            .map(|node| {
                let change =
                    match existing.iter().find(|(name, _)| *name == node.name).map(|(_, status)| status.as_str()) {
                        Some("running") => NodeChange::AlreadyRunning,
                        Some(_) => NodeChange::Started,
                        None => NodeChange::Created,
                    };
                (node.name.clone(), change)
            })
            .collect();
        let to_create: Vec<&Node> = self
            .cluster
            .nodes()
            .iter()
            .zip(&changes)
            .filter(|(_, (_, change))| *change == NodeChange::Created)
            .map(|(node, _)| node)
            .collect();
        let image = NodeImage::for_cluster(self.cluster, templates)?;
        let alias = image::alias(image.name());
        let cli = self.cli();
        let import = !to_create.is_empty() && !image::imported(&cli, self.runner, &alias)?;
        let build = match import {
            true => image.build_command(self.cluster.engine(), self.runner, &self.timeouts())?,
            false => None,
        };
        let create = to_create
            .iter()
            .map(|node| Ok((node.name.clone(), self.init_script(node, templates)?)))
            .collect::<Result<Vec<_>>>()?;
        let to_start: Vec<String> = changes
            .iter()
            .filter(|(_, change)| matches!(change, NodeChange::Created | NodeChange::Started))
            .map(|(node, _)| cli.on_remote(&self.instance(node)))
            .collect();
        let mut commands: Vec<CommandSpec> =
            create_project.iter().chain(&create_network).chain(&build).cloned().collect();
        commands.extend(to_create.iter().map(|node| self.init_command(node, &alias, None)));
        commands.extend((!to_start.is_empty()).then(|| self.start_command(&to_start, "start the nodes")));
        let mut notes = Vec::new();
        if build.is_some() {
            notes.push(image.build_note());
        }
        if import {
            notes.push(format!("node image {} is not in Incus yet: it is exported from this host's Docker and imported once, as {alias}", image.name()));
        }
        let wait_script = templates.node_script(WAIT_FOR_DOCKER_SCRIPT)?;
        let clustered = !members.is_empty();
        let steps = Steps {
            create_project,
            create_network,
            clustered,
            import,
            build,
            image,
            alias,
            create,
            start: to_start,
            wait_script,
        };
        Ok(NodesPlan { changes, notes, commands, steps: ProviderSteps::Incus(Box::new(steps)) })
    }

    fn bring_up(&self, plan: &NodesPlan, _ui: &Ui) -> Result<()> {
        let ProviderSteps::Incus(steps) = &plan.steps else {
            bail!("internal error: the incus provider was given another provider's plan")
        };
        {
            // What the class's seats share (its project, the image) is made
            // once: the seats of `up --seat all` come up side by side.
            let _one_at_a_time = CLASS_SETUP.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(create) = &steps.create_project {
                if self.plan_project()?.is_some() {
                    self.runner.run_checked(create)?;
                }
            }
            if steps.import {
                self.import_unless_there(steps, steps.build.as_ref())?;
            }
        }
        for create in &steps.create_network {
            self.runner.run_checked(create)?;
        }
        self.open_bridge()?;
        let nodes: Vec<&Node> = self
            .cluster
            .nodes()
            .iter()
            .filter(|node| steps.create.iter().any(|(name, _)| *name == node.name))
            .collect();
        let init_of = |node: &Node| {
            steps.create.iter().find(|(name, _)| *name == node.name).map(|(_, init)| init.clone()).unwrap_or_default()
        };
        let (first, rest): (Vec<&Node>, Vec<&Node>) = match steps.clustered {
            // The manager first, where Incus places it; the others beside
            // it, on its bridge.
            true => nodes.iter().partition(|node| node.role == Role::Manager),
            false => (Vec::new(), nodes),
        };
        let mut member = None;
        for node in first {
            member = self.create_node(node, steps, &init_of(node), None)?;
        }
        if steps.clustered && member.is_none() {
            member = self.location_of(&self.cluster.nodes().manager().name)?;
        }
        in_parallel(&rest, |node| self.create_node(node, steps, &init_of(node), member.as_deref()).map(|_| ()))?;
        if !steps.start.is_empty() {
            self.start_nodes(&steps.start)?;
        }
        let waiting = self.cluster.nodes().names();
        in_parallel(&waiting, |node| self.wait_for_dockerd(node, &steps.wait_script))?;
        Ok(())
    }

    fn machines(&self) -> Result<Vec<Machine>> {
        let instances = self.instances()?;
        let mut machines = Machine::for_nodes(self.cluster.nodes(), &states(&instances), MISSING);
        for machine in &mut machines {
            let instance = instances.iter().find(|instance| instance.label(NODE_KEY) == Some(&machine.node));
            machine.location = instance.and_then(placement::member);
        }
        Ok(machines)
    }

    fn timeouts(&self) -> Timeouts {
        self.cluster.timeouts()
    }

    fn node_command(&self, node: &str, argv: &[String], io: NodeIo, limit: Option<Duration>) -> CommandSpec {
        let cli = self.cli();
        let mode = match io {
            NodeIo::Captured | NodeIo::Stdin => "--force-noninteractive",
            NodeIo::Terminal => "--force-interactive",
        };
        let spec = cli
            .unbounded(&["exec", &cli.on_remote(&self.instance(node)), mode], &format!("run a command on {node}"))
            .arg("--");
        let within = on_node_within(argv, limit);
        // `incus exec` (6.0) now and then loses a command's output when
        // several run at once, exit status 0 and all: the node prints a
        // line of labctl's after it, and the runner checks that it came.
        let spec = match (io, crate::exec::batch::boundary()) {
            (NodeIo::Captured, Ok(trailer)) => spec
                .args(["sh".to_string(), "-c".into(), TRAILER_SCRIPT.into(), trailer.clone()])
                .args(within)
                .trailer(trailer),
            _ => spec.args(within),
        };
        bounded(spec, limit)
    }

    fn shell_command(&self, node: &str) -> CommandSpec {
        self.shell(node, &[])
    }

    /// As the docker provider's (see there): each terminal's shell carries
    /// `LABCTL_SHELL=tag`, by which what is left of it is ended.
    fn tagged_shell(&self, node: &str, tag: &str, templates: &Templates) -> Result<TaggedShell> {
        let open = self.shell(node, &["--env".to_string(), format!("{SHELL_TAG}={tag}")]);
        Ok(TaggedShell { open, hang_up: Some(super::hang_up(self, node, tag, templates)?) })
    }

    fn daemon_log(&self, node: &str) -> CommandSpec {
        // The node's init sends dockerd's output there (node/incus-init.sh).
        let argv: Vec<String> = ["tail", "-n", "5000", DOCKERD_LOG].into_iter().map(String::from).collect();
        let limit = self.timeouts().limit(Wait::Read);
        let spec = self.node_command(node, &argv, NodeIo::Captured, Some(limit)).probe();
        CommandSpec { purpose: format!("read {node}'s Docker log"), ..spec }
    }

    fn stop(&self) -> Result<usize> {
        let cli = self.cli();
        let running = self.running_instances()?;
        if !running.is_empty() {
            // dockerd gets SIGTERM (lxc.signal.halt) and a while to leave
            // cleanly, as `docker stop` gives it; then what still runs is
            // stopped at once.
            let stop =
                cli.in_project(Wait::Change, &["stop", "--timeout", "15"], "stop the nodes").args(running.clone());
            if !self.runner.run(&stop)?.success() {
                let still = self.running_instances()?;
                if !still.is_empty() {
                    let force = cli
                        .in_project(Wait::Change, &["stop", "--force"], "stop the nodes that did not stop")
                        .args(still);
                    let forced = self.runner.run(&force)?;
                    // A node may finish stopping on its own meanwhile
                    // ("container is not running"): only one still
                    // running is an error.
                    if !forced.success() && !self.running_instances()?.is_empty() {
                        forced.checked(&force)?;
                    }
                }
            }
        }
        Ok(running.len())
    }

    fn destroy(&self) -> Result<Vec<String>> {
        let cli = self.cli();
        let mut removed = Vec::new();
        let instances = match self.instances() {
            Ok(instances) => instances,
            Err(error) if error.to_string().contains("another workspace") => return Err(error),
            Err(_) => Vec::new(),
        };
        let names: Vec<String> = instances.iter().map(|instance| cli.on_remote(&instance.name)).collect();
        if !names.is_empty() {
            let delete = cli.in_project(Wait::Change, &["delete", "--force"], "remove the nodes").args(names.clone());
            self.runner.run_checked(&delete)?;
            removed.push(format!("{} Incus instances", names.len()));
        }
        removed.extend(self.close_bridge()?);
        removed.extend(self.remove_network()?);
        // The image the nodes say they came from (`destroy --name` has no
        // workspace to tell), else the one labctl.toml names.
        let alias = instances.iter().find_map(|instance| instance.label(IMAGE_KEY).map(str::to_string)).or_else(|| {
            NodeImage::for_cluster(self.cluster, &Templates::load(self.cluster.workspace()).ok()?)
                .map(|image| image::alias(image.name()))
                .ok()
        });
        removed.extend(self.remove_project_when_empty(alias.as_deref())?);
        Ok(removed)
    }
}

impl IncusProvider<'_> {
    /// The seat's instances that run, as `incus stop` names them.
    fn running_instances(&self) -> Result<Vec<String>> {
        let cli = self.cli();
        Ok(self
            .states()?
            .into_iter()
            .filter(|(_, status)| status == "running")
            .map(|(node, _)| cli.on_remote(&self.instance(&node)))
            .collect())
    }

    /// `incus exec -t` of a root login shell on `node`, in UTF-8, with
    /// `exec_flags` before the command.
    fn shell(&self, node: &str, exec_flags: &[String]) -> CommandSpec {
        let cli = self.cli();
        cli.unbounded(
            &["exec", &cli.on_remote(&self.instance(node)), "--force-interactive"],
            &format!("open a shell on {node}"),
        )
        .args(["--env", "LANG=C.UTF-8"])
        .args(exec_flags.iter().cloned())
        .arg("--")
        .args(login_shell())
    }
}

/// (node, status) of each of `instances`.
fn states(instances: &[Instance]) -> Vec<(String, String)> {
    instances
        .iter()
        .filter_map(|instance| Some((instance.label(NODE_KEY)?.to_string(), instance.status.clone())))
        .collect()
}

/// A root login shell in the home directory.
fn login_shell() -> Vec<String> {
    let login = "cd; if command -v bash >/dev/null; then exec bash -l; else exec sh -l; fi";
    vec!["sh".to_string(), "-c".to_string(), login.to_string()]
}

#[cfg(test)]
mod tests;
