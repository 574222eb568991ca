//! The provisioning scripts (`templates/provision/*.sh.tera`) that set up a
//! machine for the lab: /etc/hosts, Docker Engine, daemon.json, the
//! firewall, the handouts' tools. The vagrant provider writes them next to
//! its Vagrantfile; the ssh provider feeds them to each machine over ssh.
//! Each takes the node's name as its first argument (the Vagrant boxes run
//! them without: there the hostname is the node's name).

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::config::{Cluster, Node};
use crate::files::GeneratedFile;
use crate::provider::node_image::NODE_TOOLS;
use crate::templates::Templates;

pub const PROVISION_FOLDER: &str = "provision/";

/// Ports a swarm needs open between nodes.
const SWARM_PORTS: [(u16, &str, &str); 4] = [
    (2377, "tcp", "cluster management"),
    (7946, "tcp", "node communication"),
    (7946, "udp", "node communication"),
    (4789, "udp", "overlay network traffic"),
];

#[derive(Serialize)]
struct Context<'a> {
    labctl_version: &'static str,
    /// Where labctl keeps its records on a machine.
    state_dir: &'static str,
    cluster: ClusterContext<'a>,
    nodes: Vec<NodeContext<'a>>,
    vagrant: &'a crate::config::VagrantSettings,
    registry: Option<RegistryContext>,
    registry_mirror: Option<&'a str>,
    swarm_ports: Vec<PortContext>,
    provision_scripts: Vec<String>,
    handout_tools: ToolsContext,
}

/// The handouts' tools (provider::node_image::NODE_TOOLS) for provisioning.
#[derive(Serialize)]
struct ToolsContext {
    commands: Vec<&'static str>,
    apt: Vec<&'static str>,
    dnf: Vec<&'static str>,
}

#[derive(Serialize)]
struct ClusterContext<'a> {
    name: &'a str,
    subnet: String,
    netmask: String,
    prefix_len: u8,
}

#[derive(Serialize)]
struct NodeContext<'a> {
    #[serde(flatten)]
    node: &'a Node,
    forwards: Vec<&'a crate::config::Forward>,
}

#[derive(Serialize)]
struct RegistryContext {
    host: String,
    port: u16,
    address: String,
}

#[derive(Serialize)]
struct PortContext {
    port: u16,
    protocol: &'static str,
    purpose: &'static str,
}

/// The rendering context of the Vagrantfile and the provisioning scripts.
pub fn context(cluster: &Cluster, templates: &Templates) -> Result<tera::Context> {
    let scripts: Vec<String> = templates.names_under(PROVISION_FOLDER).iter().map(|name| output_name(name)).collect();
    Ok(tera::Context::from_serialize(build_context(cluster, scripts))?)
}

/// Every `provision/*.sh` script rendered for `cluster`, in the order they run.
pub fn scripts(cluster: &Cluster, templates: &Templates) -> Result<Vec<GeneratedFile>> {
    let context = context(cluster, templates)?;
    templates
        .names_under(PROVISION_FOLDER)
        .into_iter()
        .map(|name| {
            Ok(GeneratedFile {
                path: PathBuf::from(output_name(name)),
                content: templates.render(name, &context)?,
                executable: true,
            })
        })
        .collect()
}

/// `provision/10-hosts.sh` for the template `provision/10-hosts.sh.tera`.
pub fn output_name(template: &str) -> String {
    template.trim_end_matches(".tera").to_string()
}

fn build_context<'c>(cluster: &'c Cluster<'c>, provision_scripts: Vec<String>) -> Context<'c> {
    let nodes = cluster
        .nodes()
        .iter()
        .map(|node| NodeContext { node, forwards: cluster.forwards_to(&node.name).collect() })
        .collect();
    let subnet = cluster.subnet();
    Context {
        labctl_version: env!("CARGO_PKG_VERSION"),
        state_dir: crate::provider::STATE_DIR,
        cluster: ClusterContext {
            name: cluster.name(),
            subnet: subnet.to_string(),
            netmask: subnet.netmask().to_string(),
            prefix_len: subnet.prefix_len(),
        },
        nodes,
        vagrant: cluster.vagrant(),
        registry: cluster.registry().map(|registry| RegistryContext {
            host: registry.host.clone(),
            port: registry.port,
            address: registry.address(),
        }),
        registry_mirror: cluster.registry_mirror(),
        swarm_ports: SWARM_PORTS
            .iter()
            .map(|&(port, protocol, purpose)| PortContext { port, protocol, purpose })
            .collect(),
        provision_scripts,
        handout_tools: ToolsContext {
            commands: NODE_TOOLS.iter().filter_map(|tool| tool.command).collect(),
            apt: NODE_TOOLS.iter().map(|tool| tool.apt).collect(),
            dnf: NODE_TOOLS.iter().map(|tool| tool.dnf).collect(),
        },
    }
}
