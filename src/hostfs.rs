//! This host's kernel files (/proc, /sys, /dev): where they are, and the
//! IPv4 routes the kernel lists, which libvirt compares a new network with.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ipnet::Ipv4Net;

/// `/`, or `LABCTL_HOST_ROOT`: the host's file system mounted elsewhere
/// (labctl in a container; tests, which fake /proc and /dev there).
pub fn root() -> PathBuf {
    crate::exec::env_var("LABCTL_HOST_ROOT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"))
}

/// One line of /proc/net/route: a network reached through an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub interface: String,
    pub network: Ipv4Net,
}

/// The IPv4 routes of `root`/proc/net/route.
pub fn routes(root: &Path) -> Result<Vec<Route>> {
    let path = root.join("proc/net/route");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(parse_routes(&text))
}

/// `Iface Destination Gateway Flags RefCnt Use Metric Mask …` lines, each
/// address the hex of its network-order bytes read as a native integer; a
/// line that does not parse is left out.
fn parse_routes(text: &str) -> Vec<Route> {
    let address = |hex: &str| u32::from_str_radix(hex, 16).ok().map(|value| Ipv4Addr::from(value.to_ne_bytes()));
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (interface, destination, mask) = (fields.first()?, address(fields.get(1)?)?, address(fields.get(7)?)?);
            let network = Ipv4Net::with_netmask(destination, mask).ok()?;
            Some(Route { interface: interface.to_string(), network })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_read_as_the_kernel_lists_them() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
                    br-0123456789ab\t0038A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    broken\tzz\n";
        let parsed = parse_routes(text);
        let shown: Vec<String> = parsed.iter().map(|route| format!("{} {}", route.interface, route.network)).collect();
        assert_eq!(shown, ["eth0 0.0.0.0/0", "docker0 172.17.0.0/16", "br-0123456789ab 192.168.56.0/24"]);
        let dir = tempfile::tempdir().unwrap();
        let error = routes(dir.path()).unwrap_err();
        assert!(format!("{error:#}").starts_with("cannot read "), "{error:#}");
    }
}
