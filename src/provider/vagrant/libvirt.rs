//! A subnet libvirt will take: libvirt refuses to start a network whose
//! subnet this host already routes through another interface ("Network is
//! already in use by interface br-…"), e.g. a Docker network the docker
//! provider made on the same subnet. Found before any machine boots, with
//! what made that interface and how to free it.

use std::fmt;

use anyhow::{bail, Result};
use ipnet::Ipv4Net;

use crate::config::Cluster;
use crate::exec::{CommandSpec, Runner};
use crate::hostfs::{self, Route};
use crate::provider::docker_cli::DockerCli;
use crate::timeouts::Wait;

/// The libvirt connection vagrant-libvirt uses unless told otherwise.
pub const URI: &str = "qemu:///system";

/// How the user makes room when the subnet is taken.
const OTHER_SUBNET: &str = "choose another cluster.subnet in labctl.toml (with manager_ip and worker_ip_start in it)";

/// The libvirt network of `cluster`'s machines: the `libvirt__network_name`
/// of templates/Vagrantfile.tera.
pub fn network_name(cluster: &Cluster) -> String {
    format!("labctl-{}", cluster.name())
}

/// Who routes the cluster's subnet on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubnetUse {
    Free,
    /// The bridge of the cluster's own libvirt network: it is up already.
    Own {
        bridge: String,
    },
    Taken(SubnetConflict),
}

/// Another interface routes (part of) the cluster's subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetConflict {
    subnet: Ipv4Net,
    interface: String,
    owner: Owner,
}

/// What made the interface in the way, as far as this host can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// A Docker network's bridge (`br-` and its ID's first 12 digits).
    Docker(Option<DockerNetwork>),
    /// Another libvirt network's bridge.
    Libvirt,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DockerNetwork {
    name: String,
    /// Whose network it is, when labctl's docker provider made it (its labels).
    labctl: Option<Made>,
}

/// A labctl cluster or class, by the name `labctl destroy --name` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Made {
    what: &'static str,
    name: String,
}

impl SubnetConflict {
    /// `10.20.0.0/24 is already used by interface br-… (…): libvirt will refuse with "…"`.
    pub fn problem(&self) -> String {
        let made_by = match &self.owner {
            Owner::Docker(Some(DockerNetwork { name, labctl: Some(made) })) => {
                format!(
                    " (the Docker network {name}, made by labctl's docker provider for {} {})",
                    made.what, made.name
                )
            }
            Owner::Docker(Some(DockerNetwork { name, labctl: None })) => format!(" (the Docker network {name})"),
            Owner::Docker(None) => " (a Docker network's bridge)".to_string(),
            Owner::Libvirt => " (another libvirt network's bridge)".to_string(),
            Owner::Unknown => String::new(),
        };
        format!(
            "{} is already used by interface {}{made_by}: libvirt will refuse with \"Network is already in use by interface {}\"",
            self.subnet, self.interface, self.interface
        )
    }

    pub fn fix(&self) -> String {
        let remove = match &self.owner {
            Owner::Docker(Some(DockerNetwork { name, labctl: Some(made) })) => format!(
                "remove it (`labctl destroy` in that workspace, or `labctl destroy --name {}`; `docker network rm {name}` once no container uses it) or ",
                made.name
            ),
            Owner::Docker(Some(DockerNetwork { name, labctl: None })) => {
                format!("remove it (`docker network rm {name}`) or ")
            }
            Owner::Docker(None) => "remove that Docker network (`docker network ls` names it) or ".to_string(),
            Owner::Libvirt => format!("stop that network (`virsh -c {URI} net-list --all` names it) or "),
            Owner::Unknown => String::new(),
        };
        format!("{remove}{OTHER_SUBNET}")
    }
}

impl fmt::Display for SubnetConflict {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}; {}", self.problem(), self.fix())
    }
}

/// Fails, naming the interface and the fix, when this host routes
/// `cluster`'s subnet elsewhere: `up` says so before any machine boots
/// instead of after the first one. Without /proc/net/route there is nothing
/// to compare, and libvirt says it itself.
pub fn check_subnet_free(cluster: &Cluster, runner: &dyn Runner) -> Result<()> {
    let Ok(routes) = hostfs::routes(&hostfs::root()) else { return Ok(()) };
    if let SubnetUse::Taken(conflict) = subnet_use(cluster, &routes, runner) {
        bail!("{}cluster.subnet: {conflict}", cluster.locate("cluster.subnet"));
    }
    Ok(())
}

/// Who routes `cluster`'s subnet, given this host's `routes`: a route to a
/// network inside it through any interface but the cluster's own libvirt
/// bridge is in the way. Asks libvirt for that bridge, and Docker for a
/// `br-…` interface's network, only when such a route exists (probes,
/// within the read limit).
pub fn subnet_use(cluster: &Cluster, routes: &[Route], runner: &dyn Runner) -> SubnetUse {
    let subnet = cluster.subnet();
    let inside: Vec<&Route> = routes.iter().filter(|route| subnet.contains(&route.network)).collect();
    if inside.is_empty() {
        return SubnetUse::Free;
    }
    let own_bridge = own_bridge(cluster, runner);
    let in_the_way = inside.iter().find(|route| own_bridge.as_deref() != Some(route.interface.as_str()));
    match (in_the_way, own_bridge) {
        (Some(route), _) => {
            let owner = match docker_network_id(&route.interface) {
                Some(id) => Owner::Docker(docker_network(cluster, id, runner)),
                None if route.interface.starts_with("virbr") => Owner::Libvirt,
                None => Owner::Unknown,
            };
            SubnetUse::Taken(SubnetConflict { subnet, interface: route.interface.clone(), owner })
        }
        (None, Some(bridge)) => SubnetUse::Own { bridge },
        (None, None) => SubnetUse::Free,
    }
}

/// The bridge of the cluster's libvirt network, if that network exists
/// (`virsh net-info`'s `Bridge:` line).
fn own_bridge(cluster: &Cluster, runner: &dyn Runner) -> Option<String> {
    let network = network_name(cluster);
    let spec = CommandSpec::new("virsh", &["-c", URI, "net-info", &network], "ask libvirt for the cluster's network")
        .probe()
        .timeout(cluster.timeouts().limit(Wait::Read));
    let output = runner.run(&spec).ok().filter(|output| output.success())?;
    let line = output.stdout.lines().find_map(|line| line.strip_prefix("Bridge:"))?;
    Some(line.trim().to_string()).filter(|bridge| !bridge.is_empty())
}

/// `br-0123456789ab` → `0123456789ab`: Docker names a bridge network's
/// interface after the first 12 hex digits of the network's ID.
fn docker_network_id(interface: &str) -> Option<&str> {
    let id = interface.strip_prefix("br-")?;
    (id.len() == 12 && id.bytes().all(|byte| byte.is_ascii_hexdigit())).then_some(id)
}

/// The Docker network of that ID on this host's engine, when Docker answers.
fn docker_network(cluster: &Cluster, id: &str, runner: &dyn Runner) -> Option<DockerNetwork> {
    let format = "{{.Name}}\t{{.Label \"labctl.class\"}}\t{{.Label \"labctl.cluster\"}}";
    let filter = format!("id={id}");
    let spec = DockerCli::here(cluster.timeouts()).read(
        &["network", "ls", "--no-trunc", "--filter", &filter, "--format", format],
        "name the Docker network in the way",
    );
    let output = runner.run(&spec).ok().filter(|output| output.success())?;
    let line = output.stdout.lines().find(|line| !line.trim().is_empty())?;
    let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
    let name = fields.first().filter(|name| !name.is_empty())?.to_string();
    // A class's seats are removed with the class.
    let labctl = [("class", fields.get(1)), ("cluster", fields.get(2))].into_iter().find_map(|(what, label)| {
        label.filter(|label| !label.is_empty()).map(|label| Made { what, name: label.to_string() })
    });
    Some(DockerNetwork { name, labctl })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::fake::RecordingRunner;

    fn cluster_settings() -> crate::config::Settings {
        crate::config::test_settings(
            "[cluster]\nname = \"lab-b\"\nprovider = \"vagrant\"\nsubnet = \"10.20.30.0/24\"\nmanager_ip = \"10.20.30.10\"\nworker_ip_start = \"10.20.30.11\"\n[vagrant]\nprovider = \"libvirt\"\n",
        )
    }

    fn route(interface: &str, network: &str) -> Route {
        Route { interface: interface.to_string(), network: network.parse().unwrap() }
    }

    #[test]
    fn a_subnet_no_route_leads_into_is_free_without_asking_anyone() {
        let settings = cluster_settings();
        let cluster = crate::config::test_cluster(&settings);
        let runner = RecordingRunner::default();
        // A wider network around it (the default route, a /16) is not in the way.
        let routes = [route("eth0", "0.0.0.0/0"), route("eth1", "10.20.0.0/16"), route("docker0", "172.17.0.0/16")];
        assert_eq!(subnet_use(&cluster, &routes, &runner), SubnetUse::Free);
        assert_eq!(runner.command_lines(), Vec::<String>::new());
    }

    #[test]
    fn a_docker_network_of_the_docker_provider_is_named_with_its_cluster_and_the_fix() {
        let settings = cluster_settings();
        let cluster = crate::config::test_cluster(&settings);
        let runner = RecordingRunner::lenient();
        runner.answer("virsh -c qemu:///system net-info labctl-lab-b", 1, "", "error: Network not found\n");
        runner.answer("docker network ls --no-trunc --filter id=0123456789ab", 0, "labctl-lab-a\t\tlab-a\n", "");
        let routes = [route("br-0123456789ab", "10.20.30.0/24")];
        let SubnetUse::Taken(conflict) = subnet_use(&cluster, &routes, &runner) else { panic!("not taken") };
        assert_eq!(
            conflict.to_string(),
            "10.20.30.0/24 is already used by interface br-0123456789ab (the Docker network labctl-lab-a, made by labctl's docker provider for cluster lab-a): libvirt will refuse with \"Network is already in use by interface br-0123456789ab\"; remove it (`labctl destroy` in that workspace, or `labctl destroy --name lab-a`; `docker network rm labctl-lab-a` once no container uses it) or choose another cluster.subnet in labctl.toml (with manager_ip and worker_ip_start in it)"
        );
        assert!(runner.calls().iter().all(|spec| spec.effect == crate::exec::Effect::Probe && spec.timeout.is_some()));

        // Docker does not answer: still a Docker network, unnamed.
        let silent = RecordingRunner::lenient();
        silent.answer("docker network ls", 1, "", "Cannot connect to the Docker daemon\n");
        let SubnetUse::Taken(conflict) = subnet_use(&cluster, &routes, &silent) else { panic!("not taken") };
        assert!(conflict.problem().contains("br-0123456789ab (a Docker network's bridge)"), "{}", conflict.problem());
        assert!(conflict.fix().starts_with("remove that Docker network (`docker network ls` names it)"));
    }

    #[test]
    fn the_clusters_own_libvirt_bridge_is_no_conflict_but_another_is() {
        let settings = cluster_settings();
        let cluster = crate::config::test_cluster(&settings);
        let runner = RecordingRunner::default();
        let info = "Name:           labctl-lab-b\nActive:         yes\nBridge:         virbr1\n";
        runner.always("virsh -c qemu:///system net-info labctl-lab-b", 0, info, "");
        let own = [route("virbr1", "10.20.30.0/24")];
        assert_eq!(subnet_use(&cluster, &own, &runner), SubnetUse::Own { bridge: "virbr1".into() });

        let both = [route("virbr1", "10.20.30.0/24"), route("virbr2", "10.20.30.128/25")];
        let SubnetUse::Taken(conflict) = subnet_use(&cluster, &both, &runner) else { panic!("not taken") };
        assert_eq!(
            conflict.problem(),
            "10.20.30.0/24 is already used by interface virbr2 (another libvirt network's bridge): libvirt will refuse with \"Network is already in use by interface virbr2\""
        );
        assert!(conflict.fix().starts_with("stop that network (`virsh -c qemu:///system net-list --all` names it)"));

        let other = [route("eth1", "10.20.30.0/24")];
        let SubnetUse::Taken(conflict) = subnet_use(&cluster, &other, &runner) else { panic!("not taken") };
        assert_eq!(conflict.fix(), OTHER_SUBNET);
    }

    #[test]
    fn only_br_and_twelve_hex_digits_is_a_docker_bridge() {
        assert_eq!(docker_network_id("br-0123456789ab"), Some("0123456789ab"));
        assert_eq!(docker_network_id("br-lan"), None);
        assert_eq!(docker_network_id("br-0123456789abc"), None);
        assert_eq!(docker_network_id("docker0"), None);
    }
}
