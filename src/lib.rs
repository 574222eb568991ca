//! labctl: one command to a Docker Swarm class lab.
//!
//! Data flows one way: `cli` → `commands` → (`config`, `labs`, `templates`)
//! → (`cluster`, `lifecycle`, `swarm`) → `provider` → `exec`; lab data
//! (`labs`) never imports what acts on nodes (tests/it/modules.rs). Only `ui` talks to the user and only `exec`
//! starts programs.

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

mod access;
mod capacity;
mod cli;
mod cluster;
mod commands;
mod config;
mod diagnostics;
mod doctor;
mod exec;
mod exit;
mod files;
mod hostfs;
mod images;
mod interrupt;
mod labs;
mod lifecycle;
mod locate;
mod lock;
mod mask;
mod names;
mod parallel;
mod provider;
mod registry;
mod rootless;
mod serve;
mod swarm;
mod templates;
mod timeouts;
mod ui;
mod vbox;
mod workspaces;

/// Run labctl with these arguments (the program name first) and return the
/// exit status: 0 success, 1 failure, 2 usage error, 3 the cluster could
/// not be reached or is not up (see [`exit`]); Ctrl-C and SIGTERM end the
/// process with 130 and 143.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error)
            if error.kind() == clap::error::ErrorKind::DisplayVersion && args.iter().any(|arg| arg == "--version") =>
        {
            // The long form also names the tools found, for bug reports.
            let ui = ui::Ui::new(ui::Verbosity::Normal);
            commands::version(ui, Arc::new(exec::Children::default()));
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            // clap prints help/version to stdout and usage errors to stderr.
            let error = cli::with_tip(error, &args);
            let _ = error.print();
            return if error.use_stderr() { ExitCode::from(exit::USAGE) } else { ExitCode::SUCCESS };
        }
    };
    let verbosity = match (cli.quiet, cli.verbose) {
        (true, _) => ui::Verbosity::Quiet,
        (_, true) => ui::Verbosity::Verbose,
        _ => ui::Verbosity::Normal,
    };
    let ui = ui::Ui::new(verbosity);
    let children = Arc::new(exec::Children::default());
    let words: Vec<String> = args.iter().skip(1).map(|arg| arg.to_string_lossy().into_owned()).collect();
    let command_line = format!("labctl {}", exec::shell_line(&words)).trim_end().to_string();
    if let Err(error) = interrupt::watch(children.clone(), ui.clone(), command_line.clone()) {
        ui.error(&format!("{error:#}"));
        return ExitCode::FAILURE;
    }
    match commands::dispatch(cli, ui.clone(), children, &command_line) {
        Ok(code) => code,
        Err(error) => {
            // Errors are printed once, here, with their full chain.
            for line in format!("{error:#}").lines() {
                ui.error(line);
            }
            exit::code_for(&error)
        }
    }
}
