//! `labctl logs`: one .tar.gz with what a failed class needs to be
//! understood (see `diagnostics`), its path printed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use flate2::write::GzEncoder;
use serde::Serialize;

use super::{version, Context, Intent};
use crate::cli::LogsArgs;
use crate::cluster;
use crate::config::{Cluster, Settings};
use crate::diagnostics::{self, Collected};
use crate::exec::mask_tokens;
use crate::files::{tar_archive, write_file, ArchiveEntry, FileMode};
use crate::ui::LOG_DIR;

/// The settings as labctl resolved them (no secret is in them).
#[derive(Serialize)]
struct Resolved<'a> {
    cluster: &'a str,
    provider: &'static str,
    subnet: String,
    nodes: &'a [crate::config::Node],
    forwards: &'a [crate::config::Forward],
    registry: Option<&'a crate::config::Registry>,
    seeded_labs: &'a [crate::config::SeededLab],
    class: &'a crate::config::ClassSettings,
    settings_from: String,
}

pub fn run(context: &Context, args: &LogsArgs) -> Result<ExitCode> {
    let catalog = context.catalog()?;
    let settings = context.settings(&catalog)?;
    let clusters = context.seats(&settings, &catalog, args.seats.seat.as_ref(), Intent::Read)?;
    let runner = context.runner(false);
    let templates = context.templates()?;
    let root = format!("labctl-logs-{}-{}", settings.cluster_name, crate::ui::timestamp());
    let mut files = host_files(context, &settings, runner.as_ref(), &root)?;
    for cluster in &clusters {
        let folder = format!("{root}/{}", cluster.name());
        let collected = context.ui.step(&format!("collecting {}", cluster.name()), || {
            let files = seat_files(context, cluster, runner.as_ref(), &templates, &folder);
            let summary = format!("{}: {} files", cluster.name(), files.len());
            Ok((files, summary))
        })?;
        files.extend(collected);
    }
    let entries: Vec<ArchiveEntry> = files
        .into_iter()
        .map(|file| ArchiveEntry { path: file.path, content: file.text.into_bytes(), mode: FileMode::Plain })
        .collect();
    let mut gzip = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&tar_archive(&entries)?)?;
    let out = args.out.clone().unwrap_or_else(|| context.workspace.join(LOG_DIR));
    let path = out.join(format!("{root}.tar.gz"));
    write_file(&path, &gzip.finish()?).with_context(|| format!("cannot write the bundle into {}", out.display()))?;
    context.ui.note(&format!("{} files; attach this file when asking for help:", entries.len()));
    context.ui.print(&format!("{}\n", shown(context, path).display()));
    Ok(ExitCode::SUCCESS)
}

/// One seat's status and nodes; a seat that cannot be reached says why.
fn seat_files(
    context: &Context,
    cluster: &Cluster,
    runner: &dyn crate::exec::Runner,
    templates: &crate::templates::Templates,
    folder: &str,
) -> Vec<Collected> {
    let provider = match context.reach_cluster(cluster, runner) {
        Ok((_, provider)) => provider,
        Err(error) => {
            return vec![Collected {
                path: format!("{folder}/unreachable.txt"),
                text: mask_tokens(&format!("{error:#}\n")),
            }]
        }
    };
    let status = match cluster::status(cluster, provider.as_ref(), runner, templates) {
        Ok(status) => serde_json::to_string_pretty(&status).unwrap_or_default() + "\n",
        Err(error) => format!("status failed: {error:#}\n"),
    };
    let mut files = vec![Collected { path: format!("{folder}/status.json"), text: mask_tokens(&status) }];
    files.extend(diagnostics::collect_nodes(cluster, provider.as_ref(), runner, templates, folder));
    files
}

/// This host: versions, labctl.toml, the resolved settings, labctl's own logs.
fn host_files(
    context: &Context,
    settings: &Settings,
    runner: &dyn crate::exec::Runner,
    root: &str,
) -> Result<Vec<Collected>> {
    let mut files = vec![Collected { path: format!("{root}/host/versions.txt"), text: version::text(runner) }];
    files.push(Collected {
        path: format!("{root}/host/labctl.toml"),
        text: mask_tokens(if settings.origin.text.is_empty() {
            "# no labctl.toml: built-in defaults\n"
        } else {
            &settings.origin.text
        }),
    });
    let resolved = Resolved {
        cluster: &settings.cluster_name,
        provider: settings.provider.as_str(),
        subnet: settings.subnet.to_string(),
        nodes: settings.nodes.all(),
        forwards: &settings.forwards,
        registry: settings.registry.as_ref(),
        seeded_labs: &settings.seeded_labs,
        class: &settings.class,
        settings_from: settings.origin.describe(),
    };
    files.push(Collected {
        path: format!("{root}/host/settings.json"),
        text: serde_json::to_string_pretty(&resolved)? + "\n",
    });
    // labctl's own run logs (never the students' credentials in .labctl/access).
    if let Ok(entries) = std::fs::read_dir(context.workspace.join(LOG_DIR)) {
        for entry in
            entries.flatten().filter(|entry| entry.path().extension().is_some_and(|extension| extension == "log"))
        {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                let name = entry.file_name().to_string_lossy().into_owned();
                files.push(Collected { path: format!("{root}/labctl/{name}"), text: mask_tokens(&text) });
            }
        }
    }
    Ok(files)
}

/// The path as the user names it: relative to the workspace when inside it.
fn shown(context: &Context, path: PathBuf) -> PathBuf {
    path.strip_prefix(&context.workspace).map(|relative| relative.to_path_buf()).unwrap_or(path)
}
