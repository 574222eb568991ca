//! `labctl class engine`: a rootless Docker engine for the class on this
//! host (see `rootless`), its `[[class.engines]]` entry printed or written
//! into labctl.toml; `--remove` takes it back.

use std::process::ExitCode;

use anyhow::{bail, Result};

use super::Context;
use crate::cli::ClassEngineArgs;
use crate::config::{self, RawConfig};
use crate::rootless;
use crate::timeouts::Timeouts;

pub fn run(context: &Context, args: &ClassEngineArgs) -> Result<ExitCode> {
    if !rustix::process::geteuid().is_root() {
        let again = if args.remove { "sudo labctl class engine --remove" } else { "sudo labctl class engine" };
        bail!("making a user and its Docker engine needs root: run `{again}`");
    }
    let runner = context.runner(false);
    let templates = context.templates()?;
    let timeouts = Timeouts::from_env()?;
    if args.remove {
        context.ui.step(&format!("removing the rootless engine of {}", args.user), || {
            rootless::remove(&args.user, runner.as_ref(), &templates, &timeouts)?;
            Ok(((), format!("removed the rootless engine of {} and what labctl made for it", args.user)))
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let made = context.ui.step(&format!("making the rootless engine of user {}", args.user), || {
        let made = rootless::make(&args.user, runner.as_ref(), &templates, &timeouts)?;
        let summary = format!("rootless engine of {} answers at {}", args.user, made.host);
        Ok((made, summary))
    })?;
    if !made.starts_at_boot {
        context.ui.note("no systemd here: after a reboot, run `sudo labctl class engine` again to start it");
    }
    let current = context.read_config_text()?;
    let class_seats = current
        .as_deref()
        .and_then(|text| toml::from_str::<RawConfig>(text).ok())
        .map_or(1, |raw| raw.class.seats.max(1));
    let seats = args.seats.unwrap_or(class_seats);
    if !args.write {
        context.ui.print(&rootless::engine_entry(&args.name, &made.host, seats));
        context.ui.note("put it in labctl.toml (or run this with --write); the seats it holds then come up on it");
        return Ok(ExitCode::SUCCESS);
    }
    write_entry(context, current, &args.name, &made.host, seats)?;
    Ok(ExitCode::SUCCESS)
}

/// Put the engine first in labctl.toml's `[[class.engines]]`, checked
/// before anything is written, the old file kept as labctl.toml.bak.
fn write_entry(context: &Context, current: Option<String>, name: &str, host: &str, seats: u32) -> Result<()> {
    let path = context.config.path();
    let shown = context.config_shown();
    let Some(text) = rootless::add_engine(current.as_deref().unwrap_or_default(), name, host, seats)? else {
        context.ui.done(&format!("{shown} already has an engine at {host}: nothing written"));
        return Ok(());
    };
    let catalog = context.catalog()?;
    if let Err(error) = config::check_text(&path, &text, &catalog) {
        bail!(
            "nothing was written: {shown} would not be valid with this engine ({error:#}); add it by hand:\n{}",
            rootless::engine_entry(name, host, seats).trim_end()
        );
    }
    context.replace_config(&text)?;
    context.ui.done(&format!("{shown}: engine {name:?} ({host}) holds {}", crate::ui::count(seats as usize, "seat")));
    Ok(())
}
