//! `[ssh]` in labctl.toml: machines the class already has (cloud VMs, lab
//! PCs), one per node (per seat of a class), reached with the system `ssh`
//! client. With `provider = "ssh"` the nodes' addresses are these machines',
//! not `cluster.subnet`'s.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[ssh]` as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSsh {
    /// An ssh_config of the class's own, given to ssh as `-F FILE`.
    pub config_file: Option<String>,
    /// A known_hosts of the class's own (`-o UserKnownHostsFile=FILE`).
    pub known_hosts_file: Option<String>,
    pub hosts: Vec<RawSshHost>,
}

/// One `[[ssh.hosts]]` entry (or one row of `labctl class import`'s CSV).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSshHost {
    /// The seat of a class this machine belongs to; 1 when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<u32>,
    /// The node it is: manager, node1, …
    pub node: String,
    /// What ssh connects to: an IP address, a DNS name or a Host of the ssh config.
    pub address: String,
    /// The login user; ssh's own choice (ssh config, local user) when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<String>,
    /// The address the other machines reach this one on (its private IP
    /// when it has a public and a private one); `address` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertise_ip: Option<String>,
}

/// `[ssh]`, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SshSettings {
    /// As written: relative to the workspace, `~/` for the home folder.
    pub config_file: Option<String>,
    pub known_hosts_file: Option<String>,
    pub hosts: Vec<SshHost>,
}

/// One machine, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SshHost {
    pub seat: u32,
    pub node: String,
    pub address: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<String>,
    /// The node's swarm and /etc/hosts address: `advertise_ip`, else `address`.
    pub ip: Ipv4Addr,
}

impl SshSettings {
    /// Seat `seat`'s machine for `node`.
    pub fn host(&self, seat: u32, node: &str) -> Option<&SshHost> {
        self.hosts.iter().find(|host| host.seat == seat && host.node == node)
    }
}

impl SshHost {
    /// `[address]:port` as ssh writes it in known_hosts (`address` alone on port 22).
    pub fn known_hosts_name(&self) -> String {
        match self.port.filter(|port| *port != 22) {
            Some(port) => format!("[{}]:{port}", self.address),
            None => self.address.clone(),
        }
    }

    /// `user@address:port` for messages, as much of it as is configured.
    pub fn describe(&self) -> String {
        let user = self.user.as_ref().map(|user| format!("{user}@")).unwrap_or_default();
        let port = self.port.map(|port| format!(":{port}")).unwrap_or_default();
        format!("{user}{}{port}", self.address)
    }
}

/// A path of `[ssh]` or of a host as ssh is to be given it: `~/…` in the
/// home folder, a relative one in `workspace`.
pub fn resolve_path(path: &str, workspace: &Path, home: Option<&Path>) -> PathBuf {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => workspace.join(path),
    }
}

/// What is wrong with one host entry, field by field (`address`, `user`,
/// …), each message saying the value and the fix. Shared by labctl.toml's
/// `[[ssh.hosts]]` and `labctl class import`'s CSV rows.
pub fn host_problems(raw: &RawSshHost) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if raw.seat == Some(0) {
        problems.push(("seat", "is 0; seats are numbered from 1".to_string()));
    }
    if let Some(reason) = crate::names::hostname_problem(&raw.node) {
        problems.push(("node", format!("{:?} {reason}; e.g. \"manager\" or \"node1\"", raw.node)));
    }
    let address = raw.address.as_str();
    let ip_literal = address.parse::<IpAddr>().ok();
    if let Some(reason) = address_problem(address) {
        problems.push(("address", format!("{address:?} {reason}")));
    } else if raw.advertise_ip.is_none() && !matches!(ip_literal, Some(IpAddr::V4(_))) {
        problems.push((
            "address",
            format!(
                "{address:?} is not an IPv4 address, and the swarm needs the one the other machines reach this one on; add advertise_ip = \"10.0.0.5\" (its private address)"
            ),
        ));
    }
    if let Some(user) = &raw.user {
        if user.is_empty() || user.starts_with('-') || user.contains(|c: char| c.is_whitespace() || c == '@') {
            problems.push(("user", format!("{user:?} is not a user name; e.g. \"ubuntu\"")));
        }
    }
    if raw.port == Some(0) {
        problems.push(("port", "is 0; ssh listens on 22 unless the machine says otherwise".to_string()));
    }
    if raw.identity_file.as_ref().is_some_and(|file| file.trim().is_empty()) {
        problems.push(("identity_file", "is empty; remove the line to let ssh pick the key (agent, ~/.ssh)".into()));
    }
    if let Some(text) = &raw.advertise_ip {
        match text.parse::<Ipv4Addr>() {
            Ok(ip) if ip.is_unspecified() || ip.is_loopback() || ip.is_broadcast() || ip.is_multicast() => problems
                .push((
                    "advertise_ip",
                    format!(
                        "{ip} cannot be a swarm address; give the IPv4 address the other machines reach this one on"
                    ),
                )),
            Ok(_) => {}
            Err(_) => problems.push((
                "advertise_ip",
                format!("{text:?} is not an IPv4 address; e.g. \"10.0.0.5\" (the machine's private address)"),
            )),
        }
    } else if let Some(IpAddr::V4(ip)) = ip_literal.filter(|ip| ip.is_loopback()) {
        problems.push((
            "address",
            format!(
                "{ip} is this host, which the other machines cannot reach; add advertise_ip = the address they reach it on"
            ),
        ));
    }
    problems
}

/// Why `address` cannot be given to ssh, or `None`.
fn address_problem(address: &str) -> Option<&'static str> {
    if address.trim().is_empty() {
        Some("is empty; give the machine's address, e.g. \"203.0.113.10\" or \"pc07.lab.example\"")
    } else if address.starts_with('-') {
        Some("starts with `-`, which ssh would take for an option")
    } else if address.contains('@') {
        Some("has a user in it; put the user in `user`")
    } else if address.contains(|c: char| c.is_whitespace() || c.is_control()) {
        Some("contains spaces; give one address, e.g. \"203.0.113.10\" or \"pc07.lab.example\"")
    } else if address.contains(':') && address.parse::<IpAddr>().is_err() {
        Some("has a port in it; put the port in `port`")
    } else {
        None
    }
}

/// The checked host of a raw entry without problems.
pub fn build_host(raw: &RawSshHost) -> Option<SshHost> {
    let ip = match &raw.advertise_ip {
        Some(text) => text.parse().ok()?,
        None => raw.address.parse().ok()?,
    };
    Some(SshHost {
        seat: raw.seat.unwrap_or(1),
        node: raw.node.clone(),
        address: raw.address.clone(),
        user: raw.user.clone(),
        port: raw.port,
        identity_file: raw.identity_file.clone(),
        ip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(address: &str, advertise_ip: Option<&str>) -> RawSshHost {
        RawSshHost {
            node: "node1".into(),
            address: address.into(),
            advertise_ip: advertise_ip.map(String::from),
            ..RawSshHost::default()
        }
    }

    fn fields(raw: &RawSshHost) -> Vec<&'static str> {
        host_problems(raw).into_iter().map(|(field, _)| field).collect()
    }

    #[test]
    fn addresses_are_ips_or_names_with_an_advertise_ip() {
        assert!(fields(&raw("10.0.0.5", None)).is_empty());
        assert_eq!(build_host(&raw("10.0.0.5", None)).unwrap().ip, Ipv4Addr::new(10, 0, 0, 5));
        // A public address for ssh, the private one for the swarm.
        let cloud = raw("203.0.113.7", Some("10.0.1.7"));
        assert!(fields(&cloud).is_empty());
        assert_eq!(build_host(&cloud).unwrap().ip, Ipv4Addr::new(10, 0, 1, 7));
        assert_eq!(fields(&raw("pc07.lab.example", None)), ["address"]);
        assert!(fields(&raw("pc07.lab.example", Some("10.0.0.7"))).is_empty());
        assert_eq!(fields(&raw("127.0.0.1", None)), ["address"], "loopback cannot be a swarm address");
        for bad in ["", "-oProxyCommand=x", "ubuntu@10.0.0.5", "10.0.0.5:2222", "a b"] {
            assert_eq!(fields(&raw(bad, Some("10.0.0.5"))), ["address"], "{bad:?}");
        }
        assert_eq!(fields(&raw("10.0.0.5", Some("10.0.0"))), ["advertise_ip"]);
        assert_eq!(fields(&raw("10.0.0.5", Some("127.0.0.1"))), ["advertise_ip"]);
    }

    #[test]
    fn users_ports_and_seats_are_checked() {
        let host = RawSshHost { user: Some("-x".into()), port: Some(0), seat: Some(0), ..raw("10.0.0.5", None) };
        assert_eq!(fields(&host), ["seat", "user", "port"]);
    }

    #[test]
    fn known_hosts_names_bracket_other_ports() {
        let mut host = build_host(&raw("10.0.0.5", None)).unwrap();
        assert_eq!(host.known_hosts_name(), "10.0.0.5");
        host.port = Some(2222);
        assert_eq!(host.known_hosts_name(), "[10.0.0.5]:2222");
        host.user = Some("ubuntu".into());
        assert_eq!(host.describe(), "ubuntu@10.0.0.5:2222");
    }

    #[test]
    fn paths_are_in_the_workspace_or_the_home_folder() {
        let workspace = Path::new("/class");
        assert_eq!(resolve_path("keys/known_hosts", workspace, None), Path::new("/class/keys/known_hosts"));
        assert_eq!(resolve_path("/etc/ssh/x", workspace, None), Path::new("/etc/ssh/x"));
        assert_eq!(
            resolve_path("~/.ssh/class", workspace, Some(Path::new("/home/t"))),
            Path::new("/home/t/.ssh/class")
        );
    }
}
