use super::*;
use crate::config::{test_cluster, test_settings};
use crate::exec::fake::RecordingRunner;
use crate::ui::Verbosity;

const CONFIG: &str = "[cluster]\nname = \"cls\"\nprovider = \"incus\"\nworkers = 1\n[registry]\nenabled = false\n[resources]\nmemory_mb = 1024\n";

fn templates() -> Templates {
    Templates::load(std::path::Path::new("/nonexistent")).unwrap()
}

/// The command lines of `runner` that start with `incus`.
fn incus_lines(runner: &RecordingRunner) -> Vec<String> {
    runner.command_lines().into_iter().filter(|line| line.starts_with("incus ")).collect()
}

/// An instance as `incus list --format json` lists it (outside a cluster),
/// with the `user.labctl.*` keys of `config`.
fn instance(name: &str, status: &str, config: serde_json::Value) -> serde_json::Value {
    serde_json::json!({ "name": name, "status": status, "location": "none", "config": config })
}

/// Cluster `cls`'s node `node`, as Incus lists it.
fn node_of_cls(node: &str, status: &str) -> serde_json::Value {
    let config = serde_json::json!({ "user.labctl.cluster": "cls", "user.labctl.node": node });
    instance(&format!("cls-{node}"), status, config)
}

/// What `incus list --format json` prints of `instances`.
fn listing(instances: &[serde_json::Value]) -> String {
    serde_json::Value::from(instances).to_string()
}

#[test]
fn a_new_cluster_gets_a_project_a_network_the_image_and_its_nodes() {
    let settings = test_settings(CONFIG);
    let cluster = test_cluster(&settings);
    let runner = RecordingRunner::lenient();
    let provider = IncusProvider::new(&cluster, &runner);
    let plan = provider.plan_nodes(&Ui::new(Verbosity::Quiet), &templates()).unwrap();
    assert_eq!(plan.created(), ["manager", "node1"]);
    let lines: Vec<String> = plan.commands.iter().map(ToString::to_string).collect();
    let network = provider.network();
    assert!(network.len() <= 15 && network.starts_with("labctl"), "a Linux interface name: {network}");
    assert_eq!(
        lines[0],
        "incus project create labctl-cls --config features.images=false --config features.profiles=false --config features.networks=false --config features.storage.volumes=false --config user.labctl.class=cls"
    );
    assert_eq!(
        lines[1],
        format!("incus network create {network} ipv4.address=192.168.56.1/24 ipv4.nat=true ipv4.dhcp=false ipv6.address=none user.labctl.cluster=cls")
    );
    let manager = lines.iter().find(|line| line.contains(" init ") && line.contains("cls-manager")).unwrap();
    for part in [
        "--no-profiles --storage default",
        &format!("--network {network}"),
        "security.nesting=true",
        "limits.memory=1024MiB",
        "limits.processes=",
        "user.labctl.node=manager",
        "user.labctl.role=manager",
        "lxc.init.cmd = /usr/local/sbin/labctl-init",
        "--project labctl-cls",
    ] {
        assert!(manager.contains(part), "{part} in {manager}");
    }
    assert_eq!(lines.last().unwrap(), "incus start --project labctl-cls cls-manager cls-node1");
    assert!(plan.notes.iter().any(|note| note.contains("imported once, as labctl-node-")), "{:?}", plan.notes);
}

#[test]
fn a_nodes_init_names_it_addresses_it_and_runs_its_dockerd() {
    let settings = test_settings(CONFIG);
    let cluster = test_cluster(&settings);
    let runner = RecordingRunner::lenient();
    let provider = IncusProvider::new(&cluster, &runner);
    let node1 = cluster.nodes().iter().find(|node| node.name == "node1").unwrap();
    let init = provider.init_script(node1, &templates()).unwrap();
    for line in [
        "hostname node1",
        "ip address add 192.168.56.11/24 dev eth0",
        "ip route add default via 192.168.56.1",
        "echo \"192.168.56.10 manager\"",
        "echo \"192.168.56.11 node1\"",
        "set -- dockerd --host=unix:///var/run/docker.sock --log-opt=max-size=",
        "exec tini -- \"$@\"",
    ] {
        assert!(init.contains(line), "{line} in:\n{init}");
    }
}

#[test]
fn node_commands_run_through_incus_exec_within_their_limit() {
    let settings = test_settings(CONFIG);
    let cluster = test_cluster(&settings);
    let runner = RecordingRunner::lenient();
    let provider = IncusProvider::new(&cluster, &runner);
    let argv = vec!["docker".to_string(), "info".into()];
    let spec = provider.node_command("node1", &argv, NodeIo::Captured, Some(Duration::from_secs(20)));
    assert!(
        spec.to_string().starts_with("incus exec cls-node1 --force-noninteractive --project labctl-cls -- sh -c "),
        "{spec}"
    );
    assert!(spec.timeout.is_some());
    // The node prints a trailer of labctl's after the command's output.
    let trailer = spec.trailer.clone().expect("a captured command has a trailer");
    let after = spec.args.iter().position(|arg| *arg == trailer).expect("the trailer is the script's $0");
    assert_eq!(spec.args[after + 1..after + 4], ["timeout", "-s", "KILL"]);
    assert_eq!(spec.args[spec.args.len() - 2..], ["docker", "info"]);
    let again = provider.node_command("node1", &argv, NodeIo::Captured, None);
    assert_ne!(again.trailer, Some(trailer), "a trailer of its own for every command");
    let fed = provider.node_command("node1", &argv, NodeIo::Stdin, None);
    assert_eq!(fed.trailer, None);
    let shell = provider.tagged_shell("manager", "t1", &templates()).unwrap();
    assert!(
        shell
            .open
            .to_string()
            .contains("--force-interactive --project labctl-cls --env LANG=C.UTF-8 --env LABCTL_SHELL=t1 -- sh -c"),
        "{}",
        shell.open
    );
    assert!(shell.hang_up.is_some());
}

#[test]
fn destroy_removes_the_seats_nodes_network_and_then_the_empty_project_and_image() {
    let settings = test_settings(CONFIG);
    let cluster = test_cluster(&settings);
    let runner = RecordingRunner::lenient();
    let provider = IncusProvider::new(&cluster, &runner);
    let network = provider.network();
    let other = instance("other-manager", "Running", serde_json::json!({ "user.labctl.cluster": "other" }));
    let listed = listing(&[node_of_cls("manager", "Running"), other]);
    runner.answer("incus list --format json", 0, &listed, "");
    runner.answer("incus list --format json", 0, "[]", "");
    runner.always(
        "incus network list",
        0,
        &format!(
            r#"[{{"name":"{network}","config":{{"user.labctl.cluster":"cls"}}}},{{"name":"incusbr0","config":{{}}}}]"#
        ),
        "",
    );
    runner.always("incus image list", 0, r#"[{"aliases":[{"name":"labctl-node-x"}]}]"#, "");
    // Docker beside Incus: the seat's rules in DOCKER-USER are there once.
    runner.answer("iptables -w -C DOCKER-USER", 0, "", "");
    runner.always("iptables -w -C DOCKER-USER", 1, "", "iptables: Bad rule");
    let removed = provider.destroy().unwrap();
    let taken: Vec<String> =
        runner.command_lines().into_iter().filter(|line| line.starts_with("iptables -w -D")).collect();
    assert_eq!(taken.len(), 1, "exactly the rule that was there: {taken:#?}");
    assert!(taken[0].contains(&format!("--comment 'labctl {network}'")), "{taken:#?}");
    let changes = incus_lines(&runner);
    assert!(changes.contains(&"incus delete --force --project labctl-cls cls-manager".to_string()), "{changes:#?}");
    assert!(
        !changes.iter().any(|line| line.contains("other-manager") && line.contains("delete")),
        "not another cluster's"
    );
    assert!(changes.contains(&format!("incus network delete {network}")), "{changes:#?}");
    assert!(!changes.iter().any(|line| line.contains("delete incusbr0")));
    assert!(changes.contains(&"incus project delete labctl-cls".to_string()), "{changes:#?}");
    assert!(removed.iter().any(|what| what == "Incus project labctl-cls"), "{removed:?}");
}

#[test]
fn another_workspaces_nodes_of_the_same_name_are_not_touched() {
    let mut settings = test_settings(CONFIG);
    let ours = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    settings.workspace = ours.path().to_path_buf();
    let cluster = test_cluster(&settings);
    let runner = RecordingRunner::lenient();
    let provider = IncusProvider::new(&cluster, &runner);
    let config = serde_json::json!({
        "user.labctl.cluster": "cls",
        "user.labctl.node": "manager",
        "user.labctl.workspace": theirs.path(),
    });
    let listed = listing(&[instance("cls-manager", "Running", config)]);
    runner.always("incus list", 0, &listed, "");
    let error = provider.destroy().unwrap_err().to_string();
    assert!(error.contains("another workspace's"), "{error}");
    assert!(!incus_lines(&runner).iter().any(|line| line.contains("delete")), "{:#?}", incus_lines(&runner));
}

const MEMBERS: &str = r#"[{"server_name":"m1","url":"https://10.97.0.2:8443","status":"Online"},{"server_name":"m2","url":"https://10.97.0.3:8443","status":"Online"}]"#;

#[test]
fn on_a_cluster_the_seats_network_is_made_on_every_member_then_as_a_whole() {
    let settings = test_settings(CONFIG);
    let cluster = test_cluster(&settings);
    let runner = RecordingRunner::lenient();
    runner.always("incus cluster list", 0, MEMBERS, "");
    let provider = IncusProvider::new(&cluster, &runner);
    let plan = provider.plan_nodes(&Ui::new(Verbosity::Quiet), &templates()).unwrap();
    let network = provider.network();
    let creates: Vec<String> =
        plan.commands.iter().map(ToString::to_string).filter(|line| line.contains("network create")).collect();
    assert_eq!(creates.len(), 3, "{creates:#?}");
    assert_eq!(creates[0], format!("incus network create {network} --target m1"));
    assert_eq!(creates[1], format!("incus network create {network} --target m2"));
    assert!(creates[2].starts_with(&format!("incus network create {network} ipv4.address=")), "{}", creates[2]);
    let ProviderSteps::Incus(steps) = &plan.steps else { panic!("the incus provider's steps") };
    assert!(steps.clustered);
    // Outside a cluster, `incus cluster list` fails, and the bridge is made at once.
    let runner = RecordingRunner::lenient();
    runner.always("incus cluster list", 1, "", "Error: Server isn't part of a cluster");
    let provider = IncusProvider::new(&cluster, &runner);
    let plan = provider.plan_nodes(&Ui::new(Verbosity::Quiet), &templates()).unwrap();
    let creates = plan.commands.iter().filter(|spec| spec.to_string().contains("network create")).count();
    assert_eq!(creates, 1);
}

#[test]
fn a_node_goes_beside_its_manager_and_its_ssh_port_listens_on_that_member() {
    let settings = test_settings(&format!("{CONFIG}[class]\nseats = 2\naccess = \"key\"\n"));
    let cluster = crate::config::Cluster::seat(&settings, crate::config::test_catalog(), 2).unwrap();
    let runner = RecordingRunner::lenient();
    runner.always("incus cluster list", 0, MEMBERS, "");
    let provider = IncusProvider::new(&cluster, &runner);
    let manager = cluster.nodes().manager();
    let worker = cluster.nodes().iter().find(|node| node.role == Role::Worker).unwrap();
    assert!(!provider.init_command(manager, "img", None).to_string().contains("--target"));
    assert!(provider.init_command(worker, "img", Some("m2")).to_string().contains(" --target m2 "));
    let devices = provider.proxy_devices(manager, Some("m2")).unwrap();
    let (name, ends) = &devices[0];
    assert_eq!(name, "labctl-ssh");
    assert!(ends.starts_with("tcp:10.97.0.3:"), "{ends}");
}

#[test]
fn a_node_on_a_member_that_does_not_answer_is_named_with_its_member() {
    let settings = test_settings(CONFIG);
    let cluster = test_cluster(&settings);
    let runner = RecordingRunner::lenient();
    // What Incus lists of an instance whose member is offline: no keys.
    let listed = r#"[{"name":"cls-manager","status":"Error","location":"m2","config":null},{"name":"cls-node1","status":"Error","location":"m2","config":null},{"name":"elsewhere","status":"Error","location":"m2","config":null}]"#;
    runner.always("incus list", 0, listed, "");
    let provider = IncusProvider::new(&cluster, &runner);
    let states = provider.states().unwrap();
    assert_eq!(states.len(), 2, "the seat's nodes only: {states:?}");
    assert_eq!(states[0], ("manager".to_string(), "unreachable: Incus cluster member m2 does not answer".to_string()));
    let lists = || runner.command_lines().into_iter().filter(|line| line.starts_with("incus list")).count();
    let before = lists();
    let machines = provider.machines().unwrap();
    assert_eq!(machines[0].location.as_deref(), Some("m2"));
    assert_eq!(provider.placement(&machines).as_deref(), Some("incus/m2"));
    assert_eq!(lists(), before + 1, "the placement comes from the machines, without listing Incus again");
}

#[test]
fn the_node_image_stays_while_another_classs_nodes_came_from_it() {
    let settings = test_settings(CONFIG);
    let cluster = test_cluster(&settings);
    let alias = "labctl-node-x";
    let config =
        serde_json::json!({ "user.labctl.cluster": "cls", "user.labctl.node": "manager", "user.labctl.image": alias });
    let ours = listing(&[instance("cls-manager", "Running", config)]);
    let theirs = format!(
        r#"[{{"name":"b-manager","project":"labctl-b","status":"Running","config":{{"user.labctl.cluster":"b","user.labctl.image":"{alias}"}}}}]"#
    );
    for (others, kept) in [(theirs.as_str(), true), ("[]", false)] {
        let runner = RecordingRunner::lenient();
        runner.answer("incus list --format json", 0, &ours, "");
        runner.answer("incus list --format json", 0, "[]", "");
        runner.always("incus list --all-projects", 0, others, "");
        runner.always("incus image list", 0, &format!(r#"[{{"aliases":[{{"name":"{alias}"}}]}}]"#), "");
        let removed = IncusProvider::new(&cluster, &runner).destroy().unwrap();
        let deleted = incus_lines(&runner).contains(&format!("incus image delete {alias}"));
        assert_eq!(deleted, !kept, "{others}: {:#?}", incus_lines(&runner));
        assert!(removed.iter().any(|what| what == "Incus project labctl-cls"), "{removed:?}");
    }
}

#[test]
fn a_node_image_removed_since_the_plan_is_imported_again_once() {
    let runner = RecordingRunner::lenient();
    runner.always("incus cluster list", 1, "", "Error: Server isn't part of a cluster");
    // At the plan, Incus has the image; at the node's init, it is gone.
    let alias = image::alias("labctl-test/node:bookworm");
    let listed = format!(r#"[{{"aliases":[{{"name":"{alias}"}}]}}]"#);
    runner.answer("incus image list", 0, &listed, "");
    let settings = test_settings(&format!("{CONFIG}[docker]\nnode_image = \"labctl-test/node:bookworm\"\n"));
    let cluster_with_image = test_cluster(&settings);
    let provider = IncusProvider::new(&cluster_with_image, &runner);
    let plan = provider.plan_nodes(&Ui::new(Verbosity::Quiet), &templates()).unwrap();
    let ProviderSteps::Incus(steps) = &plan.steps else { panic!("the incus provider's steps") };
    assert!(!steps.import, "the plan found the image");
    runner.answer("incus init", 1, "", &format!("Error: Image \"{alias}\" not found"));
    runner.always("incus image list", 0, "[]", "");
    runner.always("docker image inspect", 0, "amd64\n", "");
    let manager = cluster_with_image.nodes().manager();
    provider.create_node(manager, steps, "#!/bin/sh\n", None).unwrap();
    let lines = incus_lines(&runner);
    let inits = lines.iter().filter(|line| line.starts_with("incus init ")).count();
    assert_eq!(inits, 2, "{lines:#?}");
    let import = lines.iter().position(|line| line.starts_with("incus image import ")).expect("imported again");
    let last_init = lines.iter().rposition(|line| line.starts_with("incus init ")).unwrap();
    assert!(import < last_init, "{lines:#?}");
}

#[test]
fn a_node_that_finished_stopping_on_its_own_before_the_force_is_stopped() {
    let settings = test_settings(CONFIG);
    let cluster = test_cluster(&settings);
    let node = |status: &str| listing(&[node_of_cls("manager", status)]);
    for (after_the_force, stopped) in [("Stopped", true), ("Running", false)] {
        let runner = RecordingRunner::lenient();
        runner.answer("incus list --format json", 0, &node("Running"), "");
        runner.answer("incus list --format json", 0, &node("Running"), "");
        runner.answer("incus list --format json", 0, &node(after_the_force), "");
        runner.always("incus stop --timeout", 1, "", "Error: Failed to stop: timed out");
        runner.always("incus stop --force", 1, "", "Error: container is not running");
        let result = IncusProvider::new(&cluster, &runner).stop();
        assert_eq!(result.is_ok(), stopped, "{after_the_force}: {result:?}");
    }
}

#[test]
fn a_seat_outside_a_cluster_is_placed_on_its_incus_and_one_without_a_manager_nowhere() {
    let settings = test_settings(CONFIG);
    let cluster = test_cluster(&settings);
    let manager = listing(&[node_of_cls("manager", "Running")]);
    for (listed, placed) in [(manager.as_str(), Some("incus")), ("[]", None)] {
        let runner = RecordingRunner::lenient();
        runner.always("incus list", 0, listed, "");
        let provider = IncusProvider::new(&cluster, &runner);
        let machines = provider.machines().unwrap();
        assert!(machines.iter().all(|machine| machine.location.is_none()), "{machines:?}");
        assert_eq!(provider.placement(&machines).as_deref(), placed, "{listed}");
    }
}

#[test]
fn a_node_incus_calls_already_running_but_stopped_is_started_again_and_one_that_runs_is_left() {
    let settings = test_settings(CONFIG);
    let cluster = test_cluster(&settings);
    let seat = |node1: &str| listing(&[node_of_cls("manager", "Running"), node_of_cls("node1", node1)]);
    let both = ["cls-manager".to_string(), "cls-node1".to_string()];
    let refused = "cls-node1: error: The instance is already running | Error: Some instances failed to start";
    // Its stop had not ended: listed as stopped, it is started again, alone.
    let runner = RecordingRunner::lenient();
    runner.answer("incus start", 1, "", refused);
    runner.always("incus list", 0, &seat("Stopped"), "");
    IncusProvider::new(&cluster, &runner).start_nodes(&both).unwrap();
    let starts: Vec<String> = incus_lines(&runner).into_iter().filter(|line| line.starts_with("incus start")).collect();
    assert_eq!(starts.len(), 2, "{starts:#?}");
    assert!(starts[1].ends_with(" cls-node1") && !starts[1].contains("cls-manager"), "{starts:#?}");
    // It runs after all: nothing is started again.
    let runner = RecordingRunner::lenient();
    runner.answer("incus start", 1, "", refused);
    runner.always("incus list", 0, &seat("Running"), "");
    IncusProvider::new(&cluster, &runner).start_nodes(&both).unwrap();
    assert_eq!(incus_lines(&runner).iter().filter(|line| line.starts_with("incus start")).count(), 1);
    // Never starting: the error, after three tries.
    let runner = RecordingRunner::lenient();
    runner.always("incus start", 1, "", refused);
    runner.always("incus list", 0, &seat("Stopped"), "");
    let error = IncusProvider::new(&cluster, &runner).start_nodes(&both).unwrap_err().to_string();
    assert!(error.contains("already running"), "{error}");
    assert_eq!(incus_lines(&runner).iter().filter(|line| line.starts_with("incus start")).count(), 3);
    // Another failure is not tried again.
    let runner = RecordingRunner::lenient();
    runner.always("incus start", 1, "", "Error: Failed to start device \"eth0\"");
    runner.always("incus list", 0, &seat("Stopped"), "");
    assert!(IncusProvider::new(&cluster, &runner).start_nodes(&both).is_err());
    assert_eq!(incus_lines(&runner).iter().filter(|line| line.starts_with("incus start")).count(), 1);
}
