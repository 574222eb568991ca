//! The swarm bootstrap, the same for every provider: read each node's swarm
//! state, decide (keep / init / join / leave and rejoin), act, clean stale
//! entries, and wait until every node is Ready.
//!
//! The manager's swarm holds the class's stacks, services, secrets and
//! configs, so it is never left or re-initialised unless the user asked
//! (`labctl up --reinit-swarm`): a manager that is starting up is waited for,
//! one that is locked, in error or in another swarm stops `up` with what to
//! do. A worker's swarm state is disposable: whatever it is, it may leave and
//! join ours.
//!
//! On machines labctl does not own (the ssh provider's), a swarm is its own
//! only when it made it: each node keeps the swarm node ID labctl gave it
//! (`/var/lib/labctl/swarm-node-id`), and a manager or a worker found in a
//! swarm without that record stops `up` naming the swarm. labctl neither
//! takes over a school's swarm nor makes a machine leave one.
//!
//! The join token is fetched at run time and only ever travels on standard
//! input: to the node's join script (templates/node/swarm-join.sh.tera),
//! which hands it to Docker's API through a pipe. It is in no command line
//! on the host or in sudo's log on a node, and masked wherever a command or
//! its output is shown.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;

use crate::config::{Cluster, Node, Nodes, Role};
use crate::exec::CommandSpec;
use crate::parallel::in_parallel;
use crate::provider::{NodeShell, SWARM_RECORD};
use crate::templates::Templates;
use crate::timeouts::Wait;

const SWARM_PORT: u16 = 2377;
/// How long nodes may take to show Ready after joining (on a normal host;
/// scaled by `LABCTL_TIMEOUT_SCALE`).
const READY_DEADLINE: Duration = Duration::from_secs(90);
const READY_POLL: Duration = Duration::from_millis(100);
const NODE_LIST: [&str; 5] = ["docker", "node", "ls", "--format", "{{json .}}"];
/// How long a node may stay `pending` (its swarm starting up) before labctl
/// decides on what it is.
const SETTLE_DEADLINE: Duration = Duration::from_secs(30);
const SETTLE_POLL: Duration = Duration::from_millis(250);
const JOIN_SCRIPT_TEMPLATE: &str = "node/swarm-join.sh.tera";
const STATE_SCRIPT_TEMPLATE: &str = "node/swarm-state.sh.tera";
const RECORD_SCRIPT_TEMPLATE: &str = "node/write-stdin.sh.tera";

/// `docker info --format '{{json .Swarm}}'`, the fields labctl uses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmInfo {
    pub local_node_state: String,
    #[serde(rename = "NodeID", default)]
    pub node_id: String,
    #[serde(default)]
    pub node_addr: String,
    #[serde(default)]
    pub control_available: bool,
    #[serde(default)]
    pub error: String,
    /// The managers a node in a swarm knows (`null` when none).
    #[serde(default)]
    pub remote_managers: Option<Vec<Peer>>,
    /// Not Docker's: the node ID labctl recorded on the node when it made or
    /// joined its swarm, read only on machines labctl does not own.
    #[serde(skip)]
    pub recorded_id: Option<String>,
}

/// One of `.Swarm.RemoteManagers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Peer {
    #[serde(rename = "NodeID", default)]
    pub node_id: String,
    #[serde(default)]
    pub addr: String,
}

impl SwarmInfo {
    /// Whether labctl made or joined the swarm this node is in: it recorded
    /// the node ID the node still has.
    pub fn made_by_labctl(&self) -> bool {
        !self.node_id.is_empty() && self.recorded_id.as_deref() == Some(self.node_id.as_str())
    }

    /// `state active, node ID x, managers at 10.0.0.5:2377`: which swarm a
    /// node is in, for a refusal.
    pub fn describe(&self) -> String {
        let mut words = vec![format!("state {}", self.local_node_state)];
        if !self.node_id.is_empty() {
            words.push(format!("node ID {}", self.node_id));
        }
        let managers: Vec<&str> =
            self.remote_managers.iter().flatten().map(|peer| peer.addr.as_str()).filter(|a| !a.is_empty()).collect();
        if !managers.is_empty() {
            words.push(format!("managers at {}", managers.join(", ")));
        }
        words.join(", ")
    }
}

/// One line of `docker node ls --format '{{json .}}'`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeEntry {
    #[serde(rename = "ID")]
    pub id: String,
    pub hostname: String,
    pub status: String,
    #[serde(default)]
    pub availability: String,
    #[serde(default)]
    pub manager_status: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagerAction {
    /// Already the manager of a swarm: nothing to do.
    Keep,
    Init,
    /// Only when asked (`--reinit-swarm`): leave its swarm, losing every
    /// service, stack, secret and config in it, then init.
    LeaveAndInit,
    /// `pending`: its swarm is starting up; probe again.
    Wait,
    /// Anything else would need leaving its swarm: stop and say why.
    Refuse(Refusal),
}

/// Why `up` will not touch the manager's swarm on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Autolock is on and its Docker restarted: the swarm waits for its key.
    Locked,
    Error,
    /// Active, but not as a manager: a worker of another swarm.
    OtherSwarm,
    /// Still `pending` after the settle deadline.
    StillPending,
    /// A state this version of labctl does not know.
    Unknown,
}

impl Refusal {
    /// The one-line error for the manager `node` whose state is `info`.
    pub fn explain(self, node: &str, info: &SwarmInfo, waited: Duration) -> String {
        let state = &info.local_node_state;
        let start_over = "or start a new swarm with `labctl up --reinit-swarm`, losing every service, stack, secret and config of this one";
        match self {
            Refusal::Locked => format!(
                "the swarm on {node} is locked (autolock is on and its Docker restarted); unlock it: `labctl ssh {node}`, then `docker swarm unlock` and enter the unlock key, then run `labctl up` again; {start_over}"
            ),
            Refusal::Error => format!(
                "the swarm on {node} is in state error ({}); labctl does not re-initialise a swarm on its own: see `labctl exec {node} -- docker info`, {start_over}",
                if info.error.is_empty() { "no detail given" } else { &info.error }
            ),
            Refusal::OtherSwarm => format!(
                "{node} is a worker of another swarm (node ID {}), not a manager; labctl does not make it leave on its own: `labctl up --reinit-swarm` leaves that swarm and starts a new one",
                info.node_id
            ),
            Refusal::StillPending => format!(
                "the swarm on {node} is still in state pending after {}s (starting up, or unable to reach its other managers): run `labctl up` again in a minute, see `labctl exec {node} -- docker info`, {start_over}",
                waited.as_secs()
            ),
            Refusal::Unknown => format!(
                "{node} reports swarm state {state:?}, which labctl does not know; see `labctl exec {node} -- docker info`, {start_over}"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerAction {
    Keep,
    Join,
    /// Belongs to another swarm (or a stale one): leave, then join ours.
    LeaveAndJoin,
}

/// What the bootstrap did, for the progress lines.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub initialised: bool,
    pub joined: Vec<String>,
    pub rejoined: Vec<String>,
    pub removed_stale: Vec<String>,
}

impl Report {
    pub fn changed(&self) -> bool {
        self.initialised || !self.joined.is_empty() || !self.rejoined.is_empty() || !self.removed_stale.is_empty()
    }
}

/// What to do with the manager; `reinit` is `--reinit-swarm`, the only way
/// a swarm the manager is in gets left.
pub fn decide_manager(info: &SwarmInfo, reinit: bool) -> ManagerAction {
    match info.local_node_state.as_str() {
        "inactive" => ManagerAction::Init,
        _ if reinit => ManagerAction::LeaveAndInit,
        "active" if info.control_available => ManagerAction::Keep,
        "active" => ManagerAction::Refuse(Refusal::OtherSwarm),
        "pending" => ManagerAction::Wait,
        "locked" => ManagerAction::Refuse(Refusal::Locked),
        "error" => ManagerAction::Refuse(Refusal::Error),
        _ => ManagerAction::Refuse(Refusal::Unknown),
    }
}

/// A worker is ours when the manager lists its node ID. Anything else (not
/// listed, another swarm, error, still pending after the settle wait) leaves
/// and joins: unlike the manager's, a worker's swarm state holds nothing of
/// the class's.
pub fn decide_worker(info: &SwarmInfo, manager_nodes: &[NodeEntry]) -> WorkerAction {
    match info.local_node_state.as_str() {
        "inactive" => WorkerAction::Join,
        "active" if manager_nodes.iter().any(|entry| entry.id == info.node_id) => WorkerAction::Keep,
        _ => WorkerAction::LeaveAndJoin,
    }
}

/// Worker entries with the hostname of one of our nodes but an ID that node
/// no longer has: what a node leaves behind when it leaves and rejoins
/// (moby#24106). They show Down once the old ID stops answering. Our nodes'
/// hostnames are their names (VMs, containers) and, for machines that keep
/// their own (the ssh provider's), the hostnames their live entries show.
pub fn stale_entries<'e>(entries: &'e [NodeEntry], nodes: &[Node], live_ids: &[String]) -> Vec<&'e NodeEntry> {
    let live_hostnames: Vec<&str> =
        entries.iter().filter(|entry| live_ids.contains(&entry.id)).map(|entry| entry.hostname.as_str()).collect();
    entries
        .iter()
        .filter(|entry| entry.manager_status.is_empty())
        .filter(|entry| {
            nodes.iter().any(|node| node.name == entry.hostname) || live_hostnames.contains(&entry.hostname.as_str())
        })
        .filter(|entry| !live_ids.contains(&entry.id))
        .collect()
}

/// What the bootstrap will do, decided from each node's swarm state (read
/// with probes only). Refusals are errors, so a plan is always one that may
/// be carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// [`ManagerAction::Keep`], [`ManagerAction::Init`] or [`ManagerAction::LeaveAndInit`].
    pub manager: ManagerAction,
    /// The manager's node ID now (empty when it is in no swarm).
    pub manager_id: String,
    /// The node ID labctl recorded on the manager (machines it does not own).
    pub manager_recorded: Option<String>,
    pub workers: Vec<WorkerPlan>,
    /// The manager's node list now (empty when it is initialised anew).
    pub entries: Vec<NodeEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPlan {
    pub node: Node,
    pub info: SwarmInfo,
    pub action: WorkerAction,
}

impl Plan {
    /// What carrying the plan out is expected to report. Stale entries are
    /// those known now: the ones the rejoining workers leave behind show up
    /// only once they have rejoined.
    pub fn expected(&self, nodes: &[Node]) -> Report {
        let named = |wanted: WorkerAction| -> Vec<String> {
            self.workers
                .iter()
                .filter(|worker| worker.action == wanted)
                .map(|worker| worker.node.name.clone())
                .collect()
        };
        Report {
            initialised: self.manager != ManagerAction::Keep,
            joined: named(WorkerAction::Join),
            rejoined: named(WorkerAction::LeaveAndJoin),
            removed_stale: self.known_stale(nodes).iter().map(|entry| entry.hostname.clone()).collect(),
        }
    }

    /// Entries that are stale now: not the current ID of the manager or of
    /// a worker that is kept.
    fn known_stale(&self, nodes: &[Node]) -> Vec<&NodeEntry> {
        let kept: Vec<String> = std::iter::once(self.manager_id.clone())
            .chain(
                self.workers
                    .iter()
                    .filter(|worker| worker.action == WorkerAction::Keep)
                    .map(|w| w.info.node_id.clone()),
            )
            .collect();
        stale_entries(&self.entries, nodes, &kept)
    }
}

pub struct Bootstrap<'a> {
    nodes: &'a Nodes,
    shell: NodeShell<'a>,
    templates: &'a Templates,
    /// `--reinit-swarm`: the user asked to start the manager's swarm over.
    reinit: bool,
    ready_deadline: Duration,
    settle_deadline: Duration,
    /// Nodes not to ask for their swarm state: known to be in none (their
    /// Docker was created by this run) or not running yet (a plan made
    /// before they start).
    not_asked: Vec<String>,
    /// The machines are not labctl's: touch only a swarm it made (see the
    /// module comment).
    own_swarms_only: bool,
}

impl<'a> Bootstrap<'a> {
    pub fn new(cluster: &'a Cluster<'a>, shell: NodeShell<'a>, templates: &'a Templates) -> Self {
        Bootstrap {
            nodes: cluster.nodes(),
            shell,
            templates,
            reinit: false,
            ready_deadline: cluster.timeouts().scaled(READY_DEADLINE),
            settle_deadline: cluster.timeouts().scaled(SETTLE_DEADLINE),
            not_asked: Vec::new(),
            own_swarms_only: false,
        }
    }

    /// On machines labctl does not own: keep or leave only a swarm labctl
    /// made, record the node IDs it gives, and refuse any other swarm.
    pub fn own_swarms_only(mut self, guard: bool) -> Self {
        self.own_swarms_only = guard;
        self
    }

    /// Leave the manager's swarm and start a new one (`--reinit-swarm`).
    pub fn reinit_swarm(mut self, reinit: bool) -> Self {
        self.reinit = reinit;
        self
    }

    /// Plan for these nodes as in no swarm, without asking them: nodes whose
    /// disks were just created, or that are not running yet.
    pub fn in_no_swarm(mut self, nodes: Vec<String>) -> Self {
        self.not_asked = nodes;
        self
    }

    #[cfg(test)]
    pub fn with_ready_deadline(mut self, deadline: Duration) -> Self {
        self.ready_deadline = deadline;
        self
    }

    #[cfg(test)]
    pub fn with_settle_deadline(mut self, deadline: Duration) -> Self {
        self.settle_deadline = deadline;
        self
    }

    /// Plan, then carry the plan out.
    #[cfg(test)]
    pub fn run(&self) -> Result<Report> {
        self.apply(&self.plan()?)
    }

    /// Read every node's swarm state (probes only) and decide what to do;
    /// an error when the manager's swarm may not be touched.
    pub fn plan(&self) -> Result<Plan> {
        let manager = self.nodes.manager();
        let workers = self.nodes.workers();
        let infos = in_parallel(self.nodes.all(), |node| self.swarm_info(node))?;
        let (manager_info, worker_infos) = infos.split_first().expect("a cluster has a manager");

        let started = Instant::now();
        let manager_info = self.settle(manager, manager_info.clone())?;
        let action = decide_manager(&manager_info, self.reinit);
        match action {
            ManagerAction::Keep | ManagerAction::Init | ManagerAction::LeaveAndInit => {}
            ManagerAction::Wait => {
                bail!(Refusal::StillPending.explain(&manager.name, &manager_info, started.elapsed()))
            }
            ManagerAction::Refuse(refusal) => bail!(refusal.explain(&manager.name, &manager_info, started.elapsed())),
        }
        if self.own_swarms_only && action == ManagerAction::Keep && !manager_info.made_by_labctl() {
            bail!(self.not_its_own_swarm(manager, &manager_info)?);
        }
        // A manager initialised anew knows no worker yet: every worker that
        // is in some swarm leaves it, pending or not.
        let (entries, worker_infos) = match action {
            ManagerAction::Keep => {
                let pairs: Vec<(&Node, &SwarmInfo)> = workers.iter().zip(worker_infos).collect();
                let settled = in_parallel(&pairs, |(node, info)| self.settle(node, (*info).clone()))?;
                (self.node_list(manager)?, settled)
            }
            _ => (Vec::new(), worker_infos.to_vec()),
        };
        let workers = workers
            .iter()
            .zip(worker_infos)
            .map(|(node, info)| {
                let action = decide_worker(&info, &entries);
                WorkerPlan { node: node.clone(), info, action }
            })
            .collect::<Vec<_>>();
        if self.own_swarms_only {
            refuse_others_workers(&workers)?;
        }
        Ok(Plan {
            manager: action,
            manager_recorded: manager_info.recorded_id.clone(),
            manager_id: manager_info.node_id,
            workers,
            entries,
        })
    }

    /// The commands that change something, in the order [`Bootstrap::apply`]
    /// runs them (the join token, read then, is not in them).
    pub fn commands(&self, plan: &Plan) -> Result<Vec<CommandSpec>> {
        let manager = self.nodes.manager();
        let mut commands = Vec::new();
        if plan.manager == ManagerAction::LeaveAndInit {
            commands.push(self.leave_command(manager));
        }
        if plan.manager != ManagerAction::Keep {
            commands.push(self.init_command(manager));
        }
        let joining: Vec<&WorkerPlan> =
            plan.workers.iter().filter(|worker| worker.action != WorkerAction::Keep).collect();
        let script = if joining.is_empty() { String::new() } else { join_script(self.templates)? };
        for worker in joining {
            if worker.action == WorkerAction::LeaveAndJoin {
                commands.push(self.leave_command(&worker.node));
            }
            commands.push(self.join_command(&worker.node, &script, ""));
        }
        let stale: Vec<String> = plan.known_stale(self.nodes.all()).iter().map(|entry| entry.id.clone()).collect();
        if !stale.is_empty() {
            commands.push(self.remove_command(manager, &stale));
        }
        if self.own_swarms_only {
            let record = self.templates.node_script(RECORD_SCRIPT_TEMPLATE)?;
            let joined = plan.workers.iter().filter(|worker| worker.action != WorkerAction::Keep).map(|w| &w.node);
            let initialised = (plan.manager != ManagerAction::Keep).then_some(manager);
            for node in initialised.into_iter().chain(joined) {
                commands.push(self.record_command(node, &record, "<its new node ID>"));
            }
        }
        Ok(commands)
    }

    /// Carry out `plan`: init, join, remove stale entries, and wait until
    /// every node is Ready.
    pub fn apply(&self, plan: &Plan) -> Result<Report> {
        let manager = self.nodes.manager();
        let mut report = Report::default();
        let manager_id = match plan.manager {
            ManagerAction::LeaveAndInit => {
                self.leave(manager)?;
                self.init(manager)?
            }
            ManagerAction::Init => self.init(manager)?,
            _ => plan.manager_id.clone(),
        };
        report.initialised = plan.manager != ManagerAction::Keep;

        let joining = plan.workers.iter().any(|worker| worker.action != WorkerAction::Keep);
        let (token, script) = match joining {
            true => (self.join_token(manager)?, join_script(self.templates)?),
            false => (String::new(), String::new()),
        };
        // Each worker joins and reads its new node ID in one go, all at once.
        let worker_ids = in_parallel(&plan.workers, |worker| match worker.action {
            WorkerAction::Keep => Ok(worker.info.node_id.clone()),
            action => match self.bring_in(&worker.node, action, &token, &script)? {
                Some(id) => Ok(id),
                // A workspace's own join script may not say it.
                None => self.read_node_id(&worker.node),
            },
        })?;
        for worker in &plan.workers {
            match worker.action {
                WorkerAction::Join => report.joined.push(worker.node.name.clone()),
                WorkerAction::LeaveAndJoin => report.rejoined.push(worker.node.name.clone()),
                WorkerAction::Keep => {}
            }
        }

        let live_ids: Vec<String> = std::iter::once(manager_id).chain(worker_ids).collect();
        if self.own_swarms_only {
            self.record_node_ids(plan, &live_ids)?;
        }
        let entries = if report.changed() { self.node_list(manager)? } else { plan.entries.clone() };
        report.removed_stale = self.remove_stale(manager, &entries, &live_ids)?;
        self.wait_until_ready(manager, &live_ids, entries)?;
        Ok(report)
    }

    fn swarm_info(&self, node: &Node) -> Result<SwarmInfo> {
        if self.not_asked.contains(&node.name) {
            return Ok(SwarmInfo { local_node_state: "inactive".into(), ..SwarmInfo::default() });
        }
        self.probe_swarm_info(node)
    }

    /// Probe again while `node` is `pending` (its swarm starting up), up to
    /// the settle deadline; returns the last state read.
    fn settle(&self, node: &Node, mut info: SwarmInfo) -> Result<SwarmInfo> {
        let started = Instant::now();
        while info.local_node_state == "pending" && started.elapsed() < self.settle_deadline {
            std::thread::sleep(SETTLE_POLL);
            info = self.probe_swarm_info(node)?;
        }
        Ok(info)
    }

    fn probe_swarm_info(&self, node: &Node) -> Result<SwarmInfo> {
        let spec = match self.own_swarms_only {
            true => state_probe(self.shell, self.templates, &node.name)?,
            false => info_probe(self.shell, &node.name),
        };
        let output = self.shell.run_checked(&spec)?;
        parse_swarm_state(&output.stdout)
            .with_context(|| format!("unexpected answer from `docker info` on {}: {}", node.name, output.stdout.trim()))
    }

    /// Why `up` stops at a manager in a swarm labctl did not make, naming
    /// the swarm by what is in it.
    fn not_its_own_swarm(&self, manager: &Node, info: &SwarmInfo) -> Result<String> {
        let nodes = self.node_list(manager)?.len();
        let services = services(self.shell, &manager.name)?;
        let nodes = match nodes {
            1 => "1 node".to_string(),
            n => format!("{n} nodes"),
        };
        let services = match services.len() {
            0 => "no services".to_string(),
            1 => format!("1 service: {}", crate::mask::visible(&services[0])),
            n => format!("{n} services: {}", crate::mask::visible(&services.join(", "))),
        };
        Ok(format!(
            "{} is already the manager of a swarm labctl did not make ({}, {nodes}, {services}); labctl neither takes over a swarm it did not make nor leaves one on its own: give the manager another machine in [[ssh.hosts]], or, when that swarm is no longer needed, `labctl up --reinit-swarm` leaves it (its services, stacks, secrets and configs go) and starts the class's",
            manager.name,
            info.describe()
        ))
    }

    /// Record on each node the node ID labctl gave it (or found it with in
    /// the swarm labctl made), where the record says otherwise.
    fn record_node_ids(&self, plan: &Plan, live_ids: &[String]) -> Result<()> {
        let record = self.templates.node_script(RECORD_SCRIPT_TEMPLATE)?;
        let manager_recorded = match plan.manager {
            ManagerAction::Keep => plan.manager_recorded.clone(),
            _ => None,
        };
        let recorded = std::iter::once(manager_recorded).chain(plan.workers.iter().map(|worker| match worker.action {
            WorkerAction::Keep => worker.info.recorded_id.clone(),
            _ => None,
        }));
        let stale: Vec<(&Node, &String)> = self
            .nodes
            .all()
            .iter()
            .zip(live_ids)
            .zip(recorded)
            .filter(|((_, id), recorded)| recorded.as_deref() != Some(id.as_str()))
            .map(|(pair, _)| pair)
            .collect();
        in_parallel(&stale, |(node, id)| self.shell.run_checked(&self.record_command(node, &record, id)).map(|_| ()))?;
        Ok(())
    }

    fn record_command(&self, node: &Node, script: &str, id: &str) -> CommandSpec {
        self.shell.command_with_stdin(
            Wait::Change,
            &node.name,
            &["sh", "-c", script, "labctl-record", SWARM_RECORD],
            "record the swarm node ID labctl gave it",
            format!("{id}\n").into_bytes(),
        )
    }

    /// Initialise the swarm on the manager; returns the manager's node ID.
    fn init_command(&self, manager: &Node) -> CommandSpec {
        let ip = manager.ip.to_string();
        let listen = format!("{ip}:{SWARM_PORT}");
        let argv = ["docker", "swarm", "init", "--advertise-addr", &ip, "--listen-addr", &listen];
        self.shell.command(&manager.name, &argv, "initialise the swarm")
    }

    fn init(&self, manager: &Node) -> Result<String> {
        let output = self.shell.run_checked(&self.init_command(manager))?;
        // "Swarm initialized: current node (<id>) is now a manager."
        let announced = output.stdout.split_once("current node (").and_then(|(_, rest)| rest.split_once(')'));
        match announced {
            Some((id, _)) if !id.is_empty() => Ok(id.to_string()),
            _ => self.read_node_id(manager),
        }
    }

    fn read_node_id(&self, node: &Node) -> Result<String> {
        self.probe_swarm_info(node).map(|info| info.node_id)
    }

    fn leave_command(&self, node: &Node) -> CommandSpec {
        self.shell.command(&node.name, &["docker", "swarm", "leave", "--force"], "leave its old swarm")
    }

    fn leave(&self, node: &Node) -> Result<()> {
        self.shell.run_checked(&self.leave_command(node)).map(|_| ())
    }

    fn join_token(&self, manager: &Node) -> Result<String> {
        let spec = self.shell.probe(
            &manager.name,
            &["docker", "swarm", "join-token", "--quiet", "worker"],
            "read the worker join token",
        );
        let token = self.shell.run_checked(&spec)?.stdout.trim().to_string();
        let token_characters = |c: char| c.is_ascii_alphanumeric() || c == '-';
        if !token.starts_with("SWMTKN-") || !token.chars().all(token_characters) {
            bail!("the manager answered `docker swarm join-token` with something that is not a join token");
        }
        Ok(token)
    }

    /// Join `node` (leaving its old swarm first when asked), the token on
    /// stdin (see the module comment); its new node ID when the join script
    /// says it ("node-id <ID>").
    fn bring_in(&self, node: &Node, action: WorkerAction, token: &str, script: &str) -> Result<Option<String>> {
        match action {
            WorkerAction::Keep => return Ok(None),
            WorkerAction::LeaveAndJoin => self.leave(node)?,
            WorkerAction::Join => {}
        }
        let output = self.shell.run_checked(&self.join_command(node, script, token))?;
        Ok(output
            .stdout
            .lines()
            .filter_map(|line| line.strip_prefix("node-id "))
            .map(str::trim)
            .find(|id| !id.is_empty())
            .map(String::from))
    }

    /// The join script run on `node`, `token` fed on its stdin.
    fn join_command(&self, node: &Node, script: &str, token: &str) -> CommandSpec {
        let ip = node.ip.to_string();
        let listen = format!("{ip}:{SWARM_PORT}");
        let manager = format!("{}:{SWARM_PORT}", self.nodes.manager().ip);
        let argv = ["sh", "-c", script, "labctl-join", &ip, &listen, &manager];
        let stdin = format!("{token}\n").into_bytes();
        self.shell.command_with_stdin(Wait::Change, &node.name, &argv, "join the swarm", stdin).secret(token)
    }

    fn node_list(&self, manager: &Node) -> Result<Vec<NodeEntry>> {
        self.read_node_list(self.shell.probe(&manager.name, &NODE_LIST, "list the swarm's nodes"))
    }

    fn read_node_list(&self, spec: CommandSpec) -> Result<Vec<NodeEntry>> {
        parse_node_list(&self.shell.run_checked(&spec)?.stdout)
    }

    fn remove_stale(&self, manager: &Node, entries: &[NodeEntry], live_ids: &[String]) -> Result<Vec<String>> {
        let stale = stale_entries(entries, self.nodes.all(), live_ids);
        if stale.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = stale.iter().map(|entry| entry.id.clone()).collect();
        self.shell.run_checked(&self.remove_command(manager, &ids))?;
        Ok(stale.iter().map(|entry| entry.hostname.clone()).collect())
    }

    fn remove_command(&self, manager: &Node, ids: &[String]) -> CommandSpec {
        let mut argv = vec!["docker", "node", "rm", "--force"];
        argv.extend(ids.iter().map(String::as_str));
        self.shell.command(&manager.name, &argv, "remove stale Down entries")
    }

    /// Poll the manager's node list (starting from `entries`, just read)
    /// until every node's current ID is Ready. Each poll ends by the
    /// deadline, and one that fails or hangs is only a poll without news.
    fn wait_until_ready(&self, manager: &Node, live_ids: &[String], mut entries: Vec<NodeEntry>) -> Result<()> {
        let deadline = Instant::now() + self.ready_deadline;
        let mut last_error = None;
        loop {
            let not_ready = not_ready(self.nodes.all(), live_ids, &entries);
            if not_ready.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let why = last_error.map(|error: anyhow::Error| format!(" (last poll: {error:#})")).unwrap_or_default();
                return Err(anyhow!(
                    "not Ready after {}s: {}{why}; see `labctl status` and `labctl exec {} -- docker node ls`",
                    self.ready_deadline.as_secs(),
                    not_ready.join(", "),
                    manager.name
                ));
            }
            std::thread::sleep(READY_POLL);
            let poll = self.shell.probe_until(&manager.name, &NODE_LIST, "list the swarm's nodes", deadline);
            match self.read_node_list(poll) {
                Ok(fresh) => entries = fresh,
                Err(error) => last_error = Some(error),
            }
        }
    }
}

/// Nodes whose current swarm ID is not listed as Ready, with their status.
fn not_ready(nodes: &[Node], live_ids: &[String], entries: &[NodeEntry]) -> Vec<String> {
    nodes
        .iter()
        .zip(live_ids)
        .filter_map(|(node, id)| match entries.iter().find(|entry| &entry.id == id) {
            Some(entry) if entry.status == "Ready" => None,
            Some(entry) => Some(format!("{} ({})", node.name, entry.status)),
            None => Some(format!("{} (not in the swarm)", node.name)),
        })
        .collect()
}

/// Refuse workers that would leave a swarm labctl did not make (machines
/// labctl does not own), naming each one's swarm.
fn refuse_others_workers(workers: &[WorkerPlan]) -> Result<()> {
    let others: Vec<&WorkerPlan> = workers
        .iter()
        .filter(|worker| worker.action == WorkerAction::LeaveAndJoin && !worker.info.made_by_labctl())
        .collect();
    let Some(first) = others.first() else { return Ok(()) };
    let found: Vec<String> =
        others.iter().map(|worker| format!("{} ({})", worker.node.name, worker.info.describe())).collect();
    bail!(
        "{} in a swarm labctl did not make: {}; labctl does not make a machine leave a swarm it did not make: give {} another machine in [[ssh.hosts]], or, when that swarm no longer needs it, leave it yourself (`labctl exec {} -- docker swarm leave`), then run `labctl up` again",
        if others.len() == 1 { "a worker is" } else { "workers are" },
        found.join("; "),
        if others.len() == 1 { "it" } else { "each" },
        first.node.name
    )
}

/// The node script that joins a worker with the token read from stdin.
fn join_script(templates: &Templates) -> Result<String> {
    let mut context = tera::Context::new();
    context.insert("labctl_version", env!("CARGO_PKG_VERSION"));
    templates.render(JOIN_SCRIPT_TEMPLATE, &context)
}

/// The command that prints a node's swarm state as JSON, then labctl's
/// record of its node ID (see the module comment).
fn state_probe(shell: NodeShell, templates: &Templates, node: &str) -> Result<CommandSpec> {
    let script = templates.node_script(STATE_SCRIPT_TEMPLATE)?;
    Ok(shell.probe(node, &["sh", "-c", &script, "labctl-swarm-state", SWARM_RECORD], "read the swarm state"))
}

/// The names of the services in the swarm `manager` leads.
fn services(shell: NodeShell, manager: &str) -> Result<Vec<String>> {
    let spec = shell.probe(manager, &["docker", "service", "ls", "--format", "{{.Name}}"], "list the swarm's services");
    let output = shell.run_checked(&spec)?;
    Ok(output.stdout.lines().map(str::trim).filter(|line| !line.is_empty()).map(String::from).collect())
}

/// On a machine labctl does not own: the services of the swarm `manager`
/// leads when labctl made that swarm (what `destroy` takes with it); none
/// when the swarm is another's (it stays) or is not there.
pub fn own_swarm_services(shell: NodeShell, templates: &Templates, manager: &str) -> Result<Vec<String>> {
    let info = parse_swarm_state(&shell.run_checked(&state_probe(shell, templates, manager)?)?.stdout)?;
    match info.made_by_labctl() && info.control_available {
        true => services(shell, manager),
        false => Ok(Vec::new()),
    }
}

/// The command that prints a node's swarm state as JSON ([`SwarmInfo`]).
pub fn info_probe(shell: NodeShell, node: &str) -> CommandSpec {
    shell.probe(node, &["docker", "info", "--format", "{{json .Swarm}}"], "read the swarm state")
}

/// `docker info`'s Swarm object as JSON on the first line, then (from the
/// state script) "recorded <ID>" when the node has labctl's record.
fn parse_swarm_state(text: &str) -> Result<SwarmInfo> {
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    let mut info: SwarmInfo = serde_json::from_str(lines.next().unwrap_or_default())?;
    info.recorded_id = lines.find_map(|line| line.strip_prefix("recorded ")).map(|id| id.trim().to_string());
    Ok(info)
}

pub fn parse_node_list(text: &str) -> Result<Vec<NodeEntry>> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line).with_context(|| format!("unexpected line from `docker node ls`: {line}"))
        })
        .collect()
}

/// Per node: its swarm entry as the manager sees it, by hostname (the
/// Ready one when a stale Down entry shares the name).
pub fn entries_by_hostname(entries: &[NodeEntry]) -> BTreeMap<&str, &NodeEntry> {
    let mut by_name: BTreeMap<&str, &NodeEntry> = BTreeMap::new();
    for entry in entries {
        let better = by_name.get(entry.hostname.as_str()).is_none_or(|current| current.status != "Ready");
        if better {
            by_name.insert(&entry.hostname, entry);
        }
    }
    by_name
}

pub fn role_word(role: Role) -> &'static str {
    match role {
        Role::Manager => "manager",
        Role::Worker => "worker",
    }
}

#[cfg(test)]
mod tests;
