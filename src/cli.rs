//! Command-line syntax only: flags and subcommands, no logic.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::ProviderSetting;

const AFTER_HELP: &str = "\
Examples:
  labctl up                         manager + 3 workers, swarm, registry, labs
  labctl status                     nodes, swarm state and seeded labs
  labctl exec manager -- docker node ls
  labctl ssh node1                  a root shell on node1
  labctl down                       stop the nodes (keeps their disks)
  labctl destroy --yes              remove nodes, networks and volumes
  labctl init                       write a commented labctl.toml here
  labctl doctor                     check this host: Vagrant, VirtualBox, Docker, ports
  labctl labs                       list the labs and where they are seeded

Without a labctl.toml every command uses the class defaults: manager 192.168.56.10,
node1..node3 at 192.168.56.11-13, registry manager:5000, labs in /root/work.";

/// Give a Docker Swarm class its lab: a manager and workers, the swarm, a private
/// registry and the lab folders.
#[derive(Debug, Parser)]
#[command(name = "labctl", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Run as if started in DIR (the workspace holding labctl.toml, templates/ and labs/)
    #[arg(short = 'C', value_name = "DIR", global = true)]
    pub workspace: Option<PathBuf>,

    /// Read the configuration from FILE instead of <workspace>/labctl.toml
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Show more: the commands labctl runs and where settings come from
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    pub verbose: bool,

    /// Show only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or start the nodes, bootstrap the swarm, start the registry, seed the labs
    #[command(
        after_help = "Examples:\n  labctl up\n  labctl up --provider docker\n  labctl up --dry-run     (prints every command that would change something)\n\n\
Safe to run again: a healthy cluster is left as it is, and whatever is missing\n\
(a stopped node, a worker that left the swarm, a removed container) is repaired.\n\
Lab files a student changed are never overwritten."
    )]
    Up(UpArgs),

    /// Show every node (machine state, swarm state, role) and the seeded labs
    #[command(
        after_help = "Examples:\n  labctl status\n  labctl status --json | jq '.nodes[] | select(.status != \"Ready\")'"
    )]
    Status(StatusArgs),

    /// Stop the nodes and keep their disks (`labctl up` starts them again)
    Down,

    /// Remove the nodes, their network and volumes
    #[command(after_help = "Asks for confirmation on a terminal; elsewhere pass --yes.")]
    Destroy(DestroyArgs),

    /// Open a root shell on a node
    #[command(after_help = "Examples:\n  labctl ssh manager\n  labctl ssh node2")]
    Ssh(SshArgs),

    /// Run a command as root on a node; its exit status is passed through
    #[command(
        after_help = "Examples:\n  labctl exec manager -- docker node ls\n  labctl exec node1 -- sh -c 'docker ps --format {{.Names}}'"
    )]
    Exec(ExecArgs),

    /// Write a commented labctl.toml into the workspace
    #[command(
        after_help = "Examples:\n  labctl init\n  labctl init --provider docker\n  labctl init --force     (keeps the old file as labctl.toml.bak)"
    )]
    Init(InitArgs),

    /// Render the Vagrant environment (Vagrantfile and provisioning scripts)
    #[command(after_help = "Examples:\n  labctl render\n  labctl render --out /tmp/class-vms\n\n\
Templates are built in; a file in <workspace>/templates/ with the same name\n\
(e.g. templates/Vagrantfile.tera, templates/provision/docker.sh.tera) replaces one.")]
    Render(RenderArgs),

    /// List the lab catalog, or show one lab
    #[command(
        after_help = "Examples:\n  labctl labs\n  labctl labs --json\n  labctl labs db          (id, alias or directory)\n  labctl labs lab1 --handout en"
    )]
    Labs(LabsArgs),

    /// Check this host for what the lab needs and say how to fix what is missing
    #[command(after_help = "Exit status: 0 when the configured provider can work, 1 otherwise.")]
    Doctor,

    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  labctl completions bash > /etc/bash_completion.d/labctl\n  labctl completions zsh > \"${fpath[1]}/_labctl\""
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Use this provider instead of the one in labctl.toml
    #[arg(long, value_enum)]
    pub provider: Option<ProviderSetting>,

    /// Print every command that would change something, and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct SshArgs {
    /// Node name: manager, node1, …
    pub node: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Node name: manager, node1, …
    pub node: String,

    /// The command and its arguments (after `--`)
    #[arg(required = true, last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Provider to write into the file
    #[arg(long, value_enum, default_value_t = ProviderSetting::Auto)]
    pub provider: ProviderSetting,

    /// Replace an existing labctl.toml (the old one is kept as labctl.toml.bak)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Write into DIR instead of <workspace>/.labctl/vagrant
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LabsArgs {
    /// Show only this lab (id, alias or directory name)
    pub lab: Option<String>,

    /// Print JSON instead of a table
    #[arg(long, conflicts_with = "handout")]
    pub json: bool,

    /// Print the lab's handout: Korean (ko, the default) or English (en)
    #[arg(long, value_name = "LANG", num_args = 0..=1, default_missing_value = "ko", requires = "lab")]
    pub handout: Option<Language>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Language {
    Ko,
    En,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}
