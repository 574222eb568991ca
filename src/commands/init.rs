use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};

use super::Context;
use crate::cli::InitArgs;
use crate::config::{ProviderSetting, RawConfig};

pub const TEMPLATE: &str = "labctl.toml.tera";

pub fn run(context: &Context, args: &InitArgs) -> Result<ExitCode> {
    let shown = context.config_shown();
    if context.config.path().exists() && !args.force {
        bail!("{shown} already exists; edit it, or run `labctl init --force` to replace it (the old one is kept as {shown}.bak)");
    }

    let catalog = context.catalog()?;
    let mut raw = RawConfig::default();
    raw.cluster.provider = args.provider;
    raw.labs.seed = Some(catalog.labs().iter().map(|lab| lab.manifest.id.clone()).collect());
    let text = context
        .templates()?
        .render(TEMPLATE, &tera::Context::from_serialize(&raw)?)
        .context("cannot write the configuration")?;
    // The file must load back to exactly what was meant.
    let parsed: RawConfig =
        toml::from_str(&text).with_context(|| format!("{TEMPLATE} rendered a file that does not parse"))?;
    if parsed != raw {
        bail!("{TEMPLATE} rendered a file that does not match the defaults; fix the template");
    }

    context.replace_config(&text)?;
    context.ui.done(&format!("wrote {shown} (provider {})", args.provider.as_str()));
    let next = match args.provider {
        ProviderSetting::Ssh => "next: add one [[ssh.hosts]] machine per node (see the commented example at the end) or write them from a CSV with `labctl class import hosts.csv`, then `labctl doctor` looks at every machine",
        ProviderSetting::Incus => "next: `labctl doctor` checks that Incus answers and has the storage pool ([incus] in labctl.toml), then `labctl up`",
        _ => "next: `labctl doctor` to check this host, `labctl render` for the Vagrant files",
    };
    context.ui.note(next);
    Ok(ExitCode::SUCCESS)
}
