use std::process::ExitCode;

use anyhow::{bail, Result};
use serde::Serialize;

use super::Context;
use crate::cli::LabsArgs;
use crate::config::Cluster;
use crate::labs::manifest::{Language, Manifest};
use crate::labs::Lab;

/// A lab as `labs --json` shows it: the manifest plus where it goes.
#[derive(Serialize)]
struct LabView<'a> {
    #[serde(flatten)]
    manifest: &'a Manifest,
    /// Where the lab is seeded on the manager; `null` when not seeded.
    target: Option<&'a str>,
    seeded: bool,
    source: String,
}

pub fn run(context: &Context, args: &LabsArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let cluster = Cluster::new(&settings, &catalog)?;
    if let Some(value) = &args.handout {
        let (name, language) = handout_request(args.lab.as_deref(), value)?;
        context.ui.print(&cluster.lab(name)?.lab.handout(language)?);
        return Ok(ExitCode::SUCCESS);
    }
    let labs: Vec<&Lab> = match &args.lab {
        Some(name) => vec![cluster.lab(name)?.lab],
        None => catalog.labs().iter().collect(),
    };
    let views: Vec<LabView> = labs.iter().map(|lab| view(lab, &cluster)).collect();

    let text = if args.json {
        let json = match (&args.lab, views.as_slice()) {
            (Some(_), [single]) => serde_json::to_string_pretty(single)?,
            _ => serde_json::to_string_pretty(&views)?,
        };
        json + "\n"
    } else if args.lab.is_some() {
        details(&views[0])
    } else {
        table(&views)
    };
    context.ui.print(&text);
    Ok(ExitCode::SUCCESS)
}

/// Which lab's handout in which language: `labs LAB --handout [ko|en]`, and
/// `labs --handout LAB` too (an optional flag value takes the next word, so
/// there the lab arrives as the flag's value).
fn handout_request<'a>(lab: Option<&'a str>, value: &'a str) -> Result<(&'a str, Language)> {
    let language = Language::from_code(value);
    match (lab, language) {
        (Some(lab), Some(language)) => Ok((lab, language)),
        (None, None) => Ok((value, Language::default())),
        (Some(lab), None) => {
            bail!("--handout {value:?}: the language is ko or en, e.g. `labctl labs {lab} --handout en`")
        }
        (None, Some(_)) => bail!("--handout needs a lab: `labctl labs LAB --handout {value}`"),
    }
}

fn view<'a>(lab: &'a Lab, cluster: &Cluster<'a>) -> LabView<'a> {
    let seeded = cluster.seeded_as(lab);
    LabView {
        manifest: &lab.manifest,
        target: seeded.map(|seeded| seeded.target),
        seeded: seeded.is_some(),
        source: lab.source_label(),
    }
}

fn table(views: &[LabView]) -> String {
    let rows: Vec<[String; 4]> = views
        .iter()
        .map(|view| {
            let manifest = view.manifest;
            let target = view.target.map(str::to_string).unwrap_or_else(|| "(not seeded)".into());
            [manifest.id.clone(), manifest.aliases.join(","), target, manifest.title.clone()]
        })
        .collect();
    let header = ["LAB", "ALIASES", "SEEDED TO", "TITLE"].map(String::from);
    crate::ui::columns(&[&[header][..], &rows].concat()).iter().map(|line| format!("{line}\n")).collect()
}

fn details(view: &LabView) -> String {
    let manifest = view.manifest;
    let mut lines = vec![
        format!("{}: {}", manifest.id, manifest.title),
        format!("  {}", manifest.title_ko),
        format!("aliases:     {}", if manifest.aliases.is_empty() { "-".into() } else { manifest.aliases.join(", ") }),
        format!("seeded to:   {}", view.target.unwrap_or("(not seeded; add it to [labs] seed)")),
        format!("source:      {}", view.source),
        "files:".to_string(),
    ];
    for file in &manifest.files {
        lines.push(format!("  {} {file}", manifest.file_mode(file).octal()));
    }
    if !manifest.instructor_only.is_empty() {
        lines.push(format!("instructor only (never seeded): {}", manifest.instructor_only.join(", ")));
    }
    for network in &manifest.networks {
        let attachable = if network.attachable { ", attachable" } else { "" };
        lines.push(format!("network:     {} ({}{attachable})", network.name, network.driver));
    }
    for stack in &manifest.stacks {
        lines.push(format!("stack:       {} from {}: {}", stack.name, stack.file, stack.services.join(", ")));
        if !stack.aliases.is_empty() {
            lines.push(format!("             (reset also removes it as {})", stack.aliases.join(", ")));
        }
    }
    if !manifest.services.is_empty() {
        lines.push(format!("services:    {}", manifest.services.join(", ")));
    }
    for command in &manifest.setup {
        lines.push(format!("setup:       {command}"));
    }
    lines.push(format!("images:      {}", manifest.images.join(", ")));
    lines.push(format!("handout:     labctl labs {} --handout [ko|en]", manifest.id));
    lines.join("\n") + "\n"
}
