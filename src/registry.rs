//! The class registry: a `registry:2` container (volume-backed, restart
//! always) on the registry node, published on the configured port so every
//! node reaches it as `<host>:<port>` (each dockerd trusts it over HTTP).

use anyhow::{anyhow, Result};

use crate::config::Registry;
use crate::exec::{CommandSpec, Runner};
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
/// there is loaded into the node instead of pulled.
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
        preload(&registry.image, node, shell, host_runner)?;
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

/// Copy `image` from this host's Docker into `node` when the node lacks it
/// and the host has it.
pub fn preload(image: &str, node: &str, shell: NodeShell, host_runner: &dyn Runner) -> Result<bool> {
    let on_node =
        shell.probe(node, &["docker", "image", "inspect", "--format", "{{.Id}}", "--", image], "look for an image");
    if shell.run(&on_node)?.success() {
        return Ok(false);
    }
    let on_host = CommandSpec::new(
        "docker",
        &["image", "inspect", "--format", "{{.Id}}", "--", image],
        "look for an image on this host",
    )
    .probe()
    .timeout(shell.limit(Wait::Read));
    if !host_runner.run(&on_host)?.success() {
        return Ok(false);
    }
    let save = CommandSpec::new("docker", &["save", "--", image], &format!("export {image} from this host"));
    let load = shell.command_piped(Wait::Long, node, &["docker", "load"], &format!("load {image}"), save);
    shell.run_checked(&load)?;
    Ok(true)
}
