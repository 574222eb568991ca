//! One file per subcommand. Commands parse nothing and decide little: they
//! load what they need through [`Context`] and call the layers below.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};

use crate::cli::{Cli, Command};
use crate::config::{self, ConfigLocation, Settings};
use crate::labs::Catalog;
use crate::templates::Templates;
use crate::ui::Ui;

mod completions;
mod doctor;
mod init;
mod labs;
mod render;

/// What every command starts from: the workspace, the config location and the UI.
pub struct Context {
    pub workspace: PathBuf,
    pub config: ConfigLocation,
    pub ui: Ui,
}

impl Context {
    fn new(cli: &Cli, ui: Ui) -> Result<Context> {
        let current = std::env::current_dir().context("cannot determine the current directory")?;
        let workspace = match &cli.workspace {
            None => current,
            Some(dir) => {
                let dir = current.join(dir);
                if !dir.is_dir() {
                    bail!("-C {}: no such directory; create it or fix the path", dir.display());
                }
                dir
            }
        };
        let config = ConfigLocation { workspace: workspace.clone(), explicit: cli.config.clone() };
        Ok(Context { workspace, config, ui })
    }

    pub fn catalog(&self) -> Result<Catalog> {
        Catalog::load(&self.workspace)
    }

    pub fn settings(&self, catalog: &Catalog) -> Result<Settings> {
        let settings = config::load(&self.config, catalog)?;
        self.ui.detail(&format!("settings from {}", settings.origin.describe()));
        Ok(settings)
    }

    pub fn templates(&self) -> Result<Templates> {
        let templates = Templates::load(&self.workspace)?;
        for stray in &templates.unused_overrides {
            self.ui.warn(&format!(
                "{} does not replace any built-in template (names: Vagrantfile.tera, provision/*.sh.tera, labctl.toml.tera); it is ignored",
                stray.display()
            ));
        }
        Ok(templates)
    }
}

pub fn dispatch(cli: Cli, ui: Ui) -> Result<ExitCode> {
    let context = Context::new(&cli, ui)?;
    match cli.command {
        Command::Init(args) => init::run(&context, &args),
        Command::Render(args) => render::run(&context, &args),
        Command::Labs(args) => labs::run(&context, &args),
        Command::Doctor => doctor::run(&context),
        Command::Completions(args) => completions::run(&context, &args),
    }
}
