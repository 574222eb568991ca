//! The class registry: a `registry:2` container (volume-backed, restart
//! always) on the registry node, published on the configured port so every
//! node reaches it as `<host>:<port>` (each dockerd trusts it over HTTP).

use anyhow::{anyhow, Result};

use crate::config::Registry;
use crate::exec::{CommandSpec, Runner};
use crate::images;
use crate::provider::NodeShell;
use crate::timeouts::Wait;

pub use crate::provider::{REGISTRY_CONTAINER as CONTAINER, REGISTRY_VOLUME as VOLUME};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    AlreadyRunning,
    Restarted,
    Created,
}

/// What making the registry run takes, decided from one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    AlreadyRunning,
    /// The container is there but stopped.
    Restart(CommandSpec),
    /// There is no container: `docker run` one.
    Create(CommandSpec),
}

impl Plan {
    pub fn outcome(&self) -> Outcome {
        match self {
            Plan::AlreadyRunning => Outcome::AlreadyRunning,
            Plan::Restart(_) => Outcome::Restarted,
            Plan::Create(_) => Outcome::Created,
        }
    }

    /// The command that changes something, if any.
    pub fn command(&self) -> Option<&CommandSpec> {
        match self {
            Plan::AlreadyRunning => None,
            Plan::Restart(spec) | Plan::Create(spec) => Some(spec),
        }
    }
}

/// Look for the registry container on its node (a probe) and decide.
/// `host_running` is false when its node does not run yet (a plan made
/// before the nodes start): then there is nothing to ask, and no registry.
pub fn plan(registry: &Registry, shell: NodeShell, host_running: bool) -> Result<Plan> {
    let node = registry.host.as_str();
    let state = match host_running {
        true => shell.run_checked(&state_probe(shell, node))?.stdout,
        false => String::new(),
    };
    Ok(match state.trim() {
        "running" => Plan::AlreadyRunning,
        "" => Plan::Create(run_command(registry, shell)),
        _ => Plan::Restart(shell.command(node, &["docker", "start", CONTAINER], "restart the registry")),
    })
}

/// Carry out `plan`. `host_runner` is given when this machine has Docker
/// (always for the docker provider): a registry image found there is loaded
/// into the node instead of pulled.
pub fn apply(plan: &Plan, registry: &Registry, shell: NodeShell, host_runner: Option<&dyn Runner>) -> Result<Outcome> {
    let spec = match plan {
        Plan::AlreadyRunning => return Ok(Outcome::AlreadyRunning),
        Plan::Restart(spec) => return shell.run_checked(spec).map(|_| Outcome::Restarted),
        Plan::Create(spec) => spec,
    };
    let node = registry.host.as_str();
    if let Some(host_runner) = host_runner {
        images::load_into(&registry.image, &[node], shell, host_runner)?;
    }
    let output = shell.run(spec)?;
    if output.success() {
        return Ok(Outcome::Created);
    }
    let tail = output.tail(2);
    if tail.contains("pull") || tail.contains("dial tcp") || tail.contains("lookup") {
        return Err(anyhow!(
            "the registry image {} is not on {node} and could not be pulled ({tail}); load it from a machine that has it (docker save {} | labctl exec {node} -- docker load) or set [registry] image",
            registry.image,
            registry.image
        ));
    }
    output.checked(spec).map(|_| Outcome::Created)
}

fn run_command(registry: &Registry, shell: NodeShell) -> CommandSpec {
    let published = format!("{}:5000", registry.port);
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
        let planned = plan(&registry, shell, true).unwrap();
        let outcome = apply(&planned, &registry, shell, Some(runner)).unwrap();
        assert_eq!(outcome, Outcome::Created);
        runner.changes()
    }

    #[test]
    fn the_registry_image_is_loaded_from_this_host_into_a_node_without_that_image_id() {
        let runner = RecordingRunner::default();
        runner.always("docker image inspect", 0, "sha256:host\n", "");
        runner.always(NODE_INSPECT, 1, "", "Error: No such image: registry:2");
        let changes = start(&runner);
        assert!(changes[0].starts_with("docker save -- registry:2 > "), "{changes:#?}");
        assert!(changes[1].starts_with(LOAD), "{changes:#?}");
        assert!(changes[2].starts_with("docker exec swarm-lab-manager docker run --detach --name labctl-registry"));

        // An older registry:2 on the node is replaced by this host's.
        let runner = RecordingRunner::default();
        runner.always("docker image inspect", 0, "sha256:host\n", "");
        runner.always(NODE_INSPECT, 0, "sha256:older\n", "");
        assert!(start(&runner)[1].starts_with(LOAD));
    }

    #[test]
    fn the_registry_image_is_not_loaded_when_the_node_has_it_or_this_host_has_not() {
        let runner = RecordingRunner::default();
        runner.always("docker image inspect", 0, "sha256:same\n", "");
        runner.always(NODE_INSPECT, 0, "sha256:same\n", "");
        let changes = start(&runner);
        assert_eq!(changes.len(), 1, "only the registry started: {changes:#?}");

        // Not on this host: the node pulls it when the registry starts.
        let runner = RecordingRunner::default();
        runner.always("docker image inspect", 1, "", "Error: No such image: registry:2");
        let changes = start(&runner);
        assert_eq!(changes.len(), 1, "{changes:#?}");
        assert!(!runner.command_lines().iter().any(|line| line.contains("docker save")));
    }
}
