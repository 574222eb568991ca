//! `labctl doctor`: what breaks classes in practice, checked on this host,
//! each problem with its fix.

mod host;
mod incus;
mod libvirt;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Access, Cluster, Engine, Hypervisor, ProviderSetting};
use crate::exec::CommandSpec;
use crate::provider::docker::engine_is_this_machines;
use crate::provider::docker_cli::DockerCli;
use crate::provider::engine_facts::EngineFacts;
use crate::provider::listen;
use crate::provider::node_image::{self, NodeImage, Presence, BASE_IMAGE};
use crate::provider::ssh::findings::Docker;
use crate::provider::ssh::SshProvider;
use crate::provider::{self, hypervisor_label, hypervisor_program, Choice, Host, Isolation, ProviderKind};
use crate::ui::Mark;
use crate::vbox;

/// VirtualBox releases from this one on enforce the host-only range rule.
const VBOX_RANGE_RULE_SINCE: (u32, u32, u32) = (6, 1, 28);
/// kind's advice for many containerised nodes on one host.
const INOTIFY_WATCHES: u64 = 524_288;
const INOTIFY_INSTANCES: u64 = 512;
/// Images the labs use that are published for amd64 only: on an arm64
/// host (Apple Silicon, ARM servers) their tasks never start.
const AMD64_ONLY: [&str; 2] = ["mysql:5.7", "dockersamples/visualizer"];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub mark: Mark,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    fn new(name: &str, mark: Mark, detail: impl Into<String>) -> Check {
        Check { name: name.to_string(), mark, detail: detail.into(), fix: None }
    }

    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

pub use host::HostFacts;

pub struct Report {
    pub checks: Vec<Check>,
    pub choice: Result<Choice, String>,
}

/// What `doctor --json` prints.
#[derive(serde::Serialize)]
pub struct JsonReport<'a> {
    pub ready: bool,
    /// The provider labctl would use, when one can be chosen.
    pub provider: Option<&'static str>,
    pub reason: Option<&'a str>,
    pub checks: &'a [Check],
}

impl Report {
    pub fn json(&self) -> JsonReport<'_> {
        JsonReport {
            ready: self.ready(),
            provider: self.choice.as_ref().ok().map(|choice| choice.kind.as_str()),
            reason: self.choice.as_ref().ok().map(|choice| choice.reason.as_str()),
            checks: &self.checks,
        }
    }
}

impl Report {
    /// The configured provider can work: it was chosen and nothing it needs failed.
    pub fn ready(&self) -> bool {
        self.choice.is_ok() && self.checks.iter().all(|check| check.mark != Mark::Fail)
    }
}

/// `cluster` names the images of the seeded labs; `image` is the docker
/// provider's node image (see provider::node_image); `facts` what this host
/// offers; `local_nodes` how many docker nodes of the class run on this
/// host's engine (every node of every seat placed here).
pub fn examine(cluster: &Cluster, image: &NodeImage, host: &Host, facts: &HostFacts, local_nodes: usize) -> Report {
    let choice = provider::choose(cluster, None, host).map_err(|error| format!("{error:#}"));
    // Which provider's needs are blocking: the chosen one, or with no
    // choice, the configured one (both for auto).
    let needs = |kind: ProviderKind| match &choice {
        Ok(chosen) => chosen.kind == kind,
        Err(_) => cluster.provider().as_str() == kind.as_str() || cluster.provider() == ProviderSetting::Auto,
    };

    let mut checks = Vec::new();
    checks.push(check_vagrant(host, needs(ProviderKind::Vagrant)));
    let (hypervisor_check, vbox_version) = check_hypervisor(cluster, host, needs(ProviderKind::Vagrant));
    checks.push(hypervisor_check);
    let virtualbox = cluster.vagrant().provider == Hypervisor::VirtualBox;
    // Without VirtualBox there is no host-only network to vouch for, and its
    // CPU needs matter only where VirtualBox is (or is asked for).
    let vbox_found = virtualbox && host.find(hypervisor_program(Hypervisor::VirtualBox)).is_some();
    if vbox_found {
        checks.push(check_host_only_network(cluster, vbox_version, needs(ProviderKind::Vagrant)));
    }
    if vbox_found || (virtualbox && cluster.provider() == ProviderSetting::Vagrant) {
        checks.extend(host::check_virtualisation(facts, needs(ProviderKind::Vagrant)));
    }
    // libvirt's needs, where it is asked for or merely present (then reported, not blocking).
    let vagrant_possible = matches!(cluster.provider(), ProviderSetting::Vagrant | ProviderSetting::Auto)
        && !cluster.engine().is_configured()
        && cluster.seat_of_class().is_only();
    if cluster.vagrant().provider == Hypervisor::Libvirt
        && vagrant_possible
        && (needs(ProviderKind::Vagrant) || host.has(hypervisor_program(Hypervisor::Libvirt)))
    {
        checks.extend(libvirt::checks(cluster, host, facts, needs(ProviderKind::Vagrant)));
    }
    // With [[class.engines]], every seat is on an engine of its own: this
    // host's docker is then only where `images load` finds images.
    checks.push(check_docker(host, needs(ProviderKind::Docker) && !cluster.engine().is_configured()));
    for (engine, seats) in cluster.placement().into_iter().filter(|(engine, _)| engine.is_configured()) {
        checks.push(check_engine(engine, &seats, host));
    }
    let seat_engines: Vec<&Engine> = match needs(ProviderKind::Docker) {
        true => cluster.placement().into_iter().map(|(engine, _)| engine).collect(),
        false => Vec::new(),
    };
    for engine in seat_engines.into_iter().filter(|engine| host.docker_engine(engine).is_ok()) {
        checks.extend(check_isolation(cluster, engine, host));
    }
    if needs(ProviderKind::Docker) {
        checks.extend(check_logins_reach(cluster, facts));
    }
    if needs(ProviderKind::Docker) && host.docker_engine(cluster.engine()).is_ok() {
        checks.push(check_node_image(cluster, image, host));
        checks.extend(check_inotify(Path::new("/proc/sys/fs/inotify")));
        checks.extend(host::check_ipvs(facts));
    }
    if needs(ProviderKind::Incus) && cluster.provider() == ProviderSetting::Incus {
        checks.extend(incus::checks(cluster, host, true));
    }
    checks.extend(check_room(cluster, host, facts, local_nodes, &choice));
    let images: Vec<(String, String)> = cluster
        .seeded()
        .iter()
        .flat_map(|placed| placed.lab.manifest.images.iter().map(|image| (placed.id().to_string(), image.clone())))
        .collect();
    checks.extend(check_architecture(std::env::consts::ARCH, &images));
    if matches!(cluster.student_access(), Some((Access::Key, _))) {
        checks.push(check_ssh_keygen(host));
    }
    // With the ssh provider nothing is forwarded from this host.
    let forwarded = if cluster.provider() == ProviderSetting::Ssh { &[][..] } else { cluster.forwards() };
    for forward in forwarded {
        checks.push(check_port(forward.host, &forward.protocol, &forward.node, forward.guest));
    }
    if cluster.provider() == ProviderSetting::Ssh {
        checks.push(match host.find("ssh") {
            Some(path) => Check::new("ssh", Mark::Ok, format!("the OpenSSH client at {}", path.display())),
            None => Check::new("ssh", Mark::Fail, "the `ssh` client is not installed")
                .fix("install OpenSSH's client (apt-get install openssh-client)"),
        });
    }
    checks.push(match &choice {
        Ok(chosen) => Check::new("provider", Mark::Ok, format!("{} ({})", chosen.kind.as_str(), chosen.reason)),
        Err(why) => Check::new("provider", Mark::Fail, why.clone()),
    });
    Report { checks, choice }
}

/// Memory and disk for the nodes of the provider labctl would use.
fn check_room(
    cluster: &Cluster,
    host: &Host,
    facts: &HostFacts,
    local_nodes: usize,
    choice: &Result<Choice, String>,
) -> Vec<Check> {
    let Ok(choice) = choice else { return Vec::new() };
    let (needs, what, folder, blocking) = match choice.kind {
        ProviderKind::Docker => {
            if local_nodes == 0 {
                return Vec::new();
            }
            (host::Needs::docker(local_nodes), "docker nodes", docker_root(host, cluster), false)
        }
        ProviderKind::Vagrant => {
            let memory: Vec<u32> = cluster.nodes().iter().map(|node| node.memory_mb).collect();
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
            (host::Needs::vagrant(&memory), "VMs", home, true)
        }
        // The machines' memory and disk are theirs, not this host's; an
        // Incus server's room is said by Incus itself (its limits, its pools).
        ProviderKind::Ssh | ProviderKind::Incus => return Vec::new(),
    };
    // A remote engine's disk is not this host's to measure.
    let remote = choice.kind == ProviderKind::Docker && !engine_is_this_machines(cluster.engine());
    let disk = if remote { None } else { host::check_disk(&folder, needs, what) };
    host::check_memory(facts, needs, what, blocking).into_iter().chain(disk).collect()
}

/// Where this host's Docker keeps images and volumes.
fn docker_root(host: &Host, cluster: &Cluster) -> PathBuf {
    let info = DockerCli::on(cluster.engine(), cluster.timeouts())
        .read(&["info", "--format", "{{.DockerRootDir}}"], "ask Docker where it keeps its data");
    let answer = host.runner().run(&info).ok().filter(|output| output.success());
    let root = answer.map(|output| output.stdout.trim().to_string()).filter(|root| root.starts_with('/'));
    PathBuf::from(root.unwrap_or_else(|| "/var/lib/docker".to_string()))
}

/// Missing tools block only the provider that needs them.
pub(crate) fn missing(needed: bool) -> Mark {
    if needed {
        Mark::Fail
    } else {
        Mark::Skip
    }
}

fn tool_version(host: &Host, program: &str, args: &[&str]) -> Option<String> {
    let spec = CommandSpec::new(program, args, &format!("ask {program} for its version"))
        .probe()
        .timeout(Duration::from_secs(20));
    let output = host.runner().run(&spec).ok().filter(|output| output.success())?;
    output.stdout.lines().find(|line| !line.trim().is_empty()).map(|line| line.trim().to_string())
}

fn check_vagrant(host: &Host, needed: bool) -> Check {
    let Some(path) = host.find("vagrant") else {
        return Check::new("vagrant", missing(needed), "not found (needed by the vagrant provider)")
            .fix("install Vagrant 2.3+: https://developer.hashicorp.com/vagrant/install (Debian/Ubuntu: apt install vagrant)");
    };
    match tool_version(host, "vagrant", &["--version"]) {
        Some(version) => Check::new("vagrant", Mark::Ok, format!("{version} ({})", path.display())),
        None => {
            Check::new("vagrant", missing(needed), format!("{} does not answer `vagrant --version`", path.display()))
                .fix("reinstall Vagrant")
        }
    }
}

/// The hypervisor check, and VirtualBox's version when known.
fn check_hypervisor(cluster: &Cluster, host: &Host, needed: bool) -> (Check, Option<(u32, u32, u32)>) {
    let label = hypervisor_label(cluster.vagrant().provider);
    let program = hypervisor_program(cluster.vagrant().provider);
    let Some(path) = host.find(program) else {
        let check = Check::new(label, missing(needed), format!("{program} not found (needed by the vagrant provider)"));
        let fix = if label == "VirtualBox" {
            "install VirtualBox 7 from https://www.virtualbox.org/wiki/Downloads (no VT-x or Apple Silicon: use --provider docker)"
        } else {
            "install libvirt and the vagrant-libvirt plugin"
        };
        return (check.fix(fix), None);
    };
    let version = tool_version(host, program, &["--version"]);
    let parsed = version.as_deref().and_then(parse_version);
    let check = match &version {
        Some(version) => Check::new(label, Mark::Ok, format!("{version} ({})", path.display())),
        None => Check::new(label, missing(needed), format!("{} does not answer `{program} --version`", path.display()))
            .fix(format!("reinstall {label}; on Linux check that its kernel module is loaded (sudo /sbin/vboxconfig)")),
    };
    (check, parsed)
}

/// `7.0.14r161095` → (7, 0, 14).
fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let numeric: String = text.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let mut parts = numeric.split('.').map(|part| part.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next().flatten().unwrap_or(0)))
}

fn check_host_only_network(cluster: &Cluster, vbox_version: Option<(u32, u32, u32)>, needed: bool) -> Check {
    let name = "host-only network";
    if vbox_version.is_some_and(|version| version < VBOX_RANGE_RULE_SINCE) {
        return Check::new(name, Mark::Ok, format!("{} (this VirtualBox predates the range rule)", cluster.subnet()));
    }
    let conf = vbox::networks_conf_path();
    match vbox::allowed_ranges(conf.clone()) {
        Err(error) => {
            Check::new(name, Mark::Warn, format!("{error:#}")).fix(format!("make {} readable", conf.display()))
        }
        Ok(allowed) => match vbox::check_subnet(cluster.subnet(), &allowed, &conf) {
            Ok(()) => Check::new(name, Mark::Ok, format!("{} is allowed by VirtualBox", cluster.subnet())),
            Err(problem) => {
                let mark = if needed { Mark::Fail } else { Mark::Warn };
                Check::new(name, mark, format!("{} cannot be used", cluster.subnet())).fix(problem)
            }
        },
    }
}

fn check_docker(host: &Host, needed: bool) -> Check {
    let Some(path) = host.find("docker") else {
        return Check::new("docker", missing(needed), "not found (needed by the docker provider)").fix(
            "install Docker Engine: https://docs.docker.com/engine/install/ (Debian/Ubuntu: apt install docker.io)",
        );
    };
    match host.docker_engine(&Engine::local()) {
        Ok(version) => Check::new("docker", Mark::Ok, format!("Docker Engine {version} answers ({})", path.display())),
        Err(why) => Check::new("docker", missing(needed), why)
            .fix("start the engine (sudo systemctl start docker) and make sure you may use it (sudo usermod -aG docker $USER, then log in again)"),
    }
}

/// A `[[class.engines]]` engine answers `docker version` within the read
/// limit; one that does not fails the seats it holds.
fn check_engine(engine: &Engine, seats: &[u32], host: &Host) -> Check {
    let name = format!("engine {}", engine.name);
    let holds = match seats {
        [] => "holds no seat of this class".to_string(),
        [only] => format!("holds seat {only}"),
        [first, .., last] => format!("holds seats {first}-{last}"),
    };
    let address = engine.docker_options().join(" ");
    match host.docker_engine(engine) {
        Ok(version) => Check::new(&name, Mark::Ok, format!("Docker Engine {version} answers ({address}); {holds}")),
        Err(why) => {
            let mark = if seats.is_empty() { Mark::Warn } else { Mark::Fail };
            Check::new(&name, mark, format!("does not answer ({address}): {why}; it {holds}")).fix(format!(
                "start Docker there and check that this host reaches it: `docker {address} version` (an ssh:// host needs `ssh` to log in without a password prompt: ssh-copy-id)"
            ))
        }
    }
}

/// How far the seats' students are from `engine`'s host, and which of
/// `[resources]` it can apply: a warning when students log in as root on a
/// rootful engine, or when one seat could starve the others.
fn check_isolation(cluster: &Cluster, engine: &Engine, host: &Host) -> Vec<Check> {
    let facts = EngineFacts::read(&DockerCli::on(engine, cluster.timeouts()), host.runner());
    let name = |what: &str| match engine.is_configured() {
        true => format!("{what} (engine {})", engine.name),
        false => what.to_string(),
    };
    let isolation = match (facts.isolation(), cluster.student_access()) {
        (Isolation::Rootful, Some(_)) => Check::new(
            &name("isolation"),
            Mark::Warn,
            "a rootful engine, and students log in ([class] access): root in a node is root on its host (its kernel settings and cgroups are open to them)",
        )
        .fix("make a rootless engine for the class, once, as root: `sudo labctl class engine --write` (it adds its [[class.engines]] entry to labctl.toml)"),
        (isolation, _) => Check::new(&name("isolation"), Mark::Ok, isolation.describe()),
    };
    let missing = facts.missing_limits();
    let limits = match missing.is_empty() {
        true => Check::new(&name("limits"), Mark::Ok, "each node's memory, CPUs and processes are limited ([resources])"),
        false => Check::new(
            &name("limits"),
            Mark::Warn,
            format!("the engine cannot limit each node's {} use: one seat can starve the others of it", missing.join(", ")),
        )
        .fix(match facts.rootless && !facts.cgroup_v2 {
            true => "a rootless engine has cgroups on a cgroup v2 host with systemd (Debian 12 and Ubuntu 22.04 boot with it: systemd.unified_cgroup_hierarchy=1)",
            false => "enable the cgroup controllers Docker lacks (see `docker info` warnings)",
        }),
    };
    vec![isolation, limits]
}

/// Who reaches the students' SSH ports: every network this host is on when
/// `[class] ssh_bind` is every interface (Docker's published ports bypass
/// ufw and firewalld), else the one address it names.
fn check_logins_reach(cluster: &Cluster, facts: &HostFacts) -> Option<Check> {
    let (_, port) = cluster.student_access()?;
    let ports = match cluster.seat_of_class().of {
        1 => format!("port {port}"),
        seats => format!("ports from {port}, one a seat ({seats} seats)"),
    };
    let name = "students' logins";
    let routes =
        || facts.routes.clone().ok_or_else(|| anyhow::anyhow!("cannot read this host's routes (/proc/net/route)"));
    match listen::students_bind_on(cluster, routes) {
        Err(error) => {
            return Some(
                Check::new(name, Mark::Fail, format!("{error:#}"))
                    .fix("set [class] ssh_bind to the address students reach this host at"),
            )
        }
        Ok((bind, why)) if !bind.is_unspecified() => {
            return Some(Check::new(
                name,
                Mark::Ok,
                format!("SSH {ports} listen on {bind} only ({why}); the labs' forwards on 127.0.0.1 only"),
            ))
        }
        Ok(_) => {}
    }
    let networks: Vec<String> = facts
        .routes
        .iter()
        .flatten()
        .filter(|route| !route.network.addr().is_unspecified())
        .filter(|route| {
            !["docker", "br-", "veth", "virbr", "lo"].iter().any(|prefix| route.interface.starts_with(prefix))
        })
        .map(|route| format!("{} ({})", route.network, route.interface))
        .collect();
    let networks = match networks.is_empty() {
        true => "every network this host is on".to_string(),
        false => format!("every network this host is on: {}", networks.join(", ")),
    };
    Some(
        Check::new(
            name,
            Mark::Warn,
            format!("SSH {ports} listen on every interface ([class] ssh_bind = \"0.0.0.0\"): reachable from {networks}, and from the internet where this host has a public address; Docker's published ports bypass ufw and firewalld"),
        )
        .fix("set [class] ssh_bind to \"auto\" (this host's address on its default route's network) or the one address students reach"),
    )
}

fn check_node_image(cluster: &Cluster, image: &NodeImage, host: &Host) -> Check {
    let name = "node image";
    let tools = node_image::tool_names();
    let presence = match image.presence(cluster.engine(), host.runner(), &cluster.timeouts()) {
        Ok(presence) => presence,
        Err(error) => {
            return Check::new(name, Mark::Warn, format!("cannot tell whether {} is here: {error:#}", image.name()))
        }
    };
    let pull_base = format!(
        "pull it now (`docker pull {BASE_IMAGE}`) while the network is good, or set LABCTL_NODE_IMAGE to a local image"
    );
    match (image, presence) {
        (NodeImage::Given(given), _) if given == BASE_IMAGE => Check::new(
            name,
            Mark::Warn,
            format!("{given} (given in [docker] node_image or LABCTL_NODE_IMAGE) has no curl or tree, which the handouts use"),
        )
        .fix(format!("remove node_image from labctl.toml (and unset LABCTL_NODE_IMAGE) to use labctl's node image: {BASE_IMAGE} plus {tools}")),
        (NodeImage::Given(given), Presence::OnHost) => {
            Check::new(name, Mark::Ok, format!("{given} is on this host (given, used as is)"))
        }
        (NodeImage::Given(given), _) => {
            Check::new(name, Mark::Warn, format!("{given} is not on this host yet; it will be pulled")).fix(format!(
                "pull it now (`docker pull {given}`) while the network is good, or set LABCTL_NODE_IMAGE to a local image"
            ))
        }
        (NodeImage::Built(recipe), Presence::OnHost) => {
            Check::new(name, Mark::Ok, format!("{} is built ({BASE_IMAGE} plus {tools})", recipe.tag))
        }
        (NodeImage::Built(recipe), Presence::ToBuild { base_on_host: true }) => Check::new(
            name,
            Mark::Ok,
            format!("{} will be built on the first `labctl up` ({BASE_IMAGE} is here; adds {tools})", recipe.tag),
        ),
        (NodeImage::Built(recipe), _) => Check::new(
            name,
            Mark::Warn,
            format!(
                "{} will be built on the first `labctl up` from {BASE_IMAGE}, which is not on this host yet",
                recipe.tag
            ),
        )
        .fix(pull_base),
    }
}

/// Many docker-in-docker nodes exhaust the default inotify limits.
fn check_inotify(folder: &Path) -> Vec<Check> {
    let read =
        |name: &str| std::fs::read_to_string(folder.join(name)).ok().and_then(|text| text.trim().parse::<u64>().ok());
    let limits = [("max_user_watches", INOTIFY_WATCHES), ("max_user_instances", INOTIFY_INSTANCES)];
    limits
        .iter()
        .filter_map(|&(name, wanted)| read(name).map(|value| (name, wanted, value)))
        .map(|(name, wanted, value)| {
            let check_name = format!("inotify {name}");
            if value >= wanted {
                Check::new(&check_name, Mark::Ok, value.to_string())
            } else {
                Check::new(&check_name, Mark::Warn, format!("{value} (nodes may fail with \"too many open files\")"))
                    .fix(format!("sudo sysctl fs.inotify.{name}={wanted}"))
            }
        })
        .collect()
}

/// A warning when this host is not amd64 and a seeded lab (lab id, image)
/// uses an amd64-only image; nothing on amd64 or without such a lab.
fn check_architecture(arch: &str, images: &[(String, String)]) -> Option<Check> {
    if arch == "x86_64" {
        return None;
    }
    let affected: Vec<String> = images
        .iter()
        .filter(|(_, image)| AMD64_ONLY.contains(&image.as_str()))
        .map(|(lab, image)| format!("{image} ({lab})"))
        .collect();
    if affected.is_empty() {
        return None;
    }
    let check = Check::new(
        "architecture",
        Mark::Warn,
        format!("this host is {arch}; {} is published for amd64 only and will not start", affected.join(", ")),
    );
    Some(check.fix("run those labs on an amd64 (x86_64) host, or leave them out of [labs] seed in labctl.toml"))
}

/// `[class] access = "key"`: `up` makes each seat's key pair with ssh-keygen.
fn check_ssh_keygen(host: &Host) -> Check {
    match host.find("ssh-keygen") {
        Some(path) => {
            Check::new("ssh-keygen", Mark::Ok, format!("{} (makes each seat's key pair)", path.display()))
        }
        None => Check::new("ssh-keygen", Mark::Fail, "not found: `labctl up` makes each seat's key pair with it")
            .fix("install OpenSSH's client tools (Debian/Ubuntu: apt install openssh-client), or set [class] access = \"password\""),
    }
}

fn check_port(port: u16, protocol: &str, node: &str, guest: u16) -> Check {
    let name = format!("port {port}/{protocol}");
    let free = match protocol {
        "udp" => UdpSocket::bind(("0.0.0.0", port)).is_ok(),
        _ => TcpListener::bind(("0.0.0.0", port)).is_ok(),
    };
    if free {
        Check::new(&name, Mark::Ok, format!("free (forwards to {node}:{guest})"))
    } else {
        Check::new(&name, Mark::Fail, format!("already in use on this host (wanted for {node}:{guest})"))
            .fix(format!("stop what listens there (e.g. `ss -ltnp 'sport = :{port}'`), or pick another host port in [[forward]] in labctl.toml; if your lab is already up, this is expected"))
    }
}

/// Each machine of `provider`'s seat (the ssh provider): it answers within
/// the read limit with BatchMode (no prompt), its host key is the known one,
/// sudo works without a password, and Docker runs or can be installed.
/// `seat` labels the rows of a class.
pub fn check_machines(provider: &SshProvider, seat: Option<&str>) -> Vec<Check> {
    let looks = match provider.look() {
        Ok(looks) => looks,
        Err(error) => return vec![Check::new("machines", Mark::Fail, format!("{error:#}"))],
    };
    looks
        .into_iter()
        .map(|look| {
            let name = match seat {
                Some(seat) => format!("machine {seat} {}", look.node),
                None => format!("machine {}", look.node),
            };
            let probe = match look.probe {
                Ok(probe) => probe,
                Err((state, explained)) => {
                    return Check::new(&name, Mark::Fail, format!("{}: {state}", look.host)).fix(explained)
                }
            };
            let answers = format!("{} answers as {}, sudo without a password", look.host, probe.user);
            match &probe.docker {
                Docker::Running(version) => Check::new(&name, Mark::Ok, format!("{answers}, Docker {version}")),
                Docker::Stopped => Check::new(&name, Mark::Ok, format!("{answers}; Docker is installed, not running: `labctl up` starts it")),
                Docker::Missing if probe.can_install_docker() => Check::new(
                    &name,
                    Mark::Ok,
                    format!("{answers}; no Docker yet: `labctl up` installs it from the distribution ({})", probe.os.trim()),
                ),
                Docker::Missing => Check::new(&name, Mark::Fail, format!("{answers}; no Docker, and labctl cannot install it on {:?}", probe.os.trim()))
                    .fix("install Docker Engine on it by hand (Debian/Ubuntu and RHEL-family machines get it from labctl up)"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_revisions_and_prefixes() {
        assert_eq!(parse_version("7.0.14r161095"), Some((7, 0, 14)));
        assert_eq!(parse_version("6.1"), Some((6, 1, 0)));
        assert_eq!(parse_version("abc"), None);
        assert!(parse_version("6.1.26r145957").unwrap() < VBOX_RANGE_RULE_SINCE);
    }

    #[test]
    fn amd64_only_images_warn_on_arm64_hosts_only() {
        let images = vec![("lab1".to_string(), "node:slim".to_string()), ("lab3".to_string(), "mysql:5.7".to_string())];
        let check = check_architecture("aarch64", &images).expect("a warning on arm64");
        assert_eq!(check.mark, Mark::Warn);
        assert_eq!(
            check.detail,
            "this host is aarch64; mysql:5.7 (lab3) is published for amd64 only and will not start"
        );
        assert!(check.fix.unwrap().contains("amd64"));
        assert_eq!(check_architecture("x86_64", &images), None, "nothing to say on amd64");
        assert_eq!(check_architecture("aarch64", &images[..1]), None, "no seeded lab needs amd64");
    }

    #[test]
    fn each_class_engine_is_asked_and_a_silent_one_fails_naming_its_seats() {
        let settings = crate::config::test_settings(
            "[cluster]\nprovider = \"docker\"\n[class]\nseats = 3\naccess = \"none\"\n[[class.engines]]\nname = \"here\"\nhost = \"unix:///run/docker.sock\"\nseats = 1\n[[class.engines]]\nname = \"lab-server-2\"\nhost = \"ssh://ubuntu@10.0.0.5\"\nseats = 2\n[[class.engines]]\ncontext = \"spare\"\nseats = 5\n",
        );
        let cluster = crate::config::test_cluster(&settings);
        let runner = crate::exec::fake::RecordingRunner::lenient();
        runner.answer("docker version", 1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock\n");
        runner.answer("docker --host unix:///run/docker.sock version", 0, "24.0.7\n", "");
        runner.answer(
            "docker --host ssh://ubuntu@10.0.0.5 version",
            255,
            "",
            "ssh: connect to host 10.0.0.5 port 22: Connection timed out\n",
        );
        runner.answer("docker --context spare version", 1, "", "context \"spare\" does not exist\n");
        let host = Host::with_programs(&runner, &["docker"]);
        let templates = crate::templates::Templates::load(Path::new("/nonexistent")).unwrap();
        let image = NodeImage::for_cluster(&cluster, &templates).unwrap();
        let report = examine(&cluster, &image, &host, &HostFacts::default(), 0);
        let check = |name: &str| report.checks.iter().find(|check| check.name == name).unwrap().clone();
        assert_eq!(check("docker").mark, Mark::Skip, "every seat is on a class engine: {:?}", check("docker"));
        assert_eq!(check("engine here").mark, Mark::Ok);
        assert_eq!(
            check("engine here").detail,
            "Docker Engine 24.0.7 answers (--host unix:///run/docker.sock); holds seat 1"
        );
        let silent = check("engine lab-server-2");
        assert_eq!(silent.mark, Mark::Fail);
        assert_eq!(
            silent.detail,
            "does not answer (--host ssh://ubuntu@10.0.0.5): ssh: connect to host 10.0.0.5 port 22: Connection timed out; it holds seats 2-3"
        );
        assert!(silent.fix.unwrap().contains("`docker --host ssh://ubuntu@10.0.0.5 version`"));
        assert_eq!(check("engine spare").mark, Mark::Warn, "it holds no seat");
        assert!(report.choice.is_ok(), "seat 1's engine answers: {:?}", report.choice);
        assert!(!report.ready());
    }

    #[test]
    fn students_on_a_rootful_engine_and_missing_limits_are_warned_with_the_fix() {
        let templates = crate::templates::Templates::load(Path::new("/nonexistent")).unwrap();
        let report_for = |config: &str, info: &str| {
            let settings = crate::config::test_settings(config);
            let cluster = crate::config::test_cluster(&settings);
            let runner = crate::exec::fake::RecordingRunner::lenient();
            runner.always("docker version", 0, "24.0.7\n", "");
            runner.always("docker info --format", 0, info, "");
            let host = Host::with_programs(&runner, &["docker"]);
            let image = NodeImage::for_cluster(&cluster, &templates).unwrap();
            examine(&cluster, &image, &host, &HostFacts::default(), 0)
        };
        let rootful = r#"{"SecurityOptions":["name=seccomp,profile=default"],"CgroupDriver":"cgroupfs","CgroupVersion":"1","MemoryLimit":true,"CpuCfsQuota":true,"PidsLimit":true}"#;
        let report = report_for("[cluster]\nprovider = \"docker\"\n[class]\nseats = 2\n", rootful);
        let check =
            |report: &Report, name: &str| report.checks.iter().find(|check| check.name == name).unwrap().clone();
        let isolation = check(&report, "isolation");
        assert_eq!(isolation.mark, Mark::Warn, "{isolation:?}");
        assert!(isolation.detail.contains("root in a node is root on its host"), "{isolation:?}");
        assert!(isolation.fix.unwrap().contains("`sudo labctl class engine --write`"));
        assert_eq!(check(&report, "limits").mark, Mark::Ok);

        // No logins: said, not warned.
        let report = report_for("[cluster]\nprovider = \"docker\"\n[class]\nseats = 2\naccess = \"none\"\n", rootful);
        assert_eq!(check(&report, "isolation").mark, Mark::Ok);

        let rootless = r#"{"SecurityOptions":["name=seccomp,profile=default","name=rootless"],"CgroupDriver":"none","CgroupVersion":"1"}"#;
        let report = report_for("[cluster]\nprovider = \"docker\"\n[class]\nseats = 2\n", rootless);
        assert_eq!(check(&report, "isolation").mark, Mark::Ok);
        assert_eq!(check(&report, "isolation").detail, "rootless engine");
        let limits = check(&report, "limits");
        assert_eq!(limits.mark, Mark::Warn);
        assert!(limits.detail.contains("cannot limit each node's memory, CPU, process (pids) use"), "{limits:?}");
        assert!(limits.fix.unwrap().contains("cgroup v2"));
    }

    #[test]
    fn doctor_says_who_reaches_the_students_logins() {
        let route = |interface: &str, network: &str| crate::hostfs::Route {
            interface: interface.into(),
            network: network.parse().unwrap(),
        };
        let facts = HostFacts {
            routes: Some(vec![
                route("eth0", "0.0.0.0/0"),
                route("eth0", "10.0.2.0/24"),
                route("docker0", "172.17.0.0/16"),
                route("br-0a1b", "10.65.0.0/24"),
            ]),
            ..HostFacts::default()
        };
        let everywhere = crate::config::test_settings("[class]\nseats = 3\nssh_bind = \"0.0.0.0\"\n");
        let check = check_logins_reach(&crate::config::test_cluster(&everywhere), &facts).unwrap();
        assert_eq!(check.mark, Mark::Warn);
        assert!(
            check.detail.starts_with("SSH ports from 2201, one a seat (3 seats) listen on every interface ([class] ssh_bind = \"0.0.0.0\"): reachable from every network this host is on: 10.0.2.0/24 (eth0), and from the internet"),
            "{}",
            check.detail
        );
        assert!(check.detail.contains("bypass ufw and firewalld"));
        assert!(check.fix.unwrap().contains("ssh_bind"));

        let bound = crate::config::test_settings("[class]\nseats = 3\nssh_bind = \"10.0.2.15\"\n");
        let check = check_logins_reach(&crate::config::test_cluster(&bound), &facts).unwrap();
        assert_eq!((check.mark, check.detail.as_str()), (Mark::Ok, "SSH ports from 2201, one a seat (3 seats) listen on 10.0.2.15 only ([class] ssh_bind); the labs' forwards on 127.0.0.1 only"));

        // The default: the address of the default route's network, whatever the kernel gives this host there.
        let auto = crate::config::test_settings("[class]\nseats = 3\n");
        let check = check_logins_reach(&crate::config::test_cluster(&auto), &facts).unwrap();
        assert_eq!(check.mark, Mark::Ok, "{check:?}");
        assert!(
            check
                .detail
                .contains(" only (this host's address on eth0, its default route ([class] ssh_bind = \"auto\"))"),
            "{}",
            check.detail
        );
        let lost = HostFacts {
            routes: Some(vec![route("eth0", "10.0.2.0/24"), route("eth1", "10.0.3.0/24")]),
            ..HostFacts::default()
        };
        let check = check_logins_reach(&crate::config::test_cluster(&auto), &lost).unwrap();
        assert_eq!(check.mark, Mark::Fail, "{check:?}");
        assert!(check.detail.contains("no default route and is on 2 networks"), "{}", check.detail);

        let none = crate::config::test_settings("[class]\nseats = 3\naccess = \"none\"\n");
        assert_eq!(check_logins_reach(&crate::config::test_cluster(&none), &facts), None);
    }

    #[test]
    fn busy_ports_fail_with_a_fix() {
        let listener = TcpListener::bind(("0.0.0.0", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let check = check_port(port, "tcp", "manager", 9000);
        assert_eq!(check.mark, Mark::Fail);
        assert!(check.fix.unwrap().contains("[[forward]]"));
        drop(listener);
        assert_eq!(check_port(port, "tcp", "manager", 9000).mark, Mark::Ok);
    }

    #[test]
    fn low_inotify_limits_warn_with_the_sysctl_to_run() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("max_user_watches"), "8192\n").unwrap();
        std::fs::write(dir.path().join("max_user_instances"), "1024\n").unwrap();
        let checks = check_inotify(dir.path());
        assert_eq!(checks[0].mark, Mark::Warn);
        assert_eq!(checks[0].fix.as_deref(), Some("sudo sysctl fs.inotify.max_user_watches=524288"));
        assert_eq!(checks[1].mark, Mark::Ok);
    }
}
