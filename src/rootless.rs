//! A rootless Docker engine for a class, on this host (`labctl class
//! engine`, as root): the host scripts `host/rootless-engine.sh` (packages,
//! the class's unprivileged user with subordinate IDs, its
//! dockerd-rootless.sh as a systemd service or in the background) and
//! `host/rootless-engine-remove.sh` (exactly what the first one recorded),
//! and the `[[class.engines]]` entry that puts seats on it.

use anyhow::{anyhow, bail, Result};
use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};

use crate::exec::{CommandSpec, Runner};
use crate::templates::Templates;
use crate::timeouts::{Timeouts, Wait};

pub const MAKE_SCRIPT: &str = "host/rootless-engine.sh.tera";
pub const REMOVE_SCRIPT: &str = "host/rootless-engine-remove.sh.tera";
/// The class's engine user when none is named.
pub const DEFAULT_USER: &str = "labctl-class";
/// Subordinate IDs the user gets: an image's files are owned by IDs up to 65534.
const SUBORDINATE_IDS: u32 = 65_536;
/// How long the new engine may take to answer (on a normal host; scaled).
const ANSWER_SECONDS: u64 = 60;

/// What `host/rootless-engine.sh` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeEngine {
    /// `unix:///run/user/UID/docker.sock`: the `[[class.engines]]` host.
    pub host: String,
    /// It starts again at boot (a systemd service); false: started in the
    /// background, to be started again after a reboot.
    pub starts_at_boot: bool,
}

/// `bash -c SCRIPT NAME ARG…` of one of the host scripts.
fn script_command(templates: &Templates, name: &str, args: &[String], timeouts: &Timeouts) -> Result<CommandSpec> {
    let script = templates.node_script(name)?;
    let argv: Vec<String> =
        ["-c".to_string(), script, "labctl-rootless-engine".into()].into_iter().chain(args.iter().cloned()).collect();
    let purpose = match name {
        MAKE_SCRIPT => "make the class's rootless Docker engine",
        _ => "remove the class's rootless Docker engine",
    };
    Ok(CommandSpec::new("bash", &[], purpose).args(argv).timeout(timeouts.limit(Wait::Long)))
}

/// Make (or find running) `user`'s rootless engine.
pub fn make(user: &str, runner: &dyn Runner, templates: &Templates, timeouts: &Timeouts) -> Result<MadeEngine> {
    let wait = timeouts.scaled(std::time::Duration::from_secs(ANSWER_SECONDS)).as_secs().max(1);
    let args = [user.to_string(), SUBORDINATE_IDS.to_string(), wait.to_string()];
    let spec = script_command(templates, MAKE_SCRIPT, &args, timeouts)?;
    let output = runner.run(&spec)?;
    if !output.success() {
        bail!("{}", last_said(&output.stderr));
    }
    parse_report(&output.stdout)
}

/// Stop `user`'s engine and remove what labctl made for it.
pub fn remove(user: &str, runner: &dyn Runner, templates: &Templates, timeouts: &Timeouts) -> Result<()> {
    let spec = script_command(templates, REMOVE_SCRIPT, &[user.to_string()], timeouts)?;
    let output = runner.run(&spec)?;
    if !output.success() {
        bail!("{}", last_said(&output.stderr));
    }
    Ok(())
}

/// Why the script stopped: its last `labctl: …` line, followed by what the
/// command it ran then said when that came after (`creating user x:
/// useradd: …`).
fn last_said(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
    let said = lines.iter().rposition(|line| line.starts_with("labctl: "));
    match (said, lines.last()) {
        (_, None) => "the script stopped without saying why".to_string(),
        (Some(index), Some(last)) if index + 1 == lines.len() => last["labctl: ".len()..].to_string(),
        (Some(index), Some(last)) => format!("{}: {last}", &lines[index]["labctl: ".len()..]),
        (None, Some(last)) => last.to_string(),
    }
}

fn parse_report(stdout: &str) -> Result<MadeEngine> {
    let field = |key: &str| stdout.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix(' ')).map(str::trim);
    let host = field("host").ok_or_else(|| anyhow!("the engine's script did not say where its engine listens"))?;
    Ok(MadeEngine { host: host.to_string(), starts_at_boot: field("boot") == Some("systemd") })
}

/// The `[[class.engines]]` entry for the engine, as labctl.toml shows it.
pub fn engine_entry(name: &str, host: &str, seats: u32) -> String {
    let mut document = DocumentMut::new();
    let mut class = Table::new();
    class.set_implicit(true);
    let mut engines = ArrayOfTables::new();
    engines.push(entry_table(name, host, seats));
    class.insert("engines", Item::ArrayOfTables(engines));
    document.insert("class", Item::Table(class));
    document.to_string()
}

fn entry_table(name: &str, host: &str, seats: u32) -> Table {
    let mut table = Table::new();
    table.insert("name", value(name));
    table.insert("host", value(host));
    table.insert("seats", value(i64::from(seats)));
    table
}

/// labctl.toml's `text` with the engine as its first `[[class.engines]]`
/// entry (its comments and layout kept); `None` when an entry already
/// names that host.
pub fn add_engine(text: &str, name: &str, host: &str, seats: u32) -> Result<Option<String>> {
    let mut document: DocumentMut = text.parse()?;
    let class = document.entry("class").or_insert_with(|| {
        let mut class = Table::new();
        class.set_implicit(true);
        Item::Table(class)
    });
    let class = class.as_table_mut().ok_or_else(|| anyhow!("[class] in labctl.toml is not a table"))?;
    let engines = class.entry("engines").or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
    let engines = engines
        .as_array_of_tables_mut()
        .ok_or_else(|| anyhow!("class.engines in labctl.toml is not [[class.engines]]"))?;
    if engines.iter().any(|engine| engine.get("host").and_then(Item::as_str) == Some(host)) {
        return Ok(None);
    }
    let mut first = ArrayOfTables::new();
    first.push(entry_table(name, host, seats));
    for engine in engines.iter() {
        first.push(engine.clone());
    }
    *engines = first;
    Ok(Some(document.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_report_is_read_and_a_failure_says_the_scripts_reason() {
        let made = parse_report("host unix:///run/user/1001/docker.sock\nboot none\n").unwrap();
        assert_eq!(made, MadeEngine { host: "unix:///run/user/1001/docker.sock".into(), starts_at_boot: false });
        assert!(parse_report("host unix:///x\nboot systemd\n").unwrap().starts_at_boot);
        assert!(parse_report("").is_err());
        let stderr =
            "labctl: installing uidmap\nE: Unable to locate package uidmap\nlabctl: apt-get install uidmap failed\n";
        assert_eq!(last_said(stderr), "apt-get install uidmap failed");
        let stderr = "labctl: creating user x\nuseradd: invalid comment\n";
        assert_eq!(last_said(stderr), "creating user x: useradd: invalid comment");
    }

    #[test]
    fn the_engine_goes_first_into_labctl_toml_keeping_its_comments_and_other_engines() {
        let text = "# my class\n[class]\nseats = 12 # twelve students\n\n[[class.engines]]\nname = \"spare\"\ncontext = \"spare\"\nseats = 4\n";
        let added = add_engine(text, "rootless", "unix:///run/user/1001/docker.sock", 12).unwrap().unwrap();
        assert!(added.starts_with("# my class\n[class]\nseats = 12 # twelve students\n"), "{added}");
        let first = added.find("name = \"rootless\"").unwrap();
        assert!(first < added.find("name = \"spare\"").unwrap(), "{added}");
        assert!(added.contains("host = \"unix:///run/user/1001/docker.sock\"\nseats = 12\n"), "{added}");
        assert_eq!(add_engine(&added, "again", "unix:///run/user/1001/docker.sock", 3).unwrap(), None);
        let fresh = add_engine("", "rootless", "unix:///x", 2).unwrap().unwrap();
        assert_eq!(fresh, "[[class.engines]]\nname = \"rootless\"\nhost = \"unix:///x\"\nseats = 2\n");
        assert_eq!(engine_entry("rootless", "unix:///x", 2), fresh);
    }
}
