use std::process::ExitCode;

use anyhow::Result;

use super::{Context, Intent};
use crate::cli::{ImagesCommand, ImagesLoadArgs};
use crate::cluster::Needs;
use crate::config::Cluster;
use crate::exec::Runner;
use crate::images;
use crate::provider::NodeShell;

pub fn run(context: &Context, command: &ImagesCommand) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let cluster = Cluster::new(&settings, &catalog)?;
    let host = context.runner(false);
    match command {
        ImagesCommand::Pull => {
            let mut wanted = images::lab_images(&cluster, None)?;
            if let Some(registry) = &settings.registry {
                wanted.push(registry.image.clone());
            }
            let failed = context.ui.step("pulling images", || {
                let failed = images::pull(&wanted, host.as_ref(), settings.timeouts)?;
                let summary = format!("pulled {} of {} images", wanted.len() - failed.len(), wanted.len());
                Ok((failed, summary))
            })?;
            for (image, why) in &failed {
                context.ui.error(&format!("could not pull {image}: {why}"));
            }
            Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        ImagesCommand::Load(args) => {
            for cluster in context.seats(&settings, &catalog, args.seats.seat.as_ref(), Intent::Change)? {
                load_into_seat(context, args, &cluster, host.as_ref())?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load_into_seat(context: &Context, args: &ImagesLoadArgs, cluster: &Cluster, host: &dyn Runner) -> Result<()> {
    {
        {
            let wanted = match args.images.is_empty() {
                true => images::lab_images(cluster, args.lab.as_deref())?,
                false => args.images.clone(),
            };
            let runner = context.runner(false);
            let provider = context.open_running_cluster(cluster, runner.as_ref(), Needs::EveryNode)?;
            let shell = NodeShell::new(provider.as_ref(), runner.as_ref());
            for image in &wanted {
                context.ui.step(&format!("loading {image}"), || {
                    let loaded = images::load_required(image, cluster.nodes(), shell, host)?;
                    let summary = match loaded.loaded_on.is_empty() {
                        true => format!("{image}: already on every node"),
                        false => format!("{image}: loaded on {}", loaded.loaded_on.join(", ")),
                    };
                    Ok(((), summary))
                })?;
            }
            Ok(())
        }
    }
}
