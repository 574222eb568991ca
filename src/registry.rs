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

/// Carry out `plan`. `host_runner` is given when this machine's Docker can
/// hold images for the nodes (docker provider): a registry image found
/// there is loaded into the node instead of pulled.
pub fn apply(plan: &Plan, registry: &Registry, shell: NodeShell, host_runner: Option<&dyn Runner>) -> Result<Outcome> {
    let spec = match plan {
        Plan::AlreadyRunning => return Ok(Outcome::AlreadyRunning),
        Plan::Restart(spec) => return shell.run_checked(spec).map(|_| Outcome::Restarted),
        Plan::Create(spec) => spec,
    };
    let node = registry.host.as_str();
    if let Some(host_runner) = host_runner {
        preload(&registry.image, node, shell, host_runner)?;
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
