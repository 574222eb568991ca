use std::path::Path;

use crate::support::{require_tool, Workspace};

const SCRIPTS: [&str; 5] = [
    "provision/10-hosts.sh",
    "provision/20-docker.sh",
    "provision/30-daemon-json.sh",
    "provision/40-firewall.sh",
    "provision/50-tools.sh",
];

/// A class that differs from the handout in every rendered dimension.
const CUSTOM: &str = r#"
[cluster]
name = "class-b"
subnet = "192.168.60.0/23"
manager_name = "leader"
manager_ip = "192.168.60.100"
workers = 2
worker_prefix = "worker"
worker_ip_start = "192.168.60.101"

[resources]
memory_mb = 1024
cpus = 1
[resources.node.leader]
memory_mb = 3072

[vagrant]
box = "generic/rocky9"
box_version = "4.3.12"
linked_clone = false
boot_timeout = 900

[[forward]]
host = 49000
guest = 9000

[[forward]]
node = "worker1"
host = 48088
guest = 8088

[registry]
port = 5443
mirror = "https://mirror.example.test"
"#;

fn rendered(workspace: &Workspace, file: &str) -> String {
    workspace.read(&format!(".labctl/vagrant/{file}"))
}

fn snapshot_all(prefix: &str, workspace: &Workspace) {
    insta::assert_snapshot!(format!("{prefix}_Vagrantfile"), rendered(workspace, "Vagrantfile"));
    for script in SCRIPTS {
        let name = Path::new(script).file_name().unwrap().to_string_lossy();
        insta::assert_snapshot!(format!("{prefix}_{name}"), rendered(workspace, script));
    }
}

#[test]
fn default_environment_snapshot() {
    let workspace = Workspace::new();
    let run = workspace.run(&["render"]).success();
    assert!(run.stderr.contains("rendered 6 files into .labctl/vagrant"), "{}", run.stderr);
    snapshot_all("default", &workspace);
}

#[test]
fn customised_environment_snapshot() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", CUSTOM);
    workspace.run(&["render"]).success();
    snapshot_all("custom", &workspace);
}

#[test]
fn vagrantfile_has_one_machine_per_node_and_no_swarm_secrets() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", CUSTOM);
    workspace.run(&["render"]).success();
    let vagrantfile = rendered(&workspace, "Vagrantfile");
    for (name, ip) in [("leader", "192.168.60.100"), ("worker1", "192.168.60.101"), ("worker2", "192.168.60.102")] {
        assert!(vagrantfile.contains(&format!("name: '{name}'")), "{name}");
        assert!(vagrantfile.contains(&format!("ip: '{ip}'")), "{ip}");
    }
    assert!(vagrantfile.contains("netmask: '255.255.254.0'"));
    let everything: String =
        std::iter::once(vagrantfile).chain(SCRIPTS.iter().map(|script| rendered(&workspace, script))).collect();
    for forbidden in ["swarm init", "swarm join", "SWMTKN", "join-token"] {
        assert!(!everything.contains(forbidden), "rendered files must not contain {forbidden:?}");
    }
}

#[test]
fn the_vagrantfile_configures_exactly_the_chosen_hypervisor() {
    for (config, wanted, other) in
        [("", "virtualbox", "libvirt"), ("[vagrant]\nprovider = \"libvirt\"\n", "libvirt", "virtualbox")]
    {
        let workspace = Workspace::new();
        workspace.file("labctl.toml", config);
        workspace.run(&["render"]).success();
        let vagrantfile = rendered(&workspace, "Vagrantfile");
        assert!(vagrantfile.contains(&format!("node.vm.provider \"{wanted}\" do")), "{vagrantfile}");
        assert!(!vagrantfile.contains(&format!("node.vm.provider \"{other}\"")), "{vagrantfile}");
    }
}

#[test]
fn every_rendered_vagrantfile_passes_vagrant_validate() {
    let Some(vagrant) = require_tool("vagrant", "vagrant") else {
        return;
    };
    for config in ["", CUSTOM, "[vagrant]\nprovider = \"libvirt\"\n"] {
        let workspace = Workspace::new();
        workspace.file("labctl.toml", config);
        workspace.run(&["render"]).success();
        let output = duct::cmd(&vagrant, ["validate"])
            .dir(workspace.path().join(".labctl/vagrant"))
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("validated successfully"),
            "vagrant validate failed for config:\n{config}\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn every_rendered_script_passes_shellcheck() {
    let Some(shellcheck) = require_tool("shellcheck", "shellcheck") else {
        return;
    };
    for config in ["", CUSTOM, "[registry]\nenabled = false\n"] {
        let workspace = Workspace::new();
        workspace.file("labctl.toml", config);
        workspace.run(&["render"]).success();
        let scripts: Vec<_> =
            SCRIPTS.iter().map(|script| workspace.path().join(".labctl/vagrant").join(script)).collect();
        let output = duct::cmd(&shellcheck, &scripts).stdout_capture().stderr_capture().unchecked().run().unwrap();
        assert!(
            output.status.success(),
            "shellcheck failed for config:\n{config}\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

#[test]
fn scripts_are_executable_and_unix_formatted() {
    use std::os::unix::fs::PermissionsExt;
    let workspace = Workspace::new();
    workspace.run(&["render"]).success();
    for script in SCRIPTS {
        let path = workspace.path().join(".labctl/vagrant").join(script);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o111, 0o111, "{script}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("#!/bin/bash\n") && !text.contains('\r') && text.ends_with('\n'), "{script}");
    }
}

#[test]
fn daemon_json_names_exactly_the_configured_registry_and_mirror() {
    let workspace = Workspace::new();
    workspace.file("labctl.toml", CUSTOM);
    workspace.run(&["render"]).success();
    let script = rendered(&workspace, "provision/30-daemon-json.sh");
    assert!(script.contains("registry=leader:5443\n"), "{script}");
    assert!(script.contains("mirror=https://mirror.example.test\n"), "{script}");
}

#[test]
fn rendering_again_changes_nothing_and_hand_edits_are_kept() {
    let workspace = Workspace::new();
    workspace.run(&["render"]).success();
    let again = workspace.run(&["render"]).success();
    assert!(again.stderr.contains("(all unchanged)"), "{}", again.stderr);

    let path = workspace.path().join(".labctl/vagrant/Vagrantfile");
    std::fs::write(&path, "# my edits\n").unwrap();
    let run = workspace.run(&["render"]).success();
    assert!(run.stderr.contains("had been edited by hand; your version is kept as Vagrantfile.bak"), "{}", run.stderr);
    assert_eq!(workspace.read(".labctl/vagrant/Vagrantfile.bak"), "# my edits\n");
    assert!(workspace.read(".labctl/vagrant/Vagrantfile").contains("Vagrant.configure"));
}

#[test]
fn config_changes_update_the_files_without_backups() {
    let workspace = Workspace::new();
    workspace.run(&["render"]).success();
    workspace.file("labctl.toml", "[cluster]\nworkers = 4\n");
    let run = workspace.run(&["render"]).success();
    assert!(!run.stderr.contains("edited by hand"), "{}", run.stderr);
    assert!(rendered(&workspace, "Vagrantfile").contains("name: 'node4'"));
    assert!(!workspace.path().join(".labctl/vagrant/Vagrantfile.bak").exists());
}

#[test]
fn out_flag_renders_elsewhere() {
    let workspace = Workspace::new();
    workspace.run(&["render", "--out", "vms"]).success();
    assert!(workspace.path().join("vms/Vagrantfile").is_file());
    assert!(workspace.path().join("vms/provision/20-docker.sh").is_file());
}

#[test]
fn workspace_templates_override_the_built_in_ones_and_are_named() {
    let workspace = Workspace::new();
    workspace
        .file("templates/provision/40-firewall.sh.tera", "#!/bin/bash\n# our own firewall for {{ cluster.name }}\n");
    workspace.file("templates/provision/50-extra.sh.tera", "#!/bin/bash\n");
    let run = workspace.run(&["render"]).success();
    assert!(run.stderr.contains("using templates/provision/40-firewall.sh.tera from the workspace"), "{}", run.stderr);
    assert!(run.stderr.contains("50-extra.sh.tera does not replace any built-in template"), "{}", run.stderr);
    assert_eq!(rendered(&workspace, "provision/40-firewall.sh"), "#!/bin/bash\n# our own firewall for swarm-lab\n");
}

#[test]
fn a_subnet_allowed_by_networks_conf_renders() {
    let workspace = Workspace::new();
    workspace.file("networks.conf", "* 10.20.0.0/16\n");
    workspace.file(
        "labctl.toml",
        "[cluster]\nsubnet = \"10.20.30.0/24\"\nmanager_ip = \"10.20.30.10\"\nworker_ip_start = \"10.20.30.11\"\n",
    );
    workspace.run(&["render"]).success();
}

#[test]
fn the_projects_own_scripts_pass_shellcheck() {
    let Some(shellcheck) = require_tool("shellcheck", "shellcheck") else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut scripts = vec![
        root.join("scripts/test"),
        root.join("scripts/test-images"),
        root.join("scripts/test-lab-images"),
        root.join("scripts/test-vms"),
        root.join("scripts/lib/test-images.sh"),
        root.join("bench/up.sh"),
        root.join("bench/images.sh"),
        root.join("bench/class.sh"),
        root.join("bench/ssh.sh"),
        root.join(".ci/run"),
    ];
    for entry in std::fs::read_dir(root.join("scripts/lab-images")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|extension| extension == "sh") {
            scripts.push(path);
        }
    }
    for lab in std::fs::read_dir(root.join("labs")).unwrap() {
        for entry in std::fs::read_dir(lab.unwrap().path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|extension| extension == "sh") {
                scripts.push(path);
            }
        }
    }
    let output = duct::cmd(&shellcheck, &scripts).stdout_capture().stderr_capture().unchecked().run().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stdout));
}
