//! `labctl class roster`: how each seat's student logs in. Prints one line
//! per seat (never a key or a password) and writes each seat's handout and
//! the instructor's ssh config into the seat's private folder.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use serde::Serialize;

use super::{Context, Intent};
use crate::access::roster::{self, HandoutSecret, Login};
use crate::access::{self, SeatFiles, ACCESS_DIR};
use crate::cli::RosterArgs;
use crate::config::{Access, Cluster, ProviderSetting};
use crate::files;
use crate::provider::ssh::HostKeys;

#[derive(Debug, Serialize)]
struct Roster {
    class: String,
    access: Access,
    seats: Vec<SeatLogin>,
}

#[derive(Debug, Serialize)]
struct SeatLogin {
    #[serde(flatten)]
    login: Login,
    /// The seat has its credentials and host keys (its `labctl up` ran).
    ready: bool,
    command: String,
    /// Paths as shown (relative to the current folder when inside it).
    identity_file: Option<String>,
    password_file: Option<String>,
    known_hosts: String,
    handout: Option<String>,
    ssh_config: Option<String>,
}

pub fn run(context: &Context, args: &RosterArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let configured = Cluster::new(&settings, &catalog)?;
    let Some((access, _)) = configured.student_access() else {
        bail!(
            "{}students do not log in to this workspace's seats (access \"none\"); set [class] access = \"key\" or \"password\" and run labctl up",
            settings.locate("class.access")
        );
    };
    if let Some(host) = &args.host {
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '@') {
            bail!("--host {host:?} is not a host name or address; e.g. --host lab.example.org or --host 192.0.2.7");
        }
    }
    let seats = context.seats(&settings, &catalog, args.seats.seat.as_ref(), Intent::Read)?;
    let templates = context.templates()?;
    let root = context.workspace.join(ACCESS_DIR);
    let machine = rustix::system::uname().nodename().to_string_lossy().into_owned();
    let web = WebPages {
        scheme: if settings.class.web_tls.is_some() { "https" } else { "http" },
        port: settings.class.web_port,
    };
    let runner = context.runner(false);
    let mut said = Vec::new();
    let mut logins = Vec::new();
    for seat in &seats {
        // Incus knows the server (or cluster member) each seat runs on.
        let provider_says = match (args.host.is_none(), seat.provider()) {
            (true, ProviderSetting::Incus) => context
                .provider_for(seat, runner.as_ref(), None, HostKeys::Known)
                .ok()
                .and_then(|(_, provider)| provider.students_address()),
            _ => None,
        };
        let (host, why) = roster::student_host(args.host.as_deref(), provider_says, seat, &machine);
        let note = format!("students reach {host} ({why})");
        if !said.contains(&note) {
            context.ui.note(&note);
            said.push(note);
        }
        let login = Login::new(seat, &configured, &host).context("internal error: a seat without access")?;
        logins.push(write_seat(&SeatFiles::new(&root, seat), login, &templates, &web)?);
    }
    let roster = Roster { class: settings.cluster_name.clone(), access, seats: logins };
    context.ui.print(&match args.json {
        true => serde_json::to_string_pretty(&roster)? + "\n",
        false => table(&roster),
    });
    let waiting: Vec<String> =
        roster.seats.iter().filter(|seat| !seat.ready).map(|seat| seat.login.seat.to_string()).collect();
    if waiting.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    context.ui.warn(&format!(
        "no credentials yet for seat {}: run labctl up --seat {}",
        waiting.join(", "),
        waiting.join(",")
    ));
    Ok(ExitCode::FAILURE)
}

/// Read one seat's credentials and write its handout and ssh config, when
/// its `labctl up` has made them.
fn write_seat(
    files: &SeatFiles,
    login: Login,
    templates: &crate::templates::Templates,
    web: &WebPages,
) -> Result<SeatLogin> {
    let credential = access::read_credential(files, login.access)?;
    let known_hosts = std::fs::read_to_string(files.known_hosts()).ok();
    let key_mode = login.access == Access::Key;
    let identity = key_mode.then(|| shown(&files.private_key()));
    let mut seat = SeatLogin {
        command: login.command(identity.as_deref(), Some(&shown(&files.known_hosts()))),
        identity_file: identity,
        password_file: (!key_mode).then(|| shown(&files.password())),
        known_hosts: shown(&files.known_hosts()),
        ready: false,
        handout: None,
        ssh_config: None,
        login,
    };
    let (Some(credential), Some(known_hosts)) = (credential, known_hosts) else { return Ok(seat) };
    let private_key = match key_mode {
        true => std::fs::read_to_string(files.private_key())
            .with_context(|| format!("cannot read {}", files.private_key().display()))?,
        false => String::new(),
    };
    // The seat's page of `labctl serve`, its secret in the link's fragment.
    let link = access::links::seat_secret(files, false)?;
    let web_link = format!(
        "{}://{}:{}/#{}",
        web.scheme,
        crate::provider::listen::url_host(&seat.login.host),
        web.port,
        link.expose()
    );
    let secret = HandoutSecret::of(&credential, &private_key);
    let handout = roster::handout(templates, &seat.login, secret, &known_hosts, Some(&web_link))?;
    files::write_private(&files.handout(), handout.as_bytes())?;
    let identity = key_mode.then(|| absolute(&files.private_key()));
    let config = seat.login.ssh_config(identity.as_deref(), Some(&absolute(&files.known_hosts())), false);
    files::write_private(&files.ssh_config(), config.as_bytes())?;
    seat.ready = true;
    seat.handout = Some(shown(&files.handout()));
    seat.ssh_config = Some(shown(&files.ssh_config()));
    Ok(seat)
}

fn table(roster: &Roster) -> String {
    let how = match roster.access {
        Access::Password => "a password",
        Access::Key | Access::None => "a key",
    };
    let mut text = format!(
        "class {}, {}: students log in with {how}, which only their handout holds\n\n",
        roster.class,
        crate::ui::count(roster.seats.len(), "seat")
    );
    let header = ["SEAT", "LOGIN", "HANDOUT"].map(String::from);
    let rows = roster.seats.iter().map(|seat| match seat.ready {
        true => [seat.login.seat.to_string(), seat.command.clone(), seat.handout.clone().unwrap_or_default()],
        false => {
            [seat.login.seat.to_string(), format!("not up yet: labctl up --seat {}", seat.login.seat), "-".to_string()]
        }
    });
    let rows: Vec<[String; 3]> = std::iter::once(header).chain(rows).collect();
    for line in crate::ui::columns(&rows) {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// `path` relative to the current folder when it is inside it (as the
/// roster is run from the workspace), else as it is.
pub(super) fn shown(path: &Path) -> String {
    let current = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&current).unwrap_or(path).display().to_string()
}

/// `path` made absolute, for the ssh config (used from any folder).
fn absolute(path: &Path) -> String {
    let path: PathBuf = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    path.display().to_string()
}

/// Where `labctl serve` answers: for the seats' links in their handouts.
struct WebPages {
    scheme: &'static str,
    port: u16,
}
