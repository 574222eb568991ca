//! `labctl list` finds every labctl cluster on this host from any folder, and
//! `destroy --name` removes one from anywhere.

use crate::support::Workspace;

/// A Docker that has two clusters: `seatclass`'s seat 2 (made in `workspace`,
/// running, its manager seeing 2 Ready nodes) and `orphan` (stopped, made in a
/// folder that is gone).
fn docker_with_clusters(workspace: &str) -> String {
    format!(
        r#"case "$*" in
  "version --format"*) echo 27.3.1 ;;
  "ps --all --filter label=labctl.node --filter label=labctl.cluster"*)
    printf 'seatclass-s02\tmanager\tmanager\tseatclass\t2\t{workspace}\trunning\tseatclass-s02-manager\n'
    printf 'seatclass-s02\tnode1\tworker\tseatclass\t2\t{workspace}\trunning\tseatclass-s02-node1\n'
    printf 'orphan\tmanager\tmanager\t\t\t/gone/folder\texited\torphan-manager\n' ;;
  "exec seatclass-s02-manager docker node ls"*) printf 'Ready\nReady\n' ;;
  "ps --all --filter label=labctl.cluster=orphan --format"*) printf 'manager\texited\t/gone/folder\tc0ffee\n' ;;
  "volume ls --quiet --filter label=labctl.cluster=orphan") echo orphan-manager-docker ;;
  "network ls --quiet --filter label=labctl.cluster=orphan") echo labctl-orphan ;;
esac
exit 0"#
    )
}

#[test]
fn list_shows_each_cluster_with_its_seat_nodes_and_workspace() {
    let workspace = Workspace::new();
    let made_in = workspace.path().display().to_string();
    workspace.fake_program("docker", &docker_with_clusters(&made_in));
    let table = workspace.run(&["list"]).success().stdout;
    let row =
        |name: &str| table.lines().find(|line| line.starts_with(name)).unwrap_or_else(|| panic!("{name}: {table}"));
    let squeezed = |line: &str| line.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(squeezed(row("seatclass-s02")), format!("seatclass-s02 docker seatclass 2 2 2 2 {made_in}"));
    assert_eq!(squeezed(row("orphan")), "orphan docker - 1 0 - /gone/folder");
    assert!(table.starts_with("CLUSTER "), "{table}");

    let json: serde_json::Value = serde_json::from_str(&workspace.run(&["list", "--json"]).success().stdout).unwrap();
    assert_eq!(json[1]["name"], "seatclass-s02");
    assert_eq!(json[1]["ready"], 2);
    assert_eq!(json[0]["ready"], serde_json::Value::Null, "a stopped manager is not asked");
}

#[test]
fn destroy_by_name_removes_a_cluster_whose_workspace_is_gone_by_its_labels() {
    let somewhere = Workspace::new();
    somewhere.fake_program("docker", &docker_with_clusters("/elsewhere"));
    let run = somewhere.run(&["destroy", "--name", "orphan", "--yes"]).success();
    let calls = somewhere.calls();
    assert!(calls.contains("docker rm --force --volumes c0ffee"), "{calls}");
    assert!(calls.contains("volume rm orphan-manager-docker"), "{calls}");
    assert!(calls.contains("network rm labctl-orphan"), "{calls}");
    let changes: Vec<&str> = calls.lines().filter(|line| line.contains(" rm ")).collect();
    assert!(changes.iter().all(|line| !line.contains("seatclass")), "only the named cluster: {calls}");
    assert!(run.stderr.contains("orphan: removed"), "{}", run.stderr);

    let error = somewhere.run(&["destroy", "--name", "nosuch", "--yes"]).single_error();
    assert!(error.contains("no labctl cluster named \"nosuch\" on this host; `labctl list`"), "{error}");
}

#[test]
fn destroy_by_name_acts_in_the_workspace_the_seat_was_made_in() {
    let class = Workspace::new();
    class.file(
        "labctl.toml",
        "[cluster]\nname = \"seatclass\"\nprovider = \"docker\"\n[class]\nseats = 3\naccess = \"none\"\n",
    );
    let elsewhere = Workspace::new();
    elsewhere.fake_program("docker", &docker_with_clusters(&class.path().display().to_string()));
    let run = elsewhere.run(&["destroy", "--name", "seatclass-s02", "--yes"]).success();
    assert!(run.stderr.contains(&format!("seatclass-s02 was made in {}", class.path().display())), "{}", run.stderr);
    let calls = elsewhere.calls();
    // Seat 2 only, found by its own label.
    assert!(calls.contains("ps --all --filter label=labctl.cluster=seatclass-s02"), "{calls}");
    assert!(
        !calls.contains("labctl.cluster=seatclass-s01") && !calls.contains("labctl.cluster=seatclass-s03"),
        "{calls}"
    );
}
