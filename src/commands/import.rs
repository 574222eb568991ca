//! `labctl class import hosts.csv`: the class's machines from a CSV into
//! labctl.toml (config::hosts_csv), checked before anything is written.

use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};

use super::Context;
use crate::cli::ClassImportArgs;
use crate::config::{self, hosts_csv, RawConfig};

pub fn run(context: &Context, args: &ClassImportArgs) -> Result<ExitCode> {
    let csv = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let hosts = hosts_csv::read(&args.file, &csv)?;
    let path = context.config.path();
    let shown = context.config_shown();
    let old = context.read_config_text()?;
    let current = old.as_deref().unwrap_or_default();
    let manager_name = toml::from_str::<RawConfig>(current).map(|raw| raw.cluster.manager_name).unwrap_or_default();
    let imported = hosts_csv::apply(current, &hosts, &manager_name)?;
    let catalog = context.catalog()?;
    if let Err(error) = config::check_text(&path, &imported.text, &catalog) {
        let lines: Vec<String> =
            format!("{error:#}").lines().map(|line| hosts_csv::locate_in_csv(line, &args.file, &hosts)).collect();
        bail!("nothing was written: {shown} would not be valid with these machines:\n{}", lines.join("\n"));
    }
    context.replace_config(&imported.text)?;
    let seats = match imported.seats {
        1 => String::new(),
        seats => format!(" for {seats} seats"),
    };
    context.ui.done(&format!(
        "{shown}: {} machines{seats} from {} (a manager and {} each), provider = \"ssh\"",
        hosts.len(),
        args.file.display(),
        crate::ui::count(imported.workers, "worker")
    ));
    context.ui.note("next: `labctl doctor` looks at every machine (answers, host key, sudo, Docker), then `labctl up`");
    Ok(ExitCode::SUCCESS)
}
