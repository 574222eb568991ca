//! A lab's checks as data: each `[[checks]]` entry of lab.toml typed by
//! its kind, with the fields that kind needs, validated when the manifest
//! loads. Running them on a cluster is [`crate::lifecycle::check`]'s job.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One `[[checks]]` entry of lab.toml: what it checks (`kind` and the
/// fields that kind takes, typed when the lab loads) and what a student
/// sees of it (its name, and a hint in each language).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckSpec {
    pub name: String,
    pub hint_ko: String,
    pub hint_en: String,
    #[serde(flatten)]
    pub check: Check,
}

impl<'de> Deserialize<'de> for CheckSpec {
    /// The name and hints, then the rest as a [`Check`] of its `kind`:
    /// serde says which field is missing or unknown for that kind.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<CheckSpec, D::Error> {
        let mut entry = toml::Table::deserialize(deserializer)?;
        let mut text = |key: &str| match entry.remove(key) {
            Some(toml::Value::String(text)) if !text.trim().is_empty() => Ok(text),
            Some(toml::Value::String(_)) | None => {
                Err(D::Error::custom("every check needs `name`, `hint_ko` and `hint_en`"))
            }
            Some(other) => Err(D::Error::custom(format!("`{key}` is {}, not text", other.type_str()))),
        };
        let (name, hint_ko, hint_en) = (text("name")?, text("hint_ko")?, text("hint_en")?);
        let check = toml::Value::Table(entry).try_into().map_err(|error: toml::de::Error| {
            D::Error::custom(format!("{} (check {name:?})", error.message().trim_end()))
        })?;
        Ok(CheckSpec { name, hint_ko, hint_en, check })
    }
}

/// A check, typed by kind, with the fields that kind needs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
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
        role: Role,
    },
    Network {
        network: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        driver: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attachable: Option<bool>,
    },
    RegistryRepository {
        repository: String,
    },
    Http {
        /// A node's name, or `worker` (the first worker, however the
        /// workers are named) or `manager`; unset: the manager.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
        url: String,
        #[serde(default = "http_ok")]
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contains: Option<String>,
        /// The page names a running task of this service by its host name
        /// (a task's container ID): one of its tasks answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_task_of: Option<String>,
        /// The page is the one this service's own task answers on its
        /// port: what was fetched came through to it, whatever it says.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        same_as: Option<ServicePort>,
        /// Fetch through the port this service publishes for `target`,
        /// whichever the student chose (it replaces the url's port).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port_of: Option<ServicePort>,
        #[serde(default)]
        ingress: bool,
    },
    Command {
        /// As for `http`: a node's name, `worker` or `manager`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
        command: String,
    },
    /// The service publishes exactly `ports` (none for an empty list:
    /// `["8088:80"]`, or `[]` for a service that must publish none).
    PublishedPorts {
        service: String,
        ports: Vec<PortRule>,
    },
    /// The JSON answer at `url` names every node of the swarm.
    HttpListsNodes {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
        url: String,
    },
}

fn http_ok() -> u16 {
    200
}

/// A service and one port of its tasks (`{ service = "my-web_api", port = 80 }`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePort {
    pub service: String,
    pub port: u16,
}

/// The words a check's `node` may use for a role instead of a node's name.
pub const ROLE_NODES: [&str; 2] = ["manager", "worker"];

/// Where a `placement` check wants the service's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Worker,
    Manager,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Manager => "manager",
        }
    }
}

impl Check {
    /// The `kind` lab.toml names it by.
    pub fn kind(&self) -> &'static str {
        match self {
            Check::ServiceExists { .. } => "service_exists",
            Check::ServiceReplicas { .. } => "service_replicas",
            Check::Placement { .. } => "placement",
            Check::Network { .. } => "network",
            Check::RegistryRepository { .. } => "registry_repository",
            Check::Http { .. } => "http",
            Check::Command { .. } => "command",
            Check::PublishedPorts { .. } => "published_ports",
            Check::HttpListsNodes { .. } => "http_lists_nodes",
        }
    }

    /// The service it looks at, if any.
    pub fn service(&self) -> Option<&str> {
        match self {
            Check::ServiceExists { service }
            | Check::ServiceReplicas { service, .. }
            | Check::Placement { service, .. }
            | Check::PublishedPorts { service, .. } => Some(service),
            _ => None,
        }
    }

    /// The same check with every service of stack `name` named as stack
    /// `alias`'s (`ch04_api` → `my-web_api`), for each (name, alias).
    pub fn with_stack_renamed(&self, renames: &[(String, String)]) -> Check {
        let rename = |service: &mut String| {
            for (name, alias) in renames {
                if let Some(rest) = service.strip_prefix(&format!("{name}_")) {
                    *service = format!("{alias}_{rest}");
                    return;
                }
            }
        };
        let mut check = self.clone();
        match &mut check {
            Check::ServiceExists { service }
            | Check::ServiceReplicas { service, .. }
            | Check::Placement { service, .. }
            | Check::PublishedPorts { service, .. } => rename(service),
            Check::Http { from_task_of, same_as, port_of, .. } => {
                from_task_of.iter_mut().for_each(rename);
                same_as.iter_mut().chain(port_of.iter_mut()).for_each(|page| rename(&mut page.service));
            }
            _ => {}
        }
        check
    }

    /// Every service it names (an http check's own services too).
    pub fn services(&self) -> Vec<&str> {
        match self {
            Check::Http { from_task_of, same_as, port_of, .. } => from_task_of
                .iter()
                .map(String::as_str)
                .chain(same_as.iter().chain(port_of).map(|page| page.service.as_str()))
                .collect(),
            other => other.service().into_iter().collect(),
        }
    }

    /// The network it looks at, if any.
    pub fn network(&self) -> Option<&str> {
        match self {
            Check::Network { network, .. } => Some(network),
            _ => None,
        }
    }

    /// The node it runs on, when it names one (else the manager).
    pub fn node(&self) -> Option<&str> {
        match self {
            Check::Http { node, .. } | Check::Command { node, .. } | Check::HttpListsNodes { node, .. } => {
                node.as_deref()
            }
            _ => None,
        }
    }
}

/// One published port as lab.toml writes it: `8088:80` or `53:53/udp`
/// (published on the nodes : target in the task).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
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

impl TryFrom<String> for PortRule {
    type Error = String;

    fn try_from(text: String) -> Result<PortRule, String> {
        PortRule::parse(&text)
    }
}

impl Serialize for PortRule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fields: &str) -> Result<CheckSpec, String> {
        let text = format!("name = \"api\"\nhint_ko = \"k\"\nhint_en = \"e\"\n{fields}");
        toml::from_str::<CheckSpec>(&text).map_err(|error| error.message().to_string())
    }

    #[test]
    fn an_entry_is_typed_by_its_kind_or_says_what_is_missing_or_unknown() {
        let missing = entry("kind = \"service_replicas\"\nservice = \"my-web_api\"\n").unwrap_err();
        assert!(missing.starts_with("missing field `replicas`"), "{missing}");
        let typed = entry("kind = \"service_replicas\"\nservice = \"my-web_api\"\nreplicas = 4\n").unwrap();
        assert_eq!(typed.check, Check::ServiceReplicas { service: "my-web_api".into(), replicas: 4 });
        assert_eq!((typed.name.as_str(), typed.check.kind()), ("api", "service_replicas"));
        let unknown = entry("kind = \"ping\"\n").unwrap_err();
        assert!(unknown.starts_with("unknown variant `ping`, expected one of `service_exists`"), "{unknown}");
        let typo = entry("kind = \"service_replicas\"\nservice = \"a\"\nreplicas = 4\nreplica = 3\n").unwrap_err();
        assert!(typo.starts_with("unknown field `replica`"), "{typo}");
        let role = entry("kind = \"placement\"\nservice = \"a\"\nrole = \"boss\"\n").unwrap_err();
        assert!(role.starts_with("unknown variant `boss`, expected `worker` or `manager`"), "{role}");
        let unnamed = toml::from_str::<CheckSpec>(
            "kind = \"service_exists\"\nservice = \"a\"\nhint_ko = \"k\"\nhint_en = \"e\"\n",
        );
        assert!(unnamed.unwrap_err().message().starts_with("every check needs `name`, `hint_ko` and `hint_en`"));
        let http = entry("kind = \"http\"\nurl = \"http://localhost/\"\n").unwrap();
        assert_eq!(
            http.check,
            Check::Http {
                node: None,
                url: "http://localhost/".into(),
                status: 200,
                contains: None,
                from_task_of: None,
                same_as: None,
                port_of: None,
                ingress: false
            }
        );
    }

    #[test]
    fn published_ports_are_written_published_colon_target() {
        let missing = entry("kind = \"published_ports\"\nservice = \"my-web_api\"\n").unwrap_err();
        assert!(missing.starts_with("missing field `ports`"), "{missing}");
        let none = entry("kind = \"published_ports\"\nservice = \"my-web_api\"\nports = []\n").unwrap();
        assert_eq!(none.check, Check::PublishedPorts { service: "my-web_api".into(), ports: vec![] });
        let bad = entry("kind = \"published_ports\"\nservice = \"my-web_api\"\nports = [\"8088\"]\n").unwrap_err();
        assert!(
            bad.starts_with(
                "\"8088\" is not a published port; write it as \"8088:80\" (published:target, tcp) or \"53:53/udp\""
            ),
            "{bad}"
        );
        assert_eq!(PortRule::parse("53:53/udp").unwrap().to_string(), "53:53/udp");
        assert!(PortRule::parse("0:80").is_err());
        assert!(PortRule::parse("80:80/icmp").is_err());
        // Written back as it was read.
        let spec = entry("kind = \"published_ports\"\nservice = \"a\"\nports = [\"53:53/udp\"]\n").unwrap();
        assert_eq!(serde_json::to_value(&spec).unwrap()["ports"], serde_json::json!(["53:53/udp"]));
        assert_eq!(serde_json::to_value(&spec).unwrap()["kind"], "published_ports");
    }
}
