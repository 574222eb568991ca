use std::process::ExitCode;

use anyhow::{bail, Result};

use super::Context;
use crate::cli::RenderArgs;
use crate::config::Settings;
use crate::files::{self, Outcome};
use crate::provider::vagrant;
use crate::vbox;

pub fn run(context: &Context, args: &RenderArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    check_host_only_network(&settings)?;
    let templates = context.templates()?;
    for name in templates.overridden() {
        context.ui.note(&format!("using templates/{name} from the workspace instead of the built-in one"));
    }

    let out = args
        .out
        .clone()
        .map(|dir| context.workspace.join(dir))
        .unwrap_or_else(|| context.workspace.join(".labctl/vagrant"));
    let rendered = vagrant::render_environment(&settings, &templates)?;
    let outcomes = files::write_generated(&out, &rendered)?;

    let shown_out = out.strip_prefix(&context.workspace).unwrap_or(&out).display().to_string();
    let mut unchanged = 0;
    for (path, outcome) in &outcomes {
        match outcome {
            Outcome::Unchanged => unchanged += 1,
            Outcome::BackedUp(backup) => context.ui.warn(&format!(
                "{shown_out}/{} had been edited by hand; your version is kept as {}",
                path.display(),
                backup.strip_prefix(&out).unwrap_or(backup).display()
            )),
            Outcome::Created | Outcome::Updated => {}
        }
        context.ui.detail(&format!("{:?}: {shown_out}/{}", outcome, path.display()));
    }
    let summary = match unchanged {
        0 => String::new(),
        n if n == outcomes.len() => " (all unchanged)".to_string(),
        n => format!(" ({n} unchanged)"),
    };
    context.ui.done(&format!("rendered {} files into {shown_out}{summary}", outcomes.len()));
    Ok(ExitCode::SUCCESS)
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
