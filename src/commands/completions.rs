use std::process::ExitCode;

use anyhow::Result;
use clap::CommandFactory;
use clap_complete::Shell as Target;

use super::Context;
use crate::cli::{Cli, CompletionsArgs, Shell};

pub fn run(_: &Context, args: &CompletionsArgs) -> Result<ExitCode> {
    let target = match args.shell {
        Shell::Bash => Target::Bash,
        Shell::Zsh => Target::Zsh,
        Shell::Fish => Target::Fish,
        Shell::Elvish => Target::Elvish,
        Shell::Powershell => Target::PowerShell,
    };
    clap_complete::generate(target, &mut Cli::command(), "labctl", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
