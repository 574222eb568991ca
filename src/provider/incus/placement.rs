//! Where a seat runs on Incus: the cluster's members, the member each
//! node is on, the address the students' SSH port listens on there, and
//! the nodes of a member that does not answer.

use anyhow::{anyhow, Result};

use super::cli::{self, Instance, Member};
use super::{IncusProvider, CLUSTER_KEY, NODE_KEY};

impl IncusProvider<'_> {
    /// The members of the Incus cluster; none when Incus is one server.
    pub(super) fn members(&self) -> Result<Vec<Member>> {
        let list = self.cli().members_listing();
        let listed = self.runner.run(&list)?;
        match listed.success() {
            true if listed.stdout.trim().is_empty() => Ok(Vec::new()),
            true => cli::members(&listed.stdout),
            false if listed.stderr.contains("isn't part of a cluster") => Ok(Vec::new()),
            false => {
                Err(anyhow!("Incus does not answer ({list}): {}; `labctl doctor` says what to do", listed.tail(2)))
            }
        }
    }

    /// The member `node`'s instance is on, on a cluster.
    pub(super) fn location_of(&self, node: &str) -> Result<Option<String>> {
        let instances = self.instances()?;
        Ok(instances.iter().find(|instance| instance.label(NODE_KEY) == Some(node)).and_then(member))
    }

    /// The address the students' SSH port listens on, and why: `[class]
    /// ssh_bind`; with "auto", the address of the server the seat runs on:
    /// its cluster member (`member`), the remote's server, or this host.
    pub(super) fn ssh_listen(&self, member: Option<&str>) -> Result<(String, String)> {
        let remote = self.cluster.incus().remote.as_deref();
        if matches!(self.cluster.class_ssh_bind(), crate::config::SshBind::Address(_))
            || (remote.is_none() && member.is_none())
        {
            let (address, why) = crate::provider::listen::students_bind(self.cluster)?;
            return Ok((address.to_string(), why));
        }
        let fix = "set [class] ssh_bind to the address students reach it at";
        let (host, why) = match member {
            Some(member) => {
                let members = self.members()?;
                let host = members.iter().find(|found| found.name == member).and_then(Member::host);
                let host = host.ok_or_else(|| {
                    anyhow!(
                        "[class] ssh_bind = \"auto\" cannot tell the address of Incus cluster member {member}; {fix}"
                    )
                })?;
                (host, format!("Incus cluster member {member}"))
            }
            None => {
                let remote = remote.expect("a remote, when no member");
                let listed = self.runner.run_checked(&self.cli().remotes_listing())?;
                let host = cli::remote_host(&listed.stdout, remote);
                let host = host.ok_or_else(|| {
                    anyhow!(
                        "[class] ssh_bind = \"auto\" cannot tell the address of Incus remote {remote}'s server; {fix}"
                    )
                })?;
                (host, format!("the server of Incus remote {remote}"))
            }
        };
        let address = crate::provider::listen::resolve(&host).ok_or_else(|| {
            anyhow!("[class] ssh_bind = \"auto\": {host} ({why}) does not resolve to an address here; {fix}")
        })?;
        Ok((address.to_string(), format!("{why}, as [class] ssh_bind = \"auto\" says")))
    }

    /// An instance whose cluster member does not answer is listed with its
    /// name, member and "Error" only (no keys): this seat's node, by its
    /// name in the class's project, with a status that names the member.
    pub(super) fn unreachable_node(&self, mut instance: Instance) -> Option<Instance> {
        if !instance.labels.is_empty() || instance.status != "error" {
            return Some(instance);
        }
        let node = self.cluster.nodes().iter().find(|node| self.instance(&node.name) == instance.name)?;
        instance.labels = vec![(CLUSTER_KEY.into(), self.cluster.name().into()), (NODE_KEY.into(), node.name.clone())];
        instance.status = format!("unreachable: Incus cluster member {} does not answer", instance.location);
        Some(instance)
    }
}

/// The cluster member `instance` is on; `None` outside a cluster.
pub(super) fn member(instance: &Instance) -> Option<String> {
    Some(instance.location.clone()).filter(|location| !location.is_empty() && location != "none")
}
