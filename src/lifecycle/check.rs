//! `labctl check`: a lab's expected outcome, declared in its manifest (see
//! [`crate::labs::check_spec`]), verified on the cluster. Each kind reads
//! the cluster with one or two commands and decides pass/fail with a pure
//! function.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::mesh::{self, Mesh, NetworkFetch, FALLBACK_NOTE};
use crate::config::Cluster;
use crate::labs::check_spec::{Check, PortRule};
use crate::labs::manifest::Language;
use crate::labs::Lab;
use crate::parallel::in_parallel;
use crate::provider::NodeShell;
use crate::templates::Templates;

const HTTP_TEMPLATE: &str = "node/http-get.sh.tera";
const NETWORK_TEMPLATE: &str = "node/fetch-on-network.sh.tera";
const PORTS_TEMPLATE: &str = "node/list-published-ports.sh.tera";

/// Every node a check names must be a node of this cluster: with
/// `worker_prefix = "worker"` there is no `node1`, and asking it would look
/// like a service that does not answer.
pub fn check_nodes(lab: &Lab, cluster: &Cluster) -> Result<()> {
    let names = cluster.nodes().names();
    for (index, spec) in lab.manifest.checks.iter().enumerate() {
        let Some(node) = spec.check.node().filter(|node| !names.contains(node)) else { continue };
        bail!(
            "{}{node:?} is not a node of cluster {} (its nodes: {}); set the check's `node` to one of them, or name the workers so that it exists ([cluster] worker_prefix)",
            lab.locate(&format!("checks[{index}].node")),
            cluster.name(),
            names.join(", ")
        );
    }
    Ok(())
}

/// Whether waiting can turn a failed check into a pass: `solve` waits only
/// while none of its checks has failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// Not yet: what runs is still converging (tasks starting or moving,
    /// a server not answering yet, a command that may pass later).
    NotYet,
    /// For good: what was declared is wrong or missing and nothing that
    /// happens by itself will change it (a network's driver, a port that no
    /// service publishes, the registry disabled), or this host cannot serve
    /// the check at all.
    Final,
}

/// A check's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub passed: bool,
    pub detail: String,
    /// What kind of failure it is (ignored when it passed).
    pub failure: Failure,
}

impl Verdict {
    /// A failure that waiting cannot fix.
    fn settled((passed, detail): (bool, String)) -> Verdict {
        Verdict { passed, detail, failure: Failure::Final }
    }
}

/// A decision about something still converging.
impl From<(bool, String)> for Verdict {
    fn from((passed, detail): (bool, String)) -> Verdict {
        Verdict { passed, detail, failure: Failure::NotYet }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub name: String,
    pub kind: String,
    pub passed: bool,
    /// What was found.
    pub detail: String,
    /// What to do about a failure, in the chosen language; empty on success.
    pub hint: String,
    /// On a failure: whether waiting may still make it pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// Run every check of `lab`, all at once. `mesh` keeps what is known about
/// the nodes' routing mesh across the runs of one labctl command.
pub fn run_checks(
    lab: &Lab,
    cluster: &Cluster,
    templates: &Templates,
    shell: NodeShell,
    language: Language,
    mesh: &Mesh,
) -> Result<Vec<Outcome>> {
    let manager = cluster.nodes().manager().name.as_str();
    let registry = cluster.registry().map(|registry| registry.address());
    let reader = Reader {
        shell,
        manager,
        nodes: cluster.nodes().iter().map(|node| node.name.clone()).collect(),
        http_script: templates.node_script(HTTP_TEMPLATE)?,
        network_script: templates.node_script(NETWORK_TEMPLATE)?,
        ports_script: templates.node_script(PORTS_TEMPLATE)?,
        mesh,
    };
    let specs = &lab.manifest.checks;
    in_parallel(specs, |spec| {
        let verdict: Verdict = match &spec.check {
            Check::ServiceExists { service } => Verdict::settled(reader.service_exists(service)),
            Check::ServiceReplicas { service, replicas } => {
                let tasks = reader.running_tasks(service)?;
                replicas_decision(&tasks, *replicas).into()
            }
            Check::Placement { service, role } => {
                let tasks = reader.running_tasks(service)?;
                let managers = reader.manager_hostnames()?;
                placement_decision(&tasks, &managers, role.as_str()).into()
            }
            Check::Network { network, driver, attachable } => {
                let found = reader.network(network)?;
                Verdict::settled(network_decision(found.as_deref(), driver.as_deref(), *attachable))
            }
            Check::RegistryRepository { repository } => match &registry {
                None => Verdict::settled((false, "the registry is disabled in labctl.toml".to_string())),
                Some(address) => {
                    let catalog = reader.http(manager, &format!("http://{address}/v2/_catalog"))?;
                    repository_verdict(&catalog, repository)
                }
            },
            Check::Http { node, url, status, contains, ingress } => {
                let node = node.as_deref().unwrap_or(manager);
                let decide = |answer: &str| http_decision(answer, *status, contains.as_deref());
                if *ingress {
                    reader.ingress_http(node, url, decide)?
                } else {
                    decide(&reader.http(node, url)?).into()
                }
            }
            Check::Command { node, command } => {
                let spec = shell.probe(node.as_deref().unwrap_or(manager), &["sh", "-c", command], "run a check");
                let output = shell.run(&spec)?;
                let detail = if output.success() {
                    "exit 0".to_string()
                } else {
                    format!("exit {:?}: {}", output.code.unwrap_or(-1), output.tail(1))
                };
                (output.success(), detail).into()
            }
            Check::PublishedPorts { service, ports } => {
                let found = reader.endpoint_spec(service)?;
                // A stack update may still be rolling out: not final.
                ports_decision(found.as_deref(), ports).into()
            }
            Check::HttpListsNodes { node, url } => {
                let answer = reader.http(node.as_deref().unwrap_or(manager), url)?;
                let hostnames: Vec<String> = reader.nodes()?.into_iter().map(|(host, _)| host).collect();
                nodes_listed_decision(&answer, &hostnames).into()
            }
        };
        let Verdict { passed, detail, failure } = verdict;
        let hint = match (passed, language) {
            (true, _) => String::new(),
            (false, Language::En) => spec.hint_en.clone(),
            (false, Language::Ko) => spec.hint_ko.clone(),
        };
        let failure = (!passed).then_some(failure);
        Ok(Outcome { name: spec.name.clone(), kind: spec.check.kind().to_string(), passed, detail, hint, failure })
    })
}

/// Reads the cluster for the checks.
struct Reader<'a> {
    shell: NodeShell<'a>,
    manager: &'a str,
    /// Every node of the cluster, the manager first.
    nodes: Vec<String>,
    /// The rendered HTTP probe (node/http-get.sh), shared by every http check.
    http_script: String,
    /// The rendered node/fetch-on-network.sh, for hosts without the routing mesh.
    network_script: String,
    /// The rendered node/list-published-ports.sh, to find who publishes a port.
    ports_script: String,
    mesh: &'a Mesh,
}

impl Reader<'_> {
    fn read(&self, node: &str, argv: &[&str], purpose: &str) -> Result<crate::exec::Output> {
        self.shell.run(&self.shell.probe(node, argv, purpose))
    }

    fn service_exists(&self, service: &str) -> (bool, String) {
        match self.read(
            self.manager,
            &["docker", "service", "inspect", "--format", "{{.Spec.Name}}", "--", service],
            "look for a service",
        ) {
            Ok(output) if output.success() => (true, format!("service {service} exists")),
            _ => (false, format!("no service {service}")),
        }
    }

    /// (state, node) of the tasks that should be running.
    fn running_tasks(&self, service: &str) -> Result<Vec<(String, String)>> {
        let format = "{{.CurrentState}}|{{.Node}}";
        let output = self.read(
            self.manager,
            &["docker", "service", "ps", "--filter", "desired-state=running", "--format", format, "--", service],
            "list a service's tasks",
        )?;
        Ok(output
            .stdout
            .lines()
            .filter_map(|line| line.split_once('|'))
            .map(|(state, node)| (state.split_whitespace().next().unwrap_or_default().to_string(), node.to_string()))
            .collect())
    }

    /// (hostname, is a manager) of every node of the swarm.
    fn nodes(&self) -> Result<Vec<(String, bool)>> {
        let output = self.read(
            self.manager,
            &["docker", "node", "ls", "--format", "{{.Hostname}}|{{.ManagerStatus}}"],
            "list the nodes",
        )?;
        Ok(output
            .stdout
            .lines()
            .filter_map(|line| line.split_once('|'))
            .map(|(host, status)| (host.to_string(), !status.is_empty()))
            .collect())
    }

    fn manager_hostnames(&self) -> Result<Vec<String>> {
        Ok(self.nodes()?.into_iter().filter(|(_, manager)| *manager).map(|(host, _)| host).collect())
    }

    /// `docker <object> inspect --format <format> -- <name>` on the
    /// manager, trimmed, or `None` when there is no such object.
    fn inspect(&self, object: &str, format: &str, name: &str, purpose: &str) -> Result<Option<String>> {
        let output =
            self.read(self.manager, &["docker", object, "inspect", "--format", format, "--", name], purpose)?;
        Ok(output.success().then(|| output.stdout.trim().to_string()))
    }

    /// The service's endpoint spec as JSON (`null` without ports).
    fn endpoint_spec(&self, service: &str) -> Result<Option<String>> {
        self.inspect("service", "{{json .Spec.EndpointSpec}}", service, "read a service's published ports")
    }

    /// `Some("overlay true")` (driver, attachable) or `None` when missing.
    fn network(&self, network: &str) -> Result<Option<String>> {
        self.inspect("network", "{{.Driver}} {{.Attachable}}", network, "inspect a network")
    }

    /// "status <code>" then the body, fetched from `node`.
    fn http(&self, node: &str, url: &str) -> Result<String> {
        Ok(self.read(node, &["sh", "-c", &self.http_script, "labctl-http", url], "fetch a URL")?.stdout)
    }

    /// An http check of a port published through the routing mesh: through
    /// the published port where the node's kernel has IPVS, else on the
    /// service's own network (see [`mesh`]).
    fn ingress_http(&self, node: &str, url: &str, decide: impl Fn(&str) -> (bool, String)) -> Result<Verdict> {
        let Some((port, path)) = mesh::port_and_path(url) else {
            return Ok(decide(&self.http(node, url)?).into());
        };
        let listing = self.read(
            self.manager,
            &["sh", "-c", &self.ports_script, "labctl-ports", mesh::PORTS_FORMAT],
            "list published ports",
        )?;
        if !listing.success() {
            bail!("cannot list the services' published ports on {}: {}", self.manager, listing.tail(2));
        }
        let Some(publisher) = mesh::publisher_of(&listing.stdout, port) else {
            return Ok(Verdict::settled((false, format!("no service publishes port {port}"))));
        };
        if !publisher.ingress || self.mesh.available(self.shell, node)? {
            return Ok(decide(&self.http(node, url)?).into());
        }
        let inner = mesh::network_url(&publisher, &path);
        for candidate in mesh::fetch_order(node, &self.nodes) {
            let argv =
                ["sh", "-c", &self.network_script, "labctl-on-network", &publisher.service, &inner, &self.http_script];
            let output = self.read(candidate, &argv, "fetch a service on its network")?;
            match mesh::network_fetch(output.code, &output.stdout, &output.tail(1)) {
                NetworkFetch::NoTaskHere => continue,
                NetworkFetch::Answer(answer) => {
                    let (passed, detail) = decide(&answer);
                    return Ok((passed, format!("{FALLBACK_NOTE} ({inner}: {detail})")).into());
                }
                NetworkFetch::Unable(missing) => {
                    let detail = format!("routing mesh unavailable on this host (no IPVS), and {candidate} cannot check {} on its network: {missing}", publisher.service);
                    return Ok(Verdict::settled((false, detail)));
                }
                NetworkFetch::Failed(why) => {
                    return Ok((false, format!("{FALLBACK_NOTE} ({inner}: {why})")).into());
                }
            }
        }
        Ok((
            false,
            format!(
                "routing mesh unavailable on this host (no IPVS), and no task of {} runs to check it on its network",
                publisher.service
            ),
        )
            .into())
    }
}

pub fn replicas_decision(tasks: &[(String, String)], wanted: u32) -> (bool, String) {
    let running = tasks.iter().filter(|(state, _)| state == "Running").count();
    (running == wanted as usize, format!("{running} running, {wanted} expected"))
}

pub fn placement_decision(tasks: &[(String, String)], managers: &[String], role: &str) -> (bool, String) {
    let running: Vec<&String> = tasks.iter().filter(|(state, _)| state == "Running").map(|(_, node)| node).collect();
    if running.is_empty() {
        return (false, "no running task".into());
    }
    let misplaced: Vec<&str> = running
        .iter()
        .filter(|node| managers.contains(node) != (role == "manager"))
        .map(|node| node.as_str())
        .collect();
    if misplaced.is_empty() {
        let nodes: Vec<&str> = running.iter().map(|node| node.as_str()).collect();
        (true, format!("all on {role}s ({})", nodes.join(", ")))
    } else {
        (false, format!("running where it should not: {}", misplaced.join(", ")))
    }
}

pub fn network_decision(found: Option<&str>, driver: Option<&str>, attachable: Option<bool>) -> (bool, String) {
    let Some(found) = found else { return (false, "no such network".into()) };
    let mut words = found.split_whitespace();
    let (actual_driver, actual_attachable) = (words.next().unwrap_or_default(), words.next() == Some("true"));
    let driver_ok = driver.is_none_or(|wanted| wanted == actual_driver);
    let attachable_ok = attachable.is_none_or(|wanted| wanted == actual_attachable);
    let detail = format!("{actual_driver}{}", if actual_attachable { ", attachable" } else { ", not attachable" });
    (driver_ok && attachable_ok, detail)
}

pub fn repository_decision(answer: &str, repository: &str) -> (bool, String) {
    let body = answer.split_once('\n').map_or("", |(_, body)| body);
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let Some(repositories) = parsed.as_ref().and_then(|json| json["repositories"].as_array()) else {
        return (
            false,
            format!("the registry did not answer with a catalog ({})", answer.lines().next().unwrap_or("no answer")),
        );
    };
    let names: Vec<&str> = repositories.iter().filter_map(|name| name.as_str()).collect();
    let found = names.contains(&repository);
    (found, format!("catalog: {}", if names.is_empty() { "empty".to_string() } else { names.join(", ") }))
}

/// A catalog that lacks the repository is final: a push is over when it
/// returns, so waiting will not bring the repository. A registry that does
/// not answer yet may still.
fn repository_verdict(answer: &str, repository: &str) -> Verdict {
    let decision = repository_decision(answer, repository);
    if decision.1.starts_with("catalog: ") {
        Verdict::settled(decision)
    } else {
        decision.into()
    }
}

pub fn http_decision(answer: &str, status: u16, contains: Option<&str>) -> (bool, String) {
    let (first, body) = answer.split_once('\n').unwrap_or((answer, ""));
    let actual = first.strip_prefix("status ").unwrap_or_default().trim();
    if actual.is_empty() || actual == "000" {
        return (false, "no answer".into());
    }
    if actual != status.to_string() {
        return (false, format!("status {actual}, {status} expected"));
    }
    match contains {
        Some(text) if !body.contains(text) => (false, format!("status {actual}, but the body lacks {text:?}")),
        _ => (true, format!("status {actual}")),
    }
}

/// `found` is a service's `.Spec.EndpointSpec` as JSON (`None`: no such
/// service); it passes when the service publishes exactly `wanted`.
pub fn ports_decision(found: Option<&str>, wanted: &[PortRule]) -> (bool, String) {
    let Some(found) = found else { return (false, "no such service".into()) };
    let Ok(spec) = serde_json::from_str::<serde_json::Value>(found) else {
        return (false, format!("cannot read the service's ports from {found:?}"));
    };
    let mut actual: Vec<PortRule> = spec["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|port| PortRule {
            published: port["PublishedPort"].as_u64().and_then(|n| u16::try_from(n).ok()).unwrap_or(0),
            target: port["TargetPort"].as_u64().and_then(|n| u16::try_from(n).ok()).unwrap_or(0),
            protocol: port["Protocol"].as_str().unwrap_or("tcp").to_string(),
        })
        .collect();
    actual.sort();
    let mut expected = wanted.to_vec();
    expected.sort();
    let describe = |ports: &[PortRule]| match ports {
        [] => "no port".to_string(),
        _ => ports.iter().map(PortRule::to_string).collect::<Vec<_>>().join(", "),
    };
    if actual == expected {
        (true, format!("publishes {}", describe(&actual)))
    } else {
        (false, format!("publishes {}, {} expected", describe(&actual), describe(&expected)))
    }
}

/// `answer` is an HTTP probe's output (see [`http_decision`]); it passes
/// when the body names every node in `hostnames` as a JSON string, as the
/// visualizer's `/apis/nodes` does when it can read the Docker socket.
pub fn nodes_listed_decision(answer: &str, hostnames: &[String]) -> (bool, String) {
    let (answered, detail) = http_decision(answer, 200, None);
    if !answered {
        return (false, detail);
    }
    if hostnames.is_empty() {
        return (false, "`docker node ls` listed no node".into());
    }
    let body = answer.split_once('\n').map_or("", |(_, body)| body);
    let missing: Vec<&str> =
        hostnames.iter().map(String::as_str).filter(|host| !body.contains(&format!("\"{host}\""))).collect();
    match missing.len() {
        0 => (true, format!("names every node ({})", hostnames.join(", "))),
        n if n == hostnames.len() => (false, "status 200, but the answer names no node".into()),
        _ => (false, format!("status 200, but the answer lacks {}", missing.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(state, node)| (state.to_string(), node.to_string())).collect()
    }

    #[test]
    fn replicas_count_only_running_tasks() {
        let list = tasks(&[("Running", "node1"), ("Running", "node2"), ("Preparing", "node3"), ("Running", "node3")]);
        assert_eq!(replicas_decision(&list, 3), (true, "3 running, 3 expected".into()));
        assert_eq!(replicas_decision(&list, 4), (false, "3 running, 4 expected".into()));
    }

    #[test]
    fn placement_names_tasks_on_the_wrong_role() {
        let managers = vec!["manager".to_string()];
        let good = tasks(&[("Running", "node1"), ("Running", "node2")]);
        assert!(placement_decision(&good, &managers, "worker").0);
        let bad = tasks(&[("Running", "node1"), ("Running", "manager")]);
        assert_eq!(
            placement_decision(&bad, &managers, "worker"),
            (false, "running where it should not: manager".into())
        );
        assert!(placement_decision(&tasks(&[("Running", "manager")]), &managers, "manager").0);
        assert!(!placement_decision(&[], &managers, "worker").0);
    }

    #[test]
    fn networks_must_match_driver_and_attachable() {
        assert!(network_decision(Some("overlay true"), Some("overlay"), Some(true)).0);
        assert_eq!(
            network_decision(Some("overlay false"), Some("overlay"), Some(true)),
            (false, "overlay, not attachable".into())
        );
        assert!(!network_decision(Some("bridge true"), Some("overlay"), None).0);
        assert_eq!(network_decision(None, None, None), (false, "no such network".into()));
    }

    #[test]
    fn registry_catalogs_are_read_from_the_answer() {
        let answer = "status 200\n{\"repositories\":[\"example/my-web\",\"example/tododb\"]}\n";
        assert_eq!(
            repository_decision(answer, "example/my-web"),
            (true, "catalog: example/my-web, example/tododb".into())
        );
        assert!(!repository_decision(answer, "example/simple-web").0);
        assert!(!repository_decision("status 000\n", "example/my-web").0);
    }

    #[test]
    fn declared_things_fail_for_good_and_running_things_not_yet() {
        assert_eq!(Verdict::settled(network_decision(None, None, None)).failure, Failure::Final);
        let replicas: Verdict = replicas_decision(&[], 3).into();
        assert_eq!(replicas.failure, Failure::NotYet);
        let lacking = repository_verdict("status 200\n{\"repositories\":[\"other\"]}\n", "example/my-web");
        assert_eq!((lacking.passed, lacking.failure), (false, Failure::Final), "a push is over when it returns");
        let silent = repository_verdict("status 000\n", "example/my-web");
        assert_eq!((silent.passed, silent.failure), (false, Failure::NotYet), "the registry may still start");
    }

    #[test]
    fn http_checks_status_and_body() {
        assert_eq!(http_decision("status 200\n<h1>quiz</h1>", 200, Some("quiz")), (true, "status 200".into()));
        assert_eq!(http_decision("status 502\nBad Gateway", 200, None), (false, "status 502, 200 expected".into()));
        assert!(!http_decision("status 200\nhello", 200, Some("quiz")).0);
        assert_eq!(http_decision("status 000\n", 200, None), (false, "no answer".into()));
    }

    #[test]
    fn ports_compare_as_sets_and_name_what_was_found() {
        let wanted = [PortRule::parse("8088:80").unwrap()];
        let spec = r#"{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8088}]}"#;
        assert_eq!(ports_decision(Some(spec), &wanted), (true, "publishes 8088:80".into()));
        assert_eq!(ports_decision(Some("null"), &[]), (true, "publishes no port".into()));
        assert_eq!(ports_decision(Some(spec), &[]), (false, "publishes 8088:80, no port expected".into()));
        assert_eq!(ports_decision(None, &wanted), (false, "no such service".into()));
    }
}
