//! The Vagrant provider's environment: a Vagrantfile and provisioning
//! scripts rendered from templates. The Vagrantfile never initialises or
//! joins the swarm and never sees a join token: that happens over
//! `vagrant ssh` once every machine is up.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::Serialize;

use crate::config::{Cluster, Hypervisor, Node};
use crate::files::GeneratedFile;
use crate::provider::node_image::NODE_TOOLS;
use crate::provider::Preparation;
use crate::templates::Templates;
use crate::vbox;

pub const VAGRANTFILE_TEMPLATE: &str = "Vagrantfile.tera";
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

/// The environment to write into `folder`, checked and rendered; nothing
/// is written yet.
pub fn prepare(cluster: &Cluster, templates: &Templates, folder: &Path) -> Result<Preparation> {
    check_host_only_network(cluster)?;
    Ok(Preparation { folder: folder.to_path_buf(), files: render_environment(cluster, templates)? })
}

/// VirtualBox refuses host-only networks outside its allowed ranges; say so
/// before anyone waits for a VM to fail.
fn check_host_only_network(cluster: &Cluster) -> Result<()> {
    if cluster.vagrant().provider != Hypervisor::VirtualBox {
        return Ok(());
    }
    let conf = vbox::networks_conf_path();
    let allowed = vbox::allowed_ranges(conf.clone())?;
    if let Err(problem) = vbox::check_subnet(cluster.subnet(), &allowed, &conf) {
        bail!("{}cluster.subnet: {problem}", cluster.locate("cluster.subnet"));
    }
    Ok(())
}

/// Render the Vagrantfile and every `provision/*.sh` template.
fn render_environment(cluster: &Cluster, templates: &Templates) -> Result<Vec<GeneratedFile>> {
    let script_templates = templates.names_under(PROVISION_FOLDER);
    let scripts: Vec<String> = script_templates.iter().map(|name| output_name(name)).collect();
    let context = tera::Context::from_serialize(build_context(cluster, scripts))?;

    let mut files = vec![GeneratedFile {
        path: PathBuf::from(output_name(VAGRANTFILE_TEMPLATE)),
        content: templates.render(VAGRANTFILE_TEMPLATE, &context)?,
        executable: false,
    }];
    for name in script_templates {
        files.push(GeneratedFile {
            path: PathBuf::from(output_name(name)),
            content: templates.render(name, &context)?,
            executable: true,
        });
    }
    Ok(files)
}

fn output_name(template: &str) -> String {
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
