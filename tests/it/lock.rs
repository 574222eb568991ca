//! Two commands that change the same cluster never interleave.

use std::time::{Duration, Instant};

use crate::support::{Run, Workspace};

#[test]
fn a_second_command_waits_briefly_then_names_the_holder() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[cluster]\nprovider = \"docker\"\n");
    // `docker ps` (listing the nodes) takes a while: the first `up` holds the cluster.
    workspace.fake_program("docker", "case \"$1\" in version) echo 27.3.1 ;; ps) sleep 3 ;; esac\nexit 0");
    workspace.link_host_tool("sleep");
    let first = workspace.start(&["up"]);
    // Give the first command time to take the lock.
    let started = Instant::now();
    while !workspace.calls().contains("docker ps") {
        assert!(started.elapsed() < Duration::from_secs(10), "the first up never listed the nodes");
        std::thread::sleep(Duration::from_millis(50));
    }

    let waited = Instant::now();
    let second = workspace.with_env(&["destroy", "--yes"], "LABCTL_LOCK_WAIT", "0.5");
    let error = second.single_error();
    assert!(waited.elapsed() >= Duration::from_millis(500), "it waited before giving up");
    assert!(error.starts_with("cluster swarm-lab is busy: `labctl up` (pid "), "{error}");
    assert!(error.ends_with("wait for it to finish, then run this again"), "{error}");
    assert!(!workspace.calls().contains("docker volume"), "destroy did nothing");
    // The first command was not disturbed (it fails later only because the fake docker is minimal).
    let first = Run::from(first.wait().unwrap().clone());
    assert!(!first.stderr.contains("busy"), "{first:?}");
}

/// A docker workspace with no node: `down` takes the lock and has nothing to stop.
fn idle_workspace() -> Workspace {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[cluster]\nprovider = \"docker\"\n");
    workspace.fake_program("docker", "case \"$1\" in version) echo 27.3.1 ;; esac\nexit 0");
    workspace
}

#[test]
fn a_lock_wait_that_is_not_a_number_of_seconds_is_one_error() {
    let workspace = idle_workspace();
    for value in ["-1", "inf", "abc", "NaN"] {
        let error = workspace.with_env(&["down"], "LABCTL_LOCK_WAIT", value).single_error();
        assert_eq!(
            error,
            format!("LABCTL_LOCK_WAIT={value:?} is not a number of seconds; set it to e.g. 30 (0 does not wait), or unset it to wait 5s")
        );
    }
    workspace.with_env(&["down"], "LABCTL_LOCK_WAIT", "0.5").success();
}

#[test]
fn a_symlink_planted_at_the_lock_path_is_refused_and_its_target_untouched() {
    let workspace = idle_workspace();
    workspace.file("precious.txt", "a student's notes\n");
    let lock = workspace.path().join("labctl-swarm-lab.lock");
    std::os::unix::fs::symlink(workspace.path().join("precious.txt"), &lock).unwrap();
    let error = workspace.run(&["down"]).single_error();
    assert_eq!(
        error,
        format!(
            "the lock file {} is a symbolic link, which labctl does not follow; remove it (`rm {}`) and run this again",
            lock.display(),
            lock.display()
        )
    );
    assert_eq!(workspace.read("precious.txt"), "a student's notes\n");
    assert!(!workspace.calls().contains("docker ps"), "nothing was done: {}", workspace.calls());
}

#[test]
fn the_lock_lives_in_the_workspace_whoever_runs_labctl() {
    // The instructor's own runtime folder, then sudo's (none): one lock file.
    let workspace = idle_workspace();
    let runtime = workspace.path().join("run-user");
    std::fs::create_dir(&runtime).unwrap();
    let runtime_text = runtime.to_str().unwrap();
    workspace.with_envs(&["down"], &[("LABCTL_LOCK_DIR", ""), ("XDG_RUNTIME_DIR", runtime_text)]).success();
    let lock = workspace.path().join(".labctl/locks/labctl-swarm-lab.lock");
    assert!(lock.is_file());
    assert!(!runtime.join("labctl").exists(), "never in one user's own folder");
    workspace.with_envs(&["down"], &[("LABCTL_LOCK_DIR", ""), ("XDG_RUNTIME_DIR", "")]).success();
    assert!(lock.is_file());

    // Held by one (a file lock on the same file), another user waits for it.
    let held = std::fs::File::open(&lock).unwrap();
    held.lock().unwrap();
    let busy = workspace
        .with_envs(&["down"], &[("LABCTL_LOCK_DIR", ""), ("XDG_RUNTIME_DIR", runtime_text), ("LABCTL_LOCK_WAIT", "0")]);
    assert_ne!(busy.code, 0, "{busy:#?}");
    assert!(busy.stderr.contains("cluster swarm-lab is busy"), "{}", busy.stderr);
}

#[test]
fn a_lock_file_is_readable_by_every_user_of_the_workspace() {
    use std::os::unix::fs::PermissionsExt;
    // Made by root with sudo, the instructor can still open it (to read:
    // a file lock holds on it all the same).
    let workspace = idle_workspace();
    workspace.with_envs(&["down"], &[("LABCTL_LOCK_DIR", "")]).success();
    let lock = workspace.path().join(".labctl/locks/labctl-swarm-lab.lock");
    assert_eq!(std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777, 0o644);
    let dir = workspace.path().join(".labctl/locks");
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o755);
}

#[test]
fn two_commands_never_change_one_class_at_once_whichever_seats_they_name() {
    let workspace = Workspace::new();
    workspace.file(
        "labctl.toml",
        "[cluster]\nname = \"quiz\"\nprovider = \"docker\"\n\n[class]\nseats = 3\naccess = \"none\"\n",
    );
    // Listing seat 2's nodes takes a while: `up --seat 2` holds the class.
    workspace.fake_program("docker", "case \"$1\" in version) echo 27.3.1 ;; ps) sleep 3 ;; esac\nexit 0");
    workspace.link_host_tool("sleep");
    let first = workspace.start(&["up", "--seat", "2"]);
    let started = Instant::now();
    while !workspace.calls().contains("docker ps") {
        assert!(started.elapsed() < Duration::from_secs(10), "the first up never listed the nodes");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Another seat: its own cluster lock is free, the class's is not (the
    // destroy would decide whether the class cache goes while seat 2 joins it).
    let second = workspace.with_env(&["destroy", "--seat", "1", "--yes"], "LABCTL_LOCK_WAIT", "0.5");
    let error = second.single_error();
    assert!(error.starts_with("class quiz is busy: `labctl up --seat` (pid "), "{error}");
    assert!(!workspace.calls().contains("docker rm"), "destroy did nothing: {}", workspace.calls());
    first.wait().unwrap();
}
