//! A seat's bridge next to Docker on the same host. Docker sets the
//! filter table's FORWARD policy to DROP and makes bridged frames pass
//! through it (br_netfilter): the nodes of a seat on an Incus bridge then
//! cannot reach each other (no swarm) nor, through NAT, the outside. Incus's
//! own accept rules are in a table of its own and do not overrule that drop.
//! So, where this host's Incus runs beside Docker (`iptables -S DOCKER-USER`
//! answers), labctl adds to Docker's `DOCKER-USER` chain, for each seat's
//! bridge, exactly: frames within the bridge, the bridge out to this host's
//! default route, and the answers back. Not to another bridge: a seat
//! reaches no other seat, nor Docker's networks. Each rule carries the
//! comment `labctl <bridge>`, and `destroy` takes back exactly those.

use crate::exec::CommandSpec;
use crate::timeouts::{Timeouts, Wait};

const CHAIN: &str = "DOCKER-USER";

/// The rules for `bridge`, with `uplink` the interface of this host's
/// default route (none: the nodes reach each other only).
pub fn rules(bridge: &str, uplink: Option<&str>) -> Vec<Vec<String>> {
    let comment = format!("labctl {bridge}");
    let rule = |words: &[&str]| -> Vec<String> {
        words
            .iter()
            .map(|word| word.to_string())
            .chain(["-m".into(), "comment".into(), "--comment".into(), comment.clone()])
            .chain(["-j".into(), "ACCEPT".into()])
            .collect()
    };
    let mut rules = vec![rule(&["-i", bridge, "-o", bridge])];
    if let Some(uplink) = uplink {
        rules.push(rule(&["-i", bridge, "-o", uplink]));
        rules.push(rule(&["-i", uplink, "-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"]));
    }
    rules
}

/// Whether Docker's chain is on this host (Docker runs here).
pub fn chain_present(timeouts: &Timeouts) -> CommandSpec {
    CommandSpec::new("iptables", &["-w", "-S", CHAIN], "look for Docker's DOCKER-USER chain")
        .timeout(timeouts.limit(Wait::Read))
        .probe()
}

/// Whether `rule` is in the chain (`iptables -C`).
pub fn has(rule: &[String], timeouts: &Timeouts) -> CommandSpec {
    CommandSpec::new("iptables", &["-w", "-C", CHAIN], "look for a labctl rule in DOCKER-USER")
        .args(rule.iter().cloned())
        .timeout(timeouts.limit(Wait::Read))
        .probe()
}

/// Put `rule` first in the chain.
pub fn insert(rule: &[String], timeouts: &Timeouts) -> CommandSpec {
    CommandSpec::new("iptables", &["-w", "-I", CHAIN], "let the seat's bridge through Docker's FORWARD policy")
        .args(rule.iter().cloned())
        .timeout(timeouts.limit(Wait::Change))
}

/// Take `rule` out of the chain.
pub fn delete(rule: &[String], timeouts: &Timeouts) -> CommandSpec {
    CommandSpec::new("iptables", &["-w", "-D", CHAIN], "take labctl's rule for the seat's bridge back")
        .args(rule.iter().cloned())
        .timeout(timeouts.limit(Wait::Change))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seats_bridge_reaches_itself_and_the_uplink_and_no_other_bridge() {
        let lines: Vec<String> = rules("labctl1a2b3c4d", Some("eth0")).iter().map(|rule| rule.join(" ")).collect();
        assert_eq!(
            lines,
            [
                "-i labctl1a2b3c4d -o labctl1a2b3c4d -m comment --comment labctl labctl1a2b3c4d -j ACCEPT",
                "-i labctl1a2b3c4d -o eth0 -m comment --comment labctl labctl1a2b3c4d -j ACCEPT",
                "-i eth0 -o labctl1a2b3c4d -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment labctl labctl1a2b3c4d -j ACCEPT",
            ]
        );
        assert_eq!(rules("b", None).len(), 1, "without an uplink: within the bridge only");
        let insert = insert(&rules("b", None)[0], &Timeouts::default());
        assert_eq!(insert.args[..4], ["-w", "-I", "DOCKER-USER", "-i"]);
    }
}
