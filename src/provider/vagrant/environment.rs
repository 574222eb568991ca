//! The Vagrant provider's environment: a Vagrantfile and provisioning
//! scripts rendered from templates. The Vagrantfile never initialises or
//! joins the swarm and never sees a join token: that happens over
//! `vagrant ssh` once every machine is up.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::config::{Cluster, Hypervisor};
use crate::files::GeneratedFile;
use crate::provider::{provision, Preparation};
use crate::templates::Templates;
use crate::vbox;

pub const VAGRANTFILE_TEMPLATE: &str = "Vagrantfile.tera";

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
    let mut files = vec![GeneratedFile {
        path: PathBuf::from(provision::output_name(VAGRANTFILE_TEMPLATE)),
        content: templates.render(VAGRANTFILE_TEMPLATE, &provision::context(cluster, templates)?)?,
        executable: false,
    }];
    files.extend(provision::scripts(cluster, templates)?);
    Ok(files)
}
