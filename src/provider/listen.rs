//! The host address the seats' SSH ports listen on (`[class] ssh_bind`).
//! `auto`, the default, is the address students reach the seat's engine's
//! host at, and no other: this host's address on the network of its default
//! route (the classroom's, on a school server), or the host named in an
//! engine's `ssh://` / `tcp://` URL. Docker's published ports bypass ufw and
//! firewalld, so listening on every interface (`0.0.0.0`) would open the
//! seats to every network the host is on; that is still there, when asked.

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs, UdpSocket};

use anyhow::{anyhow, bail, Result};
use ipnet::Ipv4Net;

use crate::config::{Cluster, EngineTarget, SshBind};
use crate::hostfs::{self, Route};

/// Interfaces that are no classroom's: loopback, bridges and the links of
/// containers and VMs.
const VIRTUAL_INTERFACES: [&str; 7] = ["lo", "docker", "br-", "veth", "virbr", "vnet", "incusbr"];

/// The address seat `cluster`'s SSH port listens on, and why it is that one.
pub fn students_bind(cluster: &Cluster) -> Result<(IpAddr, String)> {
    students_bind_on(cluster, || hostfs::routes(&hostfs::root()))
}

/// [`students_bind`], with this host's routes read by `routes` (`labctl
/// doctor` has them already).
pub fn students_bind_on(cluster: &Cluster, routes: impl FnOnce() -> Result<Vec<Route>>) -> Result<(IpAddr, String)> {
    match cluster.class_ssh_bind() {
        SshBind::Address(address) => Ok((address, "[class] ssh_bind".into())),
        SshBind::Auto => auto(cluster, routes),
    }
}

/// `host` as a URL or a `host:port` writes it: an IPv6 address in
/// brackets, anything else (an IPv4 address, a name) as it is.
pub fn url_host(host: &str) -> String {
    match host.parse::<std::net::Ipv6Addr>() {
        Ok(_) => format!("[{host}]"),
        Err(_) => host.to_string(),
    }
}

fn auto(cluster: &Cluster, routes: impl FnOnce() -> Result<Vec<Route>>) -> Result<(IpAddr, String)> {
    let engine = cluster.engine();
    let why = "[class] ssh_bind = \"auto\"";
    match &engine.target {
        EngineTarget::Host(url) if !url.starts_with("unix://") && !url.starts_with("npipe://") => {
            let host = engine.target.host_name().ok_or_else(|| {
                anyhow!("{why}: cannot read a host in {url} (engine {:?}); set ssh_bind to the address students reach that engine's host at", engine.name)
            })?;
            let address = resolve(&host).ok_or_else(|| {
                anyhow!("{why}: {host} (engine {:?}) does not resolve to an address here; set ssh_bind to the address students reach that engine's host at", engine.name)
            })?;
            Ok((address, format!("the host of engine {}", engine.name)))
        }
        EngineTarget::Context(context) => bail!(
            "{why} cannot tell the address of engine {:?} (docker context {context}); set [class] ssh_bind to the address students reach that engine's host at",
            engine.name
        ),
        _ => {
            let (interface, network) = classroom_network(&routes()?)?;
            let address = source_address(network).ok_or_else(|| {
                anyhow!("{why}: cannot tell this host's address on {interface} ({network}); set [class] ssh_bind to it")
            })?;
            Ok((IpAddr::V4(address), format!("this host's address on {interface}, its default route ({why})")))
        }
    }
}

/// The interface and network students reach this host on: the default
/// route's interface, or the one network this host is on besides its
/// virtual ones.
fn classroom_network(routes: &[Route]) -> Result<(String, Ipv4Net)> {
    let physical = |route: &&Route| !VIRTUAL_INTERFACES.iter().any(|prefix| route.interface.starts_with(prefix));
    let subnet_of = |interface: &str| {
        routes
            .iter()
            .filter(physical)
            .find(|route| route.interface == interface && route.network.prefix_len() > 0)
            .map(|route| route.network)
    };
    if let Some(default) = routes.iter().filter(physical).find(|route| route.network.prefix_len() == 0) {
        return match subnet_of(&default.interface) {
            Some(network) => Ok((default.interface.clone(), network)),
            None => bail!(
                "[class] ssh_bind = \"auto\": this host's default route (on {}) has no network of its own to tell its address by; set ssh_bind to the address students reach this host at",
                default.interface
            ),
        };
    }
    let networks: Vec<&Route> = routes.iter().filter(physical).filter(|route| route.network.prefix_len() > 0).collect();
    match networks.as_slice() {
        [only] => Ok((only.interface.clone(), only.network)),
        [] => bail!("[class] ssh_bind = \"auto\": this host is on no network but its own; set ssh_bind to the address students reach it at (127.0.0.1 for this host alone)"),
        several => bail!(
            "[class] ssh_bind = \"auto\": this host has no default route and is on {} networks ({}); set ssh_bind to its address on the classroom's",
            several.len(),
            several.iter().map(|route| format!("{} on {}", route.network, route.interface)).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The address this host sends from into `network`, as its kernel chooses
/// it: a UDP socket connected to an address there (which sends nothing).
fn source_address(network: Ipv4Net) -> Option<Ipv4Addr> {
    let target = network.hosts().next().unwrap_or(network.addr());
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((target, 9)).ok()?;
    match socket.local_addr().ok()?.ip() {
        IpAddr::V4(address) if !address.is_unspecified() => Some(address),
        _ => None,
    }
}

/// An address literal as it is, else the name's first address here.
pub fn resolve(host: &str) -> Option<IpAddr> {
    if let Ok(address) = host.parse() {
        return Some(address);
    }
    (host, 0).to_socket_addrs().ok()?.map(|address| address.ip()).find(IpAddr::is_ipv4)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_ipv6_address_is_bracketed_in_a_url_and_nothing_else() {
        assert_eq!(url_host("fd00::2"), "[fd00::2]");
        assert_eq!(url_host("192.0.2.2"), "192.0.2.2");
        assert_eq!(url_host("lab-server"), "lab-server");
    }

    use super::*;

    fn route(interface: &str, network: &str) -> Route {
        Route { interface: interface.into(), network: network.parse().unwrap() }
    }

    #[test]
    fn the_classroom_is_the_default_routes_network() {
        let routes = [
            route("eth0", "0.0.0.0/0"),
            route("docker0", "172.17.0.0/16"),
            route("eth0", "192.0.2.0/24"),
            route("wlan0", "10.20.0.0/16"),
        ];
        assert_eq!(classroom_network(&routes).unwrap(), ("eth0".into(), "192.0.2.0/24".parse().unwrap()));
    }

    #[test]
    fn without_a_default_route_the_one_network_there_is_or_a_clear_error() {
        let one = [route("lo", "127.0.0.0/8"), route("virbr1", "192.168.121.0/24"), route("enp3s0", "10.1.0.0/24")];
        assert_eq!(classroom_network(&one).unwrap().0, "enp3s0");
        let two = [route("enp3s0", "10.1.0.0/24"), route("enp4s0", "10.2.0.0/24")];
        let error = classroom_network(&two).unwrap_err().to_string();
        assert_eq!(error, "[class] ssh_bind = \"auto\": this host has no default route and is on 2 networks (10.1.0.0/24 on enp3s0, 10.2.0.0/24 on enp4s0); set ssh_bind to its address on the classroom's");
        let none = [route("docker0", "172.17.0.0/16")];
        assert!(classroom_network(&none).unwrap_err().to_string().contains("127.0.0.1 for this host alone"));
    }

    #[test]
    fn the_source_address_is_this_hosts_own() {
        // Loopback: the kernel answers from 127.0.0.1, and nothing is sent.
        assert_eq!(source_address("127.0.0.0/8".parse().unwrap()), Some(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn an_engine_host_is_its_address() {
        assert_eq!(resolve("10.0.0.5"), Some("10.0.0.5".parse().unwrap()));
        assert_eq!(resolve("localhost").map(|a| a.is_loopback()), Some(true));
    }
}
