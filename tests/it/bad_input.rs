//! One test per kind of bad input: each must give exactly one error line
//! naming the file, line/column or value, and the fix.

use crate::support::Workspace;

fn error_for_config(config: &str, command: &str) -> String {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", config);
    workspace.run(&[command]).single_error()
}

#[test]
fn malformed_toml_names_line_and_column() {
    let error = error_for_config("[cluster]\nname = \"swarm-lab\nworkers = 3\n", "render");
    assert!(error.starts_with("labctl.toml:2:"), "{error}");
}

#[test]
fn unknown_key_is_named_with_a_suggestion() {
    let error = error_for_config("[cluster]\nworkers = 3\nmanger_ip = \"192.168.56.10\"\n", "labs");
    assert!(error.starts_with("labctl.toml:3:1: unknown key `manger_ip`; did you mean `manager_ip`?"), "{error}");
}

#[test]
fn unknown_section_is_named() {
    let error = error_for_config("[registy]\nport = 5000\n", "labs");
    assert!(error.starts_with("labctl.toml:1:2: unknown key `registy`; did you mean `registry`?"), "{error}");
}

#[test]
fn ip_outside_the_subnet() {
    let error = error_for_config("[cluster]\nmanager_ip = \"192.168.57.10\"\n", "render");
    assert_eq!(
        error,
        "labctl.toml:2:14: cluster.manager_ip: 192.168.57.10 is outside the usable range of subnet 192.168.56.0/24; pick addresses from 192.168.56.2 to 192.168.56.254"
    );
}

#[test]
fn duplicated_ip() {
    let error = error_for_config("[cluster]\nmanager_ip = \"192.168.56.12\"\n", "render");
    assert!(
        error.starts_with("labctl.toml:2:14: cluster.manager_ip: 192.168.56.12 is duplicated: node2 gets it too"),
        "{error}"
    );
    assert!(error.contains("move the manager out of the workers' range"), "{error}");
}

#[test]
fn invalid_manager_hostname() {
    let error = error_for_config("[cluster]\nmanager_name = \"swarm_manager\"\n", "render");
    assert!(
        error.starts_with("labctl.toml:2:16: cluster.manager_name: \"swarm_manager\" is not a valid hostname"),
        "{error}"
    );
    assert!(error.contains("e.g. \"manager\""), "{error}");
}

#[test]
fn invalid_worker_hostname() {
    let error = error_for_config("[cluster]\nworker_prefix = \"Node\"\n", "render");
    assert!(error.starts_with("labctl.toml:2:17: cluster.worker_prefix: gives worker names like \"Node1\""), "{error}");
}

#[test]
fn virtualbox_subnet_that_networks_conf_does_not_allow() {
    let config =
        "[cluster]\nsubnet = \"10.20.30.0/24\"\nmanager_ip = \"10.20.30.10\"\nworker_ip_start = \"10.20.30.11\"\n";
    let workspace = Workspace::new();
    workspace.file("labctl.toml", config);
    let error = workspace.run(&["render"]).single_error();
    let conf = workspace.path().join("networks.conf");
    assert!(
        error.starts_with(
            "labctl.toml:2:10: cluster.subnet: 10.20.30.0/24 is outside the host-only ranges VirtualBox allows"
        ),
        "{error}"
    );
    assert!(error.contains(&format!("add the line `* 10.20.30.0/24` to {}", conf.display())), "{error}");
    // The docker provider has no such rule.
    workspace.file("labctl.toml", &format!("{config}[vagrant]\nprovider = \"libvirt\"\n"));
    workspace.run(&["render"]).success();
}

#[test]
fn a_libvirt_driver_that_does_not_exist() {
    let error = error_for_config("[vagrant]\nprovider = \"libvirt\"\nlibvirt_driver = \"xen\"\n", "render");
    assert_eq!(
        error,
        "labctl.toml:3:18: vagrant.libvirt_driver: \"xen\" is not a libvirt driver; use \"kvm\" (needs /dev/kvm) or \"qemu\" (no hardware virtualisation: slow but works anywhere)"
    );
}

#[test]
fn duplicate_forwarded_host_ports() {
    let error = error_for_config(
        "[[forward]]\nhost = 49000\nguest = 9000\n\n[[forward]]\nhost = 49000\nguest = 8080\n",
        "render",
    );
    assert_eq!(
        error,
        "labctl.toml:6:8: forward[1].host: host port 49000 is forwarded twice (also forward[0]); each [[forward]] needs its own host port"
    );
}

#[test]
fn zero_workers() {
    let error = error_for_config("[cluster]\nworkers = 0\n", "render");
    assert_eq!(error, "labctl.toml:2:11: cluster.workers: is 0, but a swarm lab needs at least one worker; the handout uses workers = 3");
}

#[test]
fn too_many_workers() {
    let error = error_for_config("[cluster]\nworkers = 100000\n", "render");
    assert_eq!(error, "labctl.toml:2:11: cluster.workers: is 100000, but labctl makes at most 50 workers (each is a VM or container on this host); the handout uses workers = 3");
    let workspace = Workspace::new();
    workspace.file("labctl.toml", "[cluster]\nsubnet = \"10.20.0.0/16\"\nmanager_ip = \"10.20.0.10\"\nworker_ip_start = \"10.20.0.11\"\nworkers = 50\n[vagrant]\nprovider = \"libvirt\"\n");
    workspace.run(&["render"]).success();
}

#[test]
fn out_of_range_number_names_the_line() {
    let error = error_for_config("[[forward]]\nhost = 70000\nguest = 9000\n", "render");
    assert!(error.starts_with("labctl.toml:2:8: "), "{error}");
}

#[test]
fn lab_manifest_path_escaping_its_folder() {
    let workspace = workspace_lab(&["../lab1/lab.toml"]);
    let error = workspace.run(&["labs"]).single_error();
    let manifest = workspace.path().join("labs/lab9/lab.toml");
    assert_eq!(
        error,
        format!("{}:5:10: files[0]: \"../lab1/lab.toml\" escapes the lab folder; use a path inside it, such as \"simple-web/Dockerfile\"", manifest.display())
    );
}

#[test]
fn template_that_fails_to_render_names_template_and_line() {
    let workspace = Workspace::new();
    workspace.file(
        "templates/Vagrantfile.tera",
        "# custom\nVagrant.configure(\"2\") do |config|\n  config.vm.box = {{ vagrant.box_nme | ruby }}\nend\n",
    );
    let error = workspace.run(&["-q", "render"]).single_error();
    let template = workspace.path().join("templates/Vagrantfile.tera");
    assert!(error.starts_with(&format!("{}:3: ", template.display())), "{error}");
    assert!(error.contains("vagrant.box_nme"), "{error}");
}

#[test]
fn template_with_a_syntax_error_names_line_and_column() {
    let workspace = Workspace::new();
    workspace.file("templates/provision/20-docker.sh.tera", "#!/bin/bash\n{% if cluster.name %}\necho\n");
    let error = workspace.run(&["-q", "render"]).single_error();
    let template = workspace.path().join("templates/provision/20-docker.sh.tera");
    assert!(error.starts_with(&format!("{}:4:1: ", template.display())), "{error}");
}

/// A workspace lab `lab9` whose lab.toml lists `files`, then has `more` lines.
fn workspace_lab_with(files: &[&str], more: &str) -> Workspace {
    let workspace = Workspace::new();
    let listed: Vec<String> = files.iter().map(|file| format!("{file:?}")).collect();
    workspace
        .file(
            "labs/lab9/lab.toml",
            &format!(
                "id = \"lab9\"\ntitle = \"x\"\ntitle_ko = \"x\"\ndir = \"x\"\nfiles = [{}]\n{more}",
                listed.join(", ")
            ),
        )
        .file("labs/lab9/README.md", "x\n")
        .file("labs/lab9/README.en.md", "x\n");
    workspace
}

fn workspace_lab(files: &[&str]) -> Workspace {
    workspace_lab_with(files, "")
}

/// The one error `labctl labs` gives for lab9 with these extra manifest lines.
fn lab_error(more: &str) -> String {
    let workspace = workspace_lab_with(&[], more);
    let error = workspace.run(&["labs"]).single_error();
    let manifest = workspace.path().join("labs/lab9/lab.toml").display().to_string();
    error.strip_prefix(&manifest).unwrap_or_else(|| panic!("names the manifest: {error}")).to_string()
}

const CHECK: &str = "[[checks]]\nname = \"x\"\nhint_ko = \"x\"\nhint_en = \"x\"\n";

#[test]
fn manifest_values_that_docker_would_read_as_options_are_refused() {
    assert_eq!(
        lab_error("images = [\"mysql:5.7\", \"--privileged\"]\n"),
        ":6:24: images[1]: \"--privileged\" is not an image reference: it starts with '-', which docker would read as an option"
    );
    assert_eq!(
        lab_error("images = [\"MySQL:5.7\"]\n"),
        ":6:11: images[0]: \"MySQL:5.7\" is not an image reference: it must be lower-case letters and digits, separated by '/', '.', '_' or '-' (e.g. example/my-web:1.0)"
    );
    assert_eq!(
        lab_error("[[networks]]\nname = \"-d\"\n"),
        ":7:8: networks[0].name: \"-d\" is not a Docker name: it must start with a letter or digit; e.g. \"ch03\""
    );
    assert_eq!(
        lab_error(&format!("{CHECK}kind = \"network\"\nnetwork = \"ch03 x\"\n")),
        ":11:11: checks[0].network: \"ch03 x\" is not a Docker name: it may only contain letters, digits, '_', '.' and '-'; e.g. \"ch03\""
    );
    assert_eq!(
        lab_error(&format!("{CHECK}kind = \"command\"\nnode = \"Node_1\"\ncommand = \"true\"\n")),
        ":11:8: checks[0].node: \"Node_1\" is not a node name: it may only contain lower-case letters, digits and '-'; e.g. \"node1\""
    );
}

#[test]
fn a_check_on_a_node_the_cluster_does_not_have_says_so() {
    let workspace =
        workspace_lab_with(&[], &format!("{CHECK}kind = \"command\"\nnode = \"node1\"\ncommand = \"true\"\n"));
    workspace.file("labctl.toml", "[cluster]\nworker_prefix = \"worker\"\n");
    let manifest = workspace.path().join("labs/lab9/lab.toml").display().to_string();
    for command in ["check", "solve"] {
        let error = workspace.run(&[command, "lab9"]).single_error();
        assert_eq!(
            error,
            format!("{manifest}:11:8: checks[0].node: \"node1\" is not a node of cluster swarm-lab (its nodes: manager, worker1, worker2, worker3); set the check's `node` to one of them, or name the workers so that it exists ([cluster] worker_prefix)")
        );
    }
    // The shipped labs name a role (`node = "worker"`), whatever the workers are called.
    let run = workspace.run(&["check", "lab1"]);
    assert!(run.code != 0 && !run.stderr.contains("is not a node of cluster"), "{run:?}");
}

#[test]
fn a_symlink_in_a_lab_folder_is_refused() {
    let workspace = workspace_lab(&["notes.txt"]);
    workspace.file("secret/id_rsa", "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    let lab = workspace.path().join("labs/lab9");
    let secret = workspace.path().join("secret/id_rsa");
    std::os::unix::fs::symlink(&secret, lab.join("notes.txt")).unwrap();
    let error = workspace.run(&["labs"]).single_error();
    assert_eq!(
        error,
        format!(
            "{}/notes.txt is a symbolic link (to {}) in lab folder {}; a lab folder may hold only real files and folders, since they are copied to the nodes: replace the link with a copy of what it points at",
            lab.display(),
            secret.display(),
            lab.display()
        )
    );
    // A linked folder is refused too, before anything is read through it.
    std::fs::remove_file(lab.join("notes.txt")).unwrap();
    workspace.file("labs/lab9/notes.txt", "mine\n");
    std::os::unix::fs::symlink(workspace.path().join("secret"), lab.join("keys")).unwrap();
    let error = workspace.run(&["labs"]).single_error();
    assert!(error.starts_with(&format!("{}/keys is a symbolic link", lab.display())), "{error}");
}
