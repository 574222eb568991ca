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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_settings;

    /// A script with its `variable=` line pointed at `value`.
    fn pointed(script: &str, variable: &str, value: &std::path::Path) -> String {
        let line = script.lines().find(|line| line.starts_with(&format!("{variable}="))).unwrap().to_string();
        script.replace(&line, &format!("{variable}={}", value.display()))
    }

    #[test]
    fn destroy_takes_back_exactly_the_firewall_changes_provisioning_made() {
        let settings = test_settings("");
        let cluster = crate::config::test_cluster(&settings);
        let templates = Templates::load(std::path::Path::new("/nonexistent")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (bin, defaults, rules, state) =
            (dir.path().join("bin"), dir.path().join("ufw"), dir.path().join("rules"), dir.path().join("state"));
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(&defaults, "IPV6=yes\nDEFAULT_FORWARD_POLICY=\"DROP\"\n").unwrap();
        // The school had SSH and 2377/tcp open already.
        std::fs::write(&rules, "22/tcp\n2377/tcp\n").unwrap();
        let ufw = format!(
            "#!/bin/sh\nrules='{}'\ncase $1 in\n  status) echo 'Status: active' ;;\n  allow) shift; rule=\"$*\"; if grep -qxF -- \"$rule\" \"$rules\"; then echo 'Skipping adding existing rule'; else echo \"$rule\" >> \"$rules\"; echo 'Rule added'; fi ;;\n  delete) shift 2; rule=\"$*\"; grep -vxF -- \"$rule\" \"$rules\" > \"$rules.new\"; mv \"$rules.new\" \"$rules\"; echo 'Rule deleted' ;;\nesac\n",
            rules.display()
        );
        std::fs::write(bin.join("ufw"), ufw).unwrap();
        std::fs::set_permissions(bin.join("ufw"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let path = format!("{}:/usr/bin:/bin", bin.display());

        let firewall =
            scripts(&cluster, &templates).unwrap().into_iter().find(|s| s.path.ends_with("40-firewall.sh")).unwrap();
        let firewall =
            pointed(&pointed(&firewall.content, "ufw_defaults", &defaults), "record", &state.join("firewall"));
        let children = std::sync::Arc::new(crate::exec::Children::default());
        let runner = crate::exec::RealRunner::new(crate::ui::Ui::new(crate::ui::Verbosity::Quiet), children);
        let run = |program: &str, args: &[&str]| {
            let mut spec =
                crate::exec::CommandSpec::new(program, args, "run").timeout(std::time::Duration::from_secs(30));
            spec.env.push(("PATH".into(), path.clone()));
            crate::exec::Runner::run(&runner, &spec).unwrap()
        };
        for _ in 0..2 {
            let out = run("bash", &["-c", &firewall, "40-firewall", "manager"]);
            assert!(out.success(), "{out:?}");
        }
        assert!(std::fs::read_to_string(&defaults).unwrap().contains("\"ACCEPT\""));
        assert_eq!(std::fs::read_to_string(&rules).unwrap().lines().count(), 7, "5 rules added");

        let take_off = templates.node_script("node/take-off.sh.tera").unwrap();
        let take_off = pointed(&take_off, "ufw_defaults", &defaults);
        let record = state.join("swarm-node-id");
        let argv = crate::provider::ssh::take_off_argv(
            &take_off,
            state.to_str().unwrap(),
            "/nonexistent/work",
            record.to_str().unwrap(),
        );
        let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
        let out = run("sh", &args);
        let said = out.stdout.clone();
        assert!(out.success(), "{out:?}");
        assert_eq!(std::fs::read_to_string(&rules).unwrap(), "22/tcp\n2377/tcp\n", "the school's rules stay: {said}");
        assert_eq!(std::fs::read_to_string(&defaults).unwrap(), "IPV6=yes\nDEFAULT_FORWARD_POLICY=\"DROP\"\n");
        assert!(said.contains("closed 7946/tcp 7946/udp 4789/udp 5000/tcp esp"), "{said}");
        assert!(said.contains("ufw's forward policy is DROP again"), "{said}");
        assert!(!state.exists());
    }
}
