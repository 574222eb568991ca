//! The incus provider's node image: labctl's node image (or `[docker]
//! node_image`), made on this host's Docker as for the docker provider,
//! then exported and imported into Incus once, under an alias named for it
//! (`labctl-node-0.1.0-1a2b3c4d`). Offline: nothing is pulled.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::cli::IncusCli;
use crate::exec::{CommandSpec, Runner};
use crate::provider::docker_cli::DockerCli;
use crate::timeouts::{Timeouts, Wait};

/// The alias the node image `image` (a Docker reference) has in Incus.
pub fn alias(image: &str) -> String {
    let words: String =
        image.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' }).collect();
    let words = words.trim_matches('-');
    let words = words.strip_prefix("labctl-node-").unwrap_or(words);
    format!("labctl-node-{words}").chars().take(63).collect()
}

/// Whether Incus has an image under `alias`.
pub fn imported(cli: &IncusCli, runner: &dyn Runner, alias: &str) -> Result<bool> {
    let list = cli.listing(&["image", "list"], false, "look for the node image in Incus");
    let listed: serde_json::Value = serde_json::from_str(&runner.run_checked(&list)?.stdout).unwrap_or_default();
    Ok(listed
        .as_array()
        .into_iter()
        .flatten()
        .any(|image| image["aliases"].as_array().into_iter().flatten().any(|named| named["name"] == alias)))
}

/// Export `image` from this host's Docker and import it into Incus as
/// `alias`, through a folder of this host's that is removed after.
pub fn import(cli: &IncusCli, runner: &dyn Runner, timeouts: &Timeouts, image: &str, alias: &str) -> Result<()> {
    let folder = tempfile::Builder::new()
        .prefix("labctl-incus-image-")
        .tempdir()
        .context("cannot make a folder for the node image's export")?;
    let docker = DockerCli::here(*timeouts);
    let created = runner.run_checked(&docker.change(Wait::Change, &["create", image], "unpack the node image"))?;
    let container = created.stdout.trim().to_string();
    let rootfs = folder.path().join("rootfs.tar");
    let export = docker
        .change(Wait::Long, &["export", "--output"], "export the node image's files")
        .arg(rootfs.display().to_string())
        .arg(&container);
    let exported = runner.run_checked(&export);
    let _ = runner.run(&docker.change(Wait::Change, &["rm", "--force", &container], "remove the export's container"));
    exported?;
    let metadata = folder.path().join("metadata.tar");
    write_metadata(&metadata, image, &architecture(&docker, runner, image)?)?;
    let mut args = vec!["image".to_string(), "import".into(), metadata.display().to_string()];
    args.push(rootfs.display().to_string());
    args.extend(cli.remote());
    args.extend(["--alias".to_string(), alias.to_string()]);
    let import = cli.global(Wait::Long, &[], &format!("import the node image into Incus as {alias}")).args(args);
    let imported = runner.run(&import)?;
    if !imported.success() {
        bail!("cannot import the node image {image} into Incus as {alias}: {}", imported.tail(3));
    }
    Ok(())
}

/// Incus's name for the architecture of `image` (Docker says amd64, arm64).
fn architecture(docker: &DockerCli, runner: &dyn Runner, image: &str) -> Result<String> {
    let inspect =
        docker.read(&["image", "inspect", "--format", "{{.Architecture}}", image], "read the image's architecture");
    let docker_word = runner.run_checked(&inspect)?.stdout.trim().to_string();
    Ok(match docker_word.as_str() {
        "amd64" => "x86_64".to_string(),
        "arm64" => "aarch64".to_string(),
        "386" => "i686".to_string(),
        other => other.to_string(),
    })
}

/// The metadata tarball Incus wants beside a rootfs: `metadata.yaml`.
fn write_metadata(path: &Path, image: &str, architecture: &str) -> Result<()> {
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default();
    let yaml = metadata_yaml(image, architecture, created);
    let file = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut tar = tar::Builder::new(file);
    let mut header = tar::Header::new_gnu();
    header.set_size(yaml.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(created);
    header.set_cksum();
    tar.append_data(&mut header, "metadata.yaml", yaml.as_bytes())?;
    tar.into_inner()?.flush()?;
    Ok(())
}

fn metadata_yaml(image: &str, architecture: &str, created: u64) -> String {
    // A YAML string in double quotes: the image reference has no quote or
    // backslash (Docker refuses them), and is written as JSON would.
    let quoted = serde_json::to_string(&format!("labctl node image from {image}")).unwrap_or_default();
    format!(
        "architecture: {architecture}\ncreation_date: {created}\nproperties:\n  description: {quoted}\n  os: labctl-node\n"
    )
}

/// What deleting the image `alias` takes (once no class uses it).
pub fn delete(cli: &IncusCli, alias: &str) -> CommandSpec {
    cli.global(Wait::Change, &["image", "delete", &cli.on_remote(alias)], "remove the node image from Incus")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_images_alias_is_an_incus_name_made_from_its_reference() {
        assert_eq!(alias("labctl/node:0.1.0-1a2b3c4d"), "labctl-node-0.1.0-1a2b3c4d");
        assert_eq!(alias("docker:dind"), "labctl-node-docker-dind");
        assert_eq!(alias("labctl-test/node:bookworm"), "labctl-node-labctl-test-node-bookworm");
        assert_eq!(alias("registry.local:5000/team/node:1"), "labctl-node-registry.local-5000-team-node-1");
        assert!(alias(&"x".repeat(100)).len() <= 63);
    }

    #[test]
    fn the_metadata_names_the_architecture_and_the_image() {
        let yaml = metadata_yaml("labctl/node:1", "x86_64", 42);
        assert_eq!(
            yaml,
            "architecture: x86_64\ncreation_date: 42\nproperties:\n  description: \"labctl node image from labctl/node:1\"\n  os: labctl-node\n"
        );
    }
}
