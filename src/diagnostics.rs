//! `labctl logs`: what a failed class needs to be understood, gathered from
//! every node and this host into files of a bundle. Everything is read-only,
//! every command bounded, one node that does not answer never stops the
//! others, and every swarm token is masked before it is written.

use crate::config::Cluster;
use crate::exec::{mask_tokens, CommandSpec, Runner};
use crate::parallel::in_parallel;
use crate::provider::{NodeShell, Provider};
use crate::templates::Templates;

/// What one file of the bundle holds: a command's output, or a node
/// script's (a template under templates/node/).
enum Read {
    Argv(&'static [&'static str]),
    Script(&'static str),
}

/// Reads on every node: (file name, what to run).
const EVERY_NODE: [(&str, Read); 6] = [
    ("docker-info.txt", Read::Argv(&["docker", "info"])),
    ("docker-version.txt", Read::Argv(&["docker", "version"])),
    ("docker-ps.txt", Read::Argv(&["docker", "ps", "--all", "--no-trunc"])),
    ("hosts.txt", Read::Argv(&["cat", "/etc/hosts"])),
    ("addresses.txt", Read::Argv(&["ip", "-brief", "address"])),
    ("daemon-json.txt", Read::Script("node/read-daemon-json.sh.tera")),
];

/// Reads on the manager only: the swarm as it sees it.
const MANAGER: [(&str, Read); 5] = [
    ("docker-node-ls.txt", Read::Argv(&["docker", "node", "ls"])),
    ("docker-service-ls.txt", Read::Argv(&["docker", "service", "ls"])),
    ("docker-stack-ls.txt", Read::Argv(&["docker", "stack", "ls"])),
    ("docker-network-ls.txt", Read::Argv(&["docker", "network", "ls"])),
    ("docker-service-ps.txt", Read::Script("node/service-tasks.sh.tera")),
];

/// One file of the bundle: its path inside it and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collected {
    pub path: String,
    pub text: String,
}

/// Gather every node's files under `<prefix>/<node>/`, the nodes at once.
pub fn collect_nodes(
    cluster: &Cluster,
    provider: &dyn Provider,
    runner: &dyn Runner,
    templates: &Templates,
    prefix: &str,
) -> Vec<Collected> {
    let shell = NodeShell::new(provider, runner);
    let nodes: Vec<&crate::config::Node> = cluster.nodes().iter().collect();
    let manager = &cluster.nodes().manager().name;
    let per_node = in_parallel(&nodes, |node| {
        let folder = format!("{prefix}/{}", node.name);
        let mut files = vec![Collected {
            path: format!("{folder}/dockerd.log"),
            text: answer(runner, &provider.daemon_log(&node.name)),
        }];
        let reads = EVERY_NODE.iter().chain(if &node.name == manager { &MANAGER[..] } else { &[] });
        for (name, read) in reads {
            let text = match read {
                Read::Argv(argv) => answer(runner, &shell.probe(&node.name, argv, &format!("read {name}"))),
                Read::Script(template) => match templates.node_script(template) {
                    Ok(script) => {
                        let argv = ["sh", "-c", &script, "labctl-logs"];
                        answer(runner, &shell.probe(&node.name, &argv, &format!("read {name}")))
                    }
                    Err(error) => format!("could not render {template}: {error:#}\n"),
                },
            };
            files.push(Collected { path: format!("{folder}/{name}"), text });
        }
        Ok(files)
    });
    per_node.map(|files| files.into_iter().flatten().collect()).unwrap_or_default()
}

/// What `spec` printed (its error output after), or why it could not run;
/// swarm tokens masked.
pub fn answer(runner: &dyn Runner, spec: &CommandSpec) -> String {
    let text = match runner.run(spec) {
        Ok(output) if output.success() && output.stderr.trim().is_empty() => output.stdout,
        Ok(output) => format!("{}\n--- stderr (exit {:?}) ---\n{}", output.stdout, output.code, output.stderr),
        Err(error) => format!("could not run `{spec}`: {error:#}\n"),
    };
    mask_tokens(&spec.mask(&text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{test_cluster, test_settings};
    use crate::exec::fake::RecordingRunner;
    use crate::provider::docker::{answer_running_cluster, DockerProvider};

    #[test]
    fn every_node_is_read_the_manager_also_for_the_swarm_and_tokens_are_masked() {
        let settings = test_settings("");
        let cluster = test_cluster(&settings);
        let runner = RecordingRunner::lenient();
        answer_running_cluster(&runner);
        runner.always("docker logs --tail", 0, "level=info msg=\"joined with SWMTKN-1-abcdef-123456\"\n", "");
        runner.always("docker exec swarm-lab-node2 docker info", 1, "", "Cannot connect to the Docker daemon");
        runner.always("docker exec swarm-lab-manager docker node ls", 0, "ID HOSTNAME STATUS\n", "");
        runner.always("docker exec swarm-lab-manager sh -c '#!/bin/sh…' labctl-logs", 0, "{\"labels\": []}", "");
        let provider = DockerProvider::new(&cluster, &runner);
        let templates = Templates::load(std::path::Path::new("/nonexistent")).unwrap();
        let files = collect_nodes(&cluster, &provider, &runner, &templates, "swarm-lab");
        let paths: Vec<&str> = files.iter().map(|file| file.path.as_str()).collect();
        assert!(paths.contains(&"swarm-lab/manager/docker-node-ls.txt"), "{paths:#?}");
        assert!(!paths.contains(&"swarm-lab/node1/docker-node-ls.txt"), "workers are not asked for the swarm");
        assert_eq!(paths.iter().filter(|path| path.ends_with("/dockerd.log")).count(), 4);
        let text = |path: &str| files.iter().find(|file| file.path == path).unwrap().text.clone();
        assert!(text("swarm-lab/node1/dockerd.log").contains("SWMTKN-****"), "{}", text("swarm-lab/node1/dockerd.log"));
        assert!(!files.iter().any(|file| file.text.contains("abcdef")), "no token in the bundle");
        // A node whose Docker does not answer: its error is in its file, the rest still collected.
        assert!(text("swarm-lab/node2/docker-info.txt").contains("Cannot connect to the Docker daemon"));
        assert!(text("swarm-lab/manager/docker-node-ls.txt").contains("HOSTNAME"));
        // The scripted reads are node scripts (templates), run as such.
        assert_eq!(text("swarm-lab/manager/daemon-json.txt"), "{\"labels\": []}");
        let service_tasks =
            runner.calls().into_iter().find(|spec| spec.purpose.starts_with("read docker-service-ps.txt"));
        assert!(service_tasks.unwrap().args.iter().any(|arg| arg.contains("docker service ps --no-trunc")));
    }
}
