use std::process::ExitCode;

use anyhow::Result;

use super::{Context, Intent};
use crate::cli::StatusArgs;
use crate::cluster::{self, Status};
use crate::exit;

pub fn run(context: &Context, args: &StatusArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let cluster = context.one_seat(&settings, &catalog, args.seats.seat.as_ref(), "status", Intent::Read)?;
    let runner = context.runner(false);
    let (_, provider) = context.reach_cluster(&cluster, runner.as_ref())?;
    let templates = context.templates()?;
    let status = cluster::status(&cluster, provider.as_ref(), runner.as_ref(), &templates)?;
    let text = if args.json { serde_json::to_string_pretty(&status)? + "\n" } else { table(&status) };
    context.ui.print(&text);
    // Scripts gate on the status: every node in the swarm and Ready, or 3.
    let not_ready = status.not_ready();
    if not_ready.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    context.ui.warn(&format!(
        "cluster {} is not up: not Ready: {}; run labctl up",
        status.cluster,
        not_ready.join(", ")
    ));
    Ok(ExitCode::from(exit::UNREACHABLE))
}

fn table(status: &Status) -> String {
    let header = ["NODE", "ROLE", "IP", "MACHINE", "SWARM", "STATUS", "AVAILABILITY", "MANAGER"].map(String::from);
    let dash = || "-".to_string();
    let rows: Vec<[String; 8]> = status
        .nodes
        .iter()
        .map(|node| {
            [
                node.name.clone(),
                node.role.to_string(),
                node.ip.clone(),
                node.state.clone(),
                node.swarm.clone(),
                node.status.clone().unwrap_or_else(dash),
                node.availability.clone().unwrap_or_else(dash),
                node.manager_status.clone().unwrap_or_else(dash),
            ]
        })
        .collect();
    let engine = match &status.engine {
        Some(engine) if engine != "local" => format!(", engine {engine}"),
        _ => String::new(),
    };
    let mut text = format!("cluster {} ({} provider{engine})\n\n", status.cluster, status.provider);
    for line in crate::ui::columns(&[&[header][..], &rows].concat()) {
        text.push_str(&line);
        text.push('\n');
    }
    text.push('\n');
    if let Some(registry) = &status.registry {
        text.push_str(&format!("registry  {} ({})\n", registry.address, registry.state));
    }
    if status.labs.is_empty() {
        text.push_str("labs      none seeded\n");
    }
    for lab in &status.labs {
        text.push_str(&format!("lab       {} in {} ({})\n", lab.id, lab.target, crate::ui::count(lab.files, "file")));
    }
    text
}
