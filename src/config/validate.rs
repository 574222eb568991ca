//! Turning a parsed [`RawConfig`] into trusted [`Settings`], or into one
//! error line per problem, each naming the file, line, value and the fix.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use anyhow::{bail, Result};
use ipnet::Ipv4Net;

use super::*;
use crate::labs::Catalog;
use crate::names::hostname_problem;

/// Fewer processes than a node's dockerd, containerd and a lab's services
/// take when idle.
const MIN_PIDS: u32 = 256;

/// Each worker is a VM or a container on this one host; a bound also keeps a
/// typo such as `workers = 100000` from building that many nodes.
pub const MAX_WORKERS: u32 = 50;

/// Problems found so far, each already a complete line.
struct Problems<'a> {
    origin: &'a Origin,
    lines: Vec<String>,
}

impl Problems<'_> {
    fn add(&mut self, key: &str, message: impl std::fmt::Display) {
        let key_path = KeyPath::parse(key);
        self.lines.push(format!("{}{key_path}: {message}", self.origin.prefix(&key_path)));
    }
}

pub(super) fn resolve(
    raw: RawConfig,
    origin: Origin,
    catalog: &Catalog,
    node_image_override: Option<String>,
) -> Result<Settings> {
    let mut problems = Problems { origin: &origin, lines: Vec::new() };

    if let Some(reason) = hostname_problem(&raw.cluster.name) {
        problems.add(
            "cluster.name",
            format!("{:?} {reason} (it names containers and networks); e.g. \"swarm-lab\"", raw.cluster.name),
        );
    }
    let subnet = check_subnet(&raw.cluster.subnet, &mut problems);
    let nodes = build_nodes(&raw, subnet, &mut problems);
    let node_names = nodes.names();
    let vagrant = check_vagrant(&raw.vagrant, &mut problems);
    let forwards = check_forwards(&raw.forward, &raw.cluster.manager_name, &node_names, &mut problems);
    let (registry, registry_mirror) =
        check_registry(&raw.registry, &raw.cluster.manager_name, &node_names, &mut problems);
    let (seeded_labs, lab_targets) = check_labs(&raw.labs, catalog, &mut problems);
    let class = check_class(&raw, subnet, &nodes, &forwards, &mut problems);
    let ssh = check_ssh(&raw, &nodes, class.seats, &mut problems);
    let cache = check_cache(&raw, subnet, &nodes, class.seats, &mut problems);
    if raw.images.parallel == Some(0) {
        problems.add(
            "images.parallel",
            "is 0; use at least 1, or remove the line to unpack on as many nodes at once as this host has cores",
        );
    }
    let (incus, incus_problems) = super::incus::check(&raw.incus, &raw.cluster.name);
    for (key, problem) in incus_problems {
        problems.add(key, problem);
    }
    let node_image = node_image_override.or(raw.docker.node_image);
    if let Some(image) =
        node_image.as_ref().filter(|image| image.trim().is_empty() || image.contains(char::is_whitespace))
    {
        problems.add(
            "docker.node_image",
            format!("{image:?} is not an image reference; e.g. \"docker:dind\", or remove the line to use labctl's node image"),
        );
    }

    if !problems.lines.is_empty() {
        bail!(problems.lines.join("\n"));
    }
    Ok(Settings {
        origin,
        cluster_name: raw.cluster.name,
        provider: raw.cluster.provider,
        subnet: subnet.expect("a subnet problem would have been reported"),
        nodes,
        vagrant,
        forwards,
        registry,
        registry_mirror,
        seeded_labs,
        lab_targets,
        labs_root: raw.labs.root.trim_end_matches('/').to_string(),
        node_image,
        preload_images: raw.images.preload,
        parallel_loads: raw.images.parallel,
        log_mb: raw.resources.log_mb,
        timeouts: Timeouts::default(),
        class,
        ssh,
        cache,
        incus,
        workspace: PathBuf::new(),
    })
}

fn check_subnet(text: &str, problems: &mut Problems) -> Option<Ipv4Net> {
    let key = "cluster.subnet";
    let Ok(subnet) = text.parse::<Ipv4Net>() else {
        problems.add(key, format!("{text:?} is not an IPv4 network in CIDR form; e.g. \"192.168.56.0/24\""));
        return None;
    };
    if subnet.prefix_len() > 29 {
        problems.add(key, format!("{text:?} is too small for a cluster; use a /24 such as \"192.168.56.0/24\""));
        return None;
    }
    if subnet.network() != subnet.addr() {
        problems.add(key, format!("{text:?} has host bits set; write the network address \"{}\"", subnet.trunc()));
        return None;
    }
    Some(subnet)
}

/// The manager and workers with their addresses and resources.
fn build_nodes(raw: &RawConfig, subnet: Option<Ipv4Net>, problems: &mut Problems) -> Nodes {
    let cluster = &raw.cluster;
    if cluster.workers == 0 {
        problems
            .add("cluster.workers", "is 0, but a swarm lab needs at least one worker; the handout uses workers = 3");
    }
    if cluster.workers > MAX_WORKERS {
        problems.add(
            "cluster.workers",
            format!(
                "is {}, but labctl makes at most {MAX_WORKERS} workers (each is a VM or container on this host); the handout uses workers = 3",
                cluster.workers
            ),
        );
    }
    // Checked before any node is built: nothing is allocated for a bad count.
    let workers = if cluster.workers > MAX_WORKERS { 0 } else { cluster.workers };
    let manager_ip = parse_ip("cluster.manager_ip", &cluster.manager_ip, problems);
    let worker_start = parse_ip("cluster.worker_ip_start", &cluster.worker_ip_start, problems);

    let manager = Node {
        name: cluster.manager_name.clone(),
        role: Role::Manager,
        ip: manager_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
        memory_mb: raw.resources.memory_mb,
        cpus: raw.resources.cpus,
        pids: raw.resources.pids,
    };
    let workers = (0..workers)
        .map(|index| {
            let ip = worker_start.and_then(|start| u32::from(start).checked_add(index)).map(Ipv4Addr::from);
            Node {
                name: format!("{}{}", cluster.worker_prefix, index + 1),
                role: Role::Worker,
                ip: ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
                memory_mb: raw.resources.memory_mb,
                cpus: raw.resources.cpus,
                pids: raw.resources.pids,
            }
        })
        .collect();
    let mut nodes = Nodes::new(manager, workers);

    check_node_names(&nodes, problems);
    if let (Some(subnet), Some(_), Some(_)) = (subnet, manager_ip, worker_start) {
        check_node_addresses(&nodes, subnet, problems);
    }
    apply_resources(&mut nodes, &raw.resources, problems);
    nodes
}

fn parse_ip(key: &str, text: &str, problems: &mut Problems) -> Option<Ipv4Addr> {
    let parsed = text.parse().ok();
    if parsed.is_none() {
        problems.add(key, format!("{text:?} is not an IPv4 address; e.g. \"192.168.56.10\""));
    }
    parsed
}

fn check_node_names(nodes: &Nodes, problems: &mut Problems) {
    let manager = &nodes.manager().name;
    if let Some(reason) = hostname_problem(manager) {
        problems
            .add("cluster.manager_name", format!("{manager:?} is not a valid hostname: it {reason}; e.g. \"manager\""));
    }
    if let Some(worker) = nodes.workers().first() {
        if let Some(reason) = hostname_problem(&worker.name) {
            problems.add(
                "cluster.worker_prefix",
                format!("gives worker names like {:?}, not a valid hostname: it {reason}; e.g. \"node\"", worker.name),
            );
        } else if nodes.workers().iter().any(|node| &node.name == manager) {
            problems.add(
                "cluster.manager_name",
                format!("{manager:?} is also a worker's name; pick another name or worker_prefix"),
            );
        }
    }
}

fn check_node_addresses(nodes: &Nodes, subnet: Ipv4Net, problems: &mut Problems) {
    let fix = format!(
        "pick addresses from {} to {}",
        Ipv4Addr::from(u32::from(subnet.network()) + 2),
        Ipv4Addr::from(u32::from(subnet.broadcast()) - 1)
    );
    let manager = nodes.manager();
    if let Some(problem) = address_problem(manager.ip, subnet) {
        problems.add("cluster.manager_ip", format!("{} {problem}; {fix}", manager.ip));
    }
    // The workers share one key: report only their first problem.
    for worker in nodes.workers() {
        if let Some(problem) = address_problem(worker.ip, subnet) {
            problems
                .add("cluster.worker_ip_start", format!("{} gets {}, which {problem}; {fix}", worker.name, worker.ip));
            return;
        }
        if worker.ip == manager.ip {
            problems.add(
                "cluster.manager_ip",
                format!(
                    "{} is duplicated: {} gets it too (workers are numbered from worker_ip_start); move the manager out of the workers' range",
                    manager.ip, worker.name
                ),
            );
            return;
        }
    }
}

fn address_problem(ip: Ipv4Addr, subnet: Ipv4Net) -> Option<String> {
    // .1 is the host's own address on a VirtualBox host-only network and the
    // gateway of a Docker bridge network: a node there would clash with it.
    let gateway = subnet.hosts().next();
    if !subnet.contains(&ip) || ip == subnet.network() || ip == subnet.broadcast() {
        Some(format!("is outside the usable range of subnet {subnet}"))
    } else if Some(ip) == gateway {
        Some("is the host's address on this network (VirtualBox host-only adapter, Docker gateway)".to_string())
    } else {
        None
    }
}

fn apply_resources(nodes: &mut Nodes, resources: &RawResources, problems: &mut Problems) {
    let defaults = RawNodeResources {
        memory_mb: Some(resources.memory_mb),
        cpus: Some(resources.cpus),
        pids: Some(resources.pids),
    };
    check_resource_values("resources", &defaults, problems);
    if !(1..=1024).contains(&resources.log_mb) {
        problems.add(
            "resources.log_mb",
            format!("{} is not a log size labctl keeps; use 1 to 1024 (MB per file, two files kept)", resources.log_mb),
        );
    }
    for (name, overrides) in &resources.node {
        let key = format!("resources.node.{name}");
        let Some(node) = nodes.iter_mut().find(|node| &node.name == name) else {
            problems.add(
                &key,
                format!("{name:?} is not a node of this cluster; use the manager's name or a worker name like node1"),
            );
            continue;
        };
        check_resource_values(&key, overrides, problems);
        node.memory_mb = overrides.memory_mb.unwrap_or(node.memory_mb);
        node.cpus = overrides.cpus.unwrap_or(node.cpus);
        node.pids = overrides.pids.unwrap_or(node.pids);
    }
}

fn check_resource_values(section: &str, values: &RawNodeResources, problems: &mut Problems) {
    if let Some(memory) = values.memory_mb.filter(|memory| *memory < 512) {
        problems.add(
            &format!("{section}.memory_mb"),
            format!("{memory} is too little for Docker; use at least 512 (1536 recommended)"),
        );
    }
    if values.cpus == Some(0) {
        problems.add(&format!("{section}.cpus"), "is 0; use at least 1");
    }
    if let Some(pids) = values.pids.filter(|pids| *pids < MIN_PIDS) {
        problems.add(
            &format!("{section}.pids"),
            format!("{pids} is too few for a node's Docker and the labs' services; use at least {MIN_PIDS} (1024 recommended)"),
        );
    }
}

fn check_vagrant(raw: &RawVagrant, problems: &mut Problems) -> VagrantSettings {
    if raw.box_name.trim().is_empty() || raw.box_name.contains(char::is_whitespace) {
        problems.add("vagrant.box", format!("{:?} is not a box name; e.g. \"bento/ubuntu-22.04\"", raw.box_name));
    }
    if raw.box_version.as_deref().is_some_and(|version| version.trim().is_empty()) {
        problems.add("vagrant.box_version", "is empty; remove the line to use the newest box");
    }
    let provider = Hypervisor::parse(&raw.provider);
    if provider.is_none() {
        let known: Vec<&str> = Hypervisor::ALL.iter().map(|hypervisor| hypervisor.as_str()).collect();
        problems
            .add("vagrant.provider", format!("{:?} is not supported; use one of: {}", raw.provider, known.join(", ")));
    }
    let libvirt_driver = LibvirtDriver::parse(&raw.libvirt_driver);
    if libvirt_driver.is_none() {
        problems.add(
            "vagrant.libvirt_driver",
            format!(
                "{:?} is not a libvirt driver; use \"kvm\" (needs /dev/kvm) or \"qemu\" (no hardware virtualisation: slow but works anywhere)",
                raw.libvirt_driver
            ),
        );
    }
    if raw.boot_timeout < 60 {
        problems.add(
            "vagrant.boot_timeout",
            format!("{} seconds is too short for booting several VMs; use 600", raw.boot_timeout),
        );
    }
    VagrantSettings {
        box_name: raw.box_name.clone(),
        box_version: raw.box_version.clone(),
        // Only read when there is no problem, so never this stand-in.
        provider: provider.unwrap_or(Hypervisor::VirtualBox),
        linked_clone: raw.linked_clone,
        boot_timeout: raw.boot_timeout,
        libvirt_driver: libvirt_driver.unwrap_or(LibvirtDriver::Kvm),
    }
}

fn check_forwards(raw: &[RawForward], manager: &str, nodes: &[&str], problems: &mut Problems) -> Vec<Forward> {
    let mut seen: BTreeMap<(u16, &str), usize> = BTreeMap::new();
    let mut forwards = Vec::new();
    for (index, forward) in raw.iter().enumerate() {
        let key = |field: &str| format!("forward[{index}].{field}");
        let node = forward.node.clone().unwrap_or_else(|| manager.to_string());
        if !nodes.contains(&node.as_str()) {
            problems
                .add(&key("node"), format!("{node:?} is not a node of this cluster; use one of: {}", nodes.join(", ")));
        }
        if forward.host == 0 {
            problems.add(&key("host"), "is 0; use a free port on the host such as 49000");
        }
        if forward.guest == 0 {
            problems.add(&key("guest"), "is 0; use the port the service listens on, such as 9000");
        }
        if !["tcp", "udp"].contains(&forward.protocol.as_str()) {
            problems.add(&key("protocol"), format!("{:?} is not a protocol; use \"tcp\" or \"udp\"", forward.protocol));
        }
        if let Some(first) = seen.insert((forward.host, forward.protocol.as_str()), index) {
            problems.add(
                &key("host"),
                format!(
                    "host port {} is forwarded twice (also forward[{first}]); each [[forward]] needs its own host port",
                    forward.host
                ),
            );
        }
        forwards.push(Forward { node, host: forward.host, guest: forward.guest, protocol: forward.protocol.clone() });
    }
    forwards
}

fn check_registry(
    raw: &RawRegistry,
    manager: &str,
    nodes: &[&str],
    problems: &mut Problems,
) -> (Option<Registry>, Option<String>) {
    let host = raw.host.clone().unwrap_or_else(|| manager.to_string());
    if !nodes.contains(&host.as_str()) {
        problems.add(
            "registry.host",
            format!("{host:?} is not a node of this cluster; the registry runs on a node, e.g. \"{manager}\""),
        );
    }
    if raw.port == 0 {
        problems.add("registry.port", "is 0; the handout uses 5000");
    }
    if let Some(mirror) = &raw.mirror {
        let scheme_ok = mirror.starts_with("http://") || mirror.starts_with("https://");
        if !scheme_ok || mirror.contains(char::is_whitespace) || mirror.len() < 10 {
            problems.add(
                "registry.mirror",
                format!("{mirror:?} is not a URL; e.g. \"https://mirror.gcr.io\", or remove the line"),
            );
        }
    }
    if raw.image.trim().is_empty() || raw.image.contains(char::is_whitespace) {
        problems.add("registry.image", format!("{:?} is not an image reference; e.g. \"registry:2\"", raw.image));
    }
    let registry = raw.enabled.then(|| Registry { host, port: raw.port, image: raw.image.clone() });
    (registry, raw.mirror.clone())
}

fn check_labs(raw: &RawLabs, catalog: &Catalog, problems: &mut Problems) -> (Vec<SeededLab>, BTreeMap<String, String>) {
    if let Some(reason) = node_path_problem(&raw.root) {
        problems.add("labs.root", format!("{:?} {reason}; e.g. \"/root/work\"", raw.root));
    }
    let mut targets: BTreeMap<String, String> = BTreeMap::new();
    for (name, target) in &raw.target {
        let key = format!("labs.target.{name}");
        match catalog.resolve(name) {
            Ok(lab) => {
                if let Some(reason) = node_path_problem(target) {
                    problems.add(&key, format!("{target:?} {reason}; e.g. \"/root/work/{}\"", lab.manifest.dir));
                }
                targets.insert(lab.manifest.id.clone(), target.clone());
            }
            Err(message) => problems.add(&key, message),
        }
    }

    let root = raw.root.trim_end_matches('/');
    let all_targets: BTreeMap<String, String> = catalog
        .labs()
        .iter()
        .map(|lab| {
            let id = lab.manifest.id.clone();
            let target = targets.get(&id).cloned().unwrap_or_else(|| format!("{root}/{}", lab.manifest.dir));
            (id, target)
        })
        .collect();
    let wanted: Vec<String> = match &raw.seed {
        None => catalog.labs().iter().map(|lab| lab.manifest.id.clone()).collect(),
        Some(names) => names.clone(),
    };
    let mut seeded = Vec::new();
    let mut seen_ids = BTreeSet::new();
    let mut seen_targets: BTreeMap<String, String> = BTreeMap::new();
    for (index, name) in wanted.iter().enumerate() {
        let key = format!("labs.seed[{index}]");
        let lab = match catalog.resolve(name) {
            Ok(lab) => lab,
            Err(message) => {
                problems.add(&key, message);
                continue;
            }
        };
        let id = lab.manifest.id.clone();
        if !seen_ids.insert(id.clone()) {
            problems.add(&key, format!("{name:?} is {id}, which is already listed; list each lab once"));
            continue;
        }
        let target =
            targets.remove(&id).unwrap_or_else(|| format!("{}/{}", raw.root.trim_end_matches('/'), lab.manifest.dir));
        if let Some(other) = seen_targets.insert(target.clone(), id.clone()) {
            problems.add(
                &key,
                format!("{id} and {other} would both be seeded into {target}; give one a [labs.target] of its own"),
            );
        }
        seeded.push(SeededLab { id, target });
    }
    (seeded, all_targets)
}

/// Why `path` cannot be a directory on a node, or `None`.
fn node_path_problem(path: &str) -> Option<&'static str> {
    if !path.starts_with('/') {
        Some("is not an absolute path")
    } else if path.trim_end_matches('/').is_empty() {
        Some("is the root directory")
    } else if path.split('/').any(|part| part == "..") {
        Some("contains `..`")
    } else if path.contains(|c: char| c.is_control()) {
        Some("contains control characters")
    } else {
        None
    }
}

/// `[class]`: the seat count, access, engines, and that every seat's
/// shifted subnet and host ports exist and clash with no other seat's.
fn check_class(
    raw: &RawConfig,
    subnet: Option<Ipv4Net>,
    nodes: &Nodes,
    forwards: &[Forward],
    problems: &mut Problems,
) -> ClassSettings {
    let class = &raw.class;
    let mut settings = ClassSettings::default();
    if class.seats == 0 {
        problems.add("class.seats", "is 0; a class has at least one seat (1 is a single cluster)");
    } else if class.seats > MAX_SEATS {
        problems.add(
            "class.seats",
            format!(
                "is {}, but one workspace holds at most {MAX_SEATS} seats; split the class into two workspaces",
                class.seats
            ),
        );
    } else {
        settings.seats = class.seats;
    }
    if class.seats > 1 && raw.cluster.provider == ProviderSetting::Vagrant {
        problems.add(
            "class.seats",
            format!(
                "is {}, but seats are docker-in-docker clusters; set [cluster] provider = \"docker\" (or \"auto\")",
                class.seats
            ),
        );
    }
    if class.parallel == Some(0) {
        problems.add("class.parallel", "is 0; use at least 1, or remove the line to let labctl size it to this host");
    }
    settings.parallel = class.parallel.filter(|parallel| *parallel > 0);
    settings.port_step = class.port_step;
    settings.ssh_port_base = class.ssh_port_base;
    if class.web_port == 0 {
        problems.add("class.web_port", "is 0; give the port of the class's web pages, e.g. 8800");
    }
    settings.web_port = class.web_port;
    settings.web_tls = match (&class.web_cert, &class.web_key) {
        (None, None) => None,
        (Some(cert), Some(key)) if !cert.trim().is_empty() && !key.trim().is_empty() => {
            Some((cert.clone(), key.clone()))
        }
        (Some(_), None) => {
            problems.add(
                "class.web_cert",
                "has no web_key beside it; give both (the certificate and its private key, PEM) or neither",
            );
            None
        }
        (None, Some(_)) => {
            problems.add(
                "class.web_key",
                "has no web_cert beside it; give both (the certificate and its private key, PEM) or neither",
            );
            None
        }
        _ => {
            problems.add(
                "class.web_cert",
                "is empty; give the certificate and key files (relative to the workspace) or remove both lines",
            );
            None
        }
    };
    match class.ssh_bind.parse() {
        _ if class.ssh_bind == "auto" => settings.ssh_bind = SshBind::Auto,
        Ok(address) => settings.ssh_bind = SshBind::Address(address),
        Err(_) => problems.add(
            "class.ssh_bind",
            format!(
                "{:?} is not an IP address; use \"auto\" (the address students reach the engine's host at), this host's address on the classroom's network, or \"0.0.0.0\" (every interface)",
                class.ssh_bind
            ),
        ),
    }
    settings.access = match &class.access {
        None if settings.seats > 1 => Access::Key,
        None => Access::None,
        Some(text) => Access::parse(text).unwrap_or_else(|| {
            problems.add(
                "class.access",
                format!("{text:?} is not an access mode; use one of: {}", Access::NAMES.join(", ")),
            );
            Access::None
        }),
    };
    if settings.access != Access::None && class.ssh_port_base == 0 {
        problems.add("class.ssh_port_base", "is 0; seat K's SSH server listens on ssh_port_base + K, e.g. 2200");
    }
    if !class.engines.is_empty() {
        if raw.cluster.provider == ProviderSetting::Vagrant {
            problems.add(
                "class.engines",
                "lists Docker engines, but [cluster] provider = \"vagrant\" makes VMs on this host; set provider = \"docker\" (or \"auto\") or remove [[class.engines]]",
            );
        }
        if raw.cluster.provider == ProviderSetting::Incus {
            problems.add(
                "class.engines",
                "lists Docker engines, but [cluster] provider = \"incus\" places the seats on Incus (its own servers: [incus] remote); remove [[class.engines]] or set provider = \"docker\"",
            );
        }
        settings.engines = check_engines(&class.engines, settings.seats, problems);
    }
    if let Some(subnet) = subnet.filter(|_| problems.lines.is_empty()) {
        check_seat_layouts(&settings, &raw.cluster.name, subnet, nodes, forwards, problems);
    }
    settings
}

fn check_engines(raw: &[class::RawEngine], seats: u32, problems: &mut Problems) -> Vec<Engine> {
    let mut engines = Vec::new();
    for (index, engine) in raw.iter().enumerate() {
        let key = |field: &str| format!("class.engines[{index}].{field}");
        let target = match (&engine.host, &engine.context) {
            (Some(host), None) => {
                let schemes = ["unix://", "tcp://", "ssh://", "npipe://", "fd://"];
                if !schemes.iter().any(|scheme| host.starts_with(scheme)) || host.contains(char::is_whitespace) {
                    problems.add(
                        &key("host"),
                        format!("{host:?} is not a Docker host URL; e.g. \"ssh://ubuntu@10.0.0.5\" or \"tcp://10.0.0.5:2376\""),
                    );
                }
                EngineTarget::Host(host.clone())
            }
            (None, Some(context)) => {
                if context.trim().is_empty() || context.contains(char::is_whitespace) {
                    problems.add(
                        &key("context"),
                        format!("{context:?} is not a docker context name; see `docker context ls`"),
                    );
                }
                EngineTarget::Context(context.clone())
            }
            _ => {
                problems.add(
                    &format!("class.engines[{index}]"),
                    "needs exactly one of host = \"ssh://user@server\" and context = \"name\"",
                );
                EngineTarget::Default
            }
        };
        if engine.seats == 0 {
            problems.add(&key("seats"), "is 0; say how many seats this engine holds, e.g. seats = 10");
        }
        let name = engine.name.clone().unwrap_or_else(|| match &target {
            EngineTarget::Host(host) => host.clone(),
            EngineTarget::Context(context) => context.clone(),
            EngineTarget::Default => format!("engine {}", index + 1),
        });
        if engines.iter().any(|other: &Engine| other.name == name) {
            problems.add(&key("name"), format!("{name:?} names two engines; give each its own name"));
        }
        engines.push(Engine { name, target, capacity: Some(engine.seats) });
    }
    let capacity: u32 = engines.iter().filter_map(|engine| engine.capacity).sum();
    if capacity < seats && !engines.is_empty() {
        problems.add(
            "class.seats",
            format!(
                "is {seats}, but the [[class.engines]] hold {capacity} seats; add an engine or raise an engine's seats"
            ),
        );
    }
    engines
}

/// Every seat's subnet stays in seat 1's private range, and no two seats
/// on one engine publish the same host port.
fn check_seat_layouts(
    class: &ClassSettings,
    cluster_name: &str,
    subnet: Ipv4Net,
    nodes: &Nodes,
    forwards: &[Forward],
    problems: &mut Problems,
) {
    let private: [Ipv4Net; 3] =
        ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map(|range| range.parse().expect("valid range"));
    let range = private.iter().find(|range| range.contains(&subnet));
    let mut ports: BTreeMap<(&str, u16, String), String> = BTreeMap::new();
    for number in 1..=class.seats {
        let Some(layout) = class::layout(class, cluster_name, subnet, nodes, forwards, number) else {
            problems.add(
                "class.seats",
                format!("seat {number} would need an address or host port past the end of the range; lower cluster.subnet, the ports or the seats"),
            );
            return;
        };
        if let Some(range) = range.filter(|range| !range.contains(&layout.subnet)) {
            problems.add(
                "cluster.subnet",
                format!(
                    "{subnet} leaves no room for {} seats: seat {number} would get {}, outside the private range {range}; seats take consecutive subnets, so pick a lower one",
                    class.seats, layout.subnet,
                ),
            );
            return;
        }
        if let Some(reason) = hostname_problem(&layout.name) {
            problems.add(
                "cluster.name",
                format!("gives seat {number} the name {:?}, which {reason}; use a shorter name", layout.name),
            );
            return;
        }
        let engine = class.engine_of(number).name.as_str();
        let published = layout
            .forwards
            .iter()
            .enumerate()
            .map(|(index, forward)| {
                (forward.host, forward.protocol.clone(), format!("seat {number}'s forward[{index}]"))
            })
            .chain(layout.ssh_port.map(|port| (port, "tcp".to_string(), format!("seat {number}'s SSH port"))));
        for (port, protocol, what) in published {
            if let Some(other) = ports.insert((engine, port, protocol), what.clone()) {
                problems.add(
                    "class.port_step",
                    format!("host port {port} would be both {other} and {what}; raise [class] port_step (e.g. 10) or move ssh_port_base"),
                );
                return;
            }
        }
    }
}

/// `[ssh]`: with `provider = "ssh"`, one machine per node of every seat,
/// each checked, no machine twice; with another provider, none at all.
fn check_ssh(raw: &RawConfig, nodes: &Nodes, seats: u32, problems: &mut Problems) -> ssh::SshSettings {
    let section = &raw.ssh;
    let mut settings = ssh::SshSettings {
        config_file: section.config_file.clone(),
        known_hosts_file: section.known_hosts_file.clone(),
        hosts: Vec::new(),
    };
    for (key, value) in [("ssh.config_file", &section.config_file), ("ssh.known_hosts_file", &section.known_hosts_file)]
    {
        if value.as_ref().is_some_and(|path| path.trim().is_empty()) {
            problems.add(key, "is empty; give a file (relative to the workspace) or remove the line");
        }
    }
    if raw.cluster.provider != ProviderSetting::Ssh {
        if !section.hosts.is_empty() {
            problems.add(
                "ssh.hosts",
                format!(
                    "lists machines, but [cluster] provider = {:?}; set provider = \"ssh\" to make these machines the nodes, or remove [[ssh.hosts]]",
                    raw.cluster.provider.as_str()
                ),
            );
        }
        return settings;
    }
    if !raw.class.engines.is_empty() {
        problems.add(
            "class.engines",
            "lists Docker engines, but provider = \"ssh\" uses the machines of [[ssh.hosts]]; remove [[class.engines]]",
        );
    }
    let names = nodes.names();
    let mut seen: BTreeMap<(u32, &str), usize> = BTreeMap::new();
    let mut machines: BTreeMap<(&str, Option<u16>), usize> = BTreeMap::new();
    for (index, host) in section.hosts.iter().enumerate() {
        let key = |field: &str| format!("ssh.hosts[{index}].{field}");
        let found = ssh::host_problems(host);
        for (field, message) in &found {
            problems.add(&key(field), message);
        }
        let seat = host.seat.unwrap_or(1);
        if seat > seats {
            let class = match seats {
                1 => "this workspace has one seat (set [class] seats for more)".to_string(),
                _ => format!("the class has seats 1-{seats}"),
            };
            problems.add(&key("seat"), format!("is {seat}, but {class}"));
        }
        if !names.contains(&host.node.as_str()) {
            let close = crate::names::closest(&host.node, names.iter().copied())
                .map(|close| format!("did you mean {close:?}? "))
                .unwrap_or_default();
            problems.add(
                &key("node"),
                format!("{:?} is not a node of this cluster; {close}nodes: {}", host.node, names.join(", ")),
            );
        } else if let Some(first) = seen.insert((seat, host.node.as_str()), index) {
            problems.add(
                &key("node"),
                format!(
                    "seat {seat}'s {} has two machines (also ssh.hosts[{first}]); list each node once per seat",
                    host.node
                ),
            );
        }
        if let Some(first) = machines.insert((host.address.as_str(), host.port), index) {
            problems.add(
                &key("address"),
                format!(
                    "{} is also ssh.hosts[{first}]; one machine runs one Docker, so it can be one node only",
                    host.address
                ),
            );
        }
        if found.is_empty() {
            settings.hosts.extend(ssh::build_host(host));
        }
    }
    let missing: Vec<String> = (1..=seats)
        .flat_map(|seat| names.iter().map(move |node| (seat, *node)))
        .filter(|(seat, node)| !seen.contains_key(&(*seat, *node)))
        .map(|(seat, node)| if seats == 1 { node.to_string() } else { format!("seat {seat} {node}") })
        .collect();
    if !missing.is_empty() {
        let key = if section.hosts.is_empty() { "cluster.provider" } else { "ssh.hosts" };
        let shown = match missing.len() {
            0..=6 => missing.join(", "),
            more => format!("{} and {} more", missing[..5].join(", "), more - 5),
        };
        problems.add(
            key,
            format!(
                "provider \"ssh\" needs one [[ssh.hosts]] machine per node, but none is listed for {shown}; add them, or write them from a CSV with `labctl class import hosts.csv`"
            ),
        );
    }
    for seat in 1..=seats {
        let mut addresses: BTreeMap<Ipv4Addr, &str> = BTreeMap::new();
        for host in settings.hosts.iter().filter(|host| host.seat == seat) {
            if let Some(other) = addresses.insert(host.ip, &host.node) {
                let index = section.hosts.iter().position(|raw| raw.seat.unwrap_or(1) == seat && raw.node == host.node);
                problems.add(
                    &format!("ssh.hosts[{}].advertise_ip", index.unwrap_or(0)),
                    format!("{} is {other}'s swarm address too; each node needs its own (set advertise_ip)", host.ip),
                );
            }
        }
    }
    settings
}

/// `[cache]`: on by default for a class of several seats; a registry URL or
/// "none" upstream; an address no node takes in any seat (the seats share
/// the host octets, so seat 1 speaks for all).
fn check_cache(
    raw: &RawConfig,
    subnet: Option<Ipv4Net>,
    nodes: &Nodes,
    seats: u32,
    problems: &mut Problems,
) -> Option<CacheSettings> {
    let cache = &raw.cache;
    if cache.enabled == Some(true) && raw.cluster.provider == ProviderSetting::Vagrant {
        problems.add(
            "cache.enabled",
            "the class cache runs beside docker-provider nodes; set [cluster] provider = \"docker\", or use [registry] mirror for VMs",
        );
    }
    if let Some(problem) = cache::upstream_problem(&cache.upstream) {
        problems.add("cache.upstream", problem);
    }
    if cache.image.trim().is_empty() || cache.image.contains(char::is_whitespace) {
        problems.add("cache.image", format!("{:?} is not an image reference; e.g. \"registry:2\"", cache.image));
    }
    if cache.enabled == Some(true) && raw.cluster.provider == ProviderSetting::Incus {
        problems.add(
            "cache.enabled",
            "the class cache runs beside docker-provider nodes; Incus nodes pull directly (use [registry] mirror, or `labctl images load`), so remove the line",
        );
    }
    // On by default for a class of docker-provider seats only.
    let by_default = seats > 1 && raw.cluster.provider != ProviderSetting::Incus;
    if !cache.enabled.unwrap_or(by_default) {
        return None;
    }
    if let Some(subnet) = subnet {
        let address = cache::address_in(subnet);
        if let Some(node) = nodes.iter().find(|node| node.ip == address) {
            let key = if node.role == Role::Manager { "cluster.manager_ip" } else { "cluster.worker_ip_start" };
            problems.add(
                key,
                format!(
                    "{} gets {address}, the class cache's address (the last of subnet {subnet}, in every seat); keep the nodes below it, or set [cache] enabled = false",
                    node.name
                ),
            );
        }
    }
    let upstream = match cache.upstream.as_str() {
        Upstream::OFFLINE => Upstream::Offline,
        url => Upstream::Remote(url.trim_end_matches('/').to_string()),
    };
    Some(CacheSettings { upstream, image: cache.image.clone() })
}
