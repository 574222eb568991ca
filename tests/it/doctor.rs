use crate::support::{free_port, Workspace};

const VAGRANT: &str = "echo 'Vagrant 2.4.1'";
const VBOXMANAGE: &str = "echo '7.0.14r161095'";
const DOCKER_UP: &str = r#"case "$1" in
  version) echo '27.3.1' ;;
  image) echo 'sha256:0123' ;;
esac"#;
const DOCKER_DOWN: &str = "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2; exit 1";

/// A workspace whose forwarded port is free, so tests do not collide.
fn workspace(config: &str) -> (Workspace, u16) {
    let workspace = Workspace::new();
    let port = free_port();
    workspace.file("labctl.toml", &format!("{config}\n[[forward]]\nhost = {port}\nguest = 9000\n"));
    (workspace, port)
}

/// `text` with every run of spaces made one: rows without the column padding.
fn squeezed(text: &str) -> String {
    text.split(' ').filter(|word| !word.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The table row of one check: "  ✓ name  detail".
fn line<'a>(stdout: &'a str, check: &str) -> &'a str {
    let is_row = |line: &str| line.chars().skip(4).collect::<String>().starts_with(&format!("{check} "));
    stdout.lines().find(|line| is_row(line)).unwrap_or_else(|| panic!("no {check} line in:\n{stdout}"))
}

#[test]
fn vagrant_and_virtualbox_present_means_vagrant() {
    let (workspace, port) = workspace("");
    workspace.fake_program("vagrant", VAGRANT).fake_program("VBoxManage", VBOXMANAGE).fake_program("docker", DOCKER_UP);
    let run = workspace.run(&["doctor"]).success();
    assert!(squeezed(line(&run.stdout, "vagrant")).contains("✓ vagrant Vagrant 2.4.1"), "{}", run.stdout);
    assert!(line(&run.stdout, "CPU virtualisation").contains("✓"), "{}", run.stdout);
    assert!(squeezed(line(&run.stdout, "memory")).contains("16.0 GiB available; 4 VMs need about 6.0 GiB"));
    assert!(line(&run.stdout, "VirtualBox").contains("7.0.14r161095"));
    assert!(line(&run.stdout, "host-only network").contains("✓"));
    assert!(line(&run.stdout, &format!("port {port}/tcp")).contains("✓"));
    assert!(line(&run.stdout, "provider").contains("vagrant (auto: Vagrant and VirtualBox found)"), "{}", run.stdout);
    assert!(run.stdout.contains("ready: labctl will use the vagrant provider"));
    assert!(workspace.calls().contains("vagrant --version"));
}

#[test]
fn without_virtualbox_auto_picks_docker_and_says_why() {
    let (workspace, _) = workspace("");
    workspace.fake_program("vagrant", VAGRANT).fake_program("docker", DOCKER_UP);
    let run = workspace.run(&["doctor"]).success();
    let provider = line(&run.stdout, "provider");
    assert!(provider.contains("docker (auto: VirtualBox not found; Docker Engine 27.3.1 answers)"), "{provider}");
    // Missing VirtualBox does not block the docker provider.
    assert!(line(&run.stdout, "VirtualBox").starts_with("  · "), "{}", run.stdout);
    let node_image = line(&run.stdout, "node image");
    assert!(node_image.contains("✓ node image"), "{node_image}");
    assert!(node_image.contains(&format!("labctl/node:{}-", env!("CARGO_PKG_VERSION"))), "{node_image}");
    assert!(
        node_image.contains("is built (docker:dind plus curl, tree, vim, bash, bash-completion, util-linux-misc, openssh-server, openssh-keygen)"),
        "{node_image}"
    );
}

#[test]
fn the_node_image_to_build_and_its_missing_base_are_reported_with_the_fix() {
    // No image on the host: labctl's node image is to be built, and its base is missing.
    let (building, _) = workspace("[cluster]\nprovider = \"docker\"\n");
    building.fake_program("docker", "case \"$1\" in version) echo '27.3.1' ;; image) exit 1 ;; esac");
    let run = building.run(&["doctor"]).success();
    let node_image = line(&run.stdout, "node image");
    assert!(
        node_image.contains("will be built on the first `labctl up` from docker:dind, which is not on this host yet"),
        "{node_image}"
    );
    assert!(run.stdout.contains("fix: pull it now (`docker pull docker:dind`)"), "{}", run.stdout);

    // The base alone is here: built on the first up, nothing to fix.
    building.fake_program(
        "docker",
        "case \"$1 $5\" in 'version '*) echo '27.3.1' ;; 'image docker:dind') echo sha256:0123 ;; *) exit 1 ;; esac",
    );
    let run = building.run(&["doctor"]).success();
    assert!(
        line(&run.stdout, "node image")
            .contains("will be built on the first `labctl up` (docker:dind is here; adds curl"),
        "{}",
        run.stdout
    );

    // A node image given as docker:dind lacks the handouts' tools.
    let (given, _) = workspace("[cluster]\nprovider = \"docker\"\n[docker]\nnode_image = \"docker:dind\"\n");
    given.fake_program("docker", DOCKER_UP);
    let run = given.run(&["doctor"]).success();
    assert!(line(&run.stdout, "node image").contains("has no curl or tree, which the handouts use"), "{}", run.stdout);
    assert!(run.stdout.contains("fix: remove node_image from labctl.toml"), "{}", run.stdout);
}

#[test]
fn nothing_usable_fails_with_a_fix_for_each_problem() {
    let (workspace, _) = workspace("");
    workspace.fake_program("docker", DOCKER_DOWN);
    let run = workspace.run(&["doctor"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(line(&run.stdout, "vagrant").starts_with("  ✗ vagrant"), "{}", run.stdout);
    assert!(line(&run.stdout, "docker").contains("Cannot connect to the Docker daemon"));
    assert!(run.stdout.contains("fix: install VirtualBox"));
    assert!(run.stdout.contains("fix: start the engine (sudo systemctl start docker)"));
    let provider = line(&run.stdout, "provider");
    assert!(provider.starts_with("  ✗ provider") && provider.contains("no provider can work here"), "{provider}");
    assert!(run.stdout.contains("not ready"));
}

#[test]
fn configured_provider_that_cannot_work_fails_even_if_another_could() {
    let (workspace, _) = workspace("[cluster]\nprovider = \"vagrant\"\n");
    workspace.fake_program("vagrant", VAGRANT).fake_program("docker", DOCKER_UP);
    let run = workspace.run(&["doctor"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        line(&run.stdout, "provider").contains("provider vagrant (set in labctl.toml): VirtualBox not found"),
        "{}",
        run.stdout
    );
    assert!(line(&run.stdout, "VirtualBox").starts_with("  ✗"), "{}", run.stdout);
}

#[test]
fn a_forwarded_port_in_use_is_reported_with_a_fix() {
    let (workspace, port) = workspace("");
    workspace.fake_program("vagrant", VAGRANT).fake_program("VBoxManage", VBOXMANAGE);
    let _listener = std::net::TcpListener::bind(("0.0.0.0", port)).unwrap();
    let run = workspace.run(&["doctor"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(line(&run.stdout, &format!("port {port}/tcp")).contains("✗ port"), "{}", run.stdout);
    assert!(run.stdout.contains("pick another host port in [[forward]]"));
}

#[test]
fn a_subnet_virtualbox_refuses_gets_the_networks_conf_line_to_add() {
    let (workspace, _) = workspace(
        "[cluster]\nsubnet = \"10.20.30.0/24\"\nmanager_ip = \"10.20.30.10\"\nworker_ip_start = \"10.20.30.11\"\n",
    );
    workspace.fake_program("vagrant", VAGRANT).fake_program("VBoxManage", VBOXMANAGE);
    let run = workspace.run(&["doctor"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        squeezed(line(&run.stdout, "host-only network")).contains("✗ host-only network 10.20.30.0/24 cannot be used"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("add the line `* 10.20.30.0/24` to"), "{}", run.stdout);
}

#[test]
fn old_virtualbox_has_no_range_rule() {
    let (workspace, _) = workspace(
        "[cluster]\nsubnet = \"10.20.30.0/24\"\nmanager_ip = \"10.20.30.10\"\nworker_ip_start = \"10.20.30.11\"\n",
    );
    workspace.fake_program("vagrant", VAGRANT).fake_program("VBoxManage", "echo '6.1.26r145957'");
    let run = workspace.run(&["doctor"]).success();
    assert!(line(&run.stdout, "host-only network").contains("predates the range rule"), "{}", run.stdout);
}

/// The colour codes (SGR escape sequences, `ESC [ … m`) in `text`.
fn colour_codes(text: &str) -> Vec<&str> {
    text.match_indices("\x1b[")
        .filter_map(|(start, _)| {
            let rest = &text[start + 2..];
            let end = rest.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
            rest[end..].starts_with('m').then(|| &text[start..start + 2 + end + 1])
        })
        .collect()
}

#[test]
fn marks_are_coloured_only_where_colour_is_wanted() {
    let (workspace, _) = workspace("");
    workspace.fake_program("vagrant", VAGRANT).fake_program("VBoxManage", VBOXMANAGE).fake_program("docker", DOCKER_UP);
    // Piped output (as in every other test, NO_COLOR=1 aside): plain text.
    let piped = workspace.with_envs(&["doctor"], &[("NO_COLOR", "")]).success();
    assert_eq!(colour_codes(&piped.stdout), Vec::<&str>::new(), "{}", piped.stdout);
    // CLICOLOR_FORCE=1 colours even a pipe: a green ✓.
    let forced = workspace.with_envs(&["doctor"], &[("NO_COLOR", ""), ("CLICOLOR_FORCE", "1")]).success();
    assert!(forced.stdout.contains("\x1b[32m✓\x1b[0m vagrant "), "{:?}", forced.stdout);
    // ...but NO_COLOR wins over it.
    let no_color = workspace.with_envs(&["doctor"], &[("CLICOLOR_FORCE", "1")]).success();
    assert_eq!(colour_codes(&no_color.stdout), Vec::<&str>::new(), "{}", no_color.stdout);

    // On a terminal: colour, unless TERM=dumb or NO_COLOR says otherwise.
    let Some(terminal) = workspace.in_terminal(&["doctor"], &[("TERM", "xterm"), ("NO_COLOR", "")]) else { return };
    assert!(terminal.stdout.contains("\x1b[32m✓\x1b[0m vagrant "), "{:?}", terminal.stdout);
    for env in [[("TERM", "dumb"), ("NO_COLOR", "")], [("TERM", "xterm"), ("NO_COLOR", "1")]] {
        let plain = workspace.in_terminal(&["doctor"], &env).unwrap();
        assert!(plain.stdout.contains("✓ vagrant "), "{env:?}: {:?}", plain.stdout);
        assert_eq!(colour_codes(&plain.stdout), Vec::<&str>::new(), "{env:?}: {:?}", plain.stdout);
    }
}

#[test]
fn json_lists_every_check_with_its_mark_and_fix_and_no_host_only_line_without_virtualbox() {
    let (workspace, port) = workspace("");
    workspace.fake_program("vagrant", VAGRANT).fake_program("docker", DOCKER_UP);
    let run = workspace.run(&["doctor", "--json"]).success();
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("doctor --json prints JSON");
    assert_eq!(report["ready"], true, "{report:#}");
    assert_eq!(report["provider"], "docker");
    let checks = report["checks"].as_array().unwrap();
    let named = |name: &str| checks.iter().find(|check| check["name"] == name);
    assert_eq!(named("VirtualBox").unwrap()["mark"], "skip");
    assert_eq!(named(&format!("port {port}/tcp")).unwrap()["mark"], "ok");
    assert!(named("memory").is_some() && named("disk").is_some(), "{report:#}");
    // No VirtualBox: nothing to say about its host-only network.
    assert!(named("host-only network").is_none(), "{report:#}");
    let table = workspace.run(&["doctor"]).success();
    assert!(!table.stdout.contains("host-only network"), "{}", table.stdout);
}

#[test]
fn virtualbox_without_vt_x_is_not_ready_and_says_how_to_fix_it() {
    let (workspace, _) = workspace("[cluster]\nprovider = \"vagrant\"\n");
    workspace.fake_program("vagrant", VAGRANT).fake_program("VBoxManage", VBOXMANAGE);
    let root = workspace.host_root();
    std::fs::write(root.join("proc/cpuinfo"), "processor\t: 0\nflags\t\t: fpu sse2 hypervisor\n").unwrap();
    let run = workspace.run(&["doctor"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(line(&run.stdout, "CPU virtualisation").contains("✗"), "{}", run.stdout);
    assert!(run.stdout.contains("fix: enable virtualisation (Intel VT-x / AMD-V / SVM) in the BIOS/UEFI setup"));
}

#[test]
fn a_class_whose_students_log_in_with_keys_needs_ssh_keygen() {
    let (keys, _) = workspace("[cluster]\nprovider = \"docker\"\n[class]\nseats = 2\n");
    keys.fake_program("docker", DOCKER_UP);
    let run = keys.run(&["doctor"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let check = line(&run.stdout, "ssh-keygen");
    assert!(check.starts_with("  ✗ ssh-keygen") && check.contains("makes each seat's key pair with it"), "{check}");
    assert!(run.stdout.contains("fix: install OpenSSH's client tools (Debian/Ubuntu: apt install openssh-client)"));

    keys.fake_program("ssh-keygen", "exit 0");
    let run = keys.run(&["doctor"]).success();
    assert!(line(&run.stdout, "ssh-keygen").starts_with("  ✓ ssh-keygen"), "{}", run.stdout);

    // Passwords need no ssh-keygen here.
    let (password, _) = workspace("[cluster]\nprovider = \"docker\"\n[class]\nseats = 2\naccess = \"password\"\n");
    password.fake_program("docker", DOCKER_UP);
    let run = password.run(&["doctor"]).success();
    let row = |line: &str| line.chars().skip(4).collect::<String>().starts_with("ssh-keygen ");
    assert!(!run.stdout.lines().any(row), "{}", run.stdout);
}

/// A fake `vagrant` with the vagrant-libvirt plugin (or, with `plugins`
/// empty, none).
fn vagrant_with_plugins(plugins: &str) -> String {
    format!("case \"$1\" in --version) echo 'Vagrant 2.3.4' ;; plugin) printf '%s\\n' '{plugins}' ;; esac")
}
const LIBVIRT_PLUGIN: &str = "vagrant-libvirt (0.11.2, system)";
/// A fake `virsh` whose qemu:///system daemon answers and knows no network.
const VIRSH_UP: &str = r#"case "$*" in
  --version) echo '11.3.0' ;;
  *' version') printf 'Compiled against library: libvirt 11.3.0\nUsing library: libvirt 11.3.0\nUsing API: QEMU 11.3.0\nRunning hypervisor: QEMU 10.0.2\n' ;;
  *net-info*) echo "error: Network not found: no network with matching name '$4'" >&2; exit 1 ;;
esac"#;

/// A workspace whose cluster `lab-b` runs on libvirt with `driver`, on a
/// host with /dev/kvm, vagrant-libvirt and an answering libvirtd.
fn libvirt_workspace(driver: &str) -> Workspace {
    let (workspace, _) = workspace(&format!(
        "[cluster]\nname = \"lab-b\"\nprovider = \"vagrant\"\n[vagrant]\nprovider = \"libvirt\"\nlibvirt_driver = \"{driver}\"\n"
    ));
    workspace.fake_program("vagrant", &vagrant_with_plugins(LIBVIRT_PLUGIN)).fake_program("virsh", VIRSH_UP);
    let dev = workspace.host_root().join("dev");
    std::fs::create_dir_all(&dev).unwrap();
    std::fs::write(dev.join("kvm"), "").unwrap();
    workspace
}

/// `labctl doctor` is not ready: the `check` row says `row` and its fix `fix`.
#[track_caller]
fn fails_with(workspace: &Workspace, check: &str, row: &str, fix: &str) {
    let run = workspace.run(&["doctor"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(squeezed(line(&run.stdout, check)).contains(row), "{}", run.stdout);
    assert!(squeezed(&run.stdout).contains(&format!("fix: {fix}")), "{}", run.stdout);
}

#[test]
fn a_ready_libvirt_host_shows_the_plugin_the_daemon_kvm_and_a_free_subnet() {
    let workspace = libvirt_workspace("kvm");
    let run = workspace.run(&["doctor"]).success();
    assert!(
        squeezed(line(&run.stdout, "vagrant-libvirt")).contains("✓ vagrant-libvirt 0.11.2 (system)"),
        "{}",
        run.stdout
    );
    assert!(
        squeezed(line(&run.stdout, "libvirtd"))
            .contains("✓ libvirtd qemu:///system answers: libvirt 11.3.0, QEMU 10.0.2"),
        "{}",
        run.stdout
    );
    assert!(squeezed(line(&run.stdout, "KVM")).contains("✓ KVM /dev/kvm is usable (libvirt_driver = \"kvm\")"));
    assert!(
        squeezed(line(&run.stdout, "libvirt network"))
            .contains("✓ libvirt network 192.168.56.0/24 is free (no interface of this host routes it)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("ready: labctl will use the vagrant provider"), "{}", run.stdout);
    let calls = workspace.calls();
    assert!(calls.contains("vagrant plugin list") && calls.contains("virsh -c qemu:///system version"), "{calls}");
}

#[test]
fn a_missing_vagrant_libvirt_plugin_fails_with_the_install_command() {
    let workspace = libvirt_workspace("kvm");
    workspace.fake_program("vagrant", &vagrant_with_plugins("No plugins installed."));
    fails_with(
        &workspace,
        "vagrant-libvirt",
        "✗ vagrant-libvirt not installed: Vagrant cannot drive libvirt",
        "vagrant plugin install vagrant-libvirt (Debian/Ubuntu: apt install vagrant-libvirt)",
    );
}

#[test]
fn a_libvirtd_that_does_not_answer_fails_with_how_to_start_it() {
    let workspace = libvirt_workspace("kvm");
    workspace.fake_program(
        "virsh",
        r#"case "$*" in
  --version) echo '11.3.0' ;;
  *) echo 'error: failed to connect to the hypervisor' >&2
     echo "error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory" >&2; exit 1 ;;
esac"#,
    );
    let run = workspace.run(&["doctor", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let checks = report["checks"].as_array().unwrap();
    let daemon = checks.iter().find(|check| check["name"] == "libvirtd").expect("a libvirtd check");
    assert_eq!(daemon["mark"], "fail", "{daemon:#}");
    assert_eq!(
        daemon["detail"],
        "qemu:///system does not answer: error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory"
    );
    assert!(daemon["fix"].as_str().unwrap().starts_with("start libvirtd (sudo systemctl start libvirtd"), "{daemon:#}");
    assert_eq!(report["ready"], false);
}

#[test]
fn no_dev_kvm_fails_the_kvm_driver_naming_the_setting_and_passes_qemu() {
    let workspace = libvirt_workspace("kvm");
    std::fs::remove_file(workspace.host_root().join("dev/kvm")).unwrap();
    fails_with(
        &workspace,
        "KVM",
        "✗ KVM /dev/kvm is missing: libvirt_driver = \"kvm\" cannot start the machines",
        "set vagrant.libvirt_driver = \"qemu\" in labctl.toml (slow: the CPU is emulated)",
    );

    // As the fix says: the qemu driver needs no /dev/kvm.
    let config = workspace.read("labctl.toml").replace("libvirt_driver = \"kvm\"", "libvirt_driver = \"qemu\"");
    workspace.file("labctl.toml", &config);
    let run = workspace.run(&["doctor"]).success();
    assert!(line(&run.stdout, "KVM").contains("✓ KVM"), "{}", run.stdout);
    assert!(line(&run.stdout, "KVM").contains("the CPU is emulated"), "{}", run.stdout);
}

#[test]
fn a_docker_network_on_the_subnet_fails_naming_it_and_how_to_free_it() {
    let workspace = libvirt_workspace("qemu");
    workspace.host_route("br-0123456789ab", "192.168.56.0/24");
    workspace.fake_program(
        "docker",
        r#"case "$*" in
  'network ls --no-trunc --filter id=0123456789ab --format '*) printf 'labctl-lab-a\t\tlab-a\n' ;;
  version*) echo '27.3.1' ;;
esac"#,
    );
    fails_with(
        &workspace,
        "libvirt network",
        "✗ libvirt network 192.168.56.0/24 is already used by interface br-0123456789ab (the Docker network labctl-lab-a, made by labctl's docker provider for cluster lab-a): libvirt will refuse with \"Network is already in use by interface br-0123456789ab\"",
        "remove it (`labctl destroy` in that workspace, or `labctl destroy --name lab-a`; `docker network rm labctl-lab-a` once no container uses it) or choose another cluster.subnet in labctl.toml",
    );
}

#[test]
fn the_clusters_own_libvirt_network_is_no_conflict() {
    let workspace = libvirt_workspace("qemu");
    workspace.host_route("virbr1", "192.168.56.0/24");
    workspace.fake_program(
        "virsh",
        &VIRSH_UP.replace(
            "*net-info*) echo",
            "*'net-info labctl-lab-b') echo 'Bridge:         virbr1' ;;\n  *net-info*) echo",
        ),
    );
    let run = workspace.run(&["doctor"]).success();
    assert!(
        squeezed(line(&run.stdout, "libvirt network"))
            .contains("✓ libvirt network 192.168.56.0/24 is the cluster's own network (labctl-lab-b on virbr1)"),
        "{}",
        run.stdout
    );
}

#[test]
fn libvirt_merely_present_while_docker_is_used_is_reported_not_blocking() {
    let (workspace, _) = workspace("[vagrant]\nprovider = \"libvirt\"\n");
    workspace.fake_program("virsh", "echo 'error: failed to connect to the hypervisor' >&2; exit 1");
    workspace.fake_program("docker", DOCKER_UP);
    let run = workspace.run(&["doctor"]).success();
    assert!(line(&run.stdout, "provider").contains("docker (auto: Vagrant not found"), "{}", run.stdout);
    assert!(line(&run.stdout, "libvirtd").starts_with("  · libvirtd"), "{}", run.stdout);
    assert!(line(&run.stdout, "KVM").starts_with("  · KVM"), "no /dev/kvm here: {}", run.stdout);
    assert!(run.stdout.contains("ready: labctl will use the docker provider"), "{}", run.stdout);

    // An explicit docker provider: nothing about libvirt at all.
    let config = workspace.read("labctl.toml").replacen("[vagrant]", "[cluster]\nprovider = \"docker\"\n[vagrant]", 1);
    workspace.file("labctl.toml", &config);
    let run = workspace.run(&["doctor"]).success();
    assert!(!run.stdout.contains("libvirtd") && !run.stdout.contains("KVM"), "{}", run.stdout);
}
