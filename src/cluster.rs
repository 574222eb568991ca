//! The jobs that span the whole cluster, provider-agnostic: `up` as a list
//! of named actions ([`up`]), whether the cluster is up enough for a
//! command, and the runtime status that `status` shows.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::config::Cluster;
use crate::exec::Runner;
use crate::exit::Unreachable;
use crate::lifecycle::seed::{self, SeededManifest};
use crate::parallel::in_parallel;
use crate::provider::{Isolation, NodeShell, Provider, STATE_DIR};
use crate::registry;
use crate::swarm::{self, SwarmInfo};
use crate::templates::Templates;

pub mod up;

// ---------------------------------------------------------------------------
// Is the cluster up?
// ---------------------------------------------------------------------------

/// What a command needs of the cluster before it may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs<'a> {
    /// The manager running and its Docker answering (check, solve, reset).
    Manager,
    /// Every node running and the manager's Docker answering (images load).
    EveryNode,
    /// This node's machine running, whatever its Docker does (exec, ssh:
    /// they are also how a broken Docker is looked at).
    Machine(&'a str),
}

/// Make sure the cluster is up enough for a command, with one look at the
/// machines and one `docker version` on the manager; otherwise an
/// [`Unreachable`] error that says what is down (exit status 3).
pub fn ensure_up(cluster: &Cluster, provider: &dyn Provider, runner: &dyn Runner, needs: Needs) -> Result<()> {
    let name = cluster.name();
    let machines = provider.machines().context(Unreachable::cannot_reach(name))?;
    let not_up = |why: String| Err(Unreachable::not_up(name, &why).into());
    if !machines.iter().any(|machine| machine.running) {
        return not_up("no node is running".into());
    }
    let manager = cluster.nodes().manager().name.as_str();
    let wanted = |node: &str| match needs {
        Needs::Manager => node == manager,
        Needs::EveryNode => true,
        Needs::Machine(name) => node == name,
    };
    let down: Vec<String> = machines
        .iter()
        .filter(|machine| wanted(&machine.node) && !machine.running)
        .map(|machine| format!("{} ({})", machine.node, machine.state))
        .collect();
    if !down.is_empty() {
        return not_up(format!("not running: {}", down.join(", ")));
    }
    if matches!(needs, Needs::Machine(_)) {
        return Ok(());
    }
    let shell = NodeShell::new(provider, runner);
    let argv = ["docker", "version", "--format", "{{.Server.Version}}"];
    let probe = shell.probe(manager, &argv, "ask whether Docker answers");
    match shell.run(&probe) {
        Ok(output) if output.success() => Ok(()),
        _ => not_up(format!("Docker does not answer on {manager}")),
    }
}

// ---------------------------------------------------------------------------
// Status
// ---------------------------------------------------------------------------

#[derive(Debug, Serialize)]
pub struct Status {
    pub cluster: String,
    pub provider: String,
    /// Where the nodes run: the Docker engine (`local`: this host's
    /// docker), the Incus member (`incus` on one server); `null` with the
    /// vagrant and ssh providers.
    pub engine: Option<String>,
    /// How far a student, root in a node, is from the host the node runs on.
    pub isolation: Isolation,
    pub nodes: Vec<NodeStatus>,
    pub registry: Option<RegistryStatus>,
    pub labs: Vec<LabStatus>,
}

#[derive(Debug, Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub role: &'static str,
    pub ip: String,
    /// The machine or container state, as the provider reports it.
    pub state: String,
    /// `LocalNodeState`: active, inactive, pending, error, locked; `unknown` when the node is not running.
    pub swarm: String,
    /// As the manager sees it: Ready, Down, Unknown; `null` when not in the swarm.
    pub status: Option<String>,
    pub availability: Option<String>,
    /// Leader, Reachable, …; `null` for workers.
    pub manager_status: Option<String>,
}

impl Status {
    /// The nodes that are not in the swarm and Ready, each with what is wrong.
    pub fn not_ready(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|node| !(node.swarm == "active" && node.status.as_deref() == Some("Ready")))
            .map(|node| match (&node.status, node.swarm.as_str()) {
                (Some(status), _) => format!("{} ({status})", node.name),
                (None, "unknown") => format!("{} ({})", node.name, node.state),
                (None, swarm) => format!("{} (swarm {swarm})", node.name),
            })
            .collect()
    }
}

#[derive(Debug, Serialize)]
pub struct RegistryStatus {
    pub address: String,
    pub state: String,
}

#[derive(Debug, Serialize)]
pub struct LabStatus {
    pub id: String,
    pub target: String,
    pub files: usize,
}

/// Prints the seeded labs' records on a node (its arguments in its header).
const SEEDED_LABS_SCRIPT: &str = "node/read-seeded-labs.sh.tera";

/// Read everything from the runtime: machines, the manager's view of the
/// swarm, each other node's own swarm state, the registry and the seeded
/// labs.
pub fn status(
    cluster: &Cluster,
    provider: &dyn Provider,
    runner: &dyn Runner,
    templates: &Templates,
) -> Result<Status> {
    let shell = NodeShell::new(provider, runner);
    let machines = provider.machines()?;
    let manager = cluster.nodes().manager();
    let manager_running = machines.first().is_some_and(|machine| machine.running);
    let read = |argv: &[&str], purpose: &str| -> Option<String> {
        if !manager_running {
            return None;
        }
        let output = shell.run(&shell.probe(&manager.name, argv, purpose)).ok()?;
        output.success().then_some(output.stdout)
    };
    let entries = read(&["docker", "node", "ls", "--format", "{{json .}}"], "list the swarm's nodes")
        .and_then(|text| swarm::parse_node_list(&text).ok())
        .unwrap_or_default();
    let by_name = swarm::entries_by_hostname(&entries);

    // A node the manager sees Ready is active in the swarm (its agent is
    // connected); only the others are asked for their own state, which
    // says why. A class's status of 40 healthy nodes thus runs 10 node
    // commands instead of 50.
    let infos: Vec<Option<SwarmInfo>> = in_parallel(&machines, |machine| {
        if !machine.running {
            return Ok(None);
        }
        if let Some(entry) = by_name.get(machine.node.as_str()).filter(|entry| entry.status == "Ready") {
            return Ok(Some(SwarmInfo {
                local_node_state: "active".to_string(),
                node_id: entry.id.clone(),
                ..SwarmInfo::default()
            }));
        }
        let spec = swarm::info_probe(shell, &machine.node);
        Ok(shell
            .run(&spec)
            .ok()
            .filter(|output| output.success())
            .and_then(|output| serde_json::from_str::<SwarmInfo>(output.stdout.trim()).ok()))
    })?;

    let nodes = cluster
        .nodes()
        .iter()
        .zip(machines.iter().zip(&infos))
        .map(|(node, (machine, info))| {
            // By the node's own swarm ID: a machine of the ssh provider keeps
            // its hostname, which need not be the node's name.
            let own_id = info.as_ref().map(|info| info.node_id.as_str()).filter(|id| !id.is_empty());
            let entry = own_id
                .and_then(|id| entries.iter().find(|entry| entry.id == id))
                .or_else(|| by_name.get(node.name.as_str()).copied());
            NodeStatus {
                name: node.name.clone(),
                role: swarm::role_word(node.role),
                ip: node.ip.to_string(),
                state: machine.state.clone(),
                swarm: info.as_ref().map_or_else(|| "unknown".to_string(), |info| info.local_node_state.clone()),
                status: entry.map(|entry| entry.status.clone()),
                availability: entry.map(|entry| entry.availability.clone()),
                manager_status: entry.map(|entry| entry.manager_status.clone()).filter(|status| !status.is_empty()),
            }
        })
        .collect();

    let registry = cluster.registry().map(|registry| {
        let probe = registry::state_probe(shell, &registry.host);
        let running = machines.iter().any(|machine| machine.node == registry.host && machine.running);
        let output = running.then(|| shell.run(&probe).ok()).flatten().filter(|output| output.success());
        let state = output.map(|output| output.stdout.trim().to_string());
        let state = match state.as_deref() {
            None => "unknown".to_string(),
            Some("") => "missing".to_string(),
            Some(state) => state.to_string(),
        };
        RegistryStatus { address: registry.address(), state }
    });

    let script = templates.node_script(SEEDED_LABS_SCRIPT)?;
    let seeded: Vec<SeededManifest> = read(&["sh", "-c", &script, "labctl-seeded", STATE_DIR], "read the seeded labs")
        .map(|text| seed::parse_seeded(&text))
        .unwrap_or_default();
    let labs =
        seeded.into_iter().map(|lab| LabStatus { id: lab.id, target: lab.target, files: lab.files.len() }).collect();

    let engine = provider.placement(&machines);
    Ok(Status {
        cluster: cluster.name().to_string(),
        provider: provider.kind().as_str().into(),
        engine,
        isolation: provider.isolation(),
        nodes,
        registry,
        labs,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::up::{Mode, Up};
    use super::*;
    use crate::config::{test_cluster, test_settings, Cluster};
    use crate::exec::fake::RecordingRunner;
    use crate::exec::CommandSpec;
    use crate::provider::docker::DockerProvider;
    use crate::provider::ssh::{HostKeys, SshProvider};
    use crate::provider::vagrant::VagrantProvider;
    use crate::templates::Templates;
    use crate::ui::{Ui, Verbosity};

    /// A healthy cluster as seen through `on_node(node)` (the displayed
    /// prefix of a command on that node).
    fn healthy(runner: &RecordingRunner, on_node: impl Fn(&str) -> String) {
        let ids = [("manager", "m1", true), ("node1", "n1", false), ("node2", "n2", false), ("node3", "n3", false)];
        let mut entries = String::new();
        for (node, id, manager) in ids {
            let info = format!(r#"{{"LocalNodeState":"active","NodeID":"{id}","ControlAvailable":{manager}}}"#);
            runner.always(&format!("{} docker info --format", on_node(node)), 0, &info, "");
            let leader = if manager { "Leader" } else { "" };
            entries.push_str(&format!(
                r#"{{"ID":"{id}","Hostname":"{node}","Status":"Ready","Availability":"Active","ManagerStatus":"{leader}"}}"#
            ));
            entries.push('\n');
        }
        runner.always(&format!("{} docker node ls", on_node("manager")), 0, &entries, "");
        runner.always(
            &format!("{} docker ps --all --filter name=^labctl-registry$", on_node("manager")),
            0,
            "running\n",
            "",
        );
    }

    fn up_and_status(cluster: &Cluster, provider: &dyn Provider, runner: &RecordingRunner) {
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let access_root = Path::new("/nonexistent/.labctl/access");
        let saved = crate::images::SavedImages::default();
        let up =
            Up { cluster, templates: &templates, provider, runner, reinit_swarm: false, access_root, saved: &saved };
        up.run(&Ui::new(Verbosity::Quiet), Mode::Apply).unwrap();
        status(cluster, provider, runner, &templates).unwrap();
    }

    /// The seconds of the node-side `timeout -s KILL SECS` in a node command, if any.
    fn node_side_limit(spec: &CommandSpec) -> Option<u64> {
        let words: Vec<&str> = match spec.program.as_str() {
            "docker" => spec.args.iter().map(String::as_str).collect(),
            _ => spec.args.last()?.split(' ').collect(),
        };
        let at = words.windows(3).position(|window| window == ["timeout", "-s", "KILL"])?;
        words.get(at + 3)?.parse().ok()
    }

    fn assert_every_command_is_bounded(runner: &RecordingRunner, node_program: &str) {
        let calls = runner.calls();
        let on_nodes: Vec<&CommandSpec> =
            calls.iter().filter(|spec| spec.args.first().is_some_and(|first| first == node_program)).collect();
        assert!(on_nodes.len() >= 10, "the flow ran node commands: {:?}", runner.command_lines());
        for spec in &calls {
            let limit = spec.timeout.unwrap_or_else(|| panic!("`{spec}` has no time limit"));
            assert!(limit >= Duration::from_secs(5), "`{spec}`: {limit:?}");
        }
        for spec in on_nodes {
            let limit = spec.timeout.unwrap();
            let on_node = node_side_limit(spec).unwrap_or_else(|| panic!("`{spec}` is not bounded on the node"));
            assert!(on_node < limit.as_secs(), "`{spec}`: the node gives up first ({on_node}s < {limit:?})");
            assert_eq!(spec.remote_timeout, Some(Duration::from_secs(on_node)), "`{spec}`");
        }
    }

    #[test]
    fn every_docker_provider_command_has_a_limit_and_node_commands_end_on_the_node() {
        let settings = test_settings("");
        let runner = RecordingRunner::lenient();
        crate::provider::docker::answer_running_cluster(&runner);
        healthy(&runner, |node| format!("docker exec swarm-lab-{node}"));
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, &runner);
        up_and_status(&cluster, &provider, &runner);
        assert_every_command_is_bounded(&runner, "exec");
        let seeding = runner.calls().into_iter().find(|spec| spec.purpose == "seed the labs on manager").unwrap();
        assert_eq!(seeding.timeout, Some(Duration::from_secs(30 * 60)), "seeding is a long job");
        let probe = runner.calls().into_iter().find(|spec| spec.purpose == "read the swarm state on node2").unwrap();
        assert_eq!(probe.timeout, Some(Duration::from_secs(30)), "a read is short");
        assert_eq!(node_side_limit(&probe), Some(27));
    }

    #[test]
    fn every_vagrant_provider_command_has_a_limit_and_node_commands_end_on_the_node() {
        let settings = test_settings("");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Vagrantfile"), "").unwrap();
        let runner = RecordingRunner::lenient();
        let states: String =
            ["manager", "node1", "node2", "node3"].map(|node| format!("1700000000,{node},state,running\n")).concat();
        runner.always("vagrant status --machine-readable", 0, &states, "");
        healthy(&runner, |node| format!("vagrant ssh {node} -c 'sudo -n --"));
        let cluster = test_cluster(&settings);
        let provider = VagrantProvider::new(&cluster, &runner, dir.path().to_path_buf());
        up_and_status(&cluster, &provider, &runner);
        assert_every_command_is_bounded(&runner, "ssh");
    }

    #[test]
    fn every_docker_command_of_a_seat_goes_to_its_engine_and_images_come_from_this_host() {
        // Seat 2 lives on a second engine: up (nodes, swarm, preloaded
        // images, registry, labs), status, images load and destroy all talk
        // to it; only reading an image out of this host's docker does not.
        let settings = test_settings(
            "[class]\nseats = 2\naccess = \"none\"\n[[class.engines]]\nhost = \"unix:///run/docker.sock\"\nseats = 1\n[[class.engines]]\nname = \"e2\"\nhost = \"ssh://ubuntu@10.0.0.5\"\nseats = 1\n[images]\npreload = true\n",
        );
        let cluster = Cluster::seat(&settings, crate::config::test_catalog(), 2).unwrap();
        let engine = "docker --host ssh://ubuntu@10.0.0.5";
        let runner = RecordingRunner::lenient();
        // The seat's containers, their IDs last on each line.
        let running = "manager\trunning\t\tc1\nnode1\trunning\t\tc2\nnode2\trunning\t\tc3\nnode3\trunning\t\tc4\n";
        runner.always(
            &format!("{engine} ps --all --filter label=labctl.cluster=swarm-lab-s02 --format"),
            0,
            running,
            "",
        );
        runner.always(&format!("{engine} volume ls"), 0, "swarm-lab-s02-manager-docker\n", "");
        runner.always(&format!("{engine} network ls"), 0, "labctl-swarm-lab-s02\n", "");
        runner.always(&format!("{engine} network inspect"), 0, "192.168.57.0/24 ", "");
        runner.always("docker image inspect", 0, "sha256:new\n", "");
        // The class cache is made on the seat's engine too.
        runner.always(
            &format!("{engine} container inspect"),
            1,
            "",
            "Error: No such container: labctl-cache-swarm-lab",
        );
        runner.always(
            &format!("{engine} logs --tail 100 labctl-cache-swarm-lab"),
            0,
            "",
            "msg=\"listening on [::]:5000\"",
        );
        healthy(&runner, |node| format!("{engine} exec swarm-lab-s02-{node}"));
        let provider = DockerProvider::new(&cluster, &runner);
        // The class's step makes the cache before the seat comes up.
        crate::cluster::up::prepare_class_cache(&cluster, &runner, &Ui::new(Verbosity::Quiet), Mode::Apply).unwrap();
        up_and_status(&cluster, &provider, &runner);
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let status = status(&cluster, &provider, &runner, &templates).unwrap();
        assert_eq!(status.engine.as_deref(), Some("e2"));
        assert_eq!(serde_json::to_value(&status).unwrap()["engine"], "e2");
        let seats = [crate::images::SeatNodes::all_nodes(&cluster, NodeShell::new(&provider, &runner))];
        let plans = crate::images::plan(&["registry:2".to_string()], &seats, &runner, cluster.timeouts()).unwrap();
        let saved = crate::images::SavedImages::default();
        crate::images::carry_out(&plans, &seats, &runner, 2, cluster.timeouts(), &saved).unwrap();
        provider.destroy().unwrap();

        let calls = runner.calls();
        let (on_this_host, on_engine): (Vec<&CommandSpec>, Vec<&CommandSpec>) =
            calls.iter().partition(|spec| spec.args.first().is_some_and(|arg| arg == "image" || arg == "save"));
        for spec in &on_this_host {
            let line = spec.to_string();
            let read =
                line.starts_with("docker image inspect --format '{{.Id}}' -- ") || line.starts_with("docker save -- ");
            assert!(read, "only reading images out of this host's docker: {spec}");
        }
        assert!(!on_this_host.is_empty() && on_engine.len() > 40, "{:#?}", runner.command_lines());
        for spec in on_engine {
            assert_eq!(spec.program, "docker", "{spec}");
            assert_eq!(spec.args[..2], ["--host", "ssh://ubuntu@10.0.0.5"], "`{spec}` goes to seat 2's engine");
        }
        let lines = runner.command_lines();
        let saves = lines.iter().filter(|line| line.starts_with("docker save -- registry:2 > ")).count();
        let loads = lines.iter().filter(|line| line.contains(" docker load --quiet < ")).count();
        assert!(saves >= 1 && loads >= 4, "saved here, loaded into every node of seat 2: {lines:#?}");
        assert!(lines
            .iter()
            .any(|line| line.starts_with(&format!("{engine} run --detach --name labctl-cache-swarm-lab"))));
        for what in [
            "rm --force --volumes c1 c2 c3 c4",
            "volume rm swarm-lab-s02-manager-docker",
            "network rm labctl-swarm-lab-s02",
        ] {
            assert!(lines.contains(&format!("{engine} {what}")), "destroy on the engine: {what}");
        }
    }

    #[test]
    fn only_the_nodes_the_manager_does_not_see_ready_are_asked_for_their_own_state() {
        let settings = test_settings("");
        let runner = RecordingRunner::lenient();
        crate::provider::docker::answer_running_cluster(&runner);
        let entries: String = [("manager", "Ready"), ("node1", "Ready"), ("node2", "Down"), ("node3", "Ready")]
            .map(|(node, status)| {
                format!(r#"{{"ID":"{node}","Hostname":"{node}","Status":"{status}","Availability":"Active","ManagerStatus":""}}"#) + "\n"
            })
            .concat();
        runner.always("docker exec swarm-lab-manager docker node ls", 0, &entries, "");
        runner.always("docker exec swarm-lab-node2 docker info", 0, r#"{"LocalNodeState":"inactive","NodeID":""}"#, "");
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, &runner);
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let status = status(&cluster, &provider, &runner, &templates).unwrap();
        let swarm: Vec<&str> = status.nodes.iter().map(|node| node.swarm.as_str()).collect();
        assert_eq!(swarm, ["active", "active", "inactive", "active"]);
        assert_eq!(status.not_ready(), ["node2 (Down)"]);
        let asked: Vec<String> = runner
            .command_lines()
            .into_iter()
            .filter(|line| line.contains("exec") && line.contains("docker info"))
            .collect();
        assert_eq!(asked, ["docker exec swarm-lab-node2 docker info --format '{{json .Swarm}}'"]);
    }

    #[test]
    fn the_users_own_commands_have_no_limit() {
        let settings = test_settings("");
        let runner = RecordingRunner::default();
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, &runner);
        let shell = provider.shell_command("manager");
        assert_eq!(shell.timeout, None);
        let own =
            provider.node_command("manager", &["sleep".into(), "1000".into()], crate::provider::NodeIo::Stdin, None);
        assert_eq!(
            (own.to_string(), own.timeout),
            ("docker exec --interactive swarm-lab-manager sleep 1000".into(), None)
        );
    }

    #[test]
    fn status_finds_machines_that_keep_their_hostnames_by_swarm_id() {
        // The ssh provider's machines: `docker node ls` names them lab-pc-01, lab-pc-07.
        let config = "[cluster]\nprovider = \"ssh\"\nworkers = 1\n[[ssh.hosts]]\nnode = \"manager\"\naddress = \"10.0.1.10\"\n[[ssh.hosts]]\nnode = \"node1\"\naddress = \"10.0.1.11\"\n";
        let settings = test_settings(config);
        let cluster = test_cluster(&settings);
        let runner = RecordingRunner::lenient();
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let ssh = |address: &str| {
            format!("ssh -o BatchMode=yes -o ConnectTimeout=15 -o StrictHostKeyChecking=yes -T -- {address} ")
        };
        for (address, id, manager) in [("10.0.1.10", "m1", true), ("10.0.1.11", "n1", false)] {
            let probe = "user=ubuntu\nsudo=yes\nos=debian\ndocker=24.0.7\nprovisioned=\n";
            runner.always(&format!(r"{}'sh -c '\''#!/bin/sh…'\'' labctl-probe", ssh(address)), 0, probe, "");
            let info = format!(r#"{{"LocalNodeState":"active","NodeID":"{id}","ControlAvailable":{manager}}}"#);
            runner.always(&format!("{}'sudo -n -- docker info --format", ssh(address)), 0, &info, "");
        }
        let entries = r#"{"ID":"m1","Hostname":"lab-pc-01","Status":"Ready","ManagerStatus":"Leader"}
{"ID":"n1","Hostname":"lab-pc-07","Status":"Ready","ManagerStatus":""}
"#;
        runner.always(&format!("{}'sudo -n -- docker node ls", ssh("10.0.1.10")), 0, entries, "");
        let provider = SshProvider::new(&cluster, &runner, &templates, HostKeys::Known).unwrap().unmultiplexed();
        let status = status(&cluster, &provider, &runner, &templates).unwrap();
        assert_eq!(status.not_ready(), Vec::<String>::new(), "{:#?}", status.nodes);
        assert_eq!(status.nodes[1].status.as_deref(), Some("Ready"));
    }
}
