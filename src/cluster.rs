//! The jobs that span the whole cluster, provider-agnostic: `up` as a list
//! of named steps, and the runtime status that `status` shows.

use anyhow::Result;
use serde::Serialize;

use crate::config::Settings;
use crate::exec::Runner;
use crate::labs::seed::{self, SeededManifest, STATE_DIR};
use crate::labs::Catalog;
use crate::provider::docker::in_parallel;
use crate::provider::{NodeChange, NodeShell, Provider, ProviderKind};
use crate::swarm::{self, Bootstrap, SwarmInfo};
use crate::templates::Templates;
use crate::ui::{count, Ui};
use crate::{images, registry};

pub struct Up<'a> {
    pub settings: &'a Settings,
    pub catalog: &'a Catalog,
    pub templates: &'a Templates,
    pub provider: &'a dyn Provider,
    pub runner: &'a dyn Runner,
    pub dry_run: bool,
    /// `--reinit-swarm`: start the manager's swarm over (confirmed by the command).
    pub reinit_swarm: bool,
}

impl Up<'_> {
    fn shell(&self) -> NodeShell<'_> {
        NodeShell::new(self.provider, self.runner)
    }

    /// Run every step; returns whether anything changed.
    pub fn run(&self, ui: &Ui) -> Result<bool> {
        // A dry run's step lines describe the plan, not a result.
        let plan = |summary: String| if self.dry_run { format!("planned: {summary}") } else { summary };
        let mut changed = false;
        let changes = ui.step("starting nodes", || {
            let changes = self.provider.bring_up(ui)?;
            let summary = plan(describe_nodes(&changes));
            Ok((changes, summary))
        })?;
        changed |= changes.iter().any(|(_, change)| *change != NodeChange::AlreadyRunning);
        let fresh: Vec<String> =
            changes.iter().filter(|(_, change)| *change == NodeChange::Created).map(|(node, _)| node.clone()).collect();
        changed |= ui.step("bootstrapping the swarm", || {
            let report = Bootstrap::new(self.settings, self.shell(), self.templates, self.dry_run)
                .with_fresh_nodes(fresh)
                .reinit_swarm(self.reinit_swarm)
                .run()?;
            Ok((report.changed(), plan(describe_swarm(self.settings, &report))))
        })?;
        if self.settings.preload_images && !self.dry_run {
            changed |= ui.step("loading the labs' images", || {
                let wanted = images::lab_images(self.settings, self.catalog, None)?;
                let (mut loaded, mut missing) = (0, Vec::new());
                for image in &wanted {
                    match images::load(image, self.settings, self.shell(), self.runner)? {
                        images::Load::NotOnHost => missing.push(image.as_str()),
                        images::Load::Done(outcome) => loaded += usize::from(!outcome.loaded_on.is_empty()),
                    }
                }
                if !missing.is_empty() {
                    ui.warn(&format!(
                        "not on this host, so the nodes will pull them: {} (`labctl images pull` fetches them once)",
                        missing.join(", ")
                    ));
                }
                let present = wanted.len() - missing.len();
                Ok((loaded > 0, format!("{present} images on every node ({loaded} loaded now)")))
            })?;
        }
        if let Some(registry) = &self.settings.registry {
            changed |= ui.step("starting the registry", || {
                let host_runner = (self.provider.kind() == ProviderKind::Docker).then_some(self.runner);
                let outcome = registry::ensure(registry, self.shell(), host_runner, self.dry_run)?;
                let words = match outcome {
                    registry::Outcome::AlreadyRunning => "already running",
                    registry::Outcome::Restarted => "restarted",
                    registry::Outcome::Created => "started",
                };
                Ok((
                    outcome != registry::Outcome::AlreadyRunning,
                    format!("registry {words} at {}", registry.address()),
                ))
            })?;
        }
        if !self.settings.seeded_labs.is_empty() {
            changed |= ui.step("seeding the labs", || {
                let report = seed::seed(self.settings, self.catalog, self.templates, self.shell())?;
                if self.dry_run {
                    let ids: Vec<&str> = self.settings.seeded_labs.iter().map(|lab| lab.id.as_str()).collect();
                    return Ok((false, plan(format!("copy the missing files of {}", ids.join(", ")))));
                }
                Ok((report.changed(), describe_seed(self.settings, &report)))
            })?;
        }
        Ok(changed)
    }
}

fn describe_nodes(changes: &[(String, NodeChange)]) -> String {
    let count = |wanted: NodeChange| changes.iter().filter(|(_, change)| *change == wanted).count();
    let created = count(NodeChange::Created) + count(NodeChange::Recreated);
    let (started, running) = (count(NodeChange::Started), count(NodeChange::AlreadyRunning));
    if running == changes.len() {
        return format!("nodes already running ({running})");
    }
    let mut parts = Vec::new();
    if created > 0 {
        parts.push(format!("{created} created"));
    }
    if started > 0 {
        parts.push(format!("{started} started"));
    }
    if running > 0 {
        parts.push(format!("{running} already running"));
    }
    format!("nodes running ({}): {}", changes.len(), parts.join(", "))
}

fn describe_swarm(settings: &Settings, report: &swarm::Report) -> String {
    let manager = &settings.nodes[0];
    let workers = settings.nodes.len() - 1;
    if !report.changed() {
        return format!("swarm healthy: {} Leader, {} Ready", manager.name, count(workers, "worker"));
    }
    let mut parts = Vec::new();
    if report.initialised {
        parts.push(format!("swarm initialised on {} {}", manager.name, manager.ip));
    }
    if !report.joined.is_empty() {
        parts.push(format!("{} joined", count(report.joined.len(), "worker")));
    }
    if !report.rejoined.is_empty() {
        parts.push(format!("rejoined {}", report.rejoined.join(", ")));
    }
    if !report.removed_stale.is_empty() {
        parts.push(format!("removed stale entries of {}", report.removed_stale.join(", ")));
    }
    parts.join("; ")
}

fn describe_seed(settings: &Settings, report: &seed::SeedReport) -> String {
    if !report.changed() {
        return format!("labs already seeded ({})", count(settings.seeded_labs.len(), "lab"));
    }
    let mut parts: Vec<String> =
        report.copied.iter().map(|(lab, files)| format!("{lab} ({})", count(files.len(), "file"))).collect();
    if !report.networks.is_empty() {
        parts.push(format!("networks {}", report.networks.join(", ")));
    }
    format!("labs seeded: {}", parts.join(", "))
}

// ---------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct Status {
    pub cluster: String,
    pub provider: String,
    pub nodes: Vec<NodeStatus>,
    pub registry: Option<RegistryStatus>,
    pub labs: Vec<LabStatus>,
}

#[derive(Debug, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub role: &'static str,
    pub ip: String,
    /// The machine or container state, as the provider reports it.
    pub state: String,
    /// `LocalNodeState`: active, inactive, pending, error, locked; `unknown` when the node is not running.
    pub swarm: String,
    /// As the manager sees it: Ready, Down, Unknown; `null` when not in the swarm.
    pub status: Option<String>,
    pub availability: Option<String>,
    /// Leader, Reachable, …; `null` for workers.
    pub manager_status: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RegistryStatus {
    pub address: String,
    pub state: String,
}

#[derive(Debug, Serialize)]
pub struct LabStatus {
    pub id: String,
    pub target: String,
    pub files: usize,
}

/// Read everything from the runtime: machines, each node's swarm state,
/// the manager's view, the registry and the seeded labs.
pub fn status(settings: &Settings, provider: &dyn Provider, runner: &dyn Runner) -> Result<Status> {
    let shell = NodeShell::new(provider, runner);
    let machines = provider.machines()?;
    let infos: Vec<Option<SwarmInfo>> = in_parallel(&machines, |machine| {
        if !machine.running {
            return Ok(None);
        }
        let spec = swarm::info_probe(shell, &machine.node);
        Ok(shell
            .run(&spec)
            .ok()
            .filter(|output| output.success())
            .and_then(|output| serde_json::from_str(output.stdout.trim()).ok()))
    })?;
    let manager = &settings.nodes[0];
    let manager_running = machines.first().is_some_and(|machine| machine.running);
    let read = |argv: &[&str], purpose: &str| -> Option<String> {
        if !manager_running {
            return None;
        }
        let output = shell.run(&shell.command(&manager.name, argv, purpose).probe()).ok()?;
        output.success().then_some(output.stdout)
    };
    let entries = read(&["docker", "node", "ls", "--format", "{{json .}}"], "list the swarm's nodes")
        .and_then(|text| swarm::parse_node_list(&text).ok())
        .unwrap_or_default();
    let by_name = swarm::entries_by_hostname(&entries);

    let nodes = settings
        .nodes
        .iter()
        .zip(machines.iter().zip(&infos))
        .map(|(node, (machine, info))| {
            let entry = by_name.get(node.name.as_str());
            NodeStatus {
                name: node.name.clone(),
                role: swarm::role_word(node.role),
                ip: node.ip.to_string(),
                state: machine.state.clone(),
                swarm: info.as_ref().map_or_else(|| "unknown".to_string(), |info| info.local_node_state.clone()),
                status: entry.map(|entry| entry.status.clone()),
                availability: entry.map(|entry| entry.availability.clone()),
                manager_status: entry.map(|entry| entry.manager_status.clone()).filter(|status| !status.is_empty()),
            }
        })
        .collect();

    let registry = settings.registry.as_ref().map(|registry| {
        let probe = registry::state_probe(shell, &registry.host);
        let running = machines.iter().any(|machine| machine.node == registry.host && machine.running);
        let output = running.then(|| shell.run(&probe).ok()).flatten().filter(|output| output.success());
        let state = output.map(|output| output.stdout.trim().to_string());
        let state = match state.as_deref() {
            None => "unknown".to_string(),
            Some("") => "missing".to_string(),
            Some(state) => state.to_string(),
        };
        RegistryStatus { address: registry.address(), state }
    });

    let listing = format!("cat {STATE_DIR}/labs/*.json 2>/dev/null || true");
    let seeded: Vec<SeededManifest> =
        read(&["sh", "-c", &listing], "read the seeded labs").map(|text| seed::parse_seeded(&text)).unwrap_or_default();
    let labs =
        seeded.into_iter().map(|lab| LabStatus { id: lab.id, target: lab.target, files: lab.files.len() }).collect();

    Ok(Status {
        cluster: settings.cluster_name.clone(),
        provider: provider.kind().as_str().into(),
        nodes,
        registry,
        labs,
    })
}
