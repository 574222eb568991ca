//! One file per subcommand. Commands parse nothing and decide little: they
//! load what they need through [`Context`] and call the layers below.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};

use crate::cli::{ClassCommand, Cli, Command};
use crate::cluster::{self, Needs};
use crate::config::{self, Cluster, ConfigLocation, ProviderSetting, SeatSelection, Settings};
use crate::exec::{Children, DryRunner, RealRunner, Runner};
use crate::exit::Unreachable;
use crate::labs::Catalog;
use crate::provider::docker::DockerProvider;
use crate::provider::ssh::{HostKeys, SshProvider};
use crate::provider::vagrant::VagrantProvider;
use crate::provider::{self, Choice, Host, Provider, ProviderKind};
use crate::templates::Templates;
use crate::ui::Ui;

/// Where the Vagrant environment is rendered, under the workspace.
pub const VAGRANT_DIR: &str = ".labctl/vagrant";

mod check;
mod completions;
mod destroy;
mod doctor;
mod down;
mod engine;
mod exec;
mod gradebook;
mod images;
mod import;
mod init;
mod labs;
mod list;
mod logs;
mod render;
mod reset;
mod roster;
mod seat_reads;
mod seats;
mod serve;
mod solve;
mod ssh;
mod status;
mod up;
pub(crate) mod version;

pub use version::print as version;

/// What every command starts from: the workspace, the config location and the UI.
pub struct Context {
    pub workspace: PathBuf,
    pub config: ConfigLocation,
    pub ui: Ui,
    /// The programs this run has started, for Ctrl-C.
    children: Arc<Children>,
}

impl Context {
    fn new(cli: &Cli, ui: Ui, children: Arc<Children>) -> Result<Context> {
        let current = std::env::current_dir().context("cannot determine the current directory")?;
        let start = match &cli.workspace {
            None => current,
            Some(dir) => {
                let dir = current.join(dir);
                if !dir.is_dir() {
                    bail!("-C {}: no such directory; create it or fix the path", dir.display());
                }
                dir
            }
        };
        // With --config FILE the settings are named, and `init` makes a new
        // workspace where it is started (as `git init` and `cargo init` do,
        // never in a workspace above): the workspace (labs/, templates/,
        // .labctl/) is where labctl was started.
        let here = cli.config.is_some() || matches!(cli.command, Command::Init(_));
        let workspace = if here { start } else { find_workspace(&start) };
        let config = ConfigLocation { workspace: workspace.clone(), explicit: cli.config.clone() };
        Ok(Context { workspace, config, ui, children })
    }

    /// Keep this run's trace in `.labctl/logs/` (see `ui::run_log`); a log
    /// that cannot be written is said with -v and never stops the command.
    fn open_run_log(&self, command: &str, command_line: &str) {
        let header = [
            format!("labctl {}", crate::cli::VERSION),
            format!("command: {command_line}"),
            format!("workspace: {}", self.workspace.display()),
            format!("started: {} UTC", crate::ui::timestamp()),
        ];
        match self.ui.open_run_log(&self.workspace, command, &header) {
            Ok(path) => self.ui.detail(&format!("this run's log: {}", path.display())),
            Err(error) => self.ui.detail(&format!("no run log: {error:#}")),
        }
    }

    pub fn catalog(&self) -> Result<Catalog> {
        Catalog::load(&self.workspace)
    }

    pub fn settings(&self, catalog: &Catalog) -> Result<Settings> {
        let settings = config::load(&self.config, catalog)?;
        self.ui.detail(&format!("settings from {}", settings.origin.describe()));
        Ok(settings)
    }

    /// The seats a command acts on, as clusters: `--seat`, else the only
    /// seat, else (a class) every seat for a read; a change to a class
    /// must name its seats, so that no command acts on 30 clusters unasked.
    pub fn seats<'a>(
        &self,
        settings: &'a Settings,
        catalog: &'a Catalog,
        selection: Option<&SeatSelection>,
        intent: Intent,
    ) -> Result<Vec<Cluster<'a>>> {
        let seats = settings.class.seats;
        let numbers = match selection {
            Some(selection) => selection
                .resolve(seats)
                .map_err(|message| anyhow::anyhow!("--seat: {message} ({})", settings.locate("class.seats").trim_end_matches(": ")))?,
            None if seats == 1 || intent == Intent::Read => (1..=seats).collect(),
            None => bail!(
                "{}this workspace is a class of {seats} seats; say which this acts on: --seat 3, --seat 2-5 or --seat all",
                settings.locate("class.seats")
            ),
        };
        numbers.into_iter().map(|number| Cluster::seat(settings, catalog, number)).collect()
    }

    /// The one seat a command such as `ssh` acts on.
    pub fn one_seat<'a>(
        &self,
        settings: &'a Settings,
        catalog: &'a Catalog,
        selection: Option<&SeatSelection>,
        command: &str,
        intent: Intent,
    ) -> Result<Cluster<'a>> {
        let mut seats = self.seats(settings, catalog, selection, intent)?;
        if seats.len() != 1 {
            bail!(
                "`labctl {command}` acts on one seat at a time, but --seat selects {}; name one, e.g. --seat 3",
                seats.len()
            );
        }
        Ok(seats.remove(0))
    }

    /// This context for one of several seats that run at once: its lines
    /// start with the seat's label.
    fn for_seat(&self, cluster: &Cluster) -> Context {
        Context {
            workspace: self.workspace.clone(),
            config: self.config.clone(),
            ui: self.ui.prefixed(&cluster.seat_of_class().label()),
            children: self.children.clone(),
        }
    }

    pub fn runner(&self, dry_run: bool) -> Box<dyn Runner> {
        if dry_run {
            Box::new(DryRunner::new(self.ui.clone(), self.children.clone()))
        } else {
            Box::new(RealRunner::new(self.ui.clone(), self.children.clone()))
        }
    }

    /// labctl.toml as the user is shown it: relative to the workspace.
    pub fn config_shown(&self) -> String {
        let path = self.config.path();
        path.strip_prefix(&self.workspace).unwrap_or(&path).display().to_string()
    }

    /// labctl.toml's text; `None` when there is none yet.
    pub fn read_config_text(&self) -> Result<Option<String>> {
        match std::fs::read_to_string(self.config.path()) {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).with_context(|| format!("cannot read {}", self.config_shown())),
        }
    }

    /// Write `text` as labctl.toml, keeping the file it replaces as
    /// labctl.toml.bak and saying so (`init --force`, `class import`,
    /// `class engine --write`).
    pub fn replace_config(&self, text: &str) -> Result<()> {
        let path = self.config.path();
        if path.exists() {
            let backup = crate::files::back_up(&path)?;
            self.ui.note(&format!(
                "kept the old {} as {}",
                self.config_shown(),
                backup.strip_prefix(&self.workspace).unwrap_or(&backup).display()
            ));
        }
        crate::files::write_file(&path, text.as_bytes())
    }

    pub fn vagrant_dir(&self) -> PathBuf {
        self.workspace.join(VAGRANT_DIR)
    }

    /// The provider for this cluster, said with its reason: `--provider`,
    /// else labctl.toml; with `auto`, where the cluster already lives, else
    /// what this host can run.
    pub fn open_cluster<'a>(
        &self,
        cluster: &'a Cluster<'a>,
        runner: &'a dyn Runner,
        requested: Option<ProviderSetting>,
    ) -> Result<(Choice, Box<dyn Provider + 'a>)> {
        self.open_cluster_with(cluster, runner, requested, HostKeys::Known)
    }

    /// [`Context::open_cluster`], with the host keys the ssh provider accepts
    /// (`up --accept-new-host-keys`).
    pub fn open_cluster_with<'a>(
        &self,
        cluster: &'a Cluster<'a>,
        runner: &'a dyn Runner,
        requested: Option<ProviderSetting>,
        host_keys: HostKeys,
    ) -> Result<(Choice, Box<dyn Provider + 'a>)> {
        let (choice, provider) = self.provider_for(cluster, runner, requested, host_keys)?;
        // On stderr, so it never mixes with a command's own output or JSON.
        // Said once for a class whose seats all get the same.
        self.ui.note_once(&format!("provider {} ({})", choice.kind.as_str(), choice.reason));
        Ok((choice, provider))
    }

    /// [`Context::open_cluster_with`] without saying the choice.
    fn provider_for<'a>(
        &self,
        cluster: &'a Cluster<'a>,
        runner: &'a dyn Runner,
        requested: Option<ProviderSetting>,
        host_keys: HostKeys,
    ) -> Result<(Choice, Box<dyn Provider + 'a>)> {
        let host = Host::new(runner, cluster.timeouts());
        let auto = requested.unwrap_or(cluster.provider()) == ProviderSetting::Auto;
        let existing = if auto { provider::existing(cluster, &host, &self.vagrant_dir()) } else { None };
        let requested = requested.filter(|setting| *setting != ProviderSetting::Auto);
        let choice = match existing {
            Some(choice) => choice,
            None => provider::choose(cluster, requested, &host)?,
        };
        let provider: Box<dyn Provider + 'a> = match choice.kind {
            ProviderKind::Docker => Box::new(DockerProvider::new(cluster, runner)),
            ProviderKind::Incus => Box::new(crate::provider::incus::IncusProvider::new(cluster, runner)),
            ProviderKind::Vagrant => Box::new(VagrantProvider::new(cluster, runner, self.vagrant_dir())),
            ProviderKind::Ssh => {
                Box::new(SshProvider::new(cluster, runner, &Templates::load(&self.workspace)?, host_keys)?)
            }
        };
        Ok((choice, provider))
    }

    /// The provider of a cluster that must be up for this command: when it
    /// is not, or its runtime does not answer, an [`Unreachable`] error.
    pub fn open_running_cluster<'a>(
        &self,
        cluster: &'a Cluster<'a>,
        runner: &'a dyn Runner,
        needs: Needs,
    ) -> Result<Box<dyn Provider + 'a>> {
        let (_, provider) = self.reach_cluster(cluster, runner)?;
        cluster::ensure_up(cluster, provider.as_ref(), runner, needs)?;
        Ok(provider)
    }

    /// [`Context::open_cluster`] with the configured provider, for commands
    /// that read or use an existing cluster: a provider that cannot be used
    /// here means the cluster cannot be reached.
    pub fn reach_cluster<'a>(
        &self,
        cluster: &'a Cluster<'a>,
        runner: &'a dyn Runner,
    ) -> Result<(Choice, Box<dyn Provider + 'a>)> {
        self.open_cluster(cluster, runner, None).context(Unreachable::cannot_reach(cluster.name()))
    }

    /// Note that this workspace has a cluster, for `labctl list` and
    /// `destroy --name` (a convenience: a failure is only a warning).
    pub fn remember_workspace(&self, cluster: &Cluster, provider: ProviderKind) {
        let entry = crate::workspaces::Known {
            workspace: self.workspace.clone(),
            cluster: cluster.class_name().to_string(),
            provider: provider.as_str().to_string(),
            seats: cluster.seat_of_class().of,
        };
        if let Err(error) = crate::workspaces::remember(entry) {
            self.ui.warn(&format!("{error:#}"));
        }
    }

    /// The same command run as if from `workspace` (`destroy --name`).
    pub fn for_workspace(&self, workspace: PathBuf) -> Context {
        let config = ConfigLocation { workspace: workspace.clone(), explicit: None };
        Context { workspace, config, ui: self.ui.clone(), children: self.children.clone() }
    }

    pub fn templates(&self) -> Result<Templates> {
        let templates = Templates::load(&self.workspace)?;
        for stray in &templates.unused_overrides {
            self.ui.warn(&format!(
                "{} does not replace any built-in template (names: Vagrantfile.tera, provision/*.sh.tera, node/*.sh.tera, host/*.sh.tera, node/Dockerfile.tera, class/handout.txt.tera, labctl.toml.tera); it is ignored",
                stray.display()
            ));
        }
        Ok(templates)
    }
}

/// A class's seats are reached without a provider line each: every seat
/// of a class has the docker provider (`-v` says it per seat).
impl seat_reads::Reach for Context {
    fn reach<'a>(&self, cluster: &'a Cluster<'a>, runner: &'a dyn Runner) -> Result<Box<dyn Provider + 'a>> {
        let (choice, provider) = self
            .provider_for(cluster, runner, None, HostKeys::Known)
            .context(Unreachable::cannot_reach(cluster.name()))?;
        self.ui.detail(&format!("{}: provider {} ({})", cluster.name(), choice.kind.as_str(), choice.reason));
        Ok(provider)
    }
}

/// Whether a command only reads its seats or changes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Read,
    Change,
}

/// The nearest of `start` and its parents that holds a labctl.toml (as cargo
/// and vagrant find theirs), else `start`: a command run from a folder inside
/// the workspace acts on the workspace's cluster, never on the defaults'.
fn find_workspace(start: &Path) -> PathBuf {
    start.ancestors().find(|dir| dir.join(config::CONFIG_FILE).is_file()).unwrap_or(start).to_path_buf()
}

pub fn dispatch(cli: Cli, ui: Ui, children: Arc<Children>, command_line: &str) -> Result<ExitCode> {
    let context = Context::new(&cli, ui, children)?;
    if let Some(name) = cli.command.run_log_name() {
        context.open_run_log(name, command_line);
    }
    match cli.command {
        Command::Up(args) => up::run(&context, &args),
        Command::Status(args) => status::run(&context, &args, status::View::Auto),
        Command::Class(ClassCommand::Status(args)) => status::run(&context, &args, status::View::Class),
        Command::Down(args) => down::run(&context, &args),
        Command::Destroy(args) => destroy::run(&context, &args),
        Command::Ssh(args) => ssh::run(&context, &args),
        Command::Exec(args) => exec::run(&context, &args),
        Command::Check(args) => check::run(&context, &args),
        Command::Reset(args) => reset::run(&context, &args),
        Command::Solve(args) => solve::run(&context, &args),
        Command::Images(command) => images::run(&context, &command),
        Command::Class(ClassCommand::Roster(args)) => roster::run(&context, &args),
        Command::Init(args) => init::run(&context, &args),
        Command::Render(args) => render::run(&context, &args),
        Command::Labs(args) => labs::run(&context, &args),
        Command::List(args) => list::run(&context, &args),
        Command::Logs(args) => logs::run(&context, &args),
        Command::Doctor(args) => doctor::run(&context, &args),
        Command::Class(ClassCommand::Import(args)) => import::run(&context, &args),
        Command::Class(ClassCommand::Engine(args)) => engine::run(&context, &args),
        Command::Serve(args) => serve::run(&context, &args),
        Command::Completions(args) => completions::run(&context, &args),
    }
}

/// The node of `cluster` called `name`, or an error listing the nodes.
pub fn find_node<'a>(cluster: &'a Cluster, name: &str) -> Result<&'a config::Node> {
    if let Some(node) = cluster.nodes().node(name) {
        return Ok(node);
    }
    let names = cluster.nodes().names();
    let suggestion = crate::names::closest(name, names.iter().copied())
        .map(|close| format!("did you mean {close:?}? "))
        .unwrap_or_default();
    bail!("{name:?} is not a node of cluster {}; {suggestion}Nodes: {}", cluster.name(), names.join(", "))
}

/// Ask `question` (y/N) on a terminal before something that loses data; with
/// no terminal to ask on, refuse to guess: fail saying `consequence` and that
/// `--yes` confirms.
pub fn confirm(ui: &Ui, question: &str, consequence: &str) -> Result<bool> {
    let Some(answer) = ui.ask(&format!("{question} [y/N]"))? else {
        bail!("{consequence}; pass --yes to confirm (no terminal to ask on)");
    };
    Ok(matches!(answer.as_str(), "y" | "Y" | "yes" | "YES"))
}
