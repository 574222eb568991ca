//! End-to-end (LABCTL_E2E=1): two workspaces that give their clusters one
//! name, on a real Docker. The second one's `destroy`, `down` and `up` are
//! refused, naming both folders, and the first one's nodes (and what a
//! student wrote on them) are untouched. Its own name and subnet
//! (10.71.0.0/24), so it runs beside the other end-to-end tests.

use crate::support::{host_docker, require_e2e, Workspace};

const CLUSTER: &str = "labctl-e2e-two-homes";

fn config() -> String {
    format!(
        "[cluster]\nname = \"{CLUSTER}\"\nprovider = \"docker\"\nsubnet = \"10.71.0.0/24\"\nmanager_ip = \"10.71.0.10\"\nworker_ip_start = \"10.71.0.11\"\nworkers = 1\n\n[registry]\nenabled = false\n\n[labs]\nseed = []\n\n[docker]\nnode_image = \"labctl-test/node:bookworm\"\n"
    )
}

/// Destroys the first workspace's cluster however the test ends.
struct First(Workspace);

impl Drop for First {
    fn drop(&mut self) {
        self.0.run_with_host_tools(&["destroy", "--yes"]);
    }
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_a_second_workspace_of_the_same_name_never_touches_the_firsts_cluster() {
    require_e2e();
    let first = First(Workspace::new());
    first.0.file("labctl.toml", &config());
    first.0.run_with_host_tools(&["destroy", "--yes"]);
    let up = first.0.run_with_host_tools(&["up"]);
    assert_eq!(up.code, 0, "{up:#?}");
    first.0.node_script("node1", "echo 'my notes' > /root/work/notes.txt");

    let second = Workspace::new();
    second.file("labctl.toml", &config());
    for args in [&["destroy", "--yes"][..], &["down"], &["up"]] {
        let run = second.run_with_host_tools(args);
        assert_ne!(run.code, 0, "labctl {args:?} in the second workspace: {run:#?}");
        assert!(
            run.stderr.contains(&format!(
                "cluster {CLUSTER} is another workspace's: its nodes were made from {}",
                first.0.path().display()
            )),
            "labctl {args:?}: {}",
            run.stderr
        );
    }
    let states = host_docker(&["ps", "--filter", &format!("label=labctl.cluster={CLUSTER}"), "--format", "{{.State}}"]);
    assert_eq!(states.lines().filter(|state| *state == "running").count(), 2, "{states}");
    assert_eq!(first.0.node_script("node1", "cat /root/work/notes.txt"), "my notes\n");
}
