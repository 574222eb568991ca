//! `labctl up` with the vagrant provider against a fake `vagrant` that
//! keeps machine and swarm state in files, records every call with a
//! timestamp, and answers the commands labctl sends over `vagrant ssh -c`.

use crate::support::{free_port, Workspace};

const FAKE_VAGRANT: &str = r#"
state="$FAKE_STATE"
mkdir -p "$state"
now() { date +%s.%N; }
node_state() { cat "$state/$1.machine" 2>/dev/null || echo not_created; }
case "$1" in
  status)
    for node in manager node1 node2 node3; do echo "1700000000,$node,state,$(node_state $node)"; done ;;
  up)
    echo "$(now) boot $2" >> "$state/timeline"
    echo "==> $2: Booting VM..."
    echo running > "$state/$2.machine" ;;
  provision)
    echo "$(now) provision-start $2" >> "$state/timeline"
    echo "    $2: labctl: installing docker.io from the distribution (bookworm)"
    sleep 0.5
    echo "    $2: labctl: Docker 24.0.7 is running"
    touch "$state/$2.docker"
    echo "$(now) provision-end $2" >> "$state/timeline" ;;
  halt)
    for node in manager node1 node2 node3; do [ -f "$state/$node.machine" ] && echo poweroff > "$state/$node.machine"; done ;;
  destroy)
    rm -f "$state"/*.machine ;;
  ssh)
    node="$2"; shift 2
    while [ "$#" -gt 0 ] && [ "$1" != "-c" ]; do shift; done
    command="$2"
    printf '%s\n' "$node $command" >> "$state/ssh.log"
    case "$command" in
      *labctl-join*)
        cat > "$state/$node.join-stdin"
        touch "$state/$node.swarm" ;;
      *"docker info --format"*)
        if [ -f "$state/$node.swarm" ]; then
          manager=false; [ "$node" = manager ] && manager=true
          echo "{\"LocalNodeState\":\"active\",\"NodeID\":\"id-$node\",\"ControlAvailable\":$manager}"
        else
          echo '{"LocalNodeState":"inactive","NodeID":"","ControlAvailable":false}'
        fi ;;
      *"docker info"*) [ -f "$state/$node.docker" ] ;;
      *"swarm init"*) touch "$state/$node.swarm" ;;
      *"join-token"*) echo "SWMTKN-1-fakefakefake-token" ;;
      *"node ls"*)
        for n in manager node1 node2 node3; do
          [ -f "$state/$n.swarm" ] || continue
          leader=""; [ "$n" = manager ] && leader=Leader
          echo "{\"ID\":\"id-$n\",\"Hostname\":\"$n\",\"Status\":\"Ready\",\"Availability\":\"Active\",\"ManagerStatus\":\"$leader\"}"
        done ;;
      *"docker ps"*) if [ -f "$state/registry" ]; then echo running; fi ;;
      *"docker run"*) touch "$state/registry" ;;
      *"docker load"*) cat > "$state/$node.loaded"; echo "Loaded image: labctl-test/registry:2" ;;
      *"sh -c"*)
        cat > /dev/null
        if [ ! -f "$state/seeded" ]; then touch "$state/seeded"; echo "copied lab1 ch03-webapi.yml"; fi ;;
    esac ;;
esac
"#;

fn vagrant_workspace() -> Workspace {
    let workspace = Workspace::new();
    let state = workspace.path().join("fake-state");
    workspace.file(
        "labctl.toml",
        &format!("[cluster]\nprovider = \"vagrant\"\n\n[[forward]]\nhost = {}\nguest = 9000\n", free_port()),
    );
    let script = format!("export FAKE_STATE='{}'\n{FAKE_VAGRANT}", state.display());
    workspace.fake_program("vagrant", &script).fake_program("VBoxManage", "echo 7.0.14r161095");
    for tool in ["date", "sleep", "cat", "mkdir", "touch", "rm"] {
        workspace.link_host_tool(tool);
    }
    workspace
}

fn timeline(workspace: &Workspace) -> Vec<(f64, String, String)> {
    workspace
        .read("fake-state/timeline")
        .lines()
        .map(|line| {
            let mut words = line.split_whitespace();
            let time = words.next().unwrap().parse().unwrap();
            (time, words.next().unwrap().to_string(), words.next().unwrap().to_string())
        })
        .collect()
}

#[test]
fn up_boots_one_at_a_time_then_provisions_together_then_bootstraps() {
    let workspace = vagrant_workspace();
    let run = workspace.run(&["up"]).success();
    assert!(run.stderr.contains("provider vagrant (set in labctl.toml)"), "{}", run.stderr);
    assert!(workspace.path().join(".labctl/vagrant/Vagrantfile").is_file(), "the environment is rendered first");

    let events = timeline(&workspace);
    let boots: Vec<&str> =
        events.iter().filter(|(_, kind, _)| kind == "boot").map(|(_, _, node)| node.as_str()).collect();
    assert_eq!(boots, vec!["manager", "node1", "node2", "node3"], "manager first, one at a time");
    let last_boot = events.iter().filter(|(_, kind, _)| kind == "boot").map(|(time, _, _)| *time).fold(0.0, f64::max);
    let starts: Vec<f64> =
        events.iter().filter(|(_, kind, _)| kind == "provision-start").map(|(time, _, _)| *time).collect();
    let first_end =
        events.iter().filter(|(_, kind, _)| kind == "provision-end").map(|(time, _, _)| *time).fold(f64::MAX, f64::min);
    assert_eq!(starts.len(), 4);
    assert!(starts.iter().all(|start| *start >= last_boot), "provisioning waits for every boot");
    assert!(starts.iter().all(|start| *start < first_end), "all four provision at once: {events:?}");

    let calls = workspace.calls();
    assert!(calls.contains("vagrant up manager --no-provision"), "{calls}");
    let ssh = workspace.read("fake-state/ssh.log");
    assert!(
        ssh.contains(
            "manager sudo -n -- timeout -s KILL 115 docker swarm init --advertise-addr 192.168.56.10 --listen-addr 192.168.56.10:2377"
        ),
        "{ssh}"
    );
    for (node, ip) in [("node1", "192.168.56.11"), ("node2", "192.168.56.12"), ("node3", "192.168.56.13")] {
        assert!(ssh.contains(&format!("{node} sudo -n -- timeout -s KILL 115 sh -c '#!/bin/sh")), "{node}: {ssh}");
        assert!(ssh.contains(&format!("' labctl-join {ip} {ip}:2377 192.168.56.10:2377\n")), "{node}: {ssh}");
    }
    assert!(
        ssh.contains("manager sudo -n -- timeout -s KILL 1795 docker run --detach --name labctl-registry"),
        "{ssh}"
    );
    assert!(!run.stderr.contains("fakefakefake") && !run.stdout.contains("fakefakefake"), "the token is never shown");
    assert!(run.stderr.contains("3 workers joined"), "{}", run.stderr);
}

#[test]
fn the_registry_image_comes_from_this_hosts_docker_when_it_has_it() {
    let workspace = vagrant_workspace();
    // Without internet a VM cannot pull registry:2; this host's Docker has it.
    workspace.fake_program(
        "docker",
        "case \"$1 $2\" in\n  'image inspect') echo sha256:registry ;;\n  'save --') echo registry-image-tar ;;\n  *) exit 1 ;;\nesac",
    );
    workspace.run(&["up"]).success();
    assert_eq!(workspace.read("fake-state/manager.loaded"), "registry-image-tar\n", "loaded into the registry's node");
    let calls = workspace.calls();
    assert!(calls.contains("docker save -- registry:2"), "{calls}");
}

#[test]
fn the_join_token_reaches_vagrant_ssh_only_on_stdin() {
    let workspace = vagrant_workspace();
    let run = workspace.run(&["-v", "up"]).success();
    for node in ["node1", "node2", "node3"] {
        assert_eq!(workspace.read(&format!("fake-state/{node}.join-stdin")), "SWMTKN-1-fakefakefake-token\n", "{node}");
    }
    // Not in vagrant's arguments (the host's process list), not in the
    // commands run on the nodes (sudo's log), not in anything labctl showed.
    assert!(!workspace.calls().contains("fakefakefake"), "{}", workspace.calls());
    assert!(!workspace.read("fake-state/ssh.log").contains("fakefakefake"));
    assert!(!run.stderr.contains("fakefakefake") && !run.stdout.contains("fakefakefake"), "{}", run.stderr);
}

#[test]
fn up_on_a_running_cluster_boots_and_provisions_nothing() {
    let workspace = vagrant_workspace();
    workspace.run(&["up"]).success();
    let before = timeline(&workspace).len();
    let again = workspace.run(&["up"]).success();
    assert!(again.stderr.contains("no changes"), "{}", again.stderr);
    assert_eq!(timeline(&workspace).len(), before, "no boot, no provisioning");
}

#[test]
fn a_failed_provisioning_is_retried_by_the_next_up() {
    let workspace = vagrant_workspace();
    workspace.run(&["up"]).success();
    // node2 lost Docker (a provisioning that was cut short).
    std::fs::remove_file(workspace.path().join("fake-state/node2.docker")).unwrap();
    workspace.run(&["up"]).success();
    let provisioned: Vec<String> = timeline(&workspace)
        .into_iter()
        .filter(|(_, kind, _)| kind == "provision-start")
        .map(|(_, _, node)| node)
        .collect();
    assert_eq!(provisioned[4..], ["node2".to_string()]);
}

#[test]
fn a_failing_vagrant_names_the_node_and_shows_its_output() {
    let workspace = vagrant_workspace();
    let failing = format!(
        "if [ \"$1\" = up ] && [ \"$2\" = node2 ]; then echo 'Stderr: VBoxManage: error: VT-x is not available' >&2; exit 1; fi\nexport FAKE_STATE='{}'\n{FAKE_VAGRANT}",
        workspace.path().join("fake-state").display()
    );
    workspace.fake_program("vagrant", &failing);
    let run = workspace.run(&["up"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("vagrant failed on node2 while trying to boot node2"), "{}", run.stderr);
    assert!(run.stderr.contains("VT-x is not available"), "{}", run.stderr);
}

#[test]
fn a_libvirt_machine_that_does_not_boot_shows_its_serial_console() {
    let workspace = vagrant_workspace();
    let config = workspace.read("labctl.toml");
    workspace.file("labctl.toml", &format!("{config}\n[vagrant]\nprovider = \"libvirt\"\nlibvirt_driver = \"qemu\"\n"));
    // What libvirt would have written while node1 hung in its initramfs.
    let console = "\u{1b}[0;1;31mGave up waiting for root file system device.\u{1b}[0m\n(initramfs) \n";
    let failing = format!(
        "if [ \"$1\" = up ] && [ \"$2\" = node1 ]; then printf '{}' > ../logs/console-node1.log; echo 'Timed out while waiting for the machine to boot.' >&2; exit 1; fi\nexport FAKE_STATE='{}'\n{FAKE_VAGRANT}",
        console.replace('\n', "\\n"),
        workspace.path().join("fake-state").display()
    );
    workspace.fake_program("vagrant", &failing).fake_program("virsh", "echo 11.3.0");
    workspace.link_host_tool("printf");
    let run = workspace.run(&["up"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("vagrant failed on node1 while trying to boot node1"), "{}", run.stderr);
    assert!(
        run.stderr.contains("its serial console ends: Gave up waiting for root file system device. | (initramfs)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(".labctl/logs/console-node1.log"), "{}", run.stderr);
}

#[test]
fn down_halts_and_destroy_removes_the_vms() {
    let workspace = vagrant_workspace();
    workspace.run(&["up"]).success();
    let down = workspace.run(&["down"]).success();
    assert!(down.stderr.contains("stopped 4 nodes"), "{}", down.stderr);
    let destroyed = workspace.run(&["destroy", "--yes"]).success();
    assert!(destroyed.stderr.contains("removed 4 VMs"), "{}", destroyed.stderr);
    assert!(workspace.calls().contains("vagrant destroy --force"));
}

#[test]
fn status_before_any_up_shows_machines_not_created() {
    let workspace = vagrant_workspace();
    let run = workspace.run(&["status", "--json"]);
    assert_eq!(run.code, 3, "no node is Ready: {run:#?}");
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(status["provider"], "vagrant");
    let states: Vec<&str> =
        status["nodes"].as_array().unwrap().iter().map(|node| node["state"].as_str().unwrap()).collect();
    assert_eq!(states, vec!["not_created"; 4]);
    assert!(!workspace.calls().contains("vagrant status"), "no environment, nothing to ask");
}

#[test]
fn status_reads_vagrant_and_the_manager() {
    let workspace = vagrant_workspace();
    workspace.run(&["up"]).success();
    let run = workspace.run(&["status"]).success();
    assert!(run.stdout.contains("cluster swarm-lab (vagrant provider, virtual machines)"), "{}", run.stdout);
    let manager = run.stdout.lines().find(|line| line.starts_with("manager")).unwrap();
    assert!(
        manager.contains("running")
            && manager.contains("active")
            && manager.contains("Ready")
            && manager.contains("Leader"),
        "{manager}"
    );
    assert!(run.stdout.contains("registry  manager:5000 (running)"), "{}", run.stdout);
}

#[test]
fn long_steps_show_each_node_and_what_its_provisioning_does() {
    let workspace = vagrant_workspace();
    let run = workspace.run(&["up"]).success();
    // Piped: one line a sub-step, in the order they happen for each node.
    let substeps: Vec<&str> = run.stderr.lines().filter(|line| line.starts_with("  · ")).collect();
    let at = |wanted: &str| {
        substeps
            .iter()
            .position(|line| *line == format!("  · {wanted}"))
            .unwrap_or_else(|| panic!("{wanted}: {}", run.stderr))
    };
    assert!(at("booting manager (1/4)") < at("booting node3 (4/4)"));
    assert!(at("booting node3 (4/4)") < at("provisioning manager, node1, node2, node3 at once"));
    for node in ["manager", "node1", "node2", "node3"] {
        let installing = at(&format!("provision {node}: installing docker.io from the distribution (bookworm)"));
        assert!(installing < at(&format!("provision {node}: Docker 24.0.7 is running")), "{}", run.stderr);
    }
    // Vagrant's own chatter is not a line of its own; it stays in the node's log.
    assert!(!run.stderr.contains("Booting VM"), "{}", run.stderr);
    let log = workspace.read(".labctl/logs/vagrant-provision-node2.log");
    assert!(log.contains("node2: labctl: Docker 24.0.7 is running"), "{log}");

    // On a terminal the sub-steps are the spinner's text, the step's clock running.
    let workspace = vagrant_workspace();
    let Some(terminal) = workspace.in_terminal(&["up"], &[("TERM", "xterm")]) else { return };
    let screen = terminal.stdout.replace('\r', "\n");
    assert!(screen.contains("starting nodes: provision node1: installing docker.io"), "{screen}");
    assert!(!screen.contains("  · provision"), "no sub-step lines on a terminal: {screen}");
}

/// `vagrant_workspace` on libvirt: the fake `virsh` answers, and knows the
/// cluster's network `labctl-swarm-lab` on `virbr1` when `own_network`.
fn libvirt_workspace(own_network: bool) -> Workspace {
    let workspace = vagrant_workspace();
    let config = workspace.read("labctl.toml");
    workspace.file("labctl.toml", &format!("{config}\n[vagrant]\nprovider = \"libvirt\"\nlibvirt_driver = \"qemu\"\n"));
    let net_info = if own_network { "echo 'Bridge:         virbr1'" } else { "exit 1" };
    workspace.fake_program("virsh", &format!("case \"$*\" in *'net-info labctl-swarm-lab') {net_info} ;; esac"));
    workspace
}

#[test]
fn up_on_libvirt_refuses_a_subnet_a_docker_network_holds_before_any_vagrant_command() {
    let workspace = libvirt_workspace(false);
    workspace.host_route("br-0123456789ab", "192.168.56.0/24");
    workspace.fake_program("docker", "printf 'labctl-lab-a\\t\\tlab-a\\n'");
    let run = workspace.run(&["up"]);
    assert_eq!(run.code, 1, "{run:#?}");
    // After the line naming the provider, one error line.
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines, ["provider vagrant (set in labctl.toml)", lines[1]], "{}", run.stderr);
    assert_eq!(
        lines[1],
        "error: labctl.toml:1:1: cluster.subnet: 192.168.56.0/24 is already used by interface br-0123456789ab (the Docker network labctl-lab-a, made by labctl's docker provider for cluster lab-a): libvirt will refuse with \"Network is already in use by interface br-0123456789ab\"; remove it (`labctl destroy` in that workspace, or `labctl destroy --name lab-a`; `docker network rm labctl-lab-a` once no container uses it) or choose another cluster.subnet in labctl.toml (with manager_ip and worker_ip_start in it)"
    );
    let calls = workspace.calls();
    assert!(!calls.lines().any(|call| call.starts_with("vagrant ")), "no vagrant command ran: {calls}");
    assert!(!workspace.path().join(".labctl/vagrant/Vagrantfile").exists(), "nothing was written");

    // `render` only writes files: the same subnet renders.
    workspace.run(&["render"]).success();
}

#[test]
fn up_on_libvirt_goes_ahead_when_the_subnet_is_the_clusters_own_network() {
    let workspace = libvirt_workspace(true);
    workspace.host_route("virbr1", "192.168.56.0/24");
    workspace.run(&["up"]).success();
    assert!(workspace.calls().contains("vagrant up manager --no-provision"), "{}", workspace.calls());
}
