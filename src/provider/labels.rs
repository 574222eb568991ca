//! What the docker provider calls and labels the things it makes on a Docker
//! engine (node containers, volumes, the seat's network), shared by the
//! provider, the class cache that joins the seats' networks, and the
//! inventory that finds clusters by their labels.

use std::path::{Path, PathBuf};

use crate::config::Cluster;

pub const CLUSTER_LABEL: &str = "labctl.cluster";
pub const NODE_LABEL: &str = "labctl.node";
pub const ROLE_LABEL: &str = "labctl.role";
/// The workspace a node was made from, so `labctl list` and `destroy --name`
/// find it from anywhere.
pub const WORKSPACE_LABEL: &str = "labctl.workspace";
/// On the nodes of a class's seats: the class (`cluster.name`) and seat number.
pub const CLASS_LABEL: &str = "labctl.class";
pub const SEAT_LABEL: &str = "labctl.seat";

/// The bridge network of `cluster`'s nodes (one per seat).
pub fn network_name(cluster: &Cluster) -> String {
    format!("labctl-{}", cluster.name())
}

/// The first workspace in `made_from` (the `labctl.workspace` labels of
/// what was found) that is not `workspace`. Paths are compared as this host
/// resolves them (`-C ../x` and `/srv/x` are one folder); a thing without the
/// label (made before labctl wrote it) belongs to nobody in particular.
pub fn foreign_workspace<'a>(made_from: impl Iterator<Item = &'a str>, workspace: &Path) -> Option<PathBuf> {
    let resolved = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let ours = resolved(workspace);
    made_from.filter(|label| !label.is_empty()).map(|label| resolved(Path::new(label))).find(|theirs| *theirs != ours)
}

/// The refusal to act on `what` ("cluster swarm-lab"), which `made` ("its
/// nodes were made") from the workspace `theirs`, naming both folders and
/// the ways out.
pub fn another_workspace(what: &str, made: &str, theirs: &Path, cluster: &Cluster) -> String {
    let (name, ours) = (cluster.class_name(), cluster.workspace());
    let rename = match cluster.config_file() {
        None => "give this one another name (`labctl init`, then [cluster] name in its labctl.toml)".to_string(),
        Some(_) => format!("give this one another name ([cluster] name in {})", cluster.source()),
    };
    let way_out = match theirs.is_dir() {
        true => format!("run labctl there (`labctl -C {} …`)", theirs.display()),
        false => format!("that folder is gone: `labctl destroy --name {name}` removes them"),
    };
    format!(
        "{what} is another workspace's: {made} from {}, and this workspace is {}; {rename}, or {way_out}",
        theirs.display(),
        ours.display()
    )
}
