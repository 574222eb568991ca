//! The clusters labctl made on a Docker engine, found by their labels
//! (never by a state file), for `labctl list` and `destroy --name`.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use super::docker_cli::DockerCli;
use super::labels::{CLASS_LABEL, CLUSTER_LABEL, NODE_LABEL, ROLE_LABEL, SEAT_LABEL, WORKSPACE_LABEL};
use crate::exec::Runner;
use crate::parallel::in_parallel;
use crate::timeouts::Timeouts;

/// One cluster's node containers on the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundCluster {
    /// The `labctl.cluster` label: `cluster.name`, or `<name>-s03` for a seat.
    pub name: String,
    /// The class it is a seat of, and which seat.
    pub class: Option<String>,
    pub seat: Option<u32>,
    /// Where it was made from, when its nodes say (labctl 0.1 nodes do).
    pub workspace: Option<String>,
    pub nodes: usize,
    pub running: usize,
    /// Swarm nodes Ready, as the manager sees them; `None` when it was not asked
    /// (not running) or did not answer.
    pub ready: Option<usize>,
    /// The manager's container, for asking it.
    #[serde(skip)]
    manager_container: Option<String>,
}

/// Every labctl cluster on the engine `docker` talks to (`engine` options:
/// `--host`/`--context`, or none), each manager asked for its Ready nodes.
pub fn find(runner: &dyn Runner, engine: &[String], timeouts: &Timeouts) -> Result<Vec<FoundCluster>> {
    let labels = [CLUSTER_LABEL, NODE_LABEL, ROLE_LABEL, CLASS_LABEL, SEAT_LABEL, WORKSPACE_LABEL];
    let format = labels.iter().map(|label| format!("{{{{.Label \"{label}\"}}}}")).collect::<Vec<_>>().join("\t")
        + "\t{{.State}}\t{{.Names}}";
    let (node, cluster) = (format!("label={NODE_LABEL}"), format!("label={CLUSTER_LABEL}"));
    let spec = DockerCli::with_options(engine, *timeouts).read(
        &["ps", "--all", "--filter", &node, "--filter", &cluster, "--format", &format],
        "list labctl's node containers",
    );
    let listed = runner.run_checked(&spec)?;
    let mut clusters = group(&listed.stdout);
    let ready = in_parallel(&clusters, |cluster| Ok(ready_nodes(runner, engine, cluster, timeouts)))?;
    for (cluster, ready) in clusters.iter_mut().zip(ready) {
        cluster.ready = ready;
    }
    Ok(clusters)
}

/// `docker ps` lines (the labels, state, name) grouped by cluster, in name order.
fn group(listing: &str) -> Vec<FoundCluster> {
    let mut clusters: BTreeMap<String, FoundCluster> = BTreeMap::new();
    for line in listing.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, _node, role, class, seat, workspace, state, container] = fields[..] else { continue };
        if name.is_empty() {
            continue;
        }
        let present = |value: &str| (!value.is_empty() && value != "<no value>").then(|| value.to_string());
        let cluster = clusters.entry(name.to_string()).or_insert_with(|| FoundCluster {
            name: name.to_string(),
            class: present(class),
            seat: present(seat).and_then(|seat| seat.parse().ok()),
            workspace: present(workspace),
            nodes: 0,
            running: 0,
            ready: None,
            manager_container: None,
        });
        cluster.nodes += 1;
        let running = state == "running";
        if running {
            cluster.running += 1;
        }
        if role == "manager" && running {
            cluster.manager_container = Some(container.to_string());
        }
    }
    clusters.into_values().collect()
}

fn ready_nodes(runner: &dyn Runner, engine: &[String], cluster: &FoundCluster, timeouts: &Timeouts) -> Option<usize> {
    let container = cluster.manager_container.as_ref()?;
    let spec = DockerCli::with_options(engine, *timeouts).read(
        &["exec", container, "docker", "node", "ls", "--format", "{{.Status}}"],
        &format!("ask {} for its nodes", cluster.name),
    );
    let output = runner.run(&spec).ok().filter(|output| output.success())?;
    Some(output.stdout.lines().filter(|status| status.trim() == "Ready").count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::fake::RecordingRunner;

    #[test]
    fn clusters_are_grouped_with_their_seat_workspace_and_ready_nodes() {
        let runner = RecordingRunner::default();
        let listing = "\
cls-s02\tmanager\tmanager\tcls\t2\t/srv/class\trunning\tcls-s02-manager
cls-s02\tnode1\tworker\tcls\t2\t/srv/class\trunning\tcls-s02-node1
swarm-lab\tmanager\tmanager\t\t\t/home/t/lab\texited\tswarm-lab-manager
swarm-lab\tnode1\tworker\t\t\t/home/t/lab\texited\tswarm-lab-node1
old\tmanager\tmanager\t<no value>\t<no value>\t<no value>\trunning\told-manager
";
        runner.always("docker ps --all --filter label=labctl.node", 0, listing, "");
        runner.always("docker exec cls-s02-manager docker node ls", 0, "Ready\nReady\n", "");
        runner.always("docker exec old-manager docker node ls", 1, "", "This node is not a swarm manager.");
        let found = find(&runner, &[], &Timeouts::default()).unwrap();
        let summary: Vec<String> = found
            .iter()
            .map(|cluster| {
                format!(
                    "{} {:?} {:?} {:?} {}/{} ready {:?}",
                    cluster.name,
                    cluster.class,
                    cluster.seat,
                    cluster.workspace,
                    cluster.running,
                    cluster.nodes,
                    cluster.ready
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "cls-s02 Some(\"cls\") Some(2) Some(\"/srv/class\") 2/2 ready Some(2)",
                "old None None None 1/1 ready None",
                "swarm-lab None None Some(\"/home/t/lab\") 0/2 ready None",
            ]
        );
        // A stopped cluster's manager is not asked.
        assert!(!runner.command_lines().iter().any(|line| line.contains("exec swarm-lab-manager")));
    }
}
