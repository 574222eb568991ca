//! `[cache]` in labctl.toml: one image cache for the class. Per Docker
//! engine, one registry container beside the seats, at the same address in
//! every seat's subnet (its last usable address), that every node's Docker
//! uses as its registry mirror. Online it pulls through `upstream` (each
//! image comes from the internet once per engine, not once per node);
//! offline (`upstream = "none"`) it holds the labs' images of the engine,
//! which labctl pushes in and the seats may only read.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// Docker Hub's registry API: what `docker pull node:slim` reaches.
pub const DOCKER_HUB: &str = "https://registry-1.docker.io";

/// The port the cache's registry listens on, on every seat's network.
pub const CACHE_PORT: u16 = 5000;

/// `[cache]` as written.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCache {
    /// Run the class cache; unset: on for a class of several seats.
    pub enabled: Option<bool>,
    /// The registry the cache pulls through, or "none" for an offline class.
    pub upstream: String,
    /// Any image that serves the registry API on port 5000 (registry:2).
    pub image: String,
}

impl Default for RawCache {
    fn default() -> Self {
        RawCache { enabled: None, upstream: DOCKER_HUB.into(), image: "registry:2".into() }
    }
}

/// Where the cache gets what it does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "url")]
pub enum Upstream {
    /// A pull-through cache of this registry (`proxy.remoteurl`).
    Remote(String),
    /// No internet: a registry the seats only read; labctl pushes this
    /// engine's lab images into it through a writer no seat reaches.
    Offline,
}

impl Upstream {
    /// The word `upstream` takes for an offline class.
    pub const OFFLINE: &'static str = "none";

    /// The URL, or "none".
    pub fn label(&self) -> &str {
        match self {
            Upstream::Remote(url) => url,
            Upstream::Offline => Upstream::OFFLINE,
        }
    }
}

/// `[cache]`, validated: present only when the cache is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CacheSettings {
    pub upstream: Upstream,
    pub image: String,
}

/// The cache's address in a seat's subnet: its last usable address, which
/// keeps the handout's low addresses (.10, .11, …) for the nodes.
pub fn address_in(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.broadcast()) - 1)
}

/// Why `upstream` is not a registry URL or "none", if it is not.
pub fn upstream_problem(upstream: &str) -> Option<String> {
    if upstream == Upstream::OFFLINE {
        return None;
    }
    let rest = upstream.strip_prefix("https://").or_else(|| upstream.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !upstream.contains(char::is_whitespace) => None,
        _ => Some(format!(
            "{upstream:?} is not a registry URL; e.g. \"{DOCKER_HUB}\", or \"none\" for a class without internet (this host's images are pushed into the cache)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_takes_the_last_usable_address_of_each_subnet() {
        assert_eq!(address_in("192.168.56.0/24".parse().unwrap()), Ipv4Addr::new(192, 168, 56, 254));
        assert_eq!(address_in("10.69.1.0/24".parse().unwrap()), Ipv4Addr::new(10, 69, 1, 254));
        assert_eq!(address_in("10.0.0.0/28".parse().unwrap()), Ipv4Addr::new(10, 0, 0, 14));
    }

    #[test]
    fn upstreams_are_registry_urls_or_none() {
        assert_eq!(upstream_problem(DOCKER_HUB), None);
        assert_eq!(upstream_problem("http://10.0.0.5:5000"), None);
        assert_eq!(upstream_problem("none"), None);
        for bad in ["registry-1.docker.io", "https://", "ftp://x", "http://a b"] {
            assert!(upstream_problem(bad).is_some_and(|problem| problem.contains("not a registry URL")), "{bad}");
        }
    }
}
