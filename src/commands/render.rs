use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};

use super::Context;
use crate::cli::RenderArgs;
use crate::config::Settings;
use crate::files::{self, Outcome};
use crate::provider::vagrant::environment as vagrant;
use crate::templates::Templates;
use crate::vbox;

pub fn run(context: &Context, args: &RenderArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    check_host_only_network(&settings)?;
    let templates = context.templates()?;
    for name in templates.overridden() {
        context.ui.note(&format!("using templates/{name} from the workspace instead of the built-in one"));
    }

    let out = args.out.clone().map(|dir| context.workspace.join(dir)).unwrap_or_else(|| context.vagrant_dir());
    let outcomes = write_environment(context, &settings, &templates, &out)?;

    let shown_out = out.strip_prefix(&context.workspace).unwrap_or(&out).display().to_string();
    let unchanged = outcomes.iter().filter(|(_, outcome)| *outcome == Outcome::Unchanged).count();
    let summary = match unchanged {
        0 => String::new(),
        n if n == outcomes.len() => " (all unchanged)".to_string(),
        n => format!(" ({n} unchanged)"),
    };
    context.ui.done(&format!("rendered {} files into {shown_out}{summary}", outcomes.len()));
    Ok(ExitCode::SUCCESS)
}

/// Render the Vagrant environment into `out`, warning about hand-edited
/// files that were kept as backups.
pub fn write_environment(
    context: &Context,
    settings: &Settings,
    templates: &Templates,
    out: &Path,
) -> Result<Vec<(PathBuf, Outcome)>> {
    let rendered = vagrant::render_environment(settings, templates)?;
    let outcomes = files::write_generated(out, &rendered)?;
    let shown_out = out.strip_prefix(&context.workspace).unwrap_or(out).display().to_string();
    for (path, outcome) in &outcomes {
        if let Outcome::BackedUp(backup) = outcome {
            context.ui.warn(&format!(
                "{shown_out}/{} had been edited by hand; your version is kept as {}",
                path.display(),
                backup.strip_prefix(out).unwrap_or(backup).display()
            ));
        }
        context.ui.detail(&format!("{:?}: {shown_out}/{}", outcome, path.display()));
    }
    Ok(outcomes)
}

/// VirtualBox refuses host-only networks outside its allowed ranges; say so
/// before anyone waits for a VM to fail.
pub fn check_host_only_network(settings: &Settings) -> Result<()> {
    if settings.vagrant.provider != "virtualbox" {
        return Ok(());
    }
    let conf = vbox::networks_conf_path();
    let allowed = vbox::allowed_ranges(conf.clone())?;
    if let Err(problem) = vbox::check_subnet(settings.subnet, &allowed, &conf) {
        bail!("{}cluster.subnet: {problem}", settings.locate("cluster.subnet"));
    }
    Ok(())
}
