//! `labctl.toml`: the serde schema, the class defaults, loading, and the
//! validated [`Settings`] value that the rest of the code trusts.

mod cache;
mod class;
mod cluster;
pub mod hosts_csv;
pub mod incus;
pub mod ssh;
mod validate;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::labs::Catalog;

use crate::locate;
pub use crate::locate::KeyPath;
use crate::timeouts::Timeouts;
pub use cache::{address_in as cache_address_in, CacheSettings, Upstream, CACHE_PORT};
pub use class::{Access, ClassSettings, Engine, EngineTarget, Seat, SeatSelection, SshBind, MAX_SEATS};
pub use cluster::{Cluster, PlacedLab};

pub const CONFIG_FILE: &str = "labctl.toml";

/// Which machinery makes the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ProviderSetting {
    /// vagrant when Vagrant and VirtualBox are installed, else docker when an engine answers
    #[default]
    Auto,
    /// VirtualBox (or libvirt) VMs driven by Vagrant
    Vagrant,
    /// docker-in-docker containers on a bridge network
    Docker,
    /// machines the class already has (cloud VMs, lab PCs), listed in [[ssh.hosts]]
    Ssh,
    /// Incus system containers, on this host's Incus or a remote one ([incus])
    Incus,
}

impl ProviderSetting {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderSetting::Auto => "auto",
            ProviderSetting::Vagrant => "vagrant",
            ProviderSetting::Docker => "docker",
            ProviderSetting::Ssh => "ssh",
            ProviderSetting::Incus => "incus",
        }
    }
}

// ---------------------------------------------------------------------------
// The file as written. Every section has defaults, so any subset is valid.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub cluster: RawCluster,
    pub resources: RawResources,
    pub vagrant: RawVagrant,
    pub forward: Vec<RawForward>,
    pub registry: RawRegistry,
    pub labs: RawLabs,
    pub docker: RawDocker,
    pub images: RawImages,
    pub class: class::RawClass,
    pub ssh: ssh::RawSsh,
    pub cache: cache::RawCache,
    pub incus: incus::RawIncus,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawImages {
    /// Copy the labs' images from this host into every node during `up`.
    pub preload: bool,
    /// How many nodes unpack an image at once; unset: this host's cores.
    pub parallel: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCluster {
    pub name: String,
    pub provider: ProviderSetting,
    pub subnet: String,
    pub manager_name: String,
    pub manager_ip: String,
    pub workers: u32,
    pub worker_prefix: String,
    pub worker_ip_start: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawResources {
    pub memory_mb: u32,
    pub cpus: u32,
    /// Processes and threads a node may run at once (containers' limit).
    pub pids: u32,
    /// The size one log file of a node may grow to (two are kept): the
    /// node's own log (its dockerd) and each container's log inside it.
    pub log_mb: u32,
    /// Per-node overrides, keyed by node name.
    pub node: BTreeMap<String, RawNodeResources>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawNodeResources {
    pub memory_mb: Option<u32>,
    pub cpus: Option<u32>,
    pub pids: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawVagrant {
    #[serde(rename = "box")]
    pub box_name: String,
    pub box_version: Option<String>,
    pub provider: String,
    pub linked_clone: bool,
    pub boot_timeout: u32,
    pub libvirt_driver: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawForward {
    /// Node whose port is forwarded; the manager when left out.
    pub node: Option<String>,
    pub host: u16,
    pub guest: u16,
    #[serde(default = "default_protocol")]
    pub protocol: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRegistry {
    pub enabled: bool,
    /// Node the registry runs on; the manager when left out.
    pub host: Option<String>,
    pub port: u16,
    pub image: String,
    pub mirror: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLabs {
    pub root: String,
    /// Labs to seed (id, alias or directory); `None` seeds every lab in the catalog.
    pub seed: Option<Vec<String>>,
    /// Per-lab target directory overrides (absolute paths), keyed by lab name.
    pub target: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDocker {
    /// An image used as is for every node; unset: labctl's own node image.
    pub node_image: Option<String>,
}

fn default_protocol() -> String {
    "tcp".to_string()
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            cluster: RawCluster::default(),
            resources: RawResources::default(),
            vagrant: RawVagrant::default(),
            // The handout opens the visualizer at localhost:49000.
            forward: vec![RawForward { node: None, host: 49000, guest: 9000, protocol: default_protocol() }],
            registry: RawRegistry::default(),
            labs: RawLabs::default(),
            docker: RawDocker::default(),
            images: RawImages::default(),
            class: class::RawClass::default(),
            ssh: ssh::RawSsh::default(),
            cache: cache::RawCache::default(),
            incus: incus::RawIncus::default(),
        }
    }
}

impl Default for RawCluster {
    fn default() -> Self {
        RawCluster {
            name: "swarm-lab".into(),
            provider: ProviderSetting::Auto,
            subnet: "192.168.56.0/24".into(),
            manager_name: "manager".into(),
            manager_ip: "192.168.56.10".into(),
            workers: 3,
            worker_prefix: "node".into(),
            worker_ip_start: "192.168.56.11".into(),
        }
    }
}

impl Default for RawResources {
    fn default() -> Self {
        RawResources { memory_mb: 1536, cpus: 2, pids: 1024, log_mb: 10, node: BTreeMap::new() }
    }
}

impl Default for RawVagrant {
    fn default() -> Self {
        RawVagrant {
            box_name: "bento/ubuntu-22.04".into(),
            box_version: None,
            provider: "virtualbox".into(),
            linked_clone: true,
            boot_timeout: 600,
            libvirt_driver: LibvirtDriver::Kvm.as_str().into(),
        }
    }
}

impl Default for RawRegistry {
    fn default() -> Self {
        RawRegistry { enabled: true, host: None, port: 5000, image: "registry:2".into(), mirror: None }
    }
}

impl Default for RawLabs {
    fn default() -> Self {
        RawLabs { root: "/root/work".into(), seed: None, target: BTreeMap::new() }
    }
}

// ---------------------------------------------------------------------------
// The validated settings.
// ---------------------------------------------------------------------------

/// Where the settings came from; keeps the text so later checks can point
/// at a line.
#[derive(Debug, Clone)]
pub struct Origin {
    pub path: Option<PathBuf>,
    pub text: String,
}

impl Origin {
    /// `labctl.toml:4:12: ` (or `built-in defaults: `) for an error about `key`.
    pub fn prefix(&self, key: &KeyPath) -> String {
        match &self.path {
            None => "built-in defaults: ".to_string(),
            Some(path) => match locate::position(&self.text, key) {
                Some((line, column)) => format!("{}:{line}:{column}: ", path.display()),
                None => format!("{}: ", path.display()),
            },
        }
    }

    pub fn describe(&self) -> String {
        match &self.path {
            None => format!("built-in defaults (no {CONFIG_FILE})"),
            Some(path) => path.display().to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Manager,
    Worker,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub name: String,
    pub role: Role,
    pub ip: Ipv4Addr,
    pub memory_mb: u32,
    pub cpus: u32,
    /// The node's process limit (containers only: a VM has its own kernel).
    pub pids: u32,
}

/// The nodes of one cluster: exactly one manager, then the workers in order.
/// Not indexable, so that "the manager is the first node" lives here only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nodes(Vec<Node>);

impl Nodes {
    pub fn new(manager: Node, workers: Vec<Node>) -> Nodes {
        Nodes(std::iter::once(manager).chain(workers).collect())
    }

    pub fn manager(&self) -> &Node {
        &self.0[0]
    }

    pub fn workers(&self) -> &[Node] {
        &self.0[1..]
    }

    /// The node called `name`, if the cluster has one.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.0.iter().find(|node| node.name == name)
    }

    /// Every node, the manager first.
    pub fn all(&self) -> &[Node] {
        &self.0
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Node> {
        self.0.iter()
    }

    /// Every node's name, the manager first.
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|node| node.name.as_str()).collect()
    }

    fn iter_mut(&mut self) -> std::slice::IterMut<'_, Node> {
        self.0.iter_mut()
    }
}

impl<'a> IntoIterator for &'a Nodes {
    type Item = &'a Node;
    type IntoIter = std::slice::Iter<'a, Node>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Forward {
    pub node: String,
    pub host: u16,
    pub guest: u16,
    pub protocol: String,
}

/// The hypervisor Vagrant drives (`vagrant.provider`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hypervisor {
    VirtualBox,
    Libvirt,
}

impl Hypervisor {
    pub const ALL: [Hypervisor; 2] = [Hypervisor::VirtualBox, Hypervisor::Libvirt];

    /// The name Vagrant and `labctl.toml` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Hypervisor::VirtualBox => "virtualbox",
            Hypervisor::Libvirt => "libvirt",
        }
    }

    /// The value of `vagrant.provider` that names this hypervisor, if any.
    pub fn parse(text: &str) -> Option<Hypervisor> {
        Hypervisor::ALL.into_iter().find(|hypervisor| hypervisor.as_str() == text)
    }
}

/// How libvirt runs a VM (`vagrant.libvirt_driver`): `kvm` needs a usable
/// /dev/kvm; `qemu` emulates the CPU (slow, but works anywhere, e.g. inside
/// a VM without nested virtualisation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LibvirtDriver {
    Kvm,
    Qemu,
}

impl LibvirtDriver {
    pub const ALL: [LibvirtDriver; 2] = [LibvirtDriver::Kvm, LibvirtDriver::Qemu];

    /// The name vagrant-libvirt and `labctl.toml` use.
    pub fn as_str(self) -> &'static str {
        match self {
            LibvirtDriver::Kvm => "kvm",
            LibvirtDriver::Qemu => "qemu",
        }
    }

    pub fn parse(text: &str) -> Option<LibvirtDriver> {
        LibvirtDriver::ALL.into_iter().find(|driver| driver.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VagrantSettings {
    pub box_name: String,
    pub box_version: Option<String>,
    pub provider: Hypervisor,
    pub linked_clone: bool,
    pub boot_timeout: u32,
    /// Read only when `provider` is libvirt.
    pub libvirt_driver: LibvirtDriver,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registry {
    /// Node the registry runs on; also the name every node uses to reach it.
    pub host: String,
    pub port: u16,
    pub image: String,
}

impl Registry {
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeededLab {
    pub id: String,
    pub target: String,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub origin: Origin,
    pub cluster_name: String,
    pub provider: ProviderSetting,
    pub subnet: Ipv4Net,
    pub nodes: Nodes,
    pub vagrant: VagrantSettings,
    pub forwards: Vec<Forward>,
    pub registry: Option<Registry>,
    pub registry_mirror: Option<String>,
    pub seeded_labs: Vec<SeededLab>,
    /// Where every lab of the catalog goes, seeded or not (by lab id).
    pub lab_targets: BTreeMap<String, String>,
    /// `labs.root` without a trailing slash: where students work on every node.
    pub labs_root: String,
    /// An image given in `[docker] node_image` or `LABCTL_NODE_IMAGE`, used
    /// as is; `None`: labctl builds its own (provider::node_image).
    pub node_image: Option<String>,
    /// Load the seeded labs' images into every node during `up`.
    pub preload_images: bool,
    /// `[images] parallel`: nodes that unpack an image at once; `None`: the cores.
    pub parallel_loads: Option<u32>,
    /// `[resources] log_mb`: each log file of a node (two kept).
    pub log_mb: u32,
    /// Time limits of node and host commands (`LABCTL_TIMEOUT_SCALE`).
    pub timeouts: Timeouts,
    /// `[class]`: the seats, their students' access and the engines.
    pub class: ClassSettings,
    /// `[ssh]`: the machines of the ssh provider (empty for the others).
    pub ssh: ssh::SshSettings,
    /// `[cache]`: the class's image cache, when it is on.
    pub cache: Option<CacheSettings>,
    /// `[incus]`: where the incus provider makes the nodes.
    pub incus: incus::IncusSettings,
    /// The workspace the settings belong to (empty in unit tests).
    pub workspace: PathBuf,
}

impl Settings {
    /// The error prefix pointing at `key` in the file the settings came from.
    pub fn locate(&self, key: &str) -> String {
        self.origin.prefix(&KeyPath::parse(key))
    }
}

/// Where to read the configuration from.
#[derive(Debug, Clone)]
pub struct ConfigLocation {
    pub workspace: PathBuf,
    /// `--config FILE`: must exist.
    pub explicit: Option<PathBuf>,
}

impl ConfigLocation {
    pub fn path(&self) -> PathBuf {
        match &self.explicit {
            Some(path) if path.is_absolute() => path.clone(),
            Some(path) => std::env::current_dir().map(|dir| dir.join(path)).unwrap_or(path.clone()),
            None => self.workspace.join(CONFIG_FILE),
        }
    }
}

/// Read, parse and validate the configuration (or take the defaults when
/// the workspace has none).
pub fn load(location: &ConfigLocation, catalog: &Catalog) -> Result<Settings> {
    let path = location.path();
    let origin = match std::fs::read_to_string(&path) {
        Ok(text) => Origin { path: Some(display_path(&path)), text },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && location.explicit.is_none() => {
            Origin { path: None, text: String::new() }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            bail!("{}: no such file; run `labctl init` to write one, or drop --config", path.display())
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", path.display()));
        }
    };
    let raw = parse(&origin)?;
    let node_image_override = crate::exec::env_var("LABCTL_NODE_IMAGE");
    let timeouts = Timeouts::from_env()?;
    let workspace = location.workspace.clone();
    Ok(Settings { timeouts, workspace, ..validate::resolve(raw, origin, catalog, node_image_override)? })
}

/// Check `text` as the configuration at `path` would be (`class import`
/// checks the file it is about to write); nothing is read or written.
pub fn check_text(path: &Path, text: &str, catalog: &Catalog) -> Result<Settings> {
    let origin = Origin { path: Some(display_path(path)), text: text.to_string() };
    let raw = parse(&origin)?;
    validate::resolve(raw, origin, catalog, None)
}

fn parse(origin: &Origin) -> Result<RawConfig> {
    toml::from_str(&origin.text).map_err(|error| {
        let name = origin.path.as_deref().unwrap_or(Path::new(CONFIG_FILE));
        anyhow::anyhow!(locate::describe_toml_error(name, &origin.text, &error))
    })
}

/// Paths under the current directory are shown relative to it (`labctl.toml`).
fn display_path(path: &Path) -> PathBuf {
    let relative = std::env::current_dir().ok().and_then(|dir| path.strip_prefix(dir).ok().map(Path::to_path_buf));
    relative.unwrap_or_else(|| path.to_path_buf())
}

/// Settings from a config text with the built-in labs, for unit tests.
#[cfg(test)]
pub fn test_settings(text: &str) -> Settings {
    test_settings_with(text, test_catalog())
}

/// The built-in lab catalog, loaded once for unit tests.
#[cfg(test)]
pub fn test_catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| Catalog::load(Path::new("/nonexistent-workspace")).expect("built-in labs load"))
}

/// The cluster of settings made by [`test_settings`] (checked against the
/// built-in catalog), for unit tests.
#[cfg(test)]
pub fn test_cluster(settings: &Settings) -> Cluster<'_> {
    Cluster::new(settings, test_catalog()).expect("test settings fit the built-in catalog")
}

/// Settings from a config text checked against `catalog`, for unit tests.
#[cfg(test)]
pub fn test_settings_with(text: &str, catalog: &Catalog) -> Settings {
    let origin = Origin { path: Some(PathBuf::from(CONFIG_FILE)), text: text.to_string() };
    let raw = parse(&origin).expect("test config parses");
    validate::resolve(raw, origin, catalog, None).expect("test config is valid")
}

#[cfg(test)]
mod tests;
