use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::config::Cluster;
use crate::lock;

pub fn run(context: &Context) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let cluster = Cluster::new(&settings, &catalog)?;
    let _lock = lock::acquire(&settings.cluster_name, "labctl down", &context.workspace)?;
    let runner = context.runner(false);
    let (_, provider) = context.open_cluster(&cluster, runner.as_ref(), None)?;
    context.ui.step("stopping the nodes", || {
        let stopped = provider.stop()?;
        let summary = match stopped {
            0 => "no node was running".to_string(),
            n => format!("stopped {n} nodes; their disks are kept, `labctl up` starts them again"),
        };
        Ok(((), summary))
    })?;
    Ok(ExitCode::SUCCESS)
}
