//! The ssh provider through the real binary, with a fake `ssh` on PATH that
//! answers labctl's look at each machine: what a dry run plans, what doctor
//! says of a changed host key, that down stops nothing, that list knows the
//! workspace, and the config errors.

use crate::support::Workspace;

const MACHINES: &str = "[cluster]\nname = \"pcs\"\nprovider = \"ssh\"\nworkers = 1\n\n[[ssh.hosts]]\nnode = \"manager\"\naddress = \"10.0.1.10\"\nuser = \"ubuntu\"\n\n[[ssh.hosts]]\nnode = \"node1\"\naddress = \"10.0.1.11\"\nuser = \"ubuntu\"\n";

/// A fake ssh: both machines answer the probe (no Docker yet); node1's
/// host key has changed when `changed` is set.
fn fake_ssh(workspace: &Workspace, changed: bool) {
    let node1 = match changed {
        true => "printf 'Host key for 10.0.1.11 has changed and you have requested strict checking.\\r\\nHost key verification failed.\\r\\n' >&2; exit 255",
        false => ":",
    };
    let body = format!(
        r#"for remote; do :; done
case "$*" in *10.0.1.11*) {node1} ;; esac
case "$remote" in
  *labctl-probe*) printf 'user=ubuntu\nsudo=yes\nos=ubuntu debian\ndocker=missing\nprovisioned=\n' ;;
esac
exit 0"#
    );
    workspace.fake_program("ssh", &body);
}

#[test]
fn a_dry_run_looks_at_each_machine_once_and_plans_its_provisioning() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", MACHINES);
    fake_ssh(&workspace, false);
    let run = workspace.run(&["up", "--dry-run"]).success();
    assert!(run.stdout.contains("would run: ssh -o BatchMode=yes -o ConnectTimeout=15 -o StrictHostKeyChecking=yes"));
    assert!(run.stderr.contains("provider ssh (set in labctl.toml; 2 machines of [[ssh.hosts]])"), "{}", run.stderr);
    assert!(run.stderr.contains("planned: nodes running (2): 2 provisioned with Docker"), "{}", run.stderr);
    assert!(run
        .stderr
        .contains("node1's machine has no Docker: provisioning installs it from the distribution (ubuntu debian)"));
    for script in ["10-hosts", "20-docker", "30-daemon-json", "40-firewall", "50-tools"] {
        assert!(run.stdout.contains(&format!("provision/{script}.sh manager'")), "{script}: {}", run.stdout);
    }
    // Only the two looks ran: one per machine.
    let calls = workspace.calls();
    assert_eq!(calls.matches("ssh -o BatchMode=yes").count(), 2, "{calls}");
    assert_eq!(calls.matches("' labctl-probe /var/lib/labctl").count(), 2, "{calls}");
    assert!(calls.contains("-o ControlMaster=auto"), "one multiplexed connection per machine: {calls}");
    assert!(calls.contains("-o StrictHostKeyChecking=yes"), "{calls}");

    // A first-seen host key only when asked.
    workspace.run(&["up", "--dry-run", "--accept-new-host-keys"]).success();
    let asked = workspace.calls();
    assert_eq!(asked.matches("-o StrictHostKeyChecking=accept-new").count(), 2, "{asked}");
}

#[test]
fn doctor_refuses_a_changed_host_key_with_the_line_to_run() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", &format!("{MACHINES}\n[ssh]\nknown_hosts_file = \"class_known_hosts\"\n"));
    fake_ssh(&workspace, true);
    let run = workspace.run(&["doctor"]);
    assert_eq!(run.code, 1, "{run:?}");
    let known_hosts = workspace.path().join("class_known_hosts");
    assert!(
        run.stdout
            .contains("machine manager  ubuntu@10.0.1.10 answers as ubuntu, sudo without a password; no Docker yet"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("machine node1    ubuntu@10.0.1.11: host key changed"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!("remove the old one with `ssh-keygen -R 10.0.1.11 -f {}`", known_hosts.display())),
        "{}",
        run.stdout
    );
    assert!(workspace.calls().contains(&format!("UserKnownHostsFile={}", known_hosts.display())));
}

#[test]
fn down_powers_nothing_off_and_list_knows_the_workspace() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", MACHINES);
    fake_ssh(&workspace, false);
    let down = workspace.run(&["down"]).success();
    assert!(down
        .stderr
        .contains("pcs: nothing was stopped: the machines of [[ssh.hosts]] are not labctl's to power off"));
    assert_eq!(workspace.calls(), "", "not a single ssh");

    let data = workspace.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    let known = serde_json::json!([{"workspace": workspace.path(), "cluster": "pcs", "provider": "ssh", "seats": 1}]);
    std::fs::write(data.join("workspaces.json"), known.to_string()).unwrap();
    workspace.fake_program("docker", "exit 1");
    let table = workspace.run(&["list"]).success().stdout;
    let row = table.lines().find(|line| line.starts_with("pcs")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains(" ssh ") && row.contains(&workspace.path().display().to_string()), "{row}");
}

#[test]
fn machines_without_the_ssh_provider_or_nodes_without_machines_are_refused() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", &MACHINES.replace("provider = \"ssh\"", "provider = \"docker\""));
    let error = workspace.run(&["status"]).single_error();
    assert!(
        error.starts_with("labctl.toml:6:1: ssh.hosts: lists machines, but [cluster] provider = \"docker\""),
        "{error}"
    );
    workspace.file("labctl.toml", "[cluster]\nprovider = \"ssh\"\n");
    let error = workspace.run(&["up"]).single_error();
    assert!(error.contains("none is listed for manager, node1, node2, node3"), "{error}");
    workspace.file("labctl.toml", MACHINES);
    fake_ssh(&workspace, false);
    let error = workspace.run(&["up", "--provider", "docker"]).single_error();
    assert!(error.contains("the nodes of this workspace are the machines of [[ssh.hosts]]"), "{error}");
}

#[test]
fn class_import_writes_the_machines_of_a_csv_and_keeps_the_old_file() {
    let workspace = Workspace::new();
    let old = "# the class of spring\n[cluster]\nname = \"cloud\"\n";
    workspace.file("labctl.toml", old);
    workspace.file(
        "hosts.csv",
        "seat,node,address,user,port,identity_file,advertise_ip\n\
         1,manager,203.0.113.10,ubuntu,,keys/s1.pem,10.0.1.10\n\
         1,node1,203.0.113.11,ubuntu,2222,keys/s1.pem,10.0.1.11\n\
         2,manager,203.0.113.20,ubuntu,,keys/s2.pem,10.0.2.10\n\
         2,node1,203.0.113.21,ubuntu,,keys/s2.pem,10.0.2.11\n",
    );
    let run = workspace.run(&["class", "import", "hosts.csv"]).success();
    assert!(
        run.stderr.contains(
            "labctl.toml: 4 machines for 2 seats from hosts.csv (a manager and 1 worker each), provider = \"ssh\""
        ),
        "{}",
        run.stderr
    );
    assert_eq!(workspace.read("labctl.toml.bak"), old);
    let text = workspace.read("labctl.toml");
    assert!(
        text.starts_with("# the class of spring\n[cluster]\nname = \"cloud\"\nprovider = \"ssh\"\nworkers = 1\n"),
        "{text}"
    );
    // The seats' machines, as the rest of labctl reads them; their keys must exist.
    fake_ssh(&workspace, false);
    let no_key = workspace.run(&["up", "--seat", "2", "--dry-run"]);
    assert_eq!(no_key.code, 1);
    assert!(no_key.stderr.contains("error: labctl.toml:34:17: ssh.hosts[2].identity_file: "), "{}", no_key.stderr);
    assert!(no_key.stderr.contains("keys/s2.pem (the key for manager) does not exist"), "{}", no_key.stderr);
    assert_eq!(workspace.calls(), "", "no machine is asked before the keys are there");
    workspace.file("keys/s2.pem", "not a real key: the fake ssh takes any\n");
    let plan = workspace.run(&["up", "--seat", "2", "--dry-run"]).success();
    assert!(plan.stdout.contains("-i ") && plan.stdout.contains("keys/s2.pem -T -- 203.0.113.21"), "{}", plan.stdout);

    // A bad row: named by its CSV line, and nothing is written.
    workspace.file("bad.csv", "node,address\nmanager,10.0.0.5\nnod1,10.0.0.6\n");
    let refused = workspace.run(&["class", "import", "bad.csv"]);
    assert_eq!(refused.code, 1);
    assert!(
        refused
            .stderr
            .contains("error: bad.csv:3: node: \"nod1\" is not a node of this cluster; did you mean \"node1\"?"),
        "{}",
        refused.stderr
    );
    assert_eq!(workspace.read("labctl.toml"), text, "nothing was written");
}

#[test]
fn init_for_ssh_writes_the_example_and_says_what_comes_next() {
    let workspace = Workspace::new();
    let run = workspace.run(&["init", "--provider", "ssh"]).success();
    assert!(run.stderr.contains("next: add one [[ssh.hosts]] machine per node"), "{}", run.stderr);
    let text = workspace.read("labctl.toml");
    assert!(text.contains("provider = \"ssh\"\n"), "{text}");
    assert!(text.contains("# [[ssh.hosts]]\n# node = \"manager\"\n# address = \"203.0.113.10\""), "{text}");
    let error = workspace.run(&["up"]).single_error();
    assert!(error.contains("cluster.provider: provider \"ssh\" needs one [[ssh.hosts]] machine per node"), "{error}");
}
