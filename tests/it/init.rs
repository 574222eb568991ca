use crate::support::Workspace;

#[test]
fn init_writes_a_commented_config_that_loads_as_the_defaults() {
    let workspace = Workspace::new();
    let run = workspace.run(&["init"]).success();
    assert!(run.stderr.contains("wrote labctl.toml (provider auto)"), "{}", run.stderr);
    let text = workspace.read("labctl.toml");
    for line in [
        "[cluster]",
        "name = \"swarm-lab\"",
        "provider = \"auto\"",
        "subnet = \"192.168.56.0/24\"",
        "manager_ip = \"192.168.56.10\"",
        "workers = 3",
        "worker_ip_start = \"192.168.56.11\"",
    ] {
        assert!(text.lines().any(|candidate| candidate == line), "missing `{line}` in:\n{text}");
    }
    assert!(text.contains("# mirror = "), "the optional mirror is shown commented out");
    // The written file and no file at all give the same lab.
    let with_file = workspace.run(&["labs", "--json"]).success().stdout;
    std::fs::remove_file(workspace.path().join("labctl.toml")).unwrap();
    let without = workspace.run(&["labs", "--json"]).success().stdout;
    assert_eq!(with_file, without);
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "# mine\n");
    let error = workspace.run(&["init"]).single_error();
    assert!(error.contains("labctl.toml already exists") && error.contains("--force"), "{error}");
    assert_eq!(workspace.read("labctl.toml"), "# mine\n");
}

#[test]
fn init_force_keeps_the_old_file_as_bak() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "# mine\n");
    let run = workspace.run(&["init", "--force", "--provider", "docker"]).success();
    assert!(run.stderr.contains("kept the old labctl.toml as labctl.toml.bak"), "{}", run.stderr);
    assert_eq!(workspace.read("labctl.toml.bak"), "# mine\n");
    assert!(workspace.read("labctl.toml").contains("provider = \"docker\""));
    // A second --force never overwrites the first backup.
    workspace.run(&["init", "--force"]).success();
    assert_eq!(workspace.read("labctl.toml.bak"), "# mine\n");
    assert!(workspace.read("labctl.toml.bak.1").contains("provider = \"docker\""));
}

#[test]
fn init_honours_the_config_flag() {
    let workspace = Workspace::new();
    workspace.run(&["--config", "class-a.toml", "init", "--provider", "vagrant"]).success();
    assert!(workspace.read("class-a.toml").contains("provider = \"vagrant\""));
    assert!(!workspace.path().join("labctl.toml").exists());
}

#[test]
fn init_in_a_subfolder_of_a_workspace_writes_there_and_never_touches_the_parents_file() {
    let workspace = Workspace::new();
    let parent = "[cluster]\nname = \"class-a\"\nprovider = \"docker\"\n";
    workspace.file("labctl.toml", parent);
    workspace.file("labs/quiz/lab.toml", "not read by the subfolder's init\n");
    // As `git init` and `cargo init`: the current folder, whatever is above it.
    let run = workspace.run_in("class-b", &["init", "--provider", "docker"]).success();
    assert!(run.stderr.contains("wrote labctl.toml (provider docker)"), "{}", run.stderr);
    assert!(workspace.read("class-b/labctl.toml").contains("provider = \"docker\""));
    assert_eq!(workspace.read("labctl.toml"), parent, "the parent's file is untouched");
    // --force replaces the subfolder's own file only.
    workspace.run_in("class-b", &["init", "--force"]).success();
    assert!(workspace.read("class-b/labctl.toml").contains("provider = \"auto\""));
    assert_eq!(workspace.read("labctl.toml"), parent);
    assert!(!workspace.path().join("labctl.toml.bak").exists());
    // -C names the folder the same way.
    std::fs::create_dir(workspace.path().join("class-c")).unwrap();
    workspace.run(&["-C", "class-c", "init"]).success();
    assert!(workspace.path().join("class-c/labctl.toml").is_file());
    assert_eq!(workspace.read("labctl.toml"), parent);
}
