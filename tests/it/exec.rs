//! `labctl exec` and `labctl ssh` hand the terminal to a command on a node.

use crate::support::Workspace;

fn docker_workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[cluster]\nprovider = \"docker\"\n");
    workspace.fake_program(
        "docker",
        "case \"$1\" in version) echo 27.3.1 ;; ps) printf 'manager\\trunning\\nnode2\\trunning\\n' ;; exec) shift; echo \"ran: $*\"; case \"$*\" in *fail*) exit 7 ;; esac ;; esac\nexit 0",
    );
    workspace
}

#[test]
fn exec_runs_the_command_on_the_node_and_passes_its_exit_status() {
    let workspace = docker_workspace();
    let ok = workspace.run(&["exec", "node2", "--", "docker", "ps", "--format", "{{.Names}}"]).success();
    assert_eq!(ok.stdout, "ran: --interactive swarm-lab-node2 docker ps --format {{.Names}}\n");
    let failed = workspace.run(&["exec", "manager", "--", "sh", "-c", "fail"]);
    assert_eq!(failed.code, 7, "{failed:?}");
}

#[test]
fn ssh_opens_a_login_shell_on_the_node() {
    let workspace = docker_workspace();
    let run = workspace.run(&["ssh", "manager"]).success();
    assert!(run.stdout.starts_with("ran: --interactive --tty swarm-lab-manager sh -c "), "{}", run.stdout);
}

#[test]
fn an_unknown_node_is_named_with_a_suggestion() {
    let workspace = docker_workspace();
    let error = workspace.run(&["exec", "manger", "--", "true"]).single_error();
    assert_eq!(
        error,
        "\"manger\" is not a node of cluster swarm-lab; did you mean \"manager\"? Nodes: manager, node1, node2, node3"
    );
}
