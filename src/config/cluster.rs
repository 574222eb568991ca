//! One cluster as a resolved value: its trusted [`Settings`] with the
//! catalog's labs looked up once, each with the directory it goes to on
//! every node. Built in `commands/`, taken by the layers below, so that a
//! class can later be a list of them.

use anyhow::{anyhow, Result};

use ipnet::Ipv4Net;

use super::class::{self, Seat, SeatLayout};
use super::ssh::{SshHost, SshSettings};
use super::{
    cache, Access, CacheSettings, Engine, Forward, Node, Nodes, ProviderSetting, Registry, Settings, VagrantSettings,
    CACHE_PORT,
};
use crate::labs::{Catalog, Lab};
use crate::timeouts::Timeouts;

/// A lab of the catalog and the directory it goes to on every node.
#[derive(Debug, Clone, Copy)]
pub struct PlacedLab<'c> {
    pub lab: &'c Lab,
    pub target: &'c str,
}

impl PlacedLab<'_> {
    pub fn id(&self) -> &str {
        &self.lab.manifest.id
    }
}

#[derive(Debug)]
pub struct Cluster<'c> {
    settings: &'c Settings,
    catalog: &'c Catalog,
    /// What is this seat's own: name, subnet, addresses, ports, engine.
    layout: SeatLayout,
    /// Every lab of the catalog, in the catalog's order.
    labs: Vec<PlacedLab<'c>>,
    /// The labs `up` seeds, in `labs.seed` order.
    seeded: Vec<PlacedLab<'c>>,
}

impl<'c> Cluster<'c> {
    /// The configured cluster: seat 1. `settings` must have been validated
    /// against `catalog`.
    pub fn new(settings: &'c Settings, catalog: &'c Catalog) -> Result<Cluster<'c>> {
        Cluster::seat(settings, catalog, 1)
    }

    /// Seat `number` of the class (1 ..= `[class] seats`).
    pub fn seat(settings: &'c Settings, catalog: &'c Catalog, number: u32) -> Result<Cluster<'c>> {
        if !(1..=settings.class.seats).contains(&number) {
            return Err(anyhow!("internal error: seat {number} of a class of {}", settings.class.seats));
        }
        let mut layout = seat_layout(settings, number)
            .ok_or_else(|| anyhow!("internal error: seat {number} has no layout (validation lets none through)"))?;
        if settings.provider == ProviderSetting::Ssh {
            layout.nodes = machines_as_nodes(settings, &layout.nodes, number)?;
        }
        let labs = catalog
            .labs()
            .iter()
            .map(|lab| {
                let target = settings.lab_targets.get(&lab.manifest.id).ok_or_else(|| {
                    anyhow!(
                        "internal error: the settings were checked against another lab catalog (no {})",
                        lab.manifest.id
                    )
                })?;
                Ok(PlacedLab { lab, target })
            })
            .collect::<Result<Vec<_>>>()?;
        let seeded = settings
            .seeded_labs
            .iter()
            .map(|seeded| {
                let placed = labs.iter().find(|placed| placed.id() == seeded.id);
                placed.copied().ok_or_else(|| anyhow!("internal error: seeded lab {} is not in the catalog", seeded.id))
            })
            .collect::<Result<_>>()?;
        Ok(Cluster { settings, catalog, layout, labs, seeded })
    }

    /// `cluster.name`, or `<cluster.name>-s03` for seat 3 of a class: it
    /// names containers, networks and the lock.
    pub fn name(&self) -> &str {
        &self.layout.name
    }

    /// Which seat of the class this is (seat 1 of 1: a single cluster).
    pub fn seat_of_class(&self) -> Seat {
        self.layout.seat
    }

    /// The class's name: `cluster.name` as written, the same for every seat.
    pub fn class_name(&self) -> &'c str {
        &self.settings.cluster_name
    }

    /// The Docker engine this seat lives on.
    pub fn engine(&self) -> &Engine {
        &self.layout.engine
    }

    /// Every engine of the class with the seats it holds (one engine, this
    /// host's docker, unless `[[class.engines]]` lists some).
    pub fn placement(&self) -> Vec<(&'c Engine, Vec<u32>)> {
        self.settings.class.placement()
    }

    /// How the seat's students log in, and on which host port of its engine.
    pub fn student_access(&self) -> Option<(Access, u16)> {
        self.layout.ssh_port.map(|port| (self.settings.class.access, port))
    }

    /// `[class] ssh_bind`: the host address students' SSH ports listen on.
    pub fn class_ssh_bind(&self) -> super::SshBind {
        self.settings.class.ssh_bind
    }

    pub fn nodes(&self) -> &Nodes {
        &self.layout.nodes
    }

    /// The registry `up` runs, when enabled.
    pub fn registry(&self) -> Option<&'c Registry> {
        self.settings.registry.as_ref()
    }

    pub fn timeouts(&self) -> Timeouts {
        self.settings.timeouts
    }

    /// `cluster.provider` as the file says it (`auto` unresolved).
    pub fn provider(&self) -> ProviderSetting {
        self.settings.provider
    }

    /// The workspace folder (labctl.toml, labs/, .labctl/); empty in unit tests.
    pub fn workspace(&self) -> &'c std::path::Path {
        &self.settings.workspace
    }

    /// Where the settings came from, for "set in …" reasons.
    pub fn source(&self) -> String {
        self.settings.origin.describe()
    }

    /// The file the settings were read from; `None` with the built-in defaults.
    pub fn config_file(&self) -> Option<&'c std::path::Path> {
        self.settings.origin.path.as_deref()
    }

    /// The error prefix pointing at `key` in the file the settings came from.
    pub fn locate(&self, key: &str) -> String {
        self.settings.locate(key)
    }

    /// `cluster.subnet` (shifted for seat K): the nodes' network.
    pub fn subnet(&self) -> Ipv4Net {
        self.layout.subnet
    }

    /// The host ports the class's seats hold on their engines (every seat's
    /// forwards and SSH port), which nothing else of labctl's may take.
    pub fn class_host_ports(&self) -> std::collections::BTreeSet<u16> {
        (1..=self.settings.class.seats)
            .filter_map(|number| seat_layout(self.settings, number))
            .flat_map(|layout| {
                layout.forwards.iter().map(|forward| forward.host).chain(layout.ssh_port).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every port forward from the host to a node (shifted for seat K).
    pub fn forwards(&self) -> &[Forward] {
        &self.layout.forwards
    }

    /// The port forwards from the host to `node`.
    pub fn forwards_to<'s>(&'s self, node: &'s str) -> impl Iterator<Item = &'s Forward> + 's {
        self.forwards().iter().filter(move |forward| forward.node == node)
    }

    /// `[ssh]`: the class's ssh config and known_hosts files, as written.
    pub fn ssh(&self) -> &'c SshSettings {
        &self.settings.ssh
    }

    /// This seat's machine for `node` (the ssh provider's).
    pub fn ssh_host(&self, node: &str) -> Option<&'c SshHost> {
        self.settings.ssh.host(self.layout.seat.number, node)
    }

    /// Where the seat's nodes are made, in a word for tables: its Docker
    /// engine's name, or `incus` (`incus <remote>`), whose members Incus
    /// chooses itself.
    pub fn placed_on(&self) -> String {
        match (self.settings.provider, self.settings.incus.remote.as_deref()) {
            (ProviderSetting::Incus, Some(remote)) => format!("incus {remote}"),
            (ProviderSetting::Incus, None) => "incus".to_string(),
            _ => self.engine().name.clone(),
        }
    }

    /// `[incus]`: where the incus provider makes the nodes.
    pub fn incus(&self) -> &'c super::incus::IncusSettings {
        &self.settings.incus
    }

    /// `[vagrant]`: the VMs' box, sizes and hypervisor.
    pub fn vagrant(&self) -> &'c VagrantSettings {
        &self.settings.vagrant
    }

    /// The registry mirror every node's Docker pulls through, if any.
    pub fn registry_mirror(&self) -> Option<&'c str> {
        self.settings.registry_mirror.as_deref()
    }

    /// The class's image cache, when it is on: one per engine, shared by
    /// every seat on it.
    pub fn class_cache(&self) -> Option<&'c CacheSettings> {
        self.settings.cache.as_ref()
    }

    /// `address:port` of the class cache on this seat's network, when it is on.
    pub fn cache_endpoint(&self) -> Option<String> {
        self.class_cache().map(|_| format!("{}:{CACHE_PORT}", cache::address_in(self.subnet())))
    }

    /// `[images] parallel`: how many nodes unpack an image at once (`None`: the cores).
    pub fn parallel_loads(&self) -> Option<u32> {
        self.settings.parallel_loads
    }

    /// `[resources] log_mb`: the size of each of a node's log files.
    pub fn log_mb(&self) -> u32 {
        self.settings.log_mb
    }

    /// A node image given as is; `None`: labctl builds its own.
    pub fn node_image(&self) -> Option<&'c str> {
        self.settings.node_image.as_deref()
    }

    /// Load the seeded labs' images into every node during `up`.
    pub fn preload_images(&self) -> bool {
        self.settings.preload_images
    }

    /// `labs.root` without a trailing slash: where students work on every node.
    pub fn labs_root(&self) -> &'c str {
        &self.settings.labs_root
    }

    /// Every lab's id and target directory, seeded or not, in id order.
    pub fn lab_targets(&self) -> impl Iterator<Item = (&'c str, &'c str)> {
        self.settings.lab_targets.iter().map(|(id, target)| (id.as_str(), target.as_str()))
    }

    /// The labs `up` seeds, in `labs.seed` order.
    pub fn seeded(&self) -> &[PlacedLab<'c>] {
        &self.seeded
    }

    /// `lab` as `up` seeds it, or `None` when it is not seeded.
    pub fn seeded_as(&self, lab: &Lab) -> Option<PlacedLab<'c>> {
        self.seeded.iter().find(|seeded| seeded.id() == lab.manifest.id).copied()
    }

    /// Any lab of the catalog by id, alias or directory name; the error
    /// names every lab and suggests the closest.
    pub fn lab(&self, name: &str) -> Result<PlacedLab<'c>> {
        let lab = self.catalog.resolve(name).map_err(|message| anyhow!(message))?;
        self.labs
            .iter()
            .find(|placed| std::ptr::eq(placed.lab, lab))
            .copied()
            .ok_or_else(|| anyhow!("internal error: lab {} has no target", lab.manifest.id))
    }
}

/// With the ssh provider, the nodes are seat `number`'s machines: each
/// node's address is its machine's (advertise_ip, else address).
fn machines_as_nodes(settings: &Settings, nodes: &Nodes, number: u32) -> Result<Nodes> {
    let on_machine = |node: &Node| -> Result<Node> {
        let host = settings.ssh.host(number, &node.name).ok_or_else(|| {
            anyhow!(
                "internal error: seat {number}'s {} has no [[ssh.hosts]] machine (validation lets none through)",
                node.name
            )
        })?;
        Ok(Node { ip: host.ip, ..node.clone() })
    };
    let workers = nodes.workers().iter().map(on_machine).collect::<Result<Vec<_>>>()?;
    Ok(Nodes::new(on_machine(nodes.manager())?, workers))
}

/// Seat `number`'s layout from the settings (`None`: see [`class::layout`]).
fn seat_layout(settings: &Settings, number: u32) -> Option<class::SeatLayout> {
    class::layout(&settings.class, &settings.cluster_name, settings.subnet, &settings.nodes, &settings.forwards, number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_settings;

    fn catalog() -> Catalog {
        Catalog::load(std::path::Path::new("/nonexistent-workspace")).expect("built-in labs load")
    }

    #[test]
    fn seeded_labs_are_the_catalogs_labs_in_seed_order_with_their_targets() {
        let catalog = catalog();
        let settings = test_settings("[labs]\nseed = [\"lab3\", \"ingress\"]\n[labs.target]\nlab3 = \"/srv/three\"\n");
        let cluster = Cluster::new(&settings, &catalog).unwrap();
        let seeded: Vec<(&str, &str)> = cluster.seeded().iter().map(|placed| (placed.id(), placed.target)).collect();
        assert_eq!(seeded, vec![("lab3", "/srv/three"), ("lab1", "/root/work/ingress")]);
        assert!(std::ptr::eq(cluster.seeded()[0].lab, catalog.resolve("lab3").unwrap()));
    }

    #[test]
    fn any_lab_is_found_by_alias_with_its_target_even_when_not_seeded() {
        let catalog = catalog();
        let settings = test_settings("[labs]\nseed = [\"lab1\"]\n");
        let cluster = Cluster::new(&settings, &catalog).unwrap();
        let lab2 = cluster.lab("work3").unwrap();
        assert_eq!((lab2.id(), lab2.target), ("lab2", "/root/work/work3"));
        assert!(cluster.seeded_as(lab2.lab).is_none());
        assert_eq!(
            cluster.seeded_as(cluster.lab("lab1").unwrap().lab).map(|placed| placed.target),
            Some("/root/work/ingress")
        );
        let error = cluster.lab("lab99").unwrap_err().to_string();
        assert!(error.starts_with("\"lab99\" is not a lab"), "{error}");
    }
}
