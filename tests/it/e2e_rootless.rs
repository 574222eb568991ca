//! End to end (LABCTL_E2E=1): seats on a rootless engine, beside one on this
//! host's rootful engine. `labctl class engine --write` makes the rootless
//! engine (Debian's uidmap, slirp4netns and rootlesskit, a user with
//! subordinate IDs, its dockerd-rootless.sh) and puts seat 1 on it; seat 2
//! stays on this host's engine. The class (offline cache, students' SSH
//! keys) comes up, the visualizer lab solves and checks on both seats, the
//! seat's forward and its students' login work, and the same escape probe
//! runs as root through each seat's student login: printed as the table of
//! the README's security section, every door refused on the rootless seat.
//! `class engine --remove` takes the engine back at the end.

use std::path::{Path, PathBuf};

use crate::support::{host_docker, require_e2e, require_tool, E2eCluster};

const CLASS: &str = "labctl-e2e-rootless";
const USER: &str = "labctl-e2e-rootless";
const SSH_BASE: u16 = 2350;
const LAB: &str = "visualizer";
/// What the seats' nodes need on the rootless engine (the e2e images are
/// offline stand-ins, copied in from this host's engine).
const IMAGES: [&str; 3] = ["labctl-test/node:bookworm", "labctl-test/registry:2", "dockersamples/visualizer:latest"];

const CONFIG: &str = r#"[cluster]
name = "labctl-e2e-rootless"
provider = "docker"
subnet = "10.75.0.0/24"
manager_ip = "10.75.0.10"
worker_ip_start = "10.75.0.11"
workers = 1

[[forward]]
host = 29155
guest = 9000

[registry]
image = "labctl-test/registry:2"

[labs]
seed = ["visualizer"]

[docker]
node_image = "labctl-test/node:bookworm"

[class]
seats = 2
access = "key"
ssh_port_base = 2350
port_step = 1

# Seat 2: this host's own (rootful) engine. `class engine --write` puts the
# rootless engine first.
[[class.engines]]
name = "rootful"
host = "unix:///var/run/docker.sock"
seats = 1

[cache]
upstream = "none"
image = "labctl-test/registry:2"
"#;

/// Run as root in a node: one line a door, `door<TAB>open|refused<TAB>what happened`.
pub(crate) const PROBE: &str = r#"
door() { printf '%s\t%s\t%s\n' "$1" "$2" "$3"; }
pattern=$(cat /proc/sys/kernel/core_pattern)
if err=$( (printf '%s\n' "$pattern" > /proc/sys/kernel/core_pattern) 2>&1); then
  door "write the host's /proc/sys/kernel/core_pattern" open "wrote its own value back"
else
  door "write the host's /proc/sys/kernel/core_pattern" refused "${err##*: }"
fi
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then dir=/sys/fs/cgroup/labctl-probe-$$; else dir=/sys/fs/cgroup/memory/labctl-probe-$$; fi
# The top of the hierarchy the node sees: the host's (no memory limit there)
# or, in a cgroup namespace, the node's own cgroup, which carries its limit;
# a new cgroup is then one of the node's own, under that limit.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then top=$(cat /sys/fs/cgroup/memory.max 2>/dev/null); else top=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null); fi
case $top in ""|max|9223372036854*) own=no ;; *) own=yes ;; esac
if err=$(mkdir "$dir" 2>&1); then
  rmdir "$dir"
  if [ "$own" = yes ]; then
    door "create a cgroup in the host's hierarchy" refused "its own subtree only (a cgroup namespace): $dir is under the node's limits"
  else
    door "create a cgroup in the host's hierarchy" open "made and removed $dir"
  fi
else
  door "create a cgroup in the host's hierarchy" refused "${err##*: }"
fi
disk=$(for d in /sys/block/*; do case ${d##*/} in loop*|ram*|zram*) ;; *) echo "${d##*/}"; break ;; esac; done)
if [ -z "$disk" ]; then
  door "mount a host block device" refused "no disk in /sys/block"
elif ! err=$(mknod /tmp/labctl-probe-disk b "$(cut -d: -f1 "/sys/block/$disk/dev")" "$(cut -d: -f2 "/sys/block/$disk/dev")" 2>&1); then
  door "mount a host block device" refused "mknod: ${err##*: }"
else
  mkdir -p /tmp/labctl-probe-mnt
  if err=$(mount -o ro /tmp/labctl-probe-disk /tmp/labctl-probe-mnt 2>&1); then
    umount /tmp/labctl-probe-mnt
    door "mount a host block device" open "mounted /dev/$disk read-only"
  else
    case $err in
      *"not permitted"*|*"denied"*) door "mount a host block device" refused "mount: ${err##*: }" ;;
      *) door "mount a host block device" open "mknod /dev/$disk worked; mount got past the permission check: ${err##*: }" ;;
    esac
  fi
  rm -rf /tmp/labctl-probe-disk /tmp/labctl-probe-mnt
fi
read -r inside outside count < /proc/self/uid_map
if [ "$inside $outside" = "0 0" ]; then
  door "root in the node is root on the host" open "uid_map: $inside $outside $count"
else
  door "root in the node is root on the host" refused "root is uid $outside on the host"
fi
if err=$(docker run --rm --entrypoint /usr/bin/registry labctl-test/registry:2 --version 2>&1); then
  door "a container inside the node" works "docker run"
else
  door "a container inside the node" fails "$(printf '%s' "$err" | tail -n 1)"
fi
"#;

pub(crate) struct Seat {
    /// Where the seat's SSH port listens: the roster's host (`ssh_bind =
    /// "auto"`: this host's address on its default route's network).
    host: String,
    port: u16,
    key: PathBuf,
    known_hosts: PathBuf,
    alias: String,
}

impl Seat {
    fn new(workspace: &Path, seat: u32, host: &str) -> Seat {
        Seat::of_class(workspace, CLASS, SSH_BASE, seat, host)
    }

    /// Seat `seat` of class `class`, whose SSH ports start after `ssh_base`.
    pub(crate) fn of_class(workspace: &Path, class: &str, ssh_base: u16, seat: u32, host: &str) -> Seat {
        let dir = workspace.join(format!(".labctl/access/s{seat:02}"));
        Seat {
            host: host.to_string(),
            port: ssh_base + seat as u16,
            key: dir.join("id_ed25519"),
            known_hosts: dir.join("known_hosts"),
            alias: format!("{class}-s{seat:02}-manager"),
        }
    }

    /// `ssh` to the seat's manager as its student, `script` on stdin.
    pub(crate) fn login(&self, ssh: &Path, script: &str) -> (i32, String, String) {
        let args: Vec<String> = vec![
            "-p".into(),
            self.port.to_string(),
            "-F".into(),
            "/dev/null".into(),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".into(),
            format!("HostKeyAlias={}", self.alias),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
            "-i".into(),
            self.key.display().to_string(),
            format!("root@{}", self.host),
            "sh -s".into(),
        ];
        let output = duct::cmd(ssh, &args)
            .stdin_bytes(script.as_bytes().to_vec())
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .expect("ssh runs");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

/// Copy `image` from this host's engine into `host`'s when it lacks it.
fn copy_image(image: &str, host: &str) {
    let has = duct::cmd("docker", ["--host", host, "image", "inspect", image]).stdout_null().stderr_null().unchecked();
    if has.run().unwrap().status.success() {
        return;
    }
    let copied =
        duct::cmd("docker", ["save", image]).pipe(duct::cmd("docker", ["--host", host, "load", "--quiet"])).run();
    assert!(copied.is_ok(), "could not copy {image} into {host}: {copied:?}");
}

/// The probe's doors: (door, verdict, detail).
pub(crate) fn doors(output: &str) -> Vec<(String, String, String)> {
    output
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, '\t');
            Some((parts.next()?.to_string(), parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect()
}

#[test]
#[ignore = "end-to-end: needs root, Docker, the offline test images and Debian's uidmap, slirp4netns and rootlesskit (installed by `labctl class engine`); bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_seats_on_a_rootless_engine_work_and_their_students_cannot_break_out() {
    require_e2e();
    let Some(ssh) = require_tool("ssh", "openssh-client") else { return };
    let class = E2eCluster::class(CLASS, CONFIG);

    // The engine, made by labctl and written into labctl.toml first.
    let made = class.labctl(&["class", "engine", "--user", USER, "--seats", "1", "--write"]).success();
    let host = made
        .stderr
        .lines()
        .find_map(|line| line.split(" answers at ").nth(1))
        .map(|host| host.split_whitespace().next().unwrap().to_string())
        .unwrap_or_else(|| panic!("where the engine listens: {}", made.stderr));
    assert!(host.starts_with("unix:///run/user/") && host.ends_with("/docker.sock"), "{host}");
    let config = std::fs::read_to_string(class.workspace.path().join("labctl.toml")).unwrap();
    let rootless = config.find(&format!("host = \"{host}\"")).expect("the engine is in labctl.toml");
    assert!(rootless < config.find("name = \"rootful\"").unwrap(), "first of the engines: {config}");
    let info = host_docker(&["--host", &host, "info", "--format", "{{json .SecurityOptions}}"]);
    assert!(info.contains("name=rootless"), "{info}");
    for image in IMAGES {
        copy_image(image, &host);
    }
    // Run again, it finds the engine answering and changes nothing.
    let again = class.labctl(&["class", "engine", "--user", USER, "--seats", "1", "--write"]).success();
    assert!(again.stderr.contains("already has an engine at"), "{}", again.stderr);

    let up = class.labctl(&["up", "--seat", "all"]).success();
    assert!(up.stderr.contains("seats on engine \"rootless\""), "{}", up.stderr);
    assert!(up.stderr.contains(": rootless engine"), "{}", up.stderr);
    assert!(
        up.stderr.contains("students log in to seats on this host's Docker, a rootful engine")
            || up.stderr.contains("a rootful engine: root in a node is root on its host"),
        "the rootful seat is said: {}",
        up.stderr
    );
    assert!(
        up.stderr.contains("pushed dockersamples/visualizer"),
        "the offline cache on the rootless engine: {}",
        up.stderr
    );

    class.labctl(&["solve", LAB, "--seat", "all"]).success();
    let graded = class.labctl(&["check", LAB, "--seat", "all"]);
    assert_eq!(graded.code, 0, "both seats pass: {graded:#?}");
    let status = class.labctl(&["class", "status"]).success();
    let rows: Vec<&str> = status.stdout.lines().filter(|line| line.starts_with("s0")).collect();
    assert!(rows[0].contains(" rootless ") && rows[0].contains(" rootless  "), "{}", status.stdout);
    assert!(rows[1].contains(" rootful "), "{}", status.stdout);

    // The seat's forward: the visualizer page through the rootless engine's port.
    let page = duct::cmd("curl", ["-fsS", "--max-time", "10", "http://127.0.0.1:29155/"]).read();
    assert!(page.is_ok_and(|page| page.contains("isualizer")), "seat 1's forward to its visualizer");

    // The probe, as each seat's student, through their own login.
    let mut table = String::from("| door (root in a node, through the student's login) | rootful engine (seat 2) | rootless engine (seat 1) |\n|---|---|---|\n");
    let mut seen = Vec::new();
    let roster = class.labctl(&["class", "roster", "--json"]).success();
    let roster: serde_json::Value = serde_json::from_str(&roster.stdout).unwrap();
    let host = roster["seats"][0]["host"].as_str().expect("the roster's host").to_string();
    assert!(
        !host.starts_with("127.") && host != "0.0.0.0",
        "auto: the classroom's address, not every interface: {host}"
    );
    for seat in [2, 1] {
        let (code, stdout, stderr) = Seat::new(class.workspace.path(), seat, &host).login(&ssh, PROBE);
        assert_eq!(code, 0, "seat {seat}'s login: {stderr}");
        seen.push(doors(&stdout));
    }
    for seat in [1u16, 2] {
        let loopback = std::net::TcpStream::connect(("127.0.0.1", SSH_BASE + seat));
        assert!(loopback.is_err(), "seat {seat}'s SSH port listens on {host} only, not on every interface");
    }
    let (rootful, rootless) = (&seen[0], &seen[1]);
    assert_eq!(rootful.len(), 5, "{rootful:?}");
    for ((door, rootful_verdict, rootful_detail), (same, verdict, detail)) in rootful.iter().zip(rootless) {
        assert_eq!(door, same);
        table.push_str(&format!("| {door} | **{rootful_verdict}** ({rootful_detail}) | **{verdict}** ({detail}) |\n"));
    }
    eprintln!("e2e_rootless: the escape probe\n{table}");
    for (door, verdict, detail) in rootless {
        let wanted = if door == "a container inside the node" { "works" } else { "refused" };
        assert_eq!(verdict, wanted, "rootless seat: {door}: {detail}");
    }
    let root_on_host = rootful.iter().find(|(door, _, _)| door == "root in the node is root on the host").unwrap();
    assert_eq!(root_on_host.1, "open", "the rootful seat's root is the host's: {root_on_host:?}");

    let destroyed = class.labctl(&["destroy", "--seat", "all", "--yes"]).success();
    assert!(destroyed.stderr.contains("removed class cache"), "{}", destroyed.stderr);
    class.labctl(&["class", "engine", "--user", USER, "--remove"]).success();
    let gone = duct::cmd("id", ["-u", USER]).stdout_null().stderr_null().unchecked().run().unwrap();
    assert!(!gone.status.success(), "the engine's user is removed");
    assert!(!Path::new(&format!("/var/lib/labctl-rootless/{USER}")).exists());
}

/// A seat of the handout's size (a manager and three workers) alone on a
/// rootless engine of its own user, every built-in lab seeded.
const LABS_CONFIG: &str = r#"[cluster]
name = "labctl-e2e-rootless-labs"
provider = "docker"
subnet = "10.79.0.0/24"
manager_ip = "10.79.0.10"
worker_ip_start = "10.79.0.11"

[[forward]]
host = 29180
guest = 9000

[registry]
image = "labctl-test/registry:2"

[docker]
node_image = "labctl-test/node:bookworm"

[cache]
enabled = false
"#;

#[test]
#[ignore = "end-to-end: needs root, Docker, the offline test images and lab stand-ins, and Debian's uidmap, slirp4netns and rootlesskit (installed by `labctl class engine`); bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_every_lab_solves_and_checks_on_a_rootless_engine() {
    require_e2e();
    const LABS_USER: &str = "labctl-e2e-rootless-labs";
    let cluster = E2eCluster::class("labctl-e2e-rootless-labs", LABS_CONFIG);
    let made = cluster.labctl(&["class", "engine", "--user", LABS_USER, "--write"]).success();
    assert!(made.stderr.contains("holds 1 seat"), "{}", made.stderr);
    let config = std::fs::read_to_string(cluster.workspace.path().join("labctl.toml")).unwrap();
    let host = config
        .lines()
        .find_map(|line| line.strip_prefix("host = \""))
        .map(|host| host.trim_end_matches('"').to_string())
        .unwrap_or_else(|| panic!("{config}"));
    copy_image("labctl-test/node:bookworm", &host);

    let up = cluster.labctl(&["up"]).success();
    assert!(up.stderr.contains(": rootless engine"), "{}", up.stderr);
    cluster.labctl(&["images", "load"]).success();
    for lab in ["lab1", "lab2", "lab3", "lab4", "visualizer"] {
        cluster.labctl(&["solve", lab]).success();
        let checked = cluster.labctl(&["check", lab]);
        assert_eq!(checked.code, 0, "{lab} on a rootless engine: {checked:#?}");
    }
    cluster.labctl(&["destroy", "--yes"]).success();
    cluster.labctl(&["class", "engine", "--user", LABS_USER, "--remove"]).success();
}
