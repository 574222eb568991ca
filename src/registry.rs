//! The class registry: a `registry:2` container (volume-backed, restart
//! always) on the registry node, published on the configured port so every
//! node reaches it as `<host>:<port>` (each dockerd trusts it over HTTP).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use crate::config::Registry;
use crate::exec::{CommandSpec, Runner};
use crate::images;
use crate::parallel::in_parallel_bounded;
use crate::provider::NodeShell;
use crate::timeouts::Wait;

/// The node script that waits until a node's daemon reaches the registry.
pub const ANSWERS_SCRIPT: &str = "node/registry-answers.sh.tera";
/// How long a node's daemon may take to reach the registry by name: Go's
/// resolver keeps an old /etc/hosts up to 5 s, a slow VM needs more.
const ANSWERS_DEADLINE: Duration = Duration::from_secs(30);

pub use crate::provider::{REGISTRY_CONTAINER as CONTAINER, REGISTRY_VOLUME as VOLUME};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    AlreadyRunning,
    Restarted,
    Created,
    /// Made again on its kept volume, published on its class address only.
    Rebound,
}

/// What making the registry run takes, decided from one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    AlreadyRunning,
    /// The container is there but stopped.
    Restart(CommandSpec),
    /// There is no container: `docker run` one.
    Create(CommandSpec),
    /// An older labctl published it on every interface: remove the
    /// container (its volume, with what students pushed, stays) and run it
    /// again on the class address.
    Rebind {
        remove: Box<CommandSpec>,
        create: Box<CommandSpec>,
    },
}

impl Plan {
    pub fn outcome(&self) -> Outcome {
        match self {
            Plan::AlreadyRunning => Outcome::AlreadyRunning,
            Plan::Restart(_) => Outcome::Restarted,
            Plan::Create(_) => Outcome::Created,
            Plan::Rebind { .. } => Outcome::Rebound,
        }
    }

    /// The command that changes something, if any.
    pub fn command(&self) -> Option<&CommandSpec> {
        match self {
            Plan::AlreadyRunning => None,
            Plan::Restart(spec) | Plan::Create(spec) => Some(spec),
            Plan::Rebind { remove, .. } => Some(remove),
        }
    }
}

/// Look for the registry container on its node (a probe) and decide.
/// `host_running` is false when its node does not run yet (a plan made
/// before the nodes start): then there is nothing to ask, and no registry.
/// `address` is the registry node's class address, the only one its port
/// is published on.
pub fn plan(registry: &Registry, address: Ipv4Addr, shell: NodeShell, host_running: bool) -> Result<Plan> {
    let node = registry.host.as_str();
    let query = ["docker", "ps", "--all", "--filter", "name=^labctl-registry$", "--format", "{{.State}}\t{{.Ports}}"];
    let found = match host_running {
        true => shell.run_checked(&shell.probe(node, &query, "look for the registry"))?.stdout,
        false => String::new(),
    };
    let (state, ports) = found.trim().split_once('\t').unwrap_or((found.trim(), ""));
    // `0.0.0.0:5000->5000/tcp, :::5000->5000/tcp`: every interface.
    if ports.contains("0.0.0.0:") || ports.contains(":::") {
        let remove =
            shell.command(node, &["docker", "rm", "--force", CONTAINER], "remove the registry's old container");
        return Ok(Plan::Rebind { remove: Box::new(remove), create: Box::new(run_command(registry, address, shell)) });
    }
    Ok(match state {
        "running" => Plan::AlreadyRunning,
        "" => Plan::Create(run_command(registry, address, shell)),
        _ => Plan::Restart(shell.command(node, &["docker", "start", CONTAINER], "restart the registry")),
    })
}

/// Carry out `plan`. `host_runner` is given when this machine has Docker
/// (always for the docker provider): a registry image found there is loaded
/// into the node instead of pulled.
pub fn apply(
    plan: &Plan,
    registry: &Registry,
    shell: NodeShell,
    host_runner: Option<&dyn Runner>,
    saved: &images::SavedImages,
) -> Result<Outcome> {
    let (spec, made) = match plan {
        Plan::AlreadyRunning => return Ok(Outcome::AlreadyRunning),
        Plan::Restart(spec) => return shell.run_checked(spec).map(|_| Outcome::Restarted),
        Plan::Create(spec) => (spec, Outcome::Created),
        Plan::Rebind { remove, create } => {
            shell.run_checked(remove)?;
            (create.as_ref(), Outcome::Rebound)
        }
    };
    let node = registry.host.as_str();
    if let Some(host_runner) = host_runner {
        images::load_into(&registry.image, &[node], shell, host_runner, saved)?;
    }
    let output = shell.run(spec)?;
    if output.success() {
        return Ok(made);
    }
    let tail = output.tail(2);
    if tail.contains("pull") || tail.contains("dial tcp") || tail.contains("lookup") {
        return Err(anyhow!(
            "the registry image {} is not on {node} and could not be pulled ({tail}); load it from a machine that has it (docker save {} | labctl exec {node} -- docker load) or set [registry] image",
            registry.image,
            registry.image
        ));
    }
    output.checked(spec).map(|_| made)
}

/// A node whose daemon reached the registry only after some tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waited {
    pub node: String,
    pub took: Duration,
}

/// Wait, on every node at once, until its Docker daemon reaches the registry
/// by name as a push or pull does (node/registry-answers.sh asks on the
/// node, within ANSWERS_DEADLINE). A daemon started before /etc/hosts named
/// the registry's node answers "no such host" for a few seconds; `up` must
/// not call the class ready before every node resolves it. Returns the
/// nodes that needed more than one try, with how long they took.
pub fn wait_until_every_node_reaches(
    registry: &Registry,
    nodes: &[&str],
    shell: NodeShell,
    script: &str,
) -> Result<Vec<Waited>> {
    let timeouts = shell.provider.timeouts();
    let deadline = timeouts.scaled(ANSWERS_DEADLINE);
    let seconds = deadline.as_secs().max(1).to_string();
    let address = registry.address();
    let argv = ["sh", "-c", script, "labctl-registry-answers", &address, &seconds];
    let limit = deadline + timeouts.scaled(Duration::from_secs(15));
    let asked = in_parallel_bounded(nodes, nodes.len(), |node| {
        let spec = shell.probe_within(node, &argv, &format!("reach the registry {address}"), limit);
        let started = Instant::now();
        let output = shell.run(&spec)?;
        Ok::<_, anyhow::Error>((output, started.elapsed()))
    });
    let mut waited = Vec::new();
    let mut silent = Vec::new();
    for (node, asked) in nodes.iter().zip(asked) {
        match asked {
            Ok((output, took)) if output.success() => {
                let tries: u32 = output.stdout.trim().parse().unwrap_or(1);
                if tries > 1 {
                    waited.push(Waited { node: node.to_string(), took });
                }
            }
            Ok((output, _)) => silent.push(format!("{node} ({})", output.tail(1))),
            Err(error) => silent.push(format!("{node} ({error:#})")),
        }
    }
    if !silent.is_empty() {
        let (whose, verb) = match silent.len() {
            1 => ("the Docker daemon of", "does"),
            _ => ("the Docker daemons of", "do"),
        };
        bail!(
            "{whose} {} {verb} not reach the registry {address} within {} s; every node must resolve {} (/etc/hosts) and trust {address} over plain HTTP (insecure-registries in /etc/docker/daemon.json), and reach it directly (a daemon behind a proxy needs {} in its NO_PROXY): fix that and run `labctl up` again",
            silent.join(", "),
            deadline.as_secs(),
            registry.host,
            registry.host
        );
    }
    Ok(waited)
}

/// `docker run` of the registry, published on the node's class address
/// only: every node reaches it there by name, and a machine's other
/// networks (a school's LAN, the internet) do not reach an unauthenticated
/// registry.
fn run_command(registry: &Registry, address: Ipv4Addr, shell: NodeShell) -> CommandSpec {
    let published = format!("{address}:{}:5000", registry.port);
    let volume = format!("{VOLUME}:/var/lib/registry");
    let run = [
        "docker",
        "run",
        "--detach",
        "--name",
        CONTAINER,
        "--restart",
        "always",
        "--publish",
        &published,
        "--volume",
        &volume,
        &registry.image,
    ];
    // Long: the registry image may have to be pulled first.
    shell.command_for(Wait::Long, &registry.host, &run, "start the registry")
}

/// The command that prints the registry container's state on `node`
/// (`running`, `exited`, …; nothing when there is none).
pub fn state_probe(shell: NodeShell, node: &str) -> CommandSpec {
    let query = ["docker", "ps", "--all", "--filter", "name=^labctl-registry$", "--format", "{{.State}}"];
    shell.probe(node, &query, "look for the registry")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{test_cluster, test_settings};
    use crate::exec::fake::RecordingRunner;
    use crate::provider::docker::DockerProvider;

    const LOAD: &str = "docker exec --interactive swarm-lab-manager docker load --quiet < ";
    const NODE_INSPECT: &str = "docker exec swarm-lab-manager docker image inspect --format '{{.Id}}' -- registry:2";

    /// Start the registry on the docker provider, this host's Docker and
    /// the nodes answered by `runner`; the commands that changed something.
    fn start(runner: &RecordingRunner) -> Vec<String> {
        let settings = test_settings("");
        let registry = settings.registry.clone().unwrap();
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, runner);
        let shell = NodeShell::new(&provider, runner);
        let manager = cluster.nodes().manager().ip;
        let planned = plan(&registry, manager, shell, true).unwrap();
        let Plan::Create(run) = &planned else { panic!("{planned:?}") };
        // Published on the manager's class address only, never every interface.
        assert!(run.to_string().contains(" --publish 192.168.56.10:5000:5000 "), "{run}");
        let outcome = apply(&planned, &registry, shell, Some(runner), &images::SavedImages::default()).unwrap();
        assert_eq!(outcome, Outcome::Created);
        runner.changes()
    }

    #[test]
    fn a_registry_an_older_labctl_published_on_every_interface_is_made_again_on_its_volume() {
        let settings = test_settings("");
        let registry = settings.registry.clone().unwrap();
        let cluster = test_cluster(&settings);
        let runner = RecordingRunner::lenient();
        runner.always(
            "docker exec swarm-lab-manager docker ps --all --filter",
            0,
            "running\t0.0.0.0:5000->5000/tcp, :::5000->5000/tcp\n",
            "",
        );
        let provider = DockerProvider::new(&cluster, &runner);
        let shell = NodeShell::new(&provider, &runner);
        let planned = plan(&registry, cluster.nodes().manager().ip, shell, true).unwrap();
        assert_eq!(planned.outcome(), Outcome::Rebound);
        let outcome = apply(&planned, &registry, shell, None, &images::SavedImages::default()).unwrap();
        assert_eq!(outcome, Outcome::Rebound);
        let changes = runner.changes();
        assert_eq!(changes[0], "docker exec swarm-lab-manager docker rm --force labctl-registry", "{changes:#?}");
        assert!(
            changes[1].contains(" --publish 192.168.56.10:5000:5000 --volume labctl-registry:/var/lib/registry "),
            "{changes:#?}"
        );

        // Published on its class address: left running.
        let runner = RecordingRunner::lenient();
        runner.always(
            "docker exec swarm-lab-manager docker ps --all --filter",
            0,
            "running\t192.168.56.10:5000->5000/tcp\n",
            "",
        );
        let provider = DockerProvider::new(&cluster, &runner);
        let planned = plan(&registry, cluster.nodes().manager().ip, NodeShell::new(&provider, &runner), true).unwrap();
        assert_eq!(planned, Plan::AlreadyRunning);
    }

    #[test]
    fn the_registry_image_is_loaded_from_this_host_into_a_node_without_that_image_id() {
        let runner = RecordingRunner::lenient();
        runner.always("docker image inspect", 0, "sha256:host\n", "");
        runner.always(NODE_INSPECT, 1, "", "Error: No such image: registry:2");
        let changes = start(&runner);
        assert!(changes[0].starts_with("docker save -- registry:2 > "), "{changes:#?}");
        assert!(changes[1].starts_with(LOAD), "{changes:#?}");
        assert!(changes[2].starts_with("docker exec swarm-lab-manager docker run --detach --name labctl-registry"));

        // An older registry:2 on the node is replaced by this host's.
        let runner = RecordingRunner::lenient();
        runner.always("docker image inspect", 0, "sha256:host\n", "");
        runner.always(NODE_INSPECT, 0, "sha256:older\n", "");
        assert!(start(&runner)[1].starts_with(LOAD));
    }

    /// Wait for the registry from manager and node1, answered by `runner`.
    fn reach(runner: &RecordingRunner) -> Result<Vec<Waited>> {
        let settings = test_settings("");
        let registry = settings.registry.clone().unwrap();
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, runner);
        let shell = NodeShell::new(&provider, runner);
        wait_until_every_node_reaches(&registry, &["manager", "node1"], shell, "SCRIPT")
    }

    #[test]
    fn every_nodes_daemon_is_asked_for_the_registry_by_name_and_a_late_one_is_named() {
        let runner = RecordingRunner::lenient();
        runner.always("docker exec swarm-lab-node1 sh -c SCRIPT", 0, "9\n", "");
        let waited = reach(&runner).unwrap();
        assert_eq!(waited.iter().map(|wait| wait.node.as_str()).collect::<Vec<_>>(), ["node1"]);
        let mut asked = runner.command_lines();
        asked.sort();
        assert_eq!(
            asked,
            [
                "docker exec swarm-lab-manager sh -c SCRIPT labctl-registry-answers manager:5000 30",
                "docker exec swarm-lab-node1 sh -c SCRIPT labctl-registry-answers manager:5000 30"
            ]
        );
        assert!(runner.changes().is_empty(), "asking changes nothing");
    }

    #[test]
    fn a_node_whose_daemon_never_reaches_the_registry_fails_up_naming_it_and_the_fix() {
        let runner = RecordingRunner::lenient();
        runner.always(
            "docker exec swarm-lab-node1 sh -c SCRIPT",
            1,
            "",
            "Error response from daemon: Get \"https://manager:5000/v2/\": dial tcp: lookup manager on 127.0.0.11:53: no such host",
        );
        let error = format!("{:#}", reach(&runner).unwrap_err());
        assert_eq!(
            error,
            "the Docker daemon of node1 (Error response from daemon: Get \"https://manager:5000/v2/\": dial tcp: lookup manager on 127.0.0.11:53: no such host) does not reach the registry manager:5000 within 30 s; every node must resolve manager (/etc/hosts) and trust manager:5000 over plain HTTP (insecure-registries in /etc/docker/daemon.json), and reach it directly (a daemon behind a proxy needs manager in its NO_PROXY): fix that and run `labctl up` again"
        );
    }

    #[test]
    fn up_s_help_states_the_registry_wait_as_it_is() {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        let help = cli.find_subcommand("up").unwrap().get_after_help().unwrap().to_string();
        let stated = format!("(at most {} s) until every node's Docker reaches it by name", ANSWERS_DEADLINE.as_secs());
        assert!(help.contains(&stated), "{help}");
    }

    #[test]
    fn the_registry_image_is_not_loaded_when_the_node_has_it_or_this_host_has_not() {
        let runner = RecordingRunner::lenient();
        runner.always("docker image inspect", 0, "sha256:same\n", "");
        runner.always(NODE_INSPECT, 0, "sha256:same\n", "");
        let changes = start(&runner);
        assert_eq!(changes.len(), 1, "only the registry started: {changes:#?}");

        // Not on this host: the node pulls it when the registry starts.
        let runner = RecordingRunner::lenient();
        runner.always("docker image inspect", 1, "", "Error: No such image: registry:2");
        let changes = start(&runner);
        assert_eq!(changes.len(), 1, "{changes:#?}");
        assert!(!runner.command_lines().iter().any(|line| line.contains("docker save")));
    }
}
