//! Offline images for classrooms: pull once on this host, then stream
//! `docker save` into every node's `docker load` (nodes in parallel),
//! skipping nodes that already have the same image ID.

use anyhow::{bail, Result};

use crate::config::{Cluster, Nodes};
use crate::exec::{CommandSpec, Runner};
use crate::parallel::in_parallel;
use crate::provider::NodeShell;
use crate::timeouts::{Timeouts, Wait};

/// The images of the given labs (all seeded labs when `None`), each once.
pub fn lab_images(cluster: &Cluster, lab: Option<&str>) -> Result<Vec<String>> {
    let labs = match lab {
        Some(name) => vec![cluster.lab(name)?],
        None => cluster.seeded().to_vec(),
    };
    let mut images: Vec<String> = Vec::new();
    for placed in labs {
        for image in &placed.lab.manifest.images {
            if !images.contains(image) {
                images.push(image.clone());
            }
        }
    }
    Ok(images)
}

/// `docker pull` each image on this host; returns the ones that failed, with why.
pub fn pull(images: &[String], host: &dyn Runner, timeouts: Timeouts) -> Result<Vec<(String, String)>> {
    let mut failed = Vec::new();
    for image in images {
        let spec = CommandSpec::new("docker", &["pull", "--quiet", "--", image], &format!("pull {image}"))
            .timeout(timeouts.limit(Wait::Long));
        let output = host.run(&spec)?;
        if !output.success() {
            failed.push((image.clone(), output.tail(1)));
        }
    }
    Ok(failed)
}

/// What loading one image did on each node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub image: String,
    pub loaded_on: Vec<String>,
    pub already_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Load {
    Done(Loaded),
    /// This host's Docker does not have the image.
    NotOnHost,
}

/// Load `image` from this host's Docker into every node that lacks this ID;
/// an error when the host does not have it.
pub fn load_required(image: &str, nodes: &Nodes, shell: NodeShell, host: &dyn Runner) -> Result<Loaded> {
    match load(image, nodes, shell, host)? {
        Load::Done(loaded) => Ok(loaded),
        Load::NotOnHost => {
            bail!("{image} is not in this host's Docker; run `labctl images pull` (or `docker pull {image}`) first")
        }
    }
}

/// Load `image` from this host's Docker into every node that lacks this ID.
pub fn load(image: &str, nodes: &Nodes, shell: NodeShell, host: &dyn Runner) -> Result<Load> {
    let nodes = nodes.names();
    load_into(image, &nodes, shell, host)
}

/// Copy `image` from this host's Docker into each of `nodes` (at once),
/// skipping a node that has the same image ID: what `images load`, `up`
/// with `[images] preload` and the registry's own image all use.
pub fn load_into(image: &str, nodes: &[&str], shell: NodeShell, host: &dyn Runner) -> Result<Load> {
    // `--` everywhere: an image name is never read as an option.
    let inspect = ["image", "inspect", "--format", "{{.Id}}", "--", image];
    let on_host = CommandSpec::new("docker", &inspect, "look for an image on this host").probe();
    let on_host = host.run(&on_host.timeout(shell.limit(Wait::Read)))?;
    if !on_host.success() {
        return Ok(Load::NotOnHost);
    }
    let id = on_host.stdout.trim().to_string();
    let loaded = in_parallel(nodes, |node| {
        let mut argv = vec!["docker"];
        argv.extend(inspect);
        let present = shell.run(&shell.probe(node, &argv, "look for an image"))?;
        if present.success() && present.stdout.trim() == id {
            return Ok(false);
        }
        let save = CommandSpec::new("docker", &["save", "--", image], &format!("export {image} from this host"));
        let spec =
            shell.command_piped(Wait::Long, node, &["docker", "load", "--quiet"], &format!("load {image}"), save);
        shell.run_checked(&spec)?;
        Ok(true)
    })?;
    let (mut loaded_on, mut already_on) = (Vec::new(), Vec::new());
    for (node, was_loaded) in nodes.iter().zip(loaded) {
        if was_loaded {
            loaded_on.push(node.to_string())
        } else {
            already_on.push(node.to_string())
        }
    }
    Ok(Load::Done(Loaded { image: image.to_string(), loaded_on, already_on }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{test_cluster, test_settings};
    use crate::exec::fake::RecordingRunner;
    use crate::provider::docker::DockerProvider;

    #[test]
    fn only_nodes_without_the_same_image_id_get_it() {
        let settings = test_settings("");
        let runner = RecordingRunner::default();
        runner.answer("docker image inspect", 0, "sha256:new\n", "");
        runner.answer("docker exec swarm-lab-manager docker image inspect", 0, "sha256:new\n", "");
        runner.answer("docker exec swarm-lab-node1 docker image inspect", 0, "sha256:old\n", "");
        runner.answer("docker exec swarm-lab-node2 docker image inspect", 1, "", "No such image");
        runner.answer("docker exec swarm-lab-node3 docker image inspect", 0, "sha256:new\n", "");
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, &runner);
        let loaded = load_required("mysql:5.7", &settings.nodes, NodeShell::new(&provider, &runner), &runner).unwrap();
        assert_eq!(loaded.loaded_on, vec!["node1", "node2"]);
        assert_eq!(loaded.already_on, vec!["manager", "node3"]);
        let mut changes = runner.changes();
        changes.sort();
        assert_eq!(
            changes,
            vec![
                "docker save -- mysql:5.7 | docker exec --interactive swarm-lab-node1 docker load --quiet",
                "docker save -- mysql:5.7 | docker exec --interactive swarm-lab-node2 docker load --quiet",
            ]
        );
    }

    #[test]
    fn an_image_missing_on_the_host_says_how_to_get_it() {
        let settings = test_settings("");
        let runner = RecordingRunner::default();
        runner.answer("docker image inspect", 1, "", "No such image");
        let cluster = test_cluster(&settings);
        let provider = DockerProvider::new(&cluster, &runner);
        let error = load_required("mysql:5.7", &settings.nodes, NodeShell::new(&provider, &runner), &runner)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("mysql:5.7 is not in this host's Docker; run `labctl images pull`"), "{error}");
    }

    #[test]
    fn pull_reports_each_image_that_failed() {
        let runner = RecordingRunner::default();
        runner.answer(
            "docker pull --quiet -- mysql:5.7",
            1,
            "",
            "Error response from daemon: toomanyrequests: pull rate limit\n",
        );
        let failed = pull(&["registry:2".to_string(), "mysql:5.7".to_string()], &runner, Timeouts::default()).unwrap();
        assert_eq!(
            failed,
            vec![("mysql:5.7".to_string(), "Error response from daemon: toomanyrequests: pull rate limit".to_string())]
        );
        assert_eq!(
            runner.command_lines(),
            vec!["docker pull --quiet -- registry:2", "docker pull --quiet -- mysql:5.7"]
        );
    }

    #[test]
    fn lab_images_are_listed_once() {
        let settings = test_settings("[labs]\nseed = [\"lab2\", \"lab4\"]\n");
        let catalog = crate::labs::Catalog::load(std::path::Path::new("/nonexistent")).unwrap();
        let images = lab_images(&Cluster::new(&settings, &catalog).unwrap(), None).unwrap();
        let unique: std::collections::BTreeSet<&String> = images.iter().collect();
        assert_eq!(unique.len(), images.len(), "{images:?}");
        assert!(images.contains(&"gihyodocker/nginx-proxy".to_string()));
    }
}
