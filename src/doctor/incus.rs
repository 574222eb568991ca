//! The incus provider's needs: the `incus` client, a server that answers
//! (this host's or `[incus] remote`), the storage pool the nodes' disks go
//! on, the members of a cluster, and, beside Docker on this host, the
//! FORWARD policy `up` makes way through for each seat's bridge.

use serde_json::Value;

use super::{missing, Check};
use crate::config::Cluster;
use crate::exec::{CommandSpec, Output};
use crate::provider::Host;
use crate::timeouts::Wait;
use crate::ui::Mark;

const START: &str = "start Incus (systemctl start incus; without systemd: `incusd --group incus-admin &`, then `incus admin waitready`)";

/// Every check; `needed` when the incus provider is the one labctl uses.
pub fn checks(cluster: &Cluster, host: &Host, needed: bool) -> Vec<Check> {
    let mut checks = Vec::new();
    let Some(client) = host.find("incus") else {
        checks.push(
            Check::new("incus", missing(needed), "the `incus` client is not installed")
                .fix("apt-get install incus (Debian 12: from bookworm-backports; Ubuntu 24.04: its own package)"),
        );
        return checks;
    };
    let settings = cluster.incus();
    let remote = settings.remote.as_deref().map(|remote| format!("{remote}:")).unwrap_or_default();
    let server = match ask(cluster, host, &["query", &format!("{remote}/1.0")], "ask the Incus server") {
        Ok(output) if output.success() => serde_json::from_str::<Value>(&output.stdout).unwrap_or_default(),
        Ok(output) => {
            let fix = match settings.remote.as_deref() {
                Some(remote) => {
                    format!("check that remote {remote} answers (`incus remote list`, `incus info {remote}:`)")
                }
                None => START.to_string(),
            };
            checks.push(
                Check::new("incus", missing(needed), format!("Incus does not answer: {}", output.tail(1))).fix(fix),
            );
            return checks;
        }
        Err(why) => {
            checks.push(Check::new("incus", missing(needed), why).fix(START));
            return checks;
        }
    };
    let environment = &server["environment"];
    let version = environment["server_version"].as_str().unwrap_or("?");
    let clustered = environment["server_clustered"].as_bool().unwrap_or(false);
    let place = match settings.remote.as_deref() {
        Some(remote) => format!("remote {remote}"),
        None => "this host".to_string(),
    };
    checks.push(Check::new(
        "incus",
        Mark::Ok,
        format!(
            "Incus {version} on {place} ({}; client {})",
            if clustered { "a cluster" } else { "one server" },
            client.display()
        ),
    ));
    checks.push(check_pool(cluster, host, &remote, needed));
    if clustered {
        checks.push(check_members(cluster, host, &remote, needed));
    }
    if settings.remote.is_none() {
        checks.extend(check_docker_beside(cluster, host));
    }
    checks
}

/// A probe of `incus ARGS` within the read limit.
fn ask(cluster: &Cluster, host: &Host, args: &[&str], purpose: &str) -> Result<Output, String> {
    let spec = CommandSpec::new("incus", args, purpose).probe().timeout(cluster.timeouts().limit(Wait::Read));
    host.runner().run(&spec).map_err(|error| format!("{error:#}"))
}

fn check_pool(cluster: &Cluster, host: &Host, remote: &str, needed: bool) -> Check {
    let pool = &cluster.incus().storage_pool;
    let fix = format!("incus storage create {remote}{pool} dir (or name an existing pool in [incus] storage_pool)");
    match ask(cluster, host, &["storage", "list", remote, "--format", "json"], "list Incus's storage pools") {
        Ok(output) if output.success() => {
            let pools: Value = serde_json::from_str(&output.stdout).unwrap_or_default();
            match pools.as_array().into_iter().flatten().find(|found| found["name"] == pool.as_str()) {
                Some(found) => Check::new(
                    "incus pool",
                    Mark::Ok,
                    format!("storage pool {pool} ({})", found["driver"].as_str().unwrap_or("?")),
                ),
                None => Check::new("incus pool", missing(needed), format!("Incus has no storage pool {pool}")).fix(fix),
            }
        }
        Ok(output) => {
            Check::new("incus pool", missing(needed), format!("`incus storage list` failed: {}", output.tail(1)))
        }
        Err(why) => Check::new("incus pool", missing(needed), why),
    }
}

/// Each member of a cluster is online: the seats Incus would place on one
/// that is not fail.
fn check_members(cluster: &Cluster, host: &Host, remote: &str, needed: bool) -> Check {
    let listed = match ask(
        cluster,
        host,
        &["cluster", "list", remote, "--format", "json"],
        "list the Incus cluster's members",
    ) {
        Ok(output) if output.success() => serde_json::from_str::<Value>(&output.stdout).unwrap_or_default(),
        Ok(output) => {
            return Check::new(
                "incus members",
                missing(needed),
                format!("`incus cluster list` failed: {}", output.tail(1)),
            )
        }
        Err(why) => return Check::new("incus members", missing(needed), why),
    };
    let members: Vec<(String, String)> = listed
        .as_array()
        .into_iter()
        .flatten()
        .map(|member| {
            let name = member["server_name"].as_str().unwrap_or("?").to_string();
            (name, member["status"].as_str().unwrap_or("?").to_string())
        })
        .collect();
    let down: Vec<String> = members
        .iter()
        .filter(|(_, status)| status != "Online")
        .map(|(name, status)| format!("{name} ({status})"))
        .collect();
    match down.is_empty() {
        true => Check::new("incus members", Mark::Ok, format!("{} members online", members.len())),
        false => Check::new("incus members", Mark::Warn, format!("not online: {}; the seats Incus placed there do not answer", down.join(", ")))
            .fix("bring the member back (`incus cluster list`); if it is gone for good, `incus cluster remove --force MEMBER` forgets it with its nodes, and `labctl up --seat K` makes its seats again on the other members"),
    }
}

/// Docker beside this host's Incus drops the bridges' forwarded traffic
/// (its FORWARD policy): `up` adds the seat's rules to DOCKER-USER, which
/// needs root.
fn check_docker_beside(cluster: &Cluster, host: &Host) -> Option<Check> {
    let spec = crate::provider::incus::firewall::chain_present(&cluster.timeouts());
    let present = host.runner().run(&spec).map(|output| output.success()).unwrap_or(false);
    if !present {
        return None;
    }
    let root = rustix::process::geteuid().is_root();
    Some(match root {
        true => Check::new(
            "incus firewall",
            Mark::Ok,
            "Docker runs here (FORWARD policy DROP): `up` adds ACCEPT rules for each seat's bridge to DOCKER-USER, and `destroy` takes them back",
        ),
        false => Check::new(
            "incus firewall",
            Mark::Warn,
            "Docker runs here and drops the Incus bridges' forwarded traffic; labctl adds its rules to DOCKER-USER only as root",
        )
        .fix("run `labctl up` as root (or with sudo)"),
    })
}
