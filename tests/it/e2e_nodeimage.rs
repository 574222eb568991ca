//! End-to-end: with no node image given, `labctl up` builds labctl's own
//! from docker:dind through the real `docker build` path, once. Offline, the
//! Debian-based test node image stands in for docker:dind (tagged so only
//! when this host has no real docker:dind, and untagged at the end), which
//! exercises the recipe's apt-get branch against the base's Debian mirror.

use crate::handout::assert_nodes_have_the_handouts_commands;
use crate::support::{free_port, host_docker, require_e2e, Workspace};

const CLUSTER: &str = "labctl-e2e-nodeimage";
const BASE: &str = "docker:dind";
const STAND_IN: &str = "labctl-test/node:bookworm";

/// Undoes what the test did to the host's images and cluster, however it ends.
struct Cleanup {
    workspace: Workspace,
    /// docker:dind was tagged by this test (a stand-in).
    tagged_base: bool,
    /// The built node image, to remove when it was built from the stand-in.
    built: std::cell::RefCell<Option<String>>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.workspace.run_with_host_tools(&["destroy", "--yes"]);
        if let Some(tag) = self.built.take().filter(|_| self.tagged_base) {
            docker_quietly(&["image", "rm", &tag]);
        }
        if self.tagged_base {
            docker_quietly(&["image", "rm", BASE]);
        }
    }
}

fn docker_quietly(args: &[&str]) -> bool {
    let run = duct::cmd("docker", args).stdout_null().stderr_null().unchecked().run();
    run.is_ok_and(|output| output.status.success())
}

fn image_id(image: &str) -> Option<String> {
    let output = duct::cmd("docker", ["image", "inspect", "--format", "{{.Id}}", image])
        .stdout_capture()
        .stderr_null()
        .unchecked()
        .run()
        .ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_labctl_builds_its_node_image_once_and_the_nodes_have_the_handouts_tools() {
    require_e2e();
    // A docker:dind with the stand-in's id is one an interrupted run left.
    let stand_in = image_id(STAND_IN).expect("the offline node image (bash scripts/test-images)");
    let base = image_id(BASE);
    let tagged_base = match &base {
        Some(id) if *id != stand_in => {
            eprintln!("this host has a real {BASE}: building from it");
            false
        }
        _ => {
            host_docker(&["tag", STAND_IN, BASE]);
            true
        }
    };
    let workspace = Workspace::new();
    workspace.file(
        "labctl.toml",
        &format!(
            "[cluster]\nname = \"{CLUSTER}\"\nprovider = \"docker\"\nsubnet = \"192.168.61.0/24\"\nmanager_ip = \"192.168.61.10\"\nworker_ip_start = \"192.168.61.11\"\nworkers = 1\n\n[[forward]]\nhost = {}\nguest = 9000\n\n[registry]\nenabled = false\n\n[labs]\nseed = []\n",
            free_port()
        ),
    );
    let cleanup = Cleanup { workspace, tagged_base, built: Default::default() };
    let labctl = |args: &[&str]| cleanup.workspace.run_with_host_tools(args);
    labctl(&["destroy", "--yes"]);

    // doctor names the image: labctl/node:<version>-<hash of the recipe>.
    let doctor = labctl(&["doctor"]);
    let prefix = format!("labctl/node:{}-", env!("CARGO_PKG_VERSION"));
    let start = doctor.stdout.find(&prefix).unwrap_or_else(|| panic!("no node image in:\n{}", doctor.stdout));
    let tag: String = doctor.stdout[start..].split_whitespace().next().unwrap().to_string();
    let hash = tag.strip_prefix(&prefix).unwrap();
    assert!(hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{tag}");
    if tagged_base {
        // Built from the stand-in: never left behind for a real `up` to use.
        docker_quietly(&["image", "rm", &tag]);
        cleanup.built.replace(Some(tag.clone()));
    }
    let fresh = image_id(&tag).is_none();
    if fresh {
        assert!(doctor.stdout.contains(&format!("{tag} will be built on the first `labctl up`")), "{}", doctor.stdout);
    }

    let up = labctl(&["up"]).success();
    let building = format!("node image {tag} is not on this host: it is built once, from {BASE}");
    assert_eq!(up.stderr.contains(&building), fresh, "{}", up.stderr);
    let built = image_id(&tag).unwrap_or_else(|| panic!("{tag} was not built:\n{}", up.stderr));
    let running = host_docker(&["inspect", "--format", "{{.Config.Image}}", &format!("{CLUSTER}-node1")]);
    assert_eq!(running.trim(), tag);
    let doctor = labctl(&["doctor"]);
    assert!(doctor.stdout.contains(&format!("{tag} is built (docker:dind plus curl, tree, vim")), "{}", doctor.stdout);

    // The handouts' tools are on every node, and so is every command they type.
    for node in ["manager", "node1"] {
        let found =
            labctl(&["exec", node, "--", "sh", "-c", "for c in curl tree vim bash; do command -v \"$c\"; done"])
                .success();
        assert_eq!(found.stdout.lines().count(), 4, "{node}: {}", found.stdout);
    }
    assert_nodes_have_the_handouts_commands(&cleanup.workspace, &["manager", "node1"]);

    // On a cgroup v1 host a container a student runs in a node lives under
    // the node's own cgroup, where the node's [resources] limits hold it.
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        labctl(&["images", "load", "labctl-test/registry:2"]).success();
        let nested = labctl(&["exec", "node1", "--", "docker", "run", "--detach", "labctl-test/registry:2"]).success();
        let nested = nested.stdout.trim();
        let node = host_docker(&["inspect", "--format", "{{.Id}}", &format!("{CLUSTER}-node1")]);
        let under_node = format!("/sys/fs/cgroup/memory/docker/{}/{nested}", node.trim());
        assert!(std::path::Path::new(&under_node).is_dir(), "the nested container is not under its node: {under_node}");
        assert!(!std::path::Path::new(&format!("/sys/fs/cgroup/memory/docker/{nested}")).exists());
    }

    // A node made again later reuses the image: no second build.
    host_docker(&["rm", "--force", &format!("{CLUSTER}-node1")]);
    let again = labctl(&["up"]).success();
    assert!(!again.stderr.contains("it is built once"), "{}", again.stderr);
    assert_eq!(image_id(&tag).as_deref(), Some(built.as_str()));
    let running = host_docker(&["inspect", "--format", "{{.Config.Image}}", &format!("{CLUSTER}-node1")]);
    assert_eq!(running.trim(), tag);
}
