//! What the docker provider calls and labels the things it makes on a Docker
//! engine (node containers, volumes, the seat's network), shared by the
//! provider, the class cache that joins the seats' networks, and the
//! inventory that finds clusters by their labels.

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
