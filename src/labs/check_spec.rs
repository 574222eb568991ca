//! A lab's checks as data: each `[[checks]]` entry of lab.toml typed by
//! its kind, with the fields that kind needs, validated when the manifest
//! loads. Running them on a cluster is [`crate::lifecycle::check`]'s job.

use serde::{Deserialize, Serialize};

/// One check of a lab as written in lab.toml: `kind` says which of the
/// other fields it uses (see [`Check::from_spec`]).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub kind: String,
    pub name: String,
    pub hint_ko: String,
    pub hint_en: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    #[serde(default)]
    pub ingress: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// `published_ports`: `["8088:80"]`, or `[]` for a service that must publish none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<String>>,
}

/// A check, typed by kind, with the fields that kind needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    ServiceExists {
        service: String,
    },
    ServiceReplicas {
        service: String,
        replicas: u32,
    },
    Placement {
        service: String,
        role: String,
    },
    Network {
        network: String,
        driver: Option<String>,
        attachable: Option<bool>,
    },
    RegistryRepository {
        repository: String,
    },
    Http {
        node: Option<String>,
        url: String,
        status: u16,
        contains: Option<String>,
        ingress: bool,
    },
    Command {
        node: Option<String>,
        command: String,
    },
    /// The service publishes exactly `ports` (none for an empty list).
    PublishedPorts {
        service: String,
        ports: Vec<PortRule>,
    },
    /// The JSON answer at `url` names every node of the swarm.
    HttpListsNodes {
        node: Option<String>,
        url: String,
    },
}

const KINDS: &str = "service_exists, service_replicas, placement, network, registry_repository, http, command, published_ports, http_lists_nodes";

/// One published port as lab.toml writes it: `8088:80` or `53:53/udp`
/// (published on the nodes : target in the task).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortRule {
    pub published: u16,
    pub target: u16,
    pub protocol: String,
}

impl PortRule {
    pub fn parse(text: &str) -> Result<PortRule, String> {
        let problem = || {
            format!(
                "{text:?} is not a published port; write it as \"8088:80\" (published:target, tcp) or \"53:53/udp\""
            )
        };
        let (ports, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
        let (published, target) = ports.split_once(':').ok_or_else(problem)?;
        if !["tcp", "udp", "sctp"].contains(&protocol) {
            return Err(problem());
        }
        let number = |value: &str| value.parse::<u16>().ok().filter(|port| *port > 0).ok_or_else(problem);
        Ok(PortRule { published: number(published)?, target: number(target)?, protocol: protocol.to_string() })
    }
}

impl std::fmt::Display for PortRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.published, self.target)?;
        if self.protocol != "tcp" {
            write!(f, "/{}", self.protocol)?;
        }
        Ok(())
    }
}

impl Check {
    /// The typed check, or what is missing or wrong in the manifest entry.
    pub fn from_spec(spec: &CheckSpec) -> Result<Check, String> {
        let need = |value: &Option<String>, field: &str| {
            value.clone().ok_or_else(|| format!("a `{}` check needs `{field}`", spec.kind))
        };
        if spec.name.trim().is_empty() || spec.hint_ko.trim().is_empty() || spec.hint_en.trim().is_empty() {
            return Err("every check needs `name`, `hint_ko` and `hint_en`".into());
        }
        let check = match spec.kind.as_str() {
            "service_exists" => Check::ServiceExists { service: need(&spec.service, "service")? },
            "service_replicas" => Check::ServiceReplicas {
                service: need(&spec.service, "service")?,
                replicas: spec.replicas.ok_or("a `service_replicas` check needs `replicas`")?,
            },
            "placement" => {
                let role = need(&spec.role, "role")?;
                if role != "worker" && role != "manager" {
                    return Err(format!("`role` is {role:?}; use \"worker\" or \"manager\""));
                }
                Check::Placement { service: need(&spec.service, "service")?, role }
            }
            "network" => Check::Network {
                network: need(&spec.network, "network")?,
                driver: spec.driver.clone(),
                attachable: spec.attachable,
            },
            "registry_repository" => Check::RegistryRepository { repository: need(&spec.repository, "repository")? },
            "http" => Check::Http {
                node: spec.node.clone(),
                url: need(&spec.url, "url")?,
                status: spec.status.unwrap_or(200),
                contains: spec.contains.clone(),
                ingress: spec.ingress,
            },
            "command" => Check::Command { node: spec.node.clone(), command: need(&spec.command, "command")? },
            "published_ports" => {
                let listed = spec.ports.as_ref().ok_or(
                    "a `published_ports` check needs `ports` (e.g. [\"8088:80\"], or [] for a service that publishes none)",
                )?;
                let ports = listed.iter().map(|port| PortRule::parse(port)).collect::<Result<Vec<_>, _>>()?;
                Check::PublishedPorts { service: need(&spec.service, "service")?, ports }
            }
            "http_lists_nodes" => Check::HttpListsNodes { node: spec.node.clone(), url: need(&spec.url, "url")? },
            other => return Err(format!("{other:?} is not a check kind; use one of: {KINDS}")),
        };
        Ok(check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_entries_become_typed_checks_or_say_what_is_missing() {
        let spec = CheckSpec {
            kind: "service_replicas".into(),
            name: "api".into(),
            hint_ko: "k".into(),
            hint_en: "e".into(),
            service: Some("my-web_api".into()),
            ..CheckSpec::default()
        };
        assert_eq!(Check::from_spec(&spec).unwrap_err(), "a `service_replicas` check needs `replicas`");
        let spec = CheckSpec { replicas: Some(4), ..spec };
        assert_eq!(
            Check::from_spec(&spec).unwrap(),
            Check::ServiceReplicas { service: "my-web_api".into(), replicas: 4 }
        );
        let unknown = CheckSpec { kind: "ping".into(), ..spec };
        assert!(Check::from_spec(&unknown).unwrap_err().starts_with("\"ping\" is not a check kind"));
    }

    #[test]
    fn published_ports_are_written_published_colon_target() {
        let spec = CheckSpec {
            kind: "published_ports".into(),
            name: "api publishes nothing".into(),
            hint_ko: "k".into(),
            hint_en: "e".into(),
            service: Some("my-web_api".into()),
            ..CheckSpec::default()
        };
        assert!(Check::from_spec(&spec).unwrap_err().contains("needs `ports`"));
        let none = CheckSpec { ports: Some(vec![]), ..spec.clone() };
        assert_eq!(
            Check::from_spec(&none).unwrap(),
            Check::PublishedPorts { service: "my-web_api".into(), ports: vec![] }
        );
        let bad = CheckSpec { ports: Some(vec!["8088".into()]), ..spec };
        assert_eq!(
            Check::from_spec(&bad).unwrap_err(),
            "\"8088\" is not a published port; write it as \"8088:80\" (published:target, tcp) or \"53:53/udp\""
        );
        assert_eq!(PortRule::parse("53:53/udp").unwrap().to_string(), "53:53/udp");
        assert!(PortRule::parse("0:80").is_err());
        assert!(PortRule::parse("80:80/icmp").is_err());
    }
}
