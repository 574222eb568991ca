//! `labctl check`: a lab's expected outcome, declared in its manifest (see
//! [`crate::labs::check_spec`]), verified on the cluster. Each kind reads
//! the cluster with one or two commands and decides pass/fail with a pure
//! function.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::mesh::{self, Mesh, NetworkFetch, FALLBACK_NOTE};
use crate::config::Cluster;
use crate::exec::batch;
use crate::exec::Output;
use crate::exit::Unreachable;
use crate::labs::check_spec::{Check, CheckSpec, PortRule, ServicePort, ROLE_NODES};
use crate::labs::manifest::Language;
use crate::labs::Lab;
use crate::parallel::in_parallel;
use crate::provider::NodeShell;
use crate::templates::Templates;

const READS_TEMPLATE: &str = "node/run-reads.sh.tera";
const HTTP_TEMPLATE: &str = "node/http-get.sh.tera";
const NETWORK_TEMPLATE: &str = "node/fetch-on-network.sh.tera";
const PORTS_TEMPLATE: &str = "node/list-published-ports.sh.tera";
const PUBLISHED_TEMPLATE: &str = "node/fetch-published.sh.tera";
const CONTAINERS_TEMPLATE: &str = "node/task-containers.sh.tera";
const NETWORKS_TEMPLATE: &str = "node/service-networks.sh.tera";

/// Every node a check names must be a node of this cluster: with
/// `worker_prefix = "worker"` there is no `node1`, and asking it would look
/// like a service that does not answer.
pub fn check_nodes(lab: &Lab, cluster: &Cluster) -> Result<()> {
    let names = cluster.nodes().names();
    for (index, spec) in lab.manifest.checks.iter().enumerate() {
        let unknown = |node: &&str| !names.contains(node) && !ROLE_NODES.contains(node);
        let Some(node) = spec.check.node().filter(unknown) else { continue };
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

/// How many rounds of reads a run may take: an ingress check reads the
/// published ports first (with the tasks or the service's own page that it
/// judges by), then fetches through the mesh, then (on a kernel without
/// IPVS) on the service's network.
const READ_ROUNDS: usize = 3;

/// Run every check of `lab`. Each check asks for what it needs to read;
/// every node is asked for all of it in one round trip
/// (node/run-reads.sh), so a lab's checks cost one round trip a node (two
/// for an ingress check, three the first time on a host without IPVS).
/// When no read of the first round got an answer from the manager's Docker,
/// labctl asks it whether it answers: when it does not, an [`Unreachable`]
/// error (exit status 3) instead of verdicts.
/// `mesh` keeps what is known about the nodes' routing mesh across the runs
/// of one labctl command.
pub fn run_checks(
    lab: &Lab,
    cluster: &Cluster,
    templates: &Templates,
    shell: NodeShell,
    language: Language,
    mesh: &Mesh,
) -> Result<Vec<Outcome>> {
    let manager = cluster.nodes().manager().name.as_str();
    let reader = Reader {
        shell,
        manager,
        nodes: cluster.nodes().iter().map(|node| node.name.clone()).collect(),
        registry: cluster.registry().map(|registry| registry.address()),
        reads_script: templates.node_script(READS_TEMPLATE)?,
        http_script: templates.node_script(HTTP_TEMPLATE)?,
        network_script: templates.node_script(NETWORK_TEMPLATE)?,
        ports_script: templates.node_script(PORTS_TEMPLATE)?,
        published_script: templates.node_script(PUBLISHED_TEMPLATE)?,
        containers_script: templates.node_script(CONTAINERS_TEMPLATE)?,
        networks_script: templates.node_script(NETWORKS_TEMPLATE)?,
        mesh,
    };
    let deployed_as = reader.deployed_as(lab)?;
    let renamed: Vec<CheckSpec> = lab
        .manifest
        .checks
        .iter()
        .map(|spec| CheckSpec { check: spec.check.with_stack_renamed(&deployed_as), ..spec.clone() })
        .collect();
    let specs = &renamed;
    let mut answers = HashMap::new();
    let mut verdicts: Vec<Option<Verdict>> = vec![None; specs.len()];
    for round in 0..=READ_ROUNDS {
        let mut lacking = Vec::new();
        for (spec, verdict) in specs.iter().zip(&mut verdicts).filter(|(_, verdict)| verdict.is_none()) {
            let ask = Ask { answers: &answers, lacking: RefCell::default() };
            *verdict = reader.decide(&spec.check, &ask)?;
            lacking.extend(ask.lacking.into_inner());
        }
        if lacking.is_empty() {
            break;
        }
        if round == READ_ROUNDS {
            bail!("internal error: lab {}'s checks still lack reads after {round} rounds", lab.manifest.id);
        }
        answers.extend(reader.read_all(lacking)?);
        // A check must never report a Docker that does not answer as a
        // missing service. A docker read that succeeded proves it answers;
        // when none did (nothing deployed yet, or Docker down), ask.
        if round == 0 && !answers.iter().any(|(read, answer)| read.asks_docker() && answer.success()) {
            answers.extend(reader.read_all(vec![Read::DockerAnswers])?);
            if answers.get(&Read::DockerAnswers).is_some_and(|answer| !answer.success()) {
                return Err(Unreachable::not_up(cluster.name(), &format!("Docker does not answer on {manager}")).into());
            }
        }
    }
    Ok(specs
        .iter()
        .zip(verdicts)
        .map(|(spec, verdict)| {
            let Verdict { passed, detail, failure } = verdict.expect("every check decided");
            let hint = match (passed, language) {
                (true, _) => String::new(),
                (false, Language::En) => spec.hint_en.clone(),
                (false, Language::Ko) => spec.hint_ko.clone(),
            };
            let failure = (!passed).then_some(failure);
            // What a node answered is the student's to shape: shown, never obeyed.
            let detail = crate::mask::visible(&detail);
            let detail = match deployed_as
                .iter()
                .find(|(_, alias)| spec.check.services().iter().any(|s| s.starts_with(&format!("{alias}_"))))
            {
                Some((name, alias)) => format!("{detail} (stack {name} deployed as {alias})"),
                None => detail,
            };
            Outcome { name: spec.name.clone(), kind: spec.check.kind().to_string(), passed, detail, hint, failure }
        })
        .collect())
}

/// One read of the cluster that a check needs. Checks that need the same
/// read share its answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Read {
    /// Whether the manager's Docker answers (`docker version`).
    DockerAnswers,
    /// Whether a service exists (`docker service inspect` of its name).
    Service(String),
    /// `state|node` of each of a service's tasks that should be running.
    Tasks(String),
    /// `hostname|manager status` of every node of the swarm.
    Nodes,
    /// A network's driver and whether it is attachable.
    Network(String),
    /// A service's endpoint spec as JSON.
    EndpointSpec(String),
    /// Every service with its published ports (node/list-published-ports.sh).
    PublishedPorts,
    /// A URL fetched on a node through a port published in the routing
    /// mesh, when the node's kernel has IPVS (node/fetch-published.sh).
    ThroughMesh { node: String, url: String },
    /// A URL fetched on a node (node/http-get.sh).
    Http { node: String, url: String },
    /// A URL fetched from inside a task of `service` on a node
    /// (node/fetch-on-network.sh).
    OnNetwork { node: String, service: String, url: String },
    /// A check's own command, run on a node.
    Command { node: String, command: String },
    /// The container IDs of a service's running tasks.
    TaskContainers(String),
    /// The names of the networks a service's tasks are attached to.
    ServiceNetworks(String),
}

impl Read {
    /// Whether it asks the manager's Docker (so that its success proves
    /// that Docker answers).
    fn asks_docker(&self) -> bool {
        match self {
            Read::DockerAnswers
            | Read::Service(_)
            | Read::Tasks(_)
            | Read::Nodes
            | Read::Network(_)
            | Read::EndpointSpec(_)
            | Read::PublishedPorts
            | Read::TaskContainers(_)
            | Read::ServiceNetworks(_) => true,
            Read::ThroughMesh { .. } | Read::Http { .. } | Read::OnNetwork { .. } | Read::Command { .. } => false,
        }
    }
}

/// What a check finds among the answers read so far; what it lacks is noted,
/// to be read in the next round.
struct Ask<'a> {
    answers: &'a HashMap<Read, Output>,
    lacking: RefCell<Vec<Read>>,
}

impl<'a> Ask<'a> {
    fn get(&self, read: Read) -> Option<&'a Output> {
        let found = self.answers.get(&read);
        if found.is_none() {
            self.lacking.borrow_mut().push(read);
        }
        found
    }
}

/// Reads the cluster for the checks, and decides each check from what it read.
struct Reader<'a> {
    shell: NodeShell<'a>,
    manager: &'a str,
    /// Every node of the cluster, the manager first.
    nodes: Vec<String>,
    /// The registry's address, when it is enabled.
    registry: Option<String>,
    /// The rendered node/run-reads.sh: a node's reads in one round trip.
    reads_script: String,
    /// The rendered HTTP probe (node/http-get.sh), shared by every http check.
    http_script: String,
    /// The rendered node/fetch-on-network.sh, for hosts without the routing mesh.
    network_script: String,
    /// The rendered node/list-published-ports.sh, to find who publishes a port.
    ports_script: String,
    /// The rendered node/fetch-published.sh, for hosts with the routing mesh.
    published_script: String,
    /// The rendered node/task-containers.sh: a service's tasks' containers.
    containers_script: String,
    /// The rendered node/service-networks.sh: the networks a service is on.
    networks_script: String,
    mesh: &'a Mesh,
}

impl Reader<'_> {
    /// `check`'s verdict from the answers, or `None` when it lacks some
    /// (noted in `ask`).
    fn decide(&self, check: &Check, ask: &Ask) -> Result<Option<Verdict>> {
        let manager = self.manager;
        let verdict = match check {
            Check::ServiceExists { service } => {
                let Some(found) = ask.get(Read::Service(service.clone())) else { return Ok(None) };
                Verdict::settled(match found.success() {
                    true => (true, format!("service {service} exists")),
                    false => (false, format!("no service {service}")),
                })
            }
            Check::ServiceReplicas { service, replicas } => {
                let Some(tasks) = ask.get(Read::Tasks(service.clone())) else { return Ok(None) };
                replicas_decision(&tasks_of(tasks), *replicas).into()
            }
            Check::Placement { service, role } => {
                let (Some(tasks), Some(nodes)) = (ask.get(Read::Tasks(service.clone())), ask.get(Read::Nodes)) else {
                    return Ok(None);
                };
                let managers: Vec<String> =
                    nodes_of(nodes).into_iter().filter(|(_, manager)| *manager).map(|(host, _)| host).collect();
                placement_decision(&tasks_of(tasks), &managers, role.as_str()).into()
            }
            Check::Network { network, driver, attachable } => {
                let Some(found) = ask.get(Read::Network(network.clone())) else { return Ok(None) };
                Verdict::settled(network_decision(inspected(found).as_deref(), driver.as_deref(), *attachable))
            }
            Check::RegistryRepository { repository } => match &self.registry {
                None => Verdict::settled((false, "the registry is disabled in labctl.toml".to_string())),
                Some(address) => {
                    let url = format!("http://{address}/v2/_catalog");
                    let Some(catalog) = ask.get(Read::Http { node: manager.to_string(), url }) else {
                        return Ok(None);
                    };
                    repository_verdict(&catalog.stdout, repository)
                }
            },
            Check::Http { node, url, status, contains, from_task_of, same_as, port_of, ingress } => {
                let node = self.on_node(node.as_deref());
                let node = node.as_str();
                // What the check needs before it can fetch, asked for at once
                // (one round): the published ports (for `port_of`, and where
                // the fetch goes through the mesh) and the tasks it judges by.
                let listing = (port_of.is_some() || *ingress).then(|| ask.get(Read::PublishedPorts));
                let tasks = from_task_of.as_ref().map(|service| ask.get(Read::TaskContainers(service.clone())));
                let own_page =
                    same_as.as_ref().map(|ServicePort { service, port }| self.service_page(service, *port, url, ask));
                if listing.as_ref().is_some_and(Option::is_none)
                    || tasks.as_ref().is_some_and(Option::is_none)
                    || own_page.as_ref().is_some_and(Option::is_none)
                {
                    return Ok(None);
                }
                let url = match (port_of, listing.flatten()) {
                    (Some(ServicePort { service, port }), Some(listing)) => {
                        match mesh::published_port_of(&listing.stdout, service, *port) {
                            Some(published) => mesh::with_port(url, published),
                            // A stack update may still be rolling out: not final.
                            None => {
                                return Ok(Some(
                                    (false, format!("{service} publishes no port for its port {port}")).into(),
                                ))
                            }
                        }
                    }
                    _ => url.clone(),
                };
                let expected = match (from_task_of, tasks.flatten(), same_as, own_page.flatten()) {
                    (Some(service), Some(tasks), _, _) => Expected::FromTaskOf(service.clone(), container_ids(tasks)),
                    (_, _, Some(ServicePort { service, .. }), Some(page)) => match page {
                        Ok(page) => Expected::SameAs(service.clone(), page),
                        Err(why) => return Ok(Some((false, why).into())),
                    },
                    _ => Expected::Contains(contains.clone()),
                };
                let decide = |answer: &str| expected.decide(answer, *status);
                match ingress {
                    true => return self.ingress_http(node, &url, ask, decide),
                    false => {
                        let Some(answer) = ask.get(http(node, &url)) else { return Ok(None) };
                        decide(&answer.stdout).into()
                    }
                }
            }
            Check::Command { node, command } => {
                let node = self.on_node(node.as_deref());
                let Some(output) = ask.get(Read::Command { node, command: command.clone() }) else {
                    return Ok(None);
                };
                let detail = match output.success() {
                    true => "exit 0".to_string(),
                    false => format!("exit {:?}: {}", output.code.unwrap_or(-1), output.tail(1)),
                };
                (output.success(), detail).into()
            }
            Check::PublishedPorts { service, ports } => {
                let Some(found) = ask.get(Read::EndpointSpec(service.clone())) else { return Ok(None) };
                // A stack update may still be rolling out: not final.
                ports_decision(inspected(found).as_deref(), ports).into()
            }
            Check::HttpListsNodes { node, url } => {
                let node = self.on_node(node.as_deref());
                let node = node.as_str();
                let (Some(answer), Some(nodes)) = (ask.get(http(node, url)), ask.get(Read::Nodes)) else {
                    return Ok(None);
                };
                let hostnames: Vec<String> = nodes_of(nodes).into_iter().map(|(host, _)| host).collect();
                nodes_listed_decision(&answer.stdout, &hostnames).into()
            }
        };
        Ok(Some(verdict))
    }

    /// (stack, alias) for each of the lab's stacks that the student deployed
    /// under one of its aliases (the name the course notes use) instead of
    /// its own name: the alias's first service exists and is on one of the
    /// lab's networks (so another lab's stack of that name is not taken for
    /// this one), while the stack's own does not. One round trip, and only
    /// for labs whose stacks have aliases.
    fn deployed_as(&self, lab: &Lab) -> Result<Vec<(String, String)>> {
        let candidates: Vec<(String, String, String)> = lab
            .manifest
            .stacks
            .iter()
            .filter_map(|stack| stack.services.first().map(|first| (stack, first)))
            .flat_map(|(stack, first)| {
                stack.aliases.iter().map(move |alias| (stack.name.clone(), alias.clone(), first.clone()))
            })
            .collect();
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let mut reads = Vec::new();
        for (name, alias, first) in &candidates {
            reads.push(Read::Service(format!("{name}_{first}")));
            reads.push(Read::ServiceNetworks(format!("{alias}_{first}")));
        }
        let answers: HashMap<Read, Output> = self.read_all(reads)?.into_iter().collect();
        let networks: Vec<&str> = lab.manifest.networks.iter().map(|network| network.name.as_str()).collect();
        let mut found = Vec::new();
        for (name, alias, first) in candidates {
            let own = answers.get(&Read::Service(format!("{name}_{first}"))).is_some_and(Output::success);
            let on_lab_network = answers
                .get(&Read::ServiceNetworks(format!("{alias}_{first}")))
                .filter(|answer| answer.success())
                .is_some_and(|answer| answer.stdout.split_whitespace().any(|network| networks.contains(&network)));
            if !own && on_lab_network && !found.iter().any(|(stack, _): &(String, String)| *stack == name) {
                found.push((name, alias));
            }
        }
        Ok(found)
    }

    /// The node a check names: its name, or a role (`worker`: the first
    /// worker, however the workers are named); unset, the manager.
    fn on_node(&self, named: Option<&str>) -> String {
        match named {
            None | Some("manager") => self.manager.to_string(),
            Some("worker") => self.nodes.get(1).unwrap_or(&self.nodes[0]).clone(),
            Some(name) => name.to_string(),
        }
    }

    /// The page a task of `service` answers itself on `port` (the path of
    /// `url`), fetched inside a task's network namespace on the first node
    /// that runs one: `None` while reads are lacking, `Err` with why when it
    /// cannot be had.
    fn service_page(&self, service: &str, port: u16, url: &str, ask: &Ask) -> Option<Result<String, String>> {
        let path = mesh::port_and_path(url).map(|(_, path)| path).unwrap_or_else(|| "/".to_string());
        let inner = format!("http://127.0.0.1:{port}{path}");
        let reads: Vec<Option<&Output>> = self
            .nodes
            .iter()
            .map(|node| {
                ask.get(Read::OnNetwork { node: node.clone(), service: service.to_string(), url: inner.clone() })
            })
            .collect();
        let fetched = reads.into_iter().collect::<Option<Vec<&Output>>>()?;
        for output in fetched {
            match mesh::network_fetch(output.code, &output.stdout, &output.tail(1)) {
                NetworkFetch::NoTaskHere => continue,
                NetworkFetch::Answer(answer) => return Some(Ok(answer)),
                NetworkFetch::Unable(missing) => return Some(Err(format!("cannot ask {service} itself: {missing}"))),
                NetworkFetch::Failed(why) => return Some(Err(format!("cannot ask {service} itself: {why}"))),
            }
        }
        Some(Err(format!("no task of {service} runs")))
    }

    /// An http check of a port published through the routing mesh: through
    /// the published port where the node's kernel has IPVS, else on the
    /// service's own network (see [`mesh`]).
    fn ingress_http(
        &self,
        node: &str,
        url: &str,
        ask: &Ask,
        decide: impl Fn(&str) -> (bool, String),
    ) -> Result<Option<Verdict>> {
        let through_port = |ask: &Ask| Ok(ask.get(http(node, url)).map(|answer| decide(&answer.stdout).into()));
        let Some((port, path)) = mesh::port_and_path(url) else { return through_port(ask) };
        let Some(listing) = ask.get(Read::PublishedPorts) else { return Ok(None) };
        if !listing.success() {
            bail!("cannot list the services' published ports on {}: {}", self.manager, listing.tail(2));
        }
        let Some(publisher) = mesh::publisher_of(&listing.stdout, port) else {
            return Ok(Some(Verdict::settled((false, format!("no service publishes port {port}")))));
        };
        if !publisher.ingress {
            return through_port(ask);
        }
        if self.mesh.known(node) != Some(false) {
            let read = Read::ThroughMesh { node: node.to_string(), url: url.to_string() };
            let Some(answer) = ask.get(read) else { return Ok(None) };
            let available = answer.code != Some(mesh::NO_IPVS);
            self.mesh.learn(node, available);
            if available {
                return Ok(Some(decide(&answer.stdout).into()));
            }
        }
        let inner = mesh::network_url(&publisher, &path);
        let candidates = mesh::fetch_order(node, &self.nodes);
        let fetched: Vec<Option<&Output>> = candidates
            .iter()
            .map(|candidate| {
                ask.get(Read::OnNetwork {
                    node: candidate.to_string(),
                    service: publisher.service.clone(),
                    url: inner.clone(),
                })
            })
            .collect();
        let Some(fetched) = fetched.into_iter().collect::<Option<Vec<&Output>>>() else { return Ok(None) };
        for (candidate, output) in candidates.into_iter().zip(fetched) {
            match mesh::network_fetch(output.code, &output.stdout, &output.tail(1)) {
                NetworkFetch::NoTaskHere => continue,
                NetworkFetch::Answer(answer) => {
                    let (passed, detail) = decide(&answer);
                    return Ok(Some((passed, format!("{FALLBACK_NOTE} ({inner}: {detail})")).into()));
                }
                NetworkFetch::Unable(missing) => {
                    let detail = format!("routing mesh unavailable on this host (no IPVS), and {candidate} cannot check {} on its network: {missing}", publisher.service);
                    return Ok(Some(Verdict::settled((false, detail))));
                }
                NetworkFetch::Failed(why) => {
                    return Ok(Some((false, format!("{FALLBACK_NOTE} ({inner}: {why})")).into()));
                }
            }
        }
        Ok(Some(
            (
                false,
                format!(
                    "routing mesh unavailable on this host (no IPVS), and no task of {} runs to check it on its network",
                    publisher.service
                ),
            )
                .into(),
        ))
    }

    /// The node a read runs on, and its command.
    fn command(&self, read: &Read) -> (String, Vec<String>) {
        let words = |words: &[&str]| words.iter().map(|word| word.to_string()).collect::<Vec<String>>();
        let on_manager = |words: Vec<String>| (self.manager.to_string(), words);
        match read {
            Read::DockerAnswers => on_manager(words(&["docker", "version", "--format", "{{.Server.Version}}"])),
            Read::Service(service) => {
                on_manager(words(&["docker", "service", "inspect", "--format", "{{.Spec.Name}}", "--", service]))
            }
            Read::Tasks(service) => on_manager(words(&[
                "docker",
                "service",
                "ps",
                "--filter",
                "desired-state=running",
                "--format",
                "{{.CurrentState}}|{{.Node}}",
                "--",
                service,
            ])),
            Read::Nodes => on_manager(words(&["docker", "node", "ls", "--format", "{{.Hostname}}|{{.ManagerStatus}}"])),
            Read::Network(network) => on_manager(words(&[
                "docker",
                "network",
                "inspect",
                "--format",
                "{{.Driver}} {{.Attachable}}",
                "--",
                network,
            ])),
            Read::EndpointSpec(service) => on_manager(words(&[
                "docker",
                "service",
                "inspect",
                "--format",
                "{{json .Spec.EndpointSpec}}",
                "--",
                service,
            ])),
            Read::PublishedPorts => {
                on_manager(words(&["sh", "-c", &self.ports_script, "labctl-ports", mesh::PORTS_FORMAT]))
            }
            Read::ThroughMesh { node, url } => {
                (node.clone(), words(&["sh", "-c", &self.published_script, "labctl-published", url, &self.http_script]))
            }
            Read::Http { node, url } => (node.clone(), words(&["sh", "-c", &self.http_script, "labctl-http", url])),
            Read::OnNetwork { node, service, url } => (
                node.clone(),
                words(&["sh", "-c", &self.network_script, "labctl-on-network", service, url, &self.http_script]),
            ),
            Read::Command { node, command } => (node.clone(), words(&["sh", "-c", command])),
            Read::ServiceNetworks(service) => {
                on_manager(words(&["sh", "-c", &self.networks_script, "labctl-service-networks", service]))
            }
            Read::TaskContainers(service) => {
                on_manager(words(&["sh", "-c", &self.containers_script, "labctl-task-containers", service]))
            }
        }
    }

    /// Every read, each node asked for all of its reads in one round trip,
    /// the nodes at once.
    fn read_all(&self, mut reads: Vec<Read>) -> Result<Vec<(Read, Output)>> {
        let mut seen = HashSet::new();
        reads.retain(|read| seen.insert(read.clone()));
        let mut by_node: Vec<NodeReads> = Vec::new();
        for read in reads {
            let (node, command) = self.command(&read);
            match by_node.iter_mut().find(|batch| batch.node == node) {
                Some(batch) => batch.reads.push((read, command)),
                None => by_node.push(NodeReads { node, reads: vec![(read, command)] }),
            }
        }
        let answered = in_parallel(&by_node, |NodeReads { node, reads }| {
            let commands: Vec<Vec<String>> = reads.iter().map(|(_, command)| command.clone()).collect();
            let boundary = batch::boundary()?;
            let mut argv = vec!["sh".to_string(), "-c".into(), self.reads_script.clone(), batch::SCRIPT_NAME.into()];
            argv.extend(batch::arguments(&boundary, &commands));
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let spec = self.shell.probe(node, &argv, "read the cluster for the checks");
            let printed = self.shell.run_checked(&spec)?;
            let outputs = batch::parse(&boundary, commands.len(), &printed.stdout)
                .with_context(|| format!("could not read the cluster on {node} for the checks"))?;
            Ok(reads.iter().map(|(read, _)| read.clone()).zip(outputs).collect::<Vec<_>>())
        })?;
        Ok(answered.into_iter().flatten().collect())
    }
}

/// The reads of one round on one node, each with its command.
struct NodeReads {
    node: String,
    reads: Vec<(Read, Vec<String>)>,
}

fn http(node: &str, url: &str) -> Read {
    Read::Http { node: node.to_string(), url: url.to_string() }
}

/// (state, node) of the tasks in a [`Read::Tasks`] answer.
fn tasks_of(output: &Output) -> Vec<(String, String)> {
    output
        .stdout
        .lines()
        .filter_map(|line| line.split_once('|'))
        .map(|(state, node)| (state.split_whitespace().next().unwrap_or_default().to_string(), node.to_string()))
        .collect()
}

/// (hostname, is a manager) of every node in a [`Read::Nodes`] answer.
fn nodes_of(output: &Output) -> Vec<(String, bool)> {
    output
        .stdout
        .lines()
        .filter_map(|line| line.split_once('|'))
        .map(|(host, status)| (host.to_string(), !status.is_empty()))
        .collect()
}

/// An inspect's answer, trimmed, or `None` when there is no such object.
fn inspected(output: &Output) -> Option<String> {
    output.success().then(|| output.stdout.trim().to_string())
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

/// What an http check wants of the page, besides its status.
enum Expected {
    /// This text in it (or anything, for `None`).
    Contains(Option<String>),
    /// The host name of a running task of the service (its container ID's
    /// first 12 characters) in it: those are the tasks' container IDs.
    FromTaskOf(String, Vec<String>),
    /// The very page a task of the service answers itself (http-get's output).
    SameAs(String, String),
}

impl Expected {
    fn decide(&self, answer: &str, status: u16) -> (bool, String) {
        match self {
            Expected::Contains(text) => http_decision(answer, status, text.as_deref()),
            Expected::FromTaskOf(service, containers) => from_task_decision(answer, status, service, containers),
            Expected::SameAs(service, page) => same_page_decision(answer, status, service, page),
        }
    }
}

/// The container IDs in a [`Read::TaskContainers`] answer.
fn container_ids(output: &Output) -> Vec<String> {
    output.stdout.split_whitespace().filter(|id| id.len() >= 12).map(String::from).collect()
}

/// Whether the page names a running task of `service` by its host name
/// (a container's hostname is its ID's first 12 characters).
pub fn from_task_decision(answer: &str, status: u16, service: &str, containers: &[String]) -> (bool, String) {
    let (passed, detail) = http_decision(answer, status, None);
    if !passed {
        return (passed, detail);
    }
    let body = answer.split_once('\n').map_or("", |(_, body)| body);
    if containers.is_empty() {
        return (false, format!("{detail}, but no task of {service} runs"));
    }
    match containers.iter().map(|id| &id[..12]).find(|hostname| body.contains(hostname)) {
        Some(hostname) => (true, format!("{detail}, answered by {service}'s task {hostname}")),
        None => (
            false,
            format!(
                "{detail}, but the page names none of {service}'s {} running tasks by its host name",
                containers.len()
            ),
        ),
    }
}

/// Whether the page is the one `service`'s task answers itself.
pub fn same_page_decision(answer: &str, status: u16, service: &str, own: &str) -> (bool, String) {
    let (passed, detail) = http_decision(answer, status, None);
    if !passed {
        return (passed, detail);
    }
    let body = |text: &str| text.split_once('\n').map_or(String::new(), |(_, body)| body.trim().to_string());
    let (got, wanted) = (body(answer), body(own));
    match got == wanted {
        true => (true, format!("{detail}, {service}'s own page ({} bytes)", wanted.len())),
        false => {
            let first = got.lines().find(|line| !line.trim().is_empty()).unwrap_or("(empty)");
            (false, format!("{detail}, but not the page {service} answers itself (this one starts {:?})", first.trim()))
        }
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
