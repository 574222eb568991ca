//! `incus` run from this host: every incus command labctl builds starts
//! from an [`IncusCli`], which names the class's project and the remote
//! (none for this host's Incus), and gives the command the limit of what it
//! does. And what `incus … list --format json` says, read.

use serde_json::Value;

use crate::config::incus::IncusSettings;
use crate::exec::CommandSpec;
use crate::timeouts::{Timeouts, Wait};

#[derive(Debug, Clone)]
pub struct IncusCli {
    remote: Option<String>,
    project: String,
    timeouts: Timeouts,
}

impl IncusCli {
    pub fn new(settings: &IncusSettings, timeouts: Timeouts) -> IncusCli {
        IncusCli { remote: settings.remote.clone(), project: settings.project.clone(), timeouts }
    }

    /// This host's Incus, outside any class (its default project): for
    /// what reads every project, with no workspace to say which.
    pub fn here(timeouts: Timeouts) -> IncusCli {
        IncusCli { remote: None, project: "default".into(), timeouts }
    }

    /// `name` on the class's remote: `school:name`, or `name` here.
    pub fn on_remote(&self, name: &str) -> String {
        match &self.remote {
            Some(remote) => format!("{remote}:{name}"),
            None => name.to_string(),
        }
    }

    /// The remote itself, for commands that take one alone (`incus image
    /// list school:`); `None` here.
    pub fn remote(&self) -> Option<String> {
        self.remote.as_ref().map(|remote| format!("{remote}:"))
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    /// `incus --project P ARGS` of `wait`'s kind (a read is a probe).
    pub fn in_project(&self, wait: Wait, args: &[&str], purpose: &str) -> CommandSpec {
        self.global(wait, args, purpose).args(["--project", &self.project])
    }

    /// `incus ARGS` outside any project (networks, images, the project
    /// itself: the class's project shares the default project's).
    pub fn global(&self, wait: Wait, args: &[&str], purpose: &str) -> CommandSpec {
        let spec = CommandSpec::new("incus", args, purpose).timeout(self.timeouts.limit(wait));
        match wait {
            Wait::Read => spec.probe(),
            _ => spec,
        }
    }

    /// `incus WHAT [remote:] --format json`, a read: the class's project's
    /// (`incus list`), or Incus's own (`incus network list`).
    pub fn listing(&self, what: &[&str], in_project: bool, purpose: &str) -> CommandSpec {
        let mut args = what.to_vec();
        let remote = self.remote();
        args.extend(remote.as_deref());
        args.extend(["--format", "json"]);
        match in_project {
            true => self.in_project(Wait::Read, &args, purpose),
            false => self.global(Wait::Read, &args, purpose),
        }
    }

    /// `incus list [remote:] --all-projects --format json`, a read: every
    /// class's nodes (and whatever else Incus runs).
    pub fn all_projects_listing(&self, purpose: &str) -> CommandSpec {
        self.listing(&["list", "--all-projects"], false, purpose)
    }

    /// `incus remote list --format json`, a read of this host's client
    /// configuration (where each remote is).
    pub fn remotes_listing(&self) -> CommandSpec {
        self.global(Wait::Read, &["remote", "list", "--format", "json"], "read the Incus remotes")
    }

    /// `incus cluster list [remote:] --format json`, a read: fails outside a cluster.
    pub fn members_listing(&self) -> CommandSpec {
        self.listing(&["cluster", "list"], false, "list the Incus cluster's members")
    }

    /// `incus --project P ARGS` with no limit yet: a node command, whose
    /// limit [`crate::provider::bounded`] sets with the node's own.
    pub fn unbounded(&self, args: &[&str], purpose: &str) -> CommandSpec {
        CommandSpec::new("incus", args, purpose).args(["--project", &self.project])
    }
}

/// One instance as `incus list --format json` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub name: String,
    /// Lower case: running, stopped, frozen, error.
    pub status: String,
    /// The cluster member it runs on (`none` outside a cluster).
    pub location: String,
    /// Its Incus project.
    pub project: String,
    /// Its `user.*` keys, without `user.`.
    pub labels: Vec<(String, String)>,
}

impl Instance {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(name, _)| name == key).map(|(_, value)| value.as_str())
    }
}

/// The items of `json`, a JSON array that `incus WHAT --format json` printed.
fn listed_items(json: &str, what: &str) -> anyhow::Result<Vec<Value>> {
    let listed: Value = serde_json::from_str(json)
        .map_err(|error| anyhow::anyhow!("`incus {what}` printed what labctl cannot read ({error})"))?;
    Ok(listed.as_array().cloned().unwrap_or_default())
}

/// The instances in `json` (`incus list --format json`).
pub fn instances(json: &str) -> anyhow::Result<Vec<Instance>> {
    Ok(listed_items(json, "list")?
        .iter()
        .map(|instance| Instance {
            name: instance["name"].as_str().unwrap_or_default().to_string(),
            status: instance["status"].as_str().unwrap_or_default().to_ascii_lowercase(),
            location: instance["location"].as_str().unwrap_or_default().to_string(),
            project: instance["project"].as_str().unwrap_or_default().to_string(),
            labels: user_keys(&instance["config"]),
        })
        .collect())
}

/// One member of an Incus cluster as `incus cluster list --format json` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    /// Where the other members and clients reach it: `https://10.0.0.2:8443`.
    pub url: String,
    /// Lower case: online, offline, evacuated, blocked.
    pub status: String,
}

impl Member {
    /// The host of its URL: the address its proxy devices listen on.
    pub fn host(&self) -> Option<String> {
        url_host(&self.url)
    }
}

/// The members in `json` (`incus cluster list --format json`).
pub fn members(json: &str) -> anyhow::Result<Vec<Member>> {
    Ok(listed_items(json, "cluster list")?
        .iter()
        .map(|member| Member {
            name: member["server_name"].as_str().unwrap_or_default().to_string(),
            url: member["url"].as_str().unwrap_or_default().to_string(),
            status: member["status"].as_str().unwrap_or_default().to_ascii_lowercase(),
        })
        .collect())
}

/// The host of remote `remote` in `json` (`incus remote list --format json`).
pub fn remote_host(json: &str, remote: &str) -> Option<String> {
    let listed: Value = serde_json::from_str(json).ok()?;
    url_host(listed[remote]["Addr"].as_str()?)
}

/// The host of an Incus URL, `https://HOST:PORT` (an IPv6 one in brackets).
fn url_host(url: &str) -> Option<String> {
    let authority = url.split_once("://")?.1.split('/').next()?;
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split_once(']')?.0,
        None => authority.split(':').next()?,
    };
    (!host.is_empty()).then(|| host.to_string())
}

/// The `user.*` keys of a `config` object, without `user.`.
pub fn user_keys(config: &Value) -> Vec<(String, String)> {
    config
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(key, value)| Some((key.strip_prefix("user.")?.to_string(), value.as_str()?.to_string())))
        .collect()
}

/// Whether `json` (an `incus … list --format json`) lists something named `name`.
pub fn lists(json: &str, name: &str) -> Option<Value> {
    let listed: Value = serde_json::from_str(json).ok()?;
    listed.as_array()?.iter().find(|item| item["name"] == name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_read_with_their_labels_and_member() {
        let json = r#"[{"name":"cls-s01-manager","status":"Running","location":"srv2","config":{"user.labctl.node":"manager","image.os":"debian","user.labctl.cluster":"cls-s01"}}]"#;
        let listed = instances(json).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].status.as_str(), listed[0].location.as_str()), ("running", "srv2"));
        assert_eq!(listed[0].label("labctl.node"), Some("manager"));
        assert_eq!(listed[0].label("labctl.cluster"), Some("cls-s01"));
        assert_eq!(listed[0].label("os"), None);
        assert!(instances("not json").unwrap_err().to_string().contains("cannot read"));
    }

    #[test]
    fn members_and_remotes_are_read_with_the_host_of_their_url() {
        let json = r#"[{"server_name":"m1","url":"https://10.97.0.2:8443","status":"Online"},{"server_name":"m2","url":"https://[fd00::3]:8443","status":"Offline"}]"#;
        let listed = members(json).unwrap();
        assert_eq!((listed[0].name.as_str(), listed[0].host().as_deref()), ("m1", Some("10.97.0.2")));
        assert_eq!((listed[1].status.as_str(), listed[1].host().as_deref()), ("offline", Some("fd00::3")));
        let remotes =
            r#"{"school":{"Addr":"https://lab.example.org:8443","Protocol":"incus"},"local":{"Addr":"unix://"}}"#;
        assert_eq!(remote_host(remotes, "school").as_deref(), Some("lab.example.org"));
        assert_eq!(remote_host(remotes, "local"), None);
        assert_eq!(remote_host(remotes, "gone"), None);
    }

    #[test]
    fn commands_name_the_project_and_the_remote() {
        let settings = IncusSettings {
            remote: Some("school".into()),
            project: "labctl-cls".into(),
            storage_pool: "default".into(),
        };
        let cli = IncusCli::new(&settings, Timeouts::default());
        let list = cli.in_project(Wait::Read, &["list", &cli.on_remote(""), "--format", "json"], "list");
        assert_eq!(list.to_string(), "incus list school: --format json --project labctl-cls");
        assert_eq!(list.effect, crate::exec::Effect::Probe);
        assert_eq!(cli.global(Wait::Change, &["network", "list"], "x").to_string(), "incus network list");
    }
}
