//! Two workspaces that give their clusters one name (both `swarm-lab`, as
//! `labctl init` writes) never act on each other's: the nodes say which
//! workspace made them (`labctl.workspace`), and another workspace's are
//! refused, naming both folders (fake `docker`; e2e_workspaces.rs on a real
//! Docker).

use crate::support::Workspace;

/// A workspace whose fake `docker` lists four nodes made from `made_from`.
fn workspace_seeing_nodes_of(made_from: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[cluster]\nprovider = \"docker\"\n");
    workspace.link_host_tool("cat");
    let listing: String =
        ["manager", "node1", "node2", "node3"].map(|node| format!("{node}\trunning\t{made_from}\tc-{node}\n")).concat();
    workspace.file("containers.txt", &listing);
    workspace.fake_program(
        "docker",
        r#"case "$1" in
  version) echo 27.3.1 ;;
  ps) case "$*" in *labctl.cache.writer*) ;; *) cat containers.txt ;; esac ;;
esac
exit 0"#,
    );
    workspace
}

#[test]
fn another_workspaces_cluster_of_the_same_name_is_never_destroyed_or_taken_over() {
    let first = Workspace::new();
    let first_path = first.path().to_str().unwrap().to_string();
    let second = workspace_seeing_nodes_of(&first_path);
    let second_path = second.path().display().to_string();
    let expected = format!(
        "cluster swarm-lab is another workspace's: its nodes were made from {first_path}, and this workspace is {second_path}; give this one another name ([cluster] name in labctl.toml), or run labctl there (`labctl -C {first_path} …`)"
    );
    for args in [&["destroy", "--yes"][..], &["up"], &["down"], &["status"]] {
        let run = second.run(args);
        assert_ne!(run.code, 0, "labctl {args:?}: {run:#?}");
        let errors: Vec<&str> = run.stderr.lines().filter(|line| line.starts_with("error: ")).collect();
        assert_eq!(errors, [format!("error: {expected}")], "labctl {args:?}");
    }
    let calls = second.calls();
    for change in
        ["docker rm", "docker volume rm", "docker network rm", "docker run", "docker network create", "docker stop"]
    {
        assert!(!calls.contains(change), "{change} ran: {calls}");
    }
}

#[test]
fn a_workspaces_own_nodes_are_its_own_however_its_folder_is_written() {
    let workspace = Workspace::new();
    let own = workspace.path().to_str().unwrap().to_string();
    let seeing = workspace_seeing_nodes_of(&own);
    // The same folder written another way (`-C sub/..`), and nodes made
    // before labctl labelled them: both the workspace's own.
    std::fs::create_dir(seeing.path().join("sub")).unwrap();
    let roundabout = seeing.path().join("sub/..").display().to_string();
    seeing.file(
        "containers.txt",
        &format!("manager\trunning\t{roundabout}\tc1\nnode1\trunning\t\tc2\nnode2\trunning\t\tc3\nnode3\trunning\t{roundabout}\tc4\n"),
    );
    let run = seeing.run(&["destroy", "--yes"]);
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(seeing.calls().contains("docker rm --force --volumes c1 c2 c3 c4"), "{}", seeing.calls());
    drop(workspace);
}

#[test]
fn nodes_of_a_workspace_that_is_gone_point_to_destroy_by_name() {
    let gone = Workspace::new();
    let gone_path = gone.path().display().to_string();
    drop(gone);
    let second = workspace_seeing_nodes_of(&gone_path);
    let run = second.run(&["destroy", "--yes"]);
    let error = run.stderr.lines().find(|line| line.starts_with("error: ")).expect("an error");
    assert!(
        error.ends_with(&format!(
            "its nodes were made from {gone_path}, and this workspace is {}; give this one another name ([cluster] name in labctl.toml), or that folder is gone: `labctl destroy --name swarm-lab` removes them",
            second.path().display(),
        )),
        "{error}"
    );
    assert!(!second.calls().contains("docker rm"), "{}", second.calls());
}
