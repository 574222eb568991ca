//! `labctl list`: every labctl cluster this host has, from anywhere: the
//! docker provider's by their containers' labels, Vagrant's and the ssh
//! provider's by the workspaces `up` remembered (see `workspaces`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use super::{Context, VAGRANT_DIR};
use crate::cli::ListArgs;
use crate::config::Engine;
use crate::provider::{inventory, Host};
use crate::timeouts::Timeouts;
use crate::workspaces;

/// One row of the list.
#[derive(Debug, Serialize)]
pub struct Listed {
    pub name: String,
    pub provider: &'static str,
    /// The class and seat number, for a seat of a class.
    pub class: Option<String>,
    pub seat: Option<u32>,
    pub nodes: usize,
    /// Nodes whose container runs (docker); `None` when not known (VMs).
    pub running: Option<usize>,
    /// Swarm nodes Ready as the manager sees them, when it answered.
    pub ready: Option<usize>,
    pub workspace: Option<String>,
    /// The Incus project of an incus cluster's nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

pub fn run(context: &Context, args: &ListArgs) -> Result<ExitCode> {
    let listed = find_all(context)?;
    if args.json {
        context.ui.print(&(serde_json::to_string_pretty(&listed)? + "\n"));
        return Ok(ExitCode::SUCCESS);
    }
    if listed.is_empty() {
        context.ui.print("no labctl cluster on this host (`labctl up` makes one)\n");
        return Ok(ExitCode::SUCCESS);
    }
    let dash = || "-".to_string();
    let header = ["CLUSTER", "PROVIDER", "SEAT", "NODES", "RUNNING", "READY", "WORKSPACE"].map(String::from).to_vec();
    let mut rows = vec![header];
    for cluster in &listed {
        rows.push(vec![
            cluster.name.clone(),
            cluster.provider.to_string(),
            match (&cluster.class, cluster.seat) {
                (Some(class), Some(seat)) => format!("{class} {seat}"),
                _ => dash(),
            },
            cluster.nodes.to_string(),
            cluster.running.map_or_else(dash, |running| running.to_string()),
            cluster.ready.map_or_else(dash, |ready| ready.to_string()),
            cluster.workspace.clone().unwrap_or_else(dash),
        ]);
    }
    let text: String = crate::ui::columns(&rows).into_iter().map(|line| line + "\n").collect();
    context.ui.print(&text);
    Ok(ExitCode::SUCCESS)
}

/// The docker clusters on this host's engine, the seats on this host's
/// Incus, then the remembered Vagrant workspaces whose VMs exist and ssh
/// workspaces that list machines.
pub fn find_all(context: &Context) -> Result<Vec<Listed>> {
    let runner = context.runner(false);
    let timeouts = Timeouts::from_env()?;
    let host = Host::new(runner.as_ref(), timeouts);
    let known = workspaces::known();
    let mut listed = Vec::new();
    match host.docker_engine(&Engine::local()) {
        Ok(_) => {
            for found in inventory::find(runner.as_ref(), &[], &timeouts)? {
                // Nodes made before the workspace label: the remembered workspace of that name.
                let workspace = found.workspace.clone().or_else(|| {
                    let class = found.class.as_deref().unwrap_or(&found.name);
                    let remembered =
                        known.iter().rev().find(|known| known.provider == "docker" && known.cluster == class);
                    remembered.map(|known| known.workspace.display().to_string())
                });
                listed.push(Listed {
                    name: found.name,
                    provider: "docker",
                    class: found.class,
                    seat: found.seat,
                    nodes: found.nodes,
                    running: Some(found.running),
                    ready: found.ready,
                    workspace,
                    project: None,
                });
            }
        }
        Err(why) => context.ui.detail(&format!("docker clusters not listed: {why}")),
    }
    // This host's Incus, when there is one: its seats, by their keys.
    if which::which("incus").is_ok() {
        match crate::provider::incus::inventory::find(runner.as_ref(), &timeouts) {
            Ok(found) => listed.extend(found.into_iter().map(|seat| Listed {
                name: seat.name,
                provider: "incus",
                class: seat.class,
                seat: seat.seat,
                nodes: seat.nodes,
                running: Some(seat.running),
                ready: None,
                workspace: seat.workspace,
                project: Some(seat.project),
            })),
            Err(why) => context.ui.detail(&format!("Incus clusters not listed: {why}")),
        }
    }
    for known in known.iter().filter(|known| known.provider == "vagrant") {
        let machines = created_vms(&known.workspace.join(VAGRANT_DIR));
        if machines > 0 {
            listed.push(Listed {
                name: known.cluster.clone(),
                provider: "vagrant",
                class: None,
                seat: None,
                nodes: machines,
                running: None,
                ready: None,
                workspace: Some(known.workspace.display().to_string()),
                project: None,
            });
        }
    }
    // The ssh provider's machines are not labctl's: a remembered workspace
    // whose labctl.toml still lists them.
    for known in known.iter().filter(|known| known.provider == "ssh") {
        let there = context.for_workspace(known.workspace.clone());
        let Ok(catalog) = there.catalog() else { continue };
        let Ok(settings) = there.settings(&catalog) else { continue };
        if settings.ssh.hosts.is_empty() || settings.cluster_name != known.cluster {
            continue;
        }
        listed.push(Listed {
            name: known.cluster.clone(),
            provider: "ssh",
            class: (settings.class.seats > 1).then(|| known.cluster.clone()),
            seat: None,
            nodes: settings.ssh.hosts.len(),
            running: None,
            ready: None,
            workspace: Some(known.workspace.display().to_string()),
            project: None,
        });
    }
    Ok(listed)
}

/// The VMs Vagrant has made in this environment (a machine with an id).
fn created_vms(vagrant_dir: &Path) -> usize {
    let Ok(machines) = std::fs::read_dir(vagrant_dir.join(".vagrant/machines")) else { return 0 };
    machines
        .flatten()
        .filter(|machine| {
            std::fs::read_dir(machine.path())
                .is_ok_and(|providers| providers.flatten().any(|provider| provider.path().join("id").is_file()))
        })
        .count()
}
