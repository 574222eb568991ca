use crate::support::{files_under, Workspace};

#[test]
fn help_lists_every_command_with_examples() {
    let run = Workspace::new().run(&["--help"]).success();
    for command in ["init", "render", "labs", "doctor", "completions"] {
        assert!(run.stdout.contains(&format!("  {command}")), "{command} missing from:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("Examples:"));
    let examples = run.stdout.split_once("Examples:").map(|(_, rest)| rest).unwrap_or_default();
    for command in ["up", "status", "exec", "ssh", "down", "destroy", "check", "reset", "solve", "images"] {
        assert!(examples.contains(&format!("  labctl {command} ")), "no example of {command}:\n{examples}");
    }
    assert!(run.stdout.contains("192.168.56.10"));
}

/// Every command's examples are checked in `cli::tests` (each one parses);
/// here, what the help texts promise about templates.
#[test]
fn help_names_only_templates_a_workspace_can_override() {
    let run = Workspace::new().run(&["render", "--help"]).success();
    assert!(run.stdout.contains("templates/Vagrantfile.tera"));
    // Every template file a help text names is one a workspace can override.
    for help in [&["render", "--help"][..], &["--help"], &["up", "--help"]] {
        let text = Workspace::new().run(help).success().stdout;
        for word in text.split(|c: char| c.is_whitespace() || "(),`".contains(c)) {
            if let Some(name) = word.strip_prefix("templates/").filter(|name| name.ends_with(".tera")) {
                let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates").join(name);
                assert!(path.is_file(), "{help:?} names {word}, which is not a template");
            }
        }
    }
}

#[test]
fn exec_without_the_double_dash_suggests_it() {
    let run = Workspace::new().run(&["exec", "manager", "docker", "ps", "-a"]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr.contains("tip: the node's command goes after `--`: `labctl exec manager -- docker ps -a`"),
        "{}",
        run.stderr
    );
    let run = Workspace::new().run(&["exec", "-v", "node1", "sh", "-c", "echo hi"]);
    assert!(run.stderr.contains("`labctl exec node1 -- sh -c 'echo hi'`"), "{}", run.stderr);
}

#[test]
fn help_documents_the_exit_statuses() {
    let run = Workspace::new().run(&["--help"]).success();
    for line in ["  2  usage error", "  3  the cluster could not be reached or is not up"] {
        assert!(run.stdout.contains(line), "{line:?} missing from:\n{}", run.stdout);
    }
    for command in [&["check"][..], &["status"], &["reset"], &["solve"], &["exec"], &["ssh"], &["images", "load"]] {
        let run = Workspace::new().run(&[command, &["--help"]].concat()).success();
        let statuses = run.stdout.split_once("Exit status:").map(|(_, rest)| rest).unwrap_or_default();
        assert!(statuses.contains('3'), "{command:?}: {}", run.stdout);
    }
}

#[test]
fn usage_errors_exit_2() {
    let run = Workspace::new().run(&["frobnicate"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unrecognized subcommand"), "{}", run.stderr);
}

#[test]
fn completions_are_generated_for_bash_and_zsh() {
    let bash = Workspace::new().run(&["completions", "bash"]).success();
    assert!(bash.stdout.contains("complete -F _labctl"), "{}", bash.stdout);
    assert!(bash.stdout.contains("doctor"));
    let zsh = Workspace::new().run(&["completions", "zsh"]).success();
    assert!(zsh.stdout.starts_with("#compdef labctl"));
}

#[test]
fn completions_offer_this_workspaces_lab_and_node_names() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[cluster]\nworkers = 2\nworker_prefix = \"w\"\n");
    workspace.file(
        "labs/mine/lab.toml",
        "id = \"mine\"\ntitle = \"Mine\"\ntitle_ko = \"내 것\"\ndir = \"mine\"\naliases = [\"my\"]\nfiles = [\"a.txt\"]\n",
    );
    workspace
        .file("labs/mine/a.txt", "a\n")
        .file("labs/mine/README.md", "# 내 것\n")
        .file("labs/mine/README.en.md", "# Mine\n");
    let bash = workspace.run(&["completions", "bash"]).success().stdout;
    // The options line of a subcommand's completion: `opts="…"` after its case label.
    let opts = |subcommand: &str| {
        let at = bash
            .find(&format!("labctl__subcmd__{subcommand})"))
            .unwrap_or_else(|| panic!("no {subcommand} in:\n{bash}"));
        let line = bash[at..].lines().find(|line| line.trim_start().starts_with("opts=")).unwrap();
        line.to_string()
    };
    for subcommand in ["check", "reset", "solve"] {
        let line = opts(subcommand);
        assert!(line.contains(" lab1 ingress ") && line.contains(" mine my"), "{subcommand}: {line}");
    }
    for subcommand in ["ssh", "exec"] {
        assert!(opts(subcommand).contains(" manager w1 w2\""), "{subcommand}: {}", opts(subcommand));
    }
}

#[test]
fn workspace_flag_must_name_a_directory() {
    let error = Workspace::new().run(&["-C", "no/such/dir", "labs"]).single_error();
    assert!(error.starts_with("-C ") && error.contains("no/such/dir: no such directory"), "{error}");
}

#[test]
fn workspace_flag_reads_the_config_there() {
    let workspace = Workspace::new();
    workspace.file("class/labctl.toml", "[labs]\nroot = \"/srv/labs\"\n");
    let run = workspace.run(&["-C", "class", "labs"]).success();
    assert!(run.stdout.contains("/srv/labs/ingress"), "{}", run.stdout);
}

#[test]
fn explicit_config_must_exist() {
    let error = Workspace::new().run(&["--config", "other.toml", "labs"]).single_error();
    assert!(error.contains("other.toml: no such file; run `labctl init`"), "{error}");
}

#[test]
fn quiet_hides_progress_and_verbose_shows_where_settings_come_from() {
    let workspace = Workspace::new();
    let quiet = workspace.run(&["-q", "render"]).success();
    assert_eq!(quiet.stderr, "");
    let verbose = workspace.run(&["-v", "render"]).success();
    assert!(verbose.stderr.contains("settings from built-in defaults (no labctl.toml)"), "{}", verbose.stderr);
}

#[test]
fn reinit_swarm_and_destroy_need_yes_without_a_terminal() {
    let workspace = Workspace::new();
    let error = workspace.run(&["up", "--reinit-swarm"]).single_error();
    assert_eq!(
        error,
        "--reinit-swarm starts a new swarm on manager of cluster swarm-lab and loses every stack, service, secret and config of the current one; pass --yes to confirm (no terminal to ask on)"
    );
    let error = workspace.run(&["destroy"]).single_error();
    assert!(error.ends_with("; pass --yes to confirm (no terminal to ask on)"), "{error}");
    assert_eq!(workspace.calls(), "", "nothing ran before the confirmation");
    let run = workspace.run(&["up", "--yes"]);
    assert_eq!(run.code, 2, "--yes alone confirms nothing: {run:?}");
    assert!(run.stderr.contains("--reinit-swarm"), "{}", run.stderr);
}

#[test]
fn a_command_run_inside_the_workspace_finds_its_labctl_toml() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[cluster]\nname = \"class-a\"\n");
    // Before: the defaults' cluster swarm-lab, which `destroy --yes` would have removed.
    let error = workspace.run_in("notes/week1", &["destroy"]).single_error();
    assert!(error.starts_with("destroying cluster class-a removes"), "{error}");
    let error = workspace.run_in("notes", &["-C", "week1", "destroy"]).single_error();
    assert!(error.starts_with("destroying cluster class-a removes"), "{error}");
    // -v says which file it took.
    let run = workspace.run_in("notes/week1", &["-v", "labs"]).success();
    let settings = run.stderr.lines().find(|line| line.contains("settings from")).unwrap_or_default();
    assert!(settings.ends_with("labctl.toml") && !settings.contains("defaults"), "{}", run.stderr);
    // A folder with no labctl.toml above it takes the defaults.
    let elsewhere = Workspace::new();
    let error = elsewhere.run_in("a/b", &["destroy"]).single_error();
    assert!(error.starts_with("destroying cluster swarm-lab removes"), "{error}");
}

#[test]
fn version_names_the_commit_and_the_tools_found() {
    let workspace = Workspace::new();
    workspace
        .fake_program("docker", "echo 'client 27.3.1, engine 27.3.1'")
        .fake_program("vagrant", "echo 'Vagrant 2.4.1'");
    let short = workspace.run(&["-V"]).success();
    let first = short.stdout.lines().next().unwrap_or_default().to_string();
    assert!(first.starts_with(&format!("labctl {} (commit ", env!("CARGO_PKG_VERSION"))), "{first}");
    let long = workspace.run(&["--version"]).success();
    assert!(long.stdout.starts_with(&first), "the long form starts with the short one: {}", long.stdout);
    let line = |tool: &str| {
        long.stdout
            .lines()
            .find(|line| line.trim_start().starts_with(tool))
            .unwrap_or_else(|| panic!("{tool}: {}", long.stdout))
            .to_string()
    };
    assert!(line("docker").contains("client 27.3.1, engine 27.3.1 ("), "{}", long.stdout);
    assert!(line("vagrant").contains("Vagrant 2.4.1 ("), "{}", long.stdout);
    assert!(workspace.calls().contains("docker version --format"), "{}", workspace.calls());
}

#[test]
fn every_labctl_variable_the_code_reads_is_in_the_help() {
    // The variables labctl reads, found in its source, each named in `--help`.
    let help = Workspace::new().run(&["--help"]).success().stdout;
    let mut names = std::collections::BTreeSet::new();
    let sources = files_under(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")));
    for entry in sources.into_iter().filter(|path| path.extension().is_some_and(|extension| extension == "rs")) {
        let text = std::fs::read_to_string(&entry).unwrap();
        for (at, _) in text.match_indices("\"LABCTL_") {
            let name: String = text[at + 1..].chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
            names.insert(name);
        }
    }
    names.remove("LABCTL_COMMIT"); // set at build time, not read at run time
    names.remove("LABCTL_SHELL"); // marks a terminal's shell on a node (serve), not read here
    assert!(names.len() >= 6, "{names:?}");
    for name in &names {
        assert!(help.contains(&format!("{name}=")), "{name} is read by labctl but not in --help:\n{help}");
    }
}
