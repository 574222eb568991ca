use std::process::ExitCode;

use anyhow::Result;
use clap::builder::PossibleValuesParser;
use clap::CommandFactory;
use clap_complete::Shell as Target;

use super::Context;
use crate::cli::{Cli, CompletionsArgs, Shell};

/// The commands whose positional `lab` takes a lab name.
const LAB_COMMANDS: [&str; 4] = ["check", "reset", "solve", "labs"];
/// The commands whose positional `node` takes a node name.
const NODE_COMMANDS: [&str; 2] = ["ssh", "exec"];

/// The completion script, with this workspace's lab names (ids and aliases)
/// and node names as the values of the arguments that take them.
pub fn run(context: &Context, args: &CompletionsArgs) -> Result<ExitCode> {
    let target = match args.shell {
        Shell::Bash => Target::Bash,
        Shell::Zsh => Target::Zsh,
        Shell::Fish => Target::Fish,
        Shell::Elvish => Target::Elvish,
        Shell::Powershell => Target::PowerShell,
    };
    let catalog = context.catalog()?;
    let labs: Vec<String> = catalog
        .labs()
        .iter()
        .flat_map(|lab| std::iter::once(lab.manifest.id.clone()).chain(lab.manifest.aliases.iter().cloned()))
        .collect();
    // A workspace whose labctl.toml does not load still gets the lab names.
    let nodes: Vec<String> = match context.settings(&catalog) {
        Ok(settings) => settings.nodes.names().into_iter().map(String::from).collect(),
        Err(error) => {
            context.ui.warn(&format!("node names left out of the completions: {error:#}"));
            Vec::new()
        }
    };
    let mut command = Cli::command();
    let values = |names: &[String]| {
        PossibleValuesParser::new(names.iter().map(|name| clap::builder::PossibleValue::new(name.clone())))
    };
    for name in LAB_COMMANDS {
        command = command.mut_subcommand(name, |sub| sub.mut_arg("lab", |arg| arg.value_parser(values(&labs))));
    }
    command = command.mut_subcommand("images", |images| {
        images.mut_subcommand("load", |load| load.mut_arg("lab", |arg| arg.value_parser(values(&labs))))
    });
    if !nodes.is_empty() {
        for name in NODE_COMMANDS {
            command = command.mut_subcommand(name, |sub| sub.mut_arg("node", |arg| arg.value_parser(values(&nodes))));
        }
    }
    let mut script = Vec::new();
    clap_complete::generate(target, &mut command, "labctl", &mut script);
    context.ui.print(&String::from_utf8_lossy(&script));
    Ok(ExitCode::SUCCESS)
}
