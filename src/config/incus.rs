//! `[incus]` in labctl.toml: where `provider = "incus"` makes its nodes.
//! Every node is an Incus system container; a class's seats share one
//! Incus project, each seat a bridge network of its own.

use serde::{Deserialize, Serialize};

/// `[incus]` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIncus {
    /// An `incus remote` (another server, or a cluster of them); this
    /// host's Incus when left out.
    pub remote: Option<String>,
    /// The project the class's nodes go in; `labctl-<cluster name>` when
    /// left out.
    pub project: Option<String>,
    /// The storage pool of the nodes' disks.
    pub storage_pool: Option<String>,
}

/// `[incus]` checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncusSettings {
    pub remote: Option<String>,
    pub project: String,
    pub storage_pool: String,
}

/// The storage pool when none is named: the one `incus admin init` makes.
pub const DEFAULT_POOL: &str = "default";

/// `[incus]` for the class `cluster_name`; each problem as (key, message).
pub fn check(raw: &RawIncus, cluster_name: &str) -> (IncusSettings, Vec<(&'static str, String)>) {
    let mut problems = Vec::new();
    let name_problem = |value: &str| {
        let fine = !value.is_empty()
            && value.len() <= 63
            && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        (!fine).then(|| format!("{value:?} is not an Incus name (letters, digits, '-', '_' and '.', at most 63)"))
    };
    if let Some(problem) = raw.remote.as_deref().and_then(name_problem) {
        problems.push(("incus.remote", format!("{problem}; e.g. \"school\" (see `incus remote list`)")));
    }
    if let Some(problem) = raw.project.as_deref().and_then(name_problem) {
        problems.push(("incus.project", format!("{problem}; e.g. \"labctl-{cluster_name}\"")));
    }
    if let Some(problem) = raw.storage_pool.as_deref().and_then(name_problem) {
        problems.push(("incus.storage_pool", format!("{problem}; e.g. \"default\" (see `incus storage list`)")));
    }
    let settings = IncusSettings {
        remote: raw.remote.clone(),
        project: raw.project.clone().unwrap_or_else(|| format!("labctl-{cluster_name}")),
        storage_pool: raw.storage_pool.clone().unwrap_or_else(|| DEFAULT_POOL.to_string()),
    };
    (settings, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_gets_a_project_of_its_own_and_the_default_pool() {
        let (settings, problems) = check(&RawIncus::default(), "demo");
        assert!(problems.is_empty());
        assert_eq!(
            settings,
            IncusSettings { remote: None, project: "labctl-demo".into(), storage_pool: "default".into() }
        );
    }

    #[test]
    fn a_name_incus_would_refuse_is_named_with_an_example() {
        let raw = RawIncus { remote: Some("my school".into()), project: Some(String::new()), storage_pool: None };
        let (_, problems) = check(&raw, "demo");
        assert_eq!(
            problems,
            [
                ("incus.remote", "\"my school\" is not an Incus name (letters, digits, '-', '_' and '.', at most 63); e.g. \"school\" (see `incus remote list`)".to_string()),
                ("incus.project", "\"\" is not an Incus name (letters, digits, '-', '_' and '.', at most 63); e.g. \"labctl-demo\"".to_string()),
            ]
        );
    }
}
