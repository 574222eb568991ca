//! A seat's network on Incus: its bridge, made on every cluster member
//! first when Incus is a cluster, and the rules that let it through
//! Docker's FORWARD policy where this host's Incus runs beside Docker.

use anyhow::{bail, Result};

use super::cli::{self, Member};
use super::{firewall, IncusProvider, CLASS_SETUP, CLUSTER_KEY};
use crate::exec::CommandSpec;
use crate::timeouts::Wait;

impl IncusProvider<'_> {
    /// The seat's bridge, made when missing; an error when one of that name
    /// has another subnet.
    pub(super) fn plan_network(&self, members: &[Member]) -> Result<Vec<CommandSpec>> {
        let cli = self.cli();
        let network = self.network();
        let listed =
            self.runner.run_checked(&cli.listing(&["network", "list"], false, "look for the seat's network"))?;
        let gateway = self.gateway();
        let wanted = format!("{gateway}/{}", self.cluster.subnet().prefix_len());
        let mut commands = Vec::new();
        let found = cli::lists(&listed.stdout, &network);
        if let Some(found) = found.as_ref().filter(|found| found["status"] == "Pending") {
            // Left pending on some members by an `up` that stopped midway.
            let delete = cli.global(
                Wait::Change,
                &["network", "delete", &cli.on_remote(&network)],
                "remove the seat's unfinished network",
            );
            if cli::user_keys(&found["config"]).is_empty() || self.owns(&found["config"]) {
                commands.push(delete);
            }
        } else if let Some(found) = found {
            let has = found["config"]["ipv4.address"].as_str().unwrap_or_default();
            if has == wanted {
                return Ok(commands);
            }
            bail!(
                "Incus network {network} has {has}, but labctl.toml says {}; run `labctl destroy` first to recreate it",
                self.cluster.subnet()
            );
        }
        for member in members {
            let on_member = format!("create the seat's network on member {}", member.name);
            commands.push(cli.global(
                Wait::Change,
                &["network", "create", &cli.on_remote(&network), "--target", &member.name],
                &on_member,
            ));
        }
        let create = cli
            .global(Wait::Change, &["network", "create", &cli.on_remote(&network)], "create the seat's network")
            .args([
                format!("ipv4.address={wanted}"),
                "ipv4.nat=true".into(),
                "ipv4.dhcp=false".into(),
                "ipv6.address=none".into(),
            ])
            .args(self.keys());
        commands.push(create);
        Ok(commands)
    }

    /// Whether a `config` (a network's) carries this seat's key.
    fn owns(&self, config: &serde_json::Value) -> bool {
        cli::user_keys(config).iter().any(|(key, value)| key == CLUSTER_KEY && value == self.cluster.name())
    }

    pub(super) fn gateway(&self) -> std::net::Ipv4Addr {
        self.cluster.subnet().hosts().next().expect("validated subnets have hosts")
    }

    /// The seat's rules in Docker's DOCKER-USER chain, where this host's
    /// Incus runs beside Docker (see [`firewall`]); `None` elsewhere.
    fn bridge_rules(&self) -> Result<Option<Vec<Vec<String>>>> {
        if self.cluster.incus().remote.is_some() {
            return Ok(None);
        }
        let present = self.runner.run(&firewall::chain_present(&self.timeouts()));
        if !present.map(|output| output.success()).unwrap_or(false) {
            return Ok(None);
        }
        let routes = crate::hostfs::routes(&crate::hostfs::root()).unwrap_or_default();
        let uplink = routes.iter().find(|route| route.network.prefix_len() == 0).map(|route| route.interface.as_str());
        Ok(Some(firewall::rules(&self.network(), uplink)))
    }

    /// Let the seat's bridge through Docker's FORWARD policy (rules added once).
    pub(super) fn open_bridge(&self) -> Result<()> {
        let timeouts = self.timeouts();
        for rule in self.bridge_rules()?.unwrap_or_default() {
            if self.runner.run(&firewall::has(&rule, &timeouts))?.success() {
                continue;
            }
            let insert = firewall::insert(&rule, &timeouts);
            let inserted = self.runner.run(&insert)?;
            if !inserted.success() {
                bail!(
                    "Docker on this host drops the traffic of Incus bridges (its FORWARD policy), so the nodes of {} could not reach each other, and labctl cannot add its rule for {} ({}); run labctl as root, or add it yourself: `{insert}`",
                    self.cluster.name(),
                    self.network(),
                    inserted.tail(1)
                );
            }
        }
        Ok(())
    }

    /// Take back the seat's rules in DOCKER-USER.
    pub(super) fn close_bridge(&self) -> Result<Option<String>> {
        let timeouts = self.timeouts();
        let mut taken = 0;
        for rule in self.bridge_rules()?.unwrap_or_default() {
            // A rule added twice (by hand, say) goes too; a few times at most.
            for _ in 0..4 {
                if !self.runner.run(&firewall::has(&rule, &timeouts))?.success() {
                    break;
                }
                self.runner.run_checked(&firewall::delete(&rule, &timeouts))?;
                taken += 1;
            }
        }
        Ok((taken > 0).then(|| format!("{taken} DOCKER-USER rules for {}", self.network())))
    }

    /// Remove the seat's network, if it is this seat's.
    pub(super) fn remove_network(&self) -> Result<Option<String>> {
        let cli = self.cli();
        let network = self.network();
        let listed =
            self.runner.run_checked(&cli.listing(&["network", "list"], false, "look for the seat's network"))?;
        let Some(found) = cli::lists(&listed.stdout, &network) else { return Ok(None) };
        if !self.owns(&found["config"]) {
            return Ok(None);
        }
        let delete =
            cli.global(Wait::Change, &["network", "delete", &cli.on_remote(&network)], "remove the seat's network");
        // One at a time: Incus 6.0, deleting a bridge, lists the host's
        // interfaces, and fails on another seat's bridge going away meanwhile.
        let _one_at_a_time = CLASS_SETUP.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.runner.run_checked(&delete)?;
        Ok(Some(format!("network {network}")))
    }
}
