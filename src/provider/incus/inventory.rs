//! Every labctl seat on this host's Incus, found by its instances'
//! `user.labctl.*` keys in every project: `labctl list`, and `labctl
//! destroy --name` when the workspace is gone.

use anyhow::{anyhow, Result};

use super::cli::{self, IncusCli, Instance};
use super::{CLASS_KEY, CLUSTER_KEY, SEAT_KEY, WORKSPACE_KEY};
use crate::exec::Runner;
use crate::timeouts::Timeouts;

/// One seat (or a lone cluster) on this host's Incus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSeat {
    /// The `labctl.cluster` key: `cluster.name`, or `<name>-s03` for a seat.
    pub name: String,
    pub class: Option<String>,
    pub seat: Option<u32>,
    pub workspace: Option<String>,
    /// The Incus project its nodes are in.
    pub project: String,
    pub nodes: usize,
    pub running: usize,
}

/// The seats on this host's Incus, in the order of their names.
pub fn find(runner: &dyn Runner, timeouts: &Timeouts) -> Result<Vec<FoundSeat>> {
    let list = IncusCli::here(*timeouts).all_projects_listing("list labctl's Incus nodes");
    let listed = runner.run(&list)?;
    if !listed.success() {
        return Err(anyhow!("`{list}` failed: {}", listed.tail(1)));
    }
    Ok(seats(&cli::instances(&listed.stdout)?))
}

/// `instances` grouped by their `labctl.cluster` key; others left out.
pub fn seats(instances: &[Instance]) -> Vec<FoundSeat> {
    let mut found: Vec<FoundSeat> = Vec::new();
    for instance in instances {
        let Some(name) = instance.label(CLUSTER_KEY) else { continue };
        let running = usize::from(instance.status == "running");
        match found.iter_mut().find(|seat| seat.name == name && seat.project == instance.project) {
            Some(seat) => {
                seat.nodes += 1;
                seat.running += running;
            }
            None => found.push(FoundSeat {
                name: name.to_string(),
                class: instance.label(CLASS_KEY).map(str::to_string),
                seat: instance.label(SEAT_KEY).and_then(|seat| seat.parse().ok()),
                workspace: instance.label(WORKSPACE_KEY).map(str::to_string),
                project: instance.project.clone(),
                nodes: 1,
                running,
            }),
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_grouped_by_seat_and_others_are_left_out() {
        let json = r#"[
          {"name":"c-s02-manager","project":"labctl-c","status":"Running","config":{"user.labctl.cluster":"c-s02","user.labctl.class":"c","user.labctl.seat":"2","user.labctl.workspace":"/srv/c"}},
          {"name":"c-s02-node1","project":"labctl-c","status":"Stopped","config":{"user.labctl.cluster":"c-s02","user.labctl.class":"c","user.labctl.seat":"2","user.labctl.workspace":"/srv/c"}},
          {"name":"c-s01-manager","project":"labctl-c","status":"Running","config":{"user.labctl.cluster":"c-s01","user.labctl.class":"c","user.labctl.seat":"1"}},
          {"name":"web","project":"default","status":"Running","config":{"image.os":"debian"}}
        ]"#;
        let found = seats(&cli::instances(json).unwrap());
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!((found[0].name.as_str(), found[0].seat, found[0].workspace.as_deref()), ("c-s01", Some(1), None));
        let second = &found[1];
        assert_eq!((second.nodes, second.running, second.project.as_str()), (2, 1, "labctl-c"));
        assert_eq!((second.class.as_deref(), second.workspace.as_deref()), (Some("c"), Some("/srv/c")));
    }
}
