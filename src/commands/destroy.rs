use std::process::ExitCode;

use anyhow::{bail, Result};

use std::path::PathBuf;

use super::seats::{self, Finished};
use super::{confirm, list, Context, Intent};
use crate::cli::{DestroyArgs, SeatArg};
use crate::config::{ClassSettings, Cluster, ProviderSetting, Seat, SeatSelection};
use crate::lock;
use crate::provider::docker::DockerProvider;
use crate::provider::incus::IncusProvider;
use crate::provider::ssh::HostKeys;
use crate::provider::{cache, NodeShell, Provider, STATE_DIR};
use crate::swarm;

pub fn run(context: &Context, args: &DestroyArgs) -> Result<ExitCode> {
    if let Some(name) = &args.name {
        return destroy_by_name(context, args, name);
    }
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let clusters = context.seats(&settings, &catalog, args.seats.seat.as_ref(), Intent::Change)?;
    let nodes: usize = clusters.iter().map(|cluster| cluster.nodes().all().len()).sum();
    // Asked once, naming what goes: one cluster, or how many seats.
    let what = match clusters.as_slice() {
        [cluster] => format!("cluster {}", cluster.name()),
        seats => format!("{} seats of class {} ({})", seats.len(), settings.cluster_name, seat_names(seats)),
    };
    let (question, consequence) = match settings.provider {
        // Machines labctl did not make: it takes its own things off them.
        ProviderSetting::Ssh => (
            format!("Take labctl's things off the {nodes} machines of {what}: leave the swarm labctl made{}, remove the registry, the lab folders it made (everything students wrote in them; a folder that was there before stays) and {STATE_DIR}? The machines, Docker and any swarm labctl did not make stay.", match args.yes {
                true => String::new(),
                false => services_going(context, &clusters),
            }),
            format!("destroying {what} removes the swarm, the registry and the lab folders it made (everything students wrote in them) from its {nodes} machines"),
        ),
        _ => (
            format!("Remove {what}: {nodes} nodes, their disks, networks and volumes?"),
            format!("destroying {what} removes {nodes} nodes and everything students wrote on them"),
        ),
    };
    if !args.yes && !confirm(&context.ui, &question, &consequence)? {
        context.ui.note("nothing was removed");
        return Ok(ExitCode::FAILURE);
    }
    // One command changes the class at a time (see `lock`): no seat comes
    // up to use the class cache while this one decides to remove it.
    let _class =
        lock::acquire_class(&settings.cluster_name, settings.class.seats, "labctl destroy", &context.workspace)?;
    // Asked before the seats go: `auto` may choose otherwise once their containers are gone.
    let caches = class_caches(context, &clusters)?;
    let code = seats::run_each(context, &settings, &clusters, destroy_seat)?;
    remove_class_caches(context, &caches)?;
    // Nothing of the workspace is left: `labctl list` no longer names it.
    if code == ExitCode::SUCCESS && clusters.len() as u32 == settings.class.seats {
        if let Err(error) = crate::workspaces::forget(&context.workspace) {
            context.ui.warn(&format!("{error:#}"));
        }
    }
    Ok(code)
}

/// `, with its services a, b`: what leaving the swarms labctl made on the
/// machines takes with it (named in the question; a swarm labctl did not
/// make stays, and a manager that does not answer is named by `destroy`).
fn services_going(context: &Context, clusters: &[Cluster]) -> String {
    let Ok(templates) = context.templates() else { return String::new() };
    let mut services = Vec::new();
    for cluster in clusters {
        let runner = context.runner(false);
        let Ok((_, provider)) = context.provider_for(cluster, runner.as_ref(), None, HostKeys::Known) else { continue };
        let shell = NodeShell::new(provider.as_ref(), runner.as_ref());
        let manager = &cluster.nodes().manager().name;
        services.extend(swarm::own_swarm_services(shell, &templates, manager).unwrap_or_default());
    }
    match services.len() {
        0 => String::new(),
        n => format!(" with its {n} services ({})", crate::mask::visible(&services.join(", "))),
    }
}

fn destroy_seat(context: &Context, cluster: &Cluster) -> Result<Finished> {
    let name = cluster.name();
    let _lock = lock::acquire(name, "labctl destroy", &context.workspace)?;
    let runner = context.runner(false);
    let (_, provider) = context.open_cluster(cluster, runner.as_ref(), None)?;
    context.ui.step(&format!("removing {name}"), || {
        let removed = provider.destroy()?;
        let summary = match (removed.is_empty(), provider.info().owns_machines) {
            (true, _) => format!("nothing to remove: cluster {name} does not exist"),
            (false, false) => format!(
                "removed {}; the machines still run, with Docker, their /etc/hosts entries, daemon.json (the first version kept as daemon.json.labctl.bak), the firewall rules that were there before and images",
                removed.join(", ")
            ),
            (false, _) => format!("removed {}", removed.join(", ")),
        };
        Ok(((), summary))
    })?;
    Ok(Finished::Done)
}

/// One seat per engine the seats are on whose provider serves a class
/// cache there: where `destroy` looks for the class's cache once its seats
/// are gone. Asked without a word: the seats say which provider they use.
fn class_caches<'a, 'c>(context: &Context, clusters: &'a [Cluster<'c>]) -> Result<Vec<&'a Cluster<'c>>> {
    let mut caches = Vec::new();
    for cluster in seats::first_seat_per_engine(clusters) {
        let runner = context.runner(false);
        let (_, provider) = context.provider_for(cluster, runner.as_ref(), None, HostKeys::Known)?;
        if provider.info().class_cache {
            caches.push(cluster);
        }
    }
    Ok(caches)
}

/// The class cache on each of those engines, once every seat of this
/// command is done, and only when no seat of the class is left there: a
/// class-wide step after the seats', so that seats destroyed at once never
/// race to remove it.
fn remove_class_caches(context: &Context, caches: &[&Cluster]) -> Result<()> {
    for cluster in caches {
        let runner = context.runner(false);
        let removed = cache::remove_unless_in_use(cluster, runner.as_ref())?;
        if !removed.is_empty() {
            context.ui.done(&format!("removed {}", removed.join(", ")));
        }
    }
    Ok(())
}

/// `s01-s03, s07`: the seats' labels, runs collapsed.
pub(super) fn seat_names(seats: &[Cluster]) -> String {
    let mut runs: Vec<(Seat, Seat)> = Vec::new();
    for seat in seats.iter().map(|cluster| cluster.seat_of_class()) {
        match runs.last_mut() {
            Some((_, last)) if last.number + 1 == seat.number => *last = seat,
            _ => runs.push((seat, seat)),
        }
    }
    runs.iter()
        .map(|(first, last)| match first == last {
            true => first.label(),
            false => format!("{}-{}", first.label(), last.label()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `destroy --name NAME` from anywhere: in the workspace the cluster was made
/// from when it is still there (its settings, its seats, its lock), else by
/// the docker labels alone.
fn destroy_by_name(context: &Context, args: &DestroyArgs, name: &str) -> Result<ExitCode> {
    let listed = list::find_all(context)?;
    let matches: Vec<&list::Listed> =
        listed.iter().filter(|found| found.name == name || found.class.as_deref() == Some(name)).collect();
    if matches.is_empty() {
        bail!("no labctl cluster named {name:?} on this host; `labctl list` shows the ones there are");
    }
    let class = matches[0].class.clone().unwrap_or_else(|| matches[0].name.clone());
    let workspace = matches.iter().find_map(|found| found.workspace.clone()).map(PathBuf::from);
    if let Some(there) = workspace.filter(|dir| dir.is_dir()).map(|dir| context.for_workspace(dir)) {
        let catalog = there.catalog()?;
        // The workspace may have been renamed since: act there only on the same name.
        if there.settings(&catalog).is_ok_and(|settings| settings.cluster_name == class) {
            let seat = match matches.as_slice() {
                [one] if one.name == name => one.seat.map(|seat| SeatSelection::Ranges(vec![(seat, seat)])),
                _ => Some(SeatSelection::All),
            };
            context.ui.note(&format!("{name} was made in {}; destroying it there", there.workspace.display()));
            let args = DestroyArgs { seats: SeatArg { seat }, yes: args.yes, name: None };
            return run(&there, &args);
        }
    }
    // No workspace to act from: the docker and incus providers find
    // everything by its labels (keys).
    if matches.iter().any(|found| found.provider == "ssh") {
        bail!("{name} is on machines of [[ssh.hosts]] whose workspace is gone; labctl reaches them only through its labctl.toml: run `labctl destroy` in a workspace that lists them");
    }
    if matches.iter().any(|found| !["docker", "incus"].contains(&found.provider)) {
        bail!("{name} is a Vagrant cluster whose workspace is gone; remove its VMs with VirtualBox (`VBoxManage list vms`)");
    }
    let nodes: usize = matches.iter().map(|found| found.nodes).sum();
    let question = match matches.iter().all(|found| found.provider == "incus") {
        true => format!("Remove {name}: {nodes} Incus nodes, their networks, and their project once empty?"),
        false => format!("Remove {name}: {nodes} node containers, their volumes and networks?"),
    };
    let consequence = format!("destroying {name} removes {nodes} nodes and everything students wrote on them");
    if !args.yes && !confirm(&context.ui, &question, &consequence)? {
        context.ui.note("nothing was removed");
        return Ok(ExitCode::FAILURE);
    }
    let catalog = context.catalog()?;
    let mut settings = context.settings(&catalog)?;
    settings.class = ClassSettings::default();
    let here = settings.workspace.clone();
    for found in &matches {
        settings.cluster_name = found.name.clone();
        // Acting for the workspace that made the nodes, which is gone: the
        // provider touches only a workspace's own nodes.
        settings.workspace = found.workspace.as_ref().map_or_else(|| here.clone(), PathBuf::from);
        if let Some(project) = &found.project {
            settings.provider = ProviderSetting::Incus;
            settings.incus = crate::config::incus::IncusSettings {
                remote: None,
                project: project.clone(),
                storage_pool: crate::config::incus::DEFAULT_POOL.into(),
            };
        }
        let cluster = Cluster::new(&settings, &catalog)?;
        let runner = context.runner(false);
        let provider: Box<dyn Provider> = match found.provider {
            "incus" => Box::new(IncusProvider::new(&cluster, runner.as_ref())),
            _ => Box::new(DockerProvider::new(&cluster, runner.as_ref())),
        };
        context.ui.step(&format!("removing {}", found.name), || {
            let removed = provider.destroy()?;
            Ok(((), format!("{}: removed {}", found.name, removed.join(", "))))
        })?;
    }
    if let Some(found) = matches.last() {
        settings.cluster_name = found.name.clone();
        let cluster = Cluster::new(&settings, &catalog)?;
        remove_class_caches(context, &[&cluster])?;
    }
    Ok(ExitCode::SUCCESS)
}
