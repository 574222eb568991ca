//! End-to-end (LABCTL_E2E=1): two workspaces that give their clusters one
//! name, on a real Docker. The second one's `destroy`, `down` and `up` are
//! refused, naming both folders, and the first one's nodes (and what a
//! student wrote on them) are untouched; once the first folder is gone,
//! `destroy --name` removes its nodes from anywhere. Its own name and subnet
//! (10.71.0.0/24), so it runs beside the other end-to-end tests.

use crate::support::{free_port, host_docker, require_e2e, Run, Workspace};

const CLUSTER: &str = "labctl-e2e-two-homes";

/// The visualizer's port forwarded to a free port of this host, not the
/// default 49000 that another cluster may hold.
fn config() -> String {
    format!(
        "[cluster]\nname = \"{CLUSTER}\"\nprovider = \"docker\"\nsubnet = \"10.71.0.0/24\"\nmanager_ip = \"10.71.0.10\"\nworker_ip_start = \"10.71.0.11\"\nworkers = 1\n\n[[forward]]\nhost = {}\nguest = 9000\n\n[registry]\nenabled = false\n\n[labs]\nseed = []\n\n[docker]\nnode_image = \"labctl-test/node:bookworm\"\n",
        free_port()
    )
}

/// The first workspace, `class-a` in a folder of its own (so that the test
/// can remove it); its cluster removed by name however the test ends.
struct First(Workspace);

impl First {
    fn labctl(&self, args: &[&str]) -> Run {
        let args: Vec<&str> = ["-C", "class-a"].into_iter().chain(args.iter().copied()).collect();
        self.0.run_with_host_tools(&args)
    }

    fn folder(&self) -> std::path::PathBuf {
        self.0.path().join("class-a")
    }
}

impl Drop for First {
    fn drop(&mut self) {
        self.0.run_with_host_tools(&["destroy", "--name", CLUSTER, "--yes"]);
    }
}

fn running_nodes() -> usize {
    let states = host_docker(&["ps", "--filter", &format!("label=labctl.cluster={CLUSTER}"), "--format", "{{.State}}"]);
    states.lines().filter(|state| *state == "running").count()
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_a_second_workspace_of_the_same_name_never_touches_the_firsts_cluster() {
    require_e2e();
    let first = First(Workspace::new());
    first.0.file("class-a/labctl.toml", &config());
    first.labctl(&["destroy", "--yes"]);
    let up = first.labctl(&["up"]);
    assert_eq!(up.code, 0, "{up:#?}");
    let noted = first.labctl(&["exec", "node1", "--", "sh", "-c", "echo 'my notes' > /root/work/notes.txt"]);
    assert_eq!(noted.code, 0, "{noted:#?}");

    let second = Workspace::new();
    second.file("labctl.toml", &config());
    let made_from =
        format!("cluster {CLUSTER} is another workspace's: its nodes were made from {}", first.folder().display());
    for args in [&["destroy", "--yes"][..], &["down"], &["up"]] {
        let run = second.run_with_host_tools(args);
        assert_ne!(run.code, 0, "labctl {args:?} in the second workspace: {run:#?}");
        assert!(run.stderr.contains(&made_from), "labctl {args:?}: {}", run.stderr);
    }
    assert_eq!(running_nodes(), 2);
    let notes = first.labctl(&["exec", "node1", "--", "cat", "/root/work/notes.txt"]);
    assert_eq!(notes.stdout, "my notes\n", "{notes:#?}");

    // The first folder gone, its nodes are still nobody else's, and
    // `destroy --name` removes them from anywhere.
    std::fs::remove_dir_all(first.folder()).unwrap();
    let refused = second.run_with_host_tools(&["destroy", "--yes"]);
    assert!(
        refused.stderr.contains(&format!("that folder is gone: `labctl destroy --name {CLUSTER}`")),
        "{refused:#?}"
    );
    assert_eq!(running_nodes(), 2);
    let by_name = second.run_with_host_tools(&["destroy", "--name", CLUSTER, "--yes"]);
    assert_eq!(by_name.code, 0, "{by_name:#?}");
    assert_eq!(running_nodes(), 0);
}
