//! The class registry: a `registry:2` container (volume-backed, restart
//! always) on the registry node, published on the configured port so every
//! node reaches it as `<host>:<port>` (each dockerd trusts it over HTTP).

use anyhow::{anyhow, Result};

use crate::config::Registry;
use crate::exec::{CommandSpec, Runner};
use crate::images;
use crate::provider::NodeShell;
use crate::timeouts::Wait;

pub const CONTAINER: &str = "labctl-registry";
const VOLUME: &str = "labctl-registry";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    AlreadyRunning,
    Restarted,
    Created,
}

/// Make the registry run. `host_runner` is given when this machine's Docker
/// can hold images for the nodes (docker provider): a registry image found
/// there is loaded into the node (unless it has that image ID) instead of
/// pulled.
/// In a dry run a node that does not exist yet has no registry.
pub fn ensure(
    registry: &Registry,
    shell: NodeShell,
    host_runner: Option<&dyn Runner>,
    dry_run: bool,
) -> Result<Outcome> {
    let node = registry.host.as_str();
    let probe = state_probe(shell, node);
    let state = match shell.run(&probe)? {
        output if output.success() => output.stdout,
        _ if dry_run => String::new(),
        output => output.checked(&probe)?.stdout,
    };
    match state.trim() {
        "running" => return Ok(Outcome::AlreadyRunning),
        "" => {}
        _ => {
            shell.run_checked(&shell.command(node, &["docker", "start", CONTAINER], "restart the registry"))?;
            return Ok(Outcome::Restarted);
        }
    }
    if let Some(host_runner) = host_runner {
        images::load_into(&registry.image, &[node], shell, host_runner)?;
    }
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
    let spec = shell.command_for(Wait::Long, node, &run, "start the registry");
    let output = shell.run(&spec)?;
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
    output.checked(&spec).map(|_| Outcome::Created)
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
    use crate::config::test_settings;
    use crate::exec::fake::RecordingRunner;
    use crate::provider::docker::DockerProvider;

    const LOAD: &str = "docker save -- registry:2 | docker exec --interactive swarm-lab-manager docker load --quiet";
    const NODE_INSPECT: &str = "docker exec swarm-lab-manager docker image inspect --format '{{.Id}}' -- registry:2";

    /// Start the registry on the docker provider, this host's Docker and
    /// the nodes answered by `runner`; the commands that changed something.
    fn start(runner: &RecordingRunner) -> Vec<String> {
        let settings = test_settings("");
        let registry = settings.registry.clone().unwrap();
        let provider = DockerProvider::new(&settings, runner);
        let outcome = ensure(&registry, NodeShell::new(&provider, runner), Some(runner), false).unwrap();
        assert_eq!(outcome, Outcome::Created);
        runner.changes()
    }

    #[test]
    fn the_registry_image_is_loaded_from_this_host_into_a_node_without_that_image_id() {
        let runner = RecordingRunner::default();
        runner.always("docker image inspect", 0, "sha256:host\n", "");
        runner.always(NODE_INSPECT, 1, "", "Error: No such image: registry:2");
        let changes = start(&runner);
        assert_eq!(changes[0], LOAD, "{changes:#?}");
        assert!(changes[1].starts_with("docker exec swarm-lab-manager docker run --detach --name labctl-registry"));

        // An older registry:2 on the node is replaced by this host's.
        let runner = RecordingRunner::default();
        runner.always("docker image inspect", 0, "sha256:host\n", "");
        runner.always(NODE_INSPECT, 0, "sha256:older\n", "");
        assert_eq!(start(&runner)[0], LOAD);
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
