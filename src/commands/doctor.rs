use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::cli::DoctorArgs;
use crate::config::{Cluster, EngineTarget, ProviderSetting};
use crate::doctor::{self, HostFacts, Report};
use crate::provider::node_image::NodeImage;
use crate::provider::ssh::{HostKeys, SshProvider};
use crate::provider::Host;
use crate::ui::{Mark, Ui};

pub fn run(context: &Context, args: &DoctorArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let runner = context.runner(false);
    let host = Host::new(runner.as_ref(), settings.timeouts);
    let cluster = Cluster::new(&settings, &catalog)?;
    let image = NodeImage::for_cluster(&cluster, &context.templates()?)?;
    let facts = HostFacts::read(&crate::hostfs::root());
    // Every node of every seat that lives on this host's engine.
    let local_seats = (1..=settings.class.seats)
        .filter(|&seat| settings.class.engine_of(seat).target == EngineTarget::Default)
        .count();
    let mut report = doctor::examine(&cluster, &image, &host, &facts, local_seats * settings.nodes.all().len());
    if settings.provider == ProviderSetting::Ssh && report.choice.is_ok() {
        let templates = context.templates()?;
        for number in 1..=settings.class.seats {
            let seat = Cluster::seat(&settings, &catalog, number)?;
            let provider = SshProvider::new(&seat, runner.as_ref(), &templates, HostKeys::Known)?;
            let label = (settings.class.seats > 1).then(|| seat.seat_of_class().label());
            report.checks.extend(doctor::check_machines(&provider, label.as_deref()));
        }
    }
    if args.json {
        context.ui.print(&(serde_json::to_string_pretty(&report.json())? + "\n"));
        return Ok(if report.ready() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }

    let seeded = settings.seeded_labs.len();
    let mut text = format!(
        "labctl doctor: cluster {} ({} nodes), settings from {}, {} labs ({seeded} seeded)\n\n",
        settings.cluster_name,
        settings.nodes.all().len(),
        settings.origin.describe(),
        catalog.labs().len()
    );
    text.push_str(&table(&report, &context.ui));
    text.push('\n');
    text.push_str(&match &report.choice {
        Ok(choice) if report.ready() => format!("ready: labctl will use the {} provider\n", choice.kind.as_str()),
        _ => "not ready: fix the ✗ lines above, then run `labctl doctor` again\n".to_string(),
    });
    context.ui.print(&text);
    Ok(if report.ready() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn table(report: &Report, ui: &Ui) -> String {
    // A check's row, then its fix (if it needs one) under the detail.
    let mut rows = Vec::new();
    let mut prefixes = Vec::new();
    for check in &report.checks {
        rows.push(vec![check.name.clone(), check.detail.clone()]);
        prefixes.push(format!("  {} ", ui.mark(check.mark)));
        if let Some(fix) = check.fix.as_ref().filter(|_| check.mark != Mark::Ok) {
            rows.push(vec![String::new(), format!("fix: {fix}")]);
            prefixes.push("    ".to_string());
        }
    }
    prefixes.iter().zip(crate::ui::columns(&rows)).map(|(prefix, line)| format!("{prefix}{line}\n")).collect()
}
