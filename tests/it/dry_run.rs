//! `labctl up --dry-run` prints each step's plan: the files it would write and
//! the commands it would run (secrets masked); it writes nothing and runs only
//! read-only probes.

use crate::support::{free_port, Workspace};

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let workspace = Workspace::new();
    workspace.file(
        "labctl.toml",
        &format!("[cluster]\nprovider = \"docker\"\n\n[[forward]]\nhost = {}\nguest = 9000\n", free_port()),
    );
    // A Docker with no cluster at all: every probe about the nodes fails.
    workspace.fake_program(
        "docker",
        "case \"$1\" in version) echo 27.3.1 ;; ps) exit 0 ;; network) exit 1 ;; image) exit 1 ;; exec) exit 1 ;; esac\nexit 0",
    );
    let run = workspace.run(&["up", "--dry-run"]).success();
    // The plan is data, on stdout (as `reset --dry-run`'s); progress stays on stderr.
    assert!(!run.stderr.contains("would run: "), "{}", run.stderr);
    let planned: Vec<&str> = run.stdout.lines().filter(|line| line.starts_with("would run: ")).collect();
    assert!(
        planned
            .iter()
            .any(|line| line.starts_with("would run: docker network create --driver bridge --subnet 192.168.56.0/24")),
        "{}",
        run.stderr
    );
    for node in ["manager", "node1", "node2", "node3"] {
        let run = planned
            .iter()
            .find(|line| line.starts_with(&format!("would run: docker run --detach --name swarm-lab-{node} ")))
            .unwrap_or_else(|| panic!("{node}: {}", run.stdout));
        // The plan shows where the students' work will be kept.
        for (volume, dir) in [("work", "/root/work"), ("labctl", "/var/lib/labctl")] {
            let mount = format!(
                "--mount type=volume,src=swarm-lab-{node}-{volume},dst={dir},volume-label=labctl.cluster=swarm-lab "
            );
            assert!(run.contains(&mount), "{run}");
        }
    }
    assert!(planned.iter().any(|line| line.contains("docker swarm init --advertise-addr 192.168.56.10")));
    let joins = planned.iter().filter(|line| line.contains("sh -c '#!/bin/sh…' labctl-join 192.168.56.1"));
    assert_eq!(joins.count(), 3, "{}", run.stdout);
    assert!(
        !run.stdout.contains("SWMTKN") && !run.stderr.contains("SWMTKN"),
        "the join token travels on stdin, never shown: {}",
        run.stderr
    );
    assert!(planned.iter().any(|line| line.contains("docker run --detach --name labctl-registry")));
    assert!(
        run.stderr.contains("✓ planned: copy the missing files of lab1, lab2, lab3, lab4, lab5, visualizer"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.ends_with("dry run: nothing was changed\n"), "{}", run.stderr);

    // Only probes reached Docker: nothing was created, started or joined.
    let calls = workspace.calls();
    for change in ["docker run", "docker network create", "docker start", "swarm init", "labctl-join"] {
        assert!(!calls.contains(change), "{change} was run: {calls}");
    }
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap().flatten() {
            let path = entry.path();
            found.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                folders.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The fake programs' calls, one a line, that are not read-only probes.
fn changes_in(calls: &str, probes: &[&str]) -> Vec<String> {
    calls.lines().filter(|line| !probes.iter().any(|probe| line.starts_with(probe))).map(String::from).collect()
}

#[test]
fn a_vagrant_dry_run_writes_no_file_and_runs_only_probes() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", &format!("[[forward]]\nhost = {}\nguest = 9000\n", free_port()));
    workspace.fake_program("vagrant", "echo 'Vagrant 2.4.1'").fake_program("VBoxManage", "echo 7.0.14r161095");
    let before = files_under(workspace.path());

    let run = workspace.run(&["up", "--dry-run", "--provider", "vagrant"]).success();

    assert_eq!(files_under(workspace.path()), before, "a dry run writes nothing: {}", run.stderr);
    // The plan says what would be written and run, in the order of a real run.
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = |wanted: &str| {
        lines.iter().position(|line| line.starts_with(wanted)).unwrap_or_else(|| panic!("{wanted}: {}", run.stdout))
    };
    assert!(at("would write .labctl/vagrant/Vagrantfile (new)") < at("would run: vagrant up manager --no-provision"));
    assert!(at("would run: vagrant up node3 --no-provision") < at("would run: vagrant provision manager"));
    assert!(run.stderr.contains("✓ planned: nodes running (4): 4 created"), "{}", run.stderr);
    assert!(run.stderr.contains("✓ planned: swarm initialised on manager 192.168.56.10; 3 workers joined"));
    assert!(run.stderr.ends_with("dry run: nothing was changed\n"), "{}", run.stderr);
    let calls = workspace.calls();
    assert_eq!(changes_in(&calls, &["vagrant --version", "VBoxManage --version"]), Vec::<String>::new(), "{calls}");
}

#[test]
fn a_docker_dry_run_writes_no_file_and_runs_only_probes() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", &format!("[[forward]]\nhost = {}\nguest = 9000\n", free_port()));
    // A Docker with no cluster at all: every probe about the nodes fails.
    workspace.fake_program(
        "docker",
        "case \"$1\" in version) echo 27.3.1 ;; ps) exit 0 ;; network) exit 1 ;; image) exit 1 ;; exec) exit 1 ;; esac\nexit 0",
    );
    let before = files_under(workspace.path());

    let run = workspace.run(&["up", "--dry-run", "--provider", "docker"]).success();

    assert_eq!(files_under(workspace.path()), before, "a dry run writes nothing: {}", run.stderr);
    assert!(!run.stdout.contains("would write"), "the docker provider prepares no file: {}", run.stdout);
    // Reads of this host's Docker only: nodes that do not exist yet are not asked anything.
    let probes = [
        "docker version",
        "docker ps --all",
        "docker network inspect",
        "docker volume ls",
        "docker image inspect",
        "docker info",
    ];
    let calls = workspace.calls();
    assert_eq!(changes_in(&calls, &probes), Vec::<String>::new(), "{calls}");
}
