//! The swarm's ingress routing mesh, and checking a service without it.
//!
//! A port published in ingress mode answers on every node because each
//! node's kernel balances it over the service's tasks with IPVS, as it does
//! service VIPs (moby#24005). Some kernels (sandboxed CI hosts, trimmed VM
//! kernels) have no IPVS: there a published port never answers, while
//! overlay networks, swarm DNS (`tasks.<service>`) and ports published in
//! host mode work. An `ingress = true` http check then asks the service on
//! its own network instead, from inside a running task's network namespace
//! (templates/node/fetch-on-network.sh), and says so.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

pub const FALLBACK_NOTE: &str =
    "routing mesh unavailable on this host (no IPVS); checked the service on its network instead";

/// What is known about each node's kernel: whether it has IPVS, learnt
/// from node/fetch-published.sh (exit 5 without), once per run (a `check`,
/// or a whole `solve` with its rounds of checks).
///
/// dockerd asks the kernel for IPVS over netlink whenever it programs a
/// service's load balancing, which it does on every node for each service
/// that publishes a port in ingress mode, and the kernel loads the `ip_vs`
/// module on that request. So on a host where the mesh can work, a swarm node
/// that has such a service has IPVS loaded or built in. Where the kernel has
/// no IPVS, it never appears: that is the case the routing mesh cannot
/// serve. labctl asks only after finding a service that publishes the port
/// in ingress mode.
#[derive(Default)]
pub struct Mesh {
    known: Mutex<HashMap<String, bool>>,
}

/// node/fetch-published.sh's exit status on a node without IPVS.
pub const NO_IPVS: i32 = 5;

impl Mesh {
    /// What is known of `node`'s kernel so far in this run.
    pub fn known(&self, node: &str) -> Option<bool> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner).get(node).copied()
    }

    /// Keep whether `node`'s kernel has IPVS.
    pub fn learn(&self, node: &str, available: bool) {
        self.known.lock().unwrap_or_else(PoisonError::into_inner).insert(node.to_string(), available);
    }
}

/// `docker service inspect` format for node/list-published-ports.sh: the
/// service's name, then one `protocol/mode/published/target` word per
/// published port.
pub const PORTS_FORMAT: &str =
    "{{.Spec.Name}}{{range .Endpoint.Ports}} {{.Protocol}}/{{.PublishMode}}/{{.PublishedPort}}/{{.TargetPort}}{{end}}";

/// The service that publishes a TCP port, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    pub service: String,
    /// Published through the routing mesh (else in host mode, on the nodes
    /// that run a task).
    pub ingress: bool,
    /// The port the service's tasks listen on.
    pub target: u16,
}

/// The publisher of TCP `port` in a node/list-published-ports.sh listing.
pub fn publisher_of(listing: &str, port: u16) -> Option<Publisher> {
    listing.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let service = words.next()?;
        words.find_map(|word| {
            let fields: Vec<&str> = word.split('/').collect();
            let [protocol, mode, published, target] = fields[..] else { return None };
            (protocol == "tcp" && published.parse() == Ok(port)).then(|| Publisher {
                service: service.to_string(),
                ingress: mode == "ingress",
                target: target.parse().unwrap_or(port),
            })
        })
    })
}

/// The TCP port `service` publishes for its tasks' port `target`.
pub fn published_port_of(listing: &str, service: &str, target: u16) -> Option<u16> {
    let line = listing.lines().find(|line| line.split_whitespace().next() == Some(service))?;
    line.split_whitespace().skip(1).find_map(|word| {
        let fields: Vec<&str> = word.split('/').collect();
        let [protocol, _, published, to] = fields[..] else { return None };
        (protocol == "tcp" && to.parse() == Ok(target)).then(|| published.parse().ok()).flatten()
    })
}

/// `url` with its port replaced by `port`.
pub fn with_port(url: &str, port: u16) -> String {
    let Some(rest) = url.strip_prefix("http://") else { return url.to_string() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host = match authority.rsplit_once(':') {
        Some((host, _)) if !host.ends_with(':') => host,
        _ => authority,
    };
    format!("http://{host}:{port}{path}")
}

/// The port and the path (with its query) of an `http://` URL.
pub fn port_and_path(url: &str) -> Option<(u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let port = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => port.parse().ok()?,
        _ => 80,
    };
    let path = path.split('#').next().unwrap_or_default();
    Some((port, if path.is_empty() { "/".to_string() } else { path.to_string() }))
}

/// The URL of the service on its own network: swarm DNS's `tasks.` name,
/// which lists the tasks themselves, because the service's own name is a VIP
/// and VIPs need IPVS too.
pub fn network_url(publisher: &Publisher, path: &str) -> String {
    format!("http://tasks.{}:{}{path}", publisher.service, publisher.target)
}

/// The nodes to fetch from, in order: the check's node, then the others.
pub fn fetch_order<'a>(preferred: &'a str, nodes: &'a [String]) -> Vec<&'a str> {
    let others = nodes.iter().map(String::as_str).filter(|node| *node != preferred);
    std::iter::once(preferred).chain(others).collect()
}

/// How [`fetch-on-network.sh`](../../templates/node/fetch-on-network.sh.tera) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkFetch {
    /// http-get.sh's output: "status <code>" then the body.
    Answer(String),
    /// The node cannot enter a task's namespace (the missing tool, in words).
    Unable(String),
    /// No task of the service runs on that node.
    NoTaskHere,
    /// Anything else (a timeout, docker failing): worth another round.
    Failed(String),
}

pub fn network_fetch(code: Option<i32>, stdout: &str, stderr_tail: &str) -> NetworkFetch {
    match code {
        Some(0) => NetworkFetch::Answer(stdout.to_string()),
        Some(3) => NetworkFetch::Unable(stderr_tail.to_string()),
        Some(4) => NetworkFetch::NoTaskHere,
        _ => NetworkFetch::Failed(stderr_tail.to_string()),
    }
}

#[cfg(test)]
mod tests;
