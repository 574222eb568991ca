//! The docker provider's node image: which image every node container runs,
//! and, unless the user gave one, labctl's own, built on this host the first
//! time it is needed: `docker:dind` plus the tools the handouts use (the
//! official image has no curl and no tree). The recipe is the template
//! `node/Dockerfile.tera`, fed to `docker build -` (no build context); the
//! tag carries labctl's version and the recipe's hash, so a new recipe is a
//! new tag and an unchanged one is never rebuilt.

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};

use super::docker_cli::DockerCli;
use crate::config::{Cluster, Engine};
use crate::exec::{CommandSpec, Runner};
use crate::templates::Templates;
use crate::timeouts::{Timeouts, Wait};

/// What labctl's node image is built from.
pub const BASE_IMAGE: &str = "docker:dind";
pub const REPOSITORY: &str = "labctl/node";
pub const RECIPE_TEMPLATE: &str = "node/Dockerfile.tera";

/// A tool the handouts use, by the command students type and the package
/// that brings it on each base (the official image is Alpine; a Debian-based
/// base stands in for it offline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    /// The command it adds, if any (bash-completion adds none).
    pub command: Option<&'static str>,
    pub apk: &'static str,
    pub apt: &'static str,
    /// On RHEL-family Vagrant boxes.
    pub dnf: &'static str,
}

/// The handouts' tools, what labctl's own checks run on a node (`nsenter`
/// and `unshare`, from util-linux, for the routing-mesh fallback of
/// lifecycle::mesh) and the SSH server students log in to their seat
/// through (sshd, and ssh-keygen for its host key: access::nodes), on the
/// docker provider's node image and installed by the Vagrant provisioning
/// (provision/50-tools.sh; a Vagrant box has them already).
pub const NODE_TOOLS: [Tool; 8] = [
    Tool { command: Some("curl"), apk: "curl", apt: "curl", dnf: "curl" },
    Tool { command: Some("tree"), apk: "tree", apt: "tree", dnf: "tree" },
    Tool { command: Some("vim"), apk: "vim", apt: "vim", dnf: "vim-enhanced" },
    Tool { command: Some("bash"), apk: "bash", apt: "bash", dnf: "bash" },
    Tool { command: None, apk: "bash-completion", apt: "bash-completion", dnf: "bash-completion" },
    Tool { command: Some("nsenter"), apk: "util-linux-misc", apt: "util-linux", dnf: "util-linux" },
    Tool { command: Some("sshd"), apk: "openssh-server", apt: "openssh-server", dnf: "openssh-server" },
    Tool { command: Some("ssh-keygen"), apk: "openssh-keygen", apt: "openssh-client", dnf: "openssh" },
];

/// The image the nodes run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeImage {
    /// `[docker] node_image` or `LABCTL_NODE_IMAGE`: used as is.
    Given(String),
    /// labctl's own, built from [`BASE_IMAGE`] by this recipe.
    Built(Recipe),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    /// `labctl/node:<version>-<first 12 hex digits of the recipe's sha256>`.
    pub tag: String,
    /// The Dockerfile.
    pub text: String,
}

/// Whether the node image is there, for `doctor` and `up --dry-run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    OnHost,
    /// Not yet built; its base image is (or is not) on this host.
    ToBuild {
        base_on_host: bool,
    },
    /// A given image that is not on this host (the nodes' `docker run` pulls it).
    ToPull,
}

/// The tools' names, for messages: "curl, tree, vim, bash, bash-completion".
pub fn tool_names() -> String {
    NODE_TOOLS.iter().map(|tool| tool.apk).collect::<Vec<_>>().join(", ")
}

impl NodeImage {
    /// The node image this cluster asks for, its recipe rendered from `templates`.
    pub fn for_cluster(cluster: &Cluster, templates: &Templates) -> Result<NodeImage> {
        if let Some(image) = cluster.node_image() {
            return Ok(NodeImage::Given(image.to_string()));
        }
        let mut context = tera::Context::new();
        context.insert("base_image", BASE_IMAGE);
        context.insert("repository", REPOSITORY);
        context.insert("apk_packages", &NODE_TOOLS.iter().map(|tool| tool.apk).collect::<Vec<_>>());
        context.insert("apt_packages", &NODE_TOOLS.iter().map(|tool| tool.apt).collect::<Vec<_>>());
        let text = templates.render(RECIPE_TEMPLATE, &context)?;
        Ok(NodeImage::Built(Recipe::new(text)))
    }

    /// The image reference `docker run` gets.
    pub fn name(&self) -> &str {
        match self {
            NodeImage::Given(image) => image,
            NodeImage::Built(recipe) => &recipe.tag,
        }
    }

    pub fn presence(&self, engine: &Engine, runner: &dyn Runner, timeouts: &Timeouts) -> Result<Presence> {
        if is_on_host(self.name(), engine, runner, timeouts)? {
            return Ok(Presence::OnHost);
        }
        Ok(match self {
            NodeImage::Given(_) => Presence::ToPull,
            NodeImage::Built(_) => {
                Presence::ToBuild { base_on_host: is_on_host(BASE_IMAGE, engine, runner, timeouts)? }
            }
        })
    }

    /// The `docker build` of labctl's node image when it is not on this host
    /// (a probe); `None` when it is, or for a given image, which `docker run`
    /// pulls when missing.
    pub fn build_command(
        &self,
        engine: &Engine,
        runner: &dyn Runner,
        timeouts: &Timeouts,
    ) -> Result<Option<CommandSpec>> {
        let NodeImage::Built(recipe) = self else { return Ok(None) };
        if is_on_host(&recipe.tag, engine, runner, timeouts)? {
            return Ok(None);
        }
        let build = DockerCli::on(engine, *timeouts)
            .change(Wait::Long, &["build", "--tag", &recipe.tag, "-"], "build the node image")
            .stdin(recipe.text.clone().into_bytes());
        Ok(Some(build))
    }

    /// What to say before building it.
    pub fn build_note(&self) -> String {
        format!(
            "node image {} is not on this host: it is built once, from {BASE_IMAGE} plus {}",
            self.name(),
            tool_names()
        )
    }

    /// Run `build` (from [`NodeImage::build_command`]); a failure says why
    /// and what to do. `up` builds it once per engine before any seat
    /// comes up (`commands/up.rs`), so the seats find it there.
    pub fn build(&self, build: &CommandSpec, engine: &Engine, runner: &dyn Runner, timeouts: &Timeouts) -> Result<()> {
        let output = runner.run(build)?;
        if output.success() {
            return Ok(());
        }
        let why = output.tail(3);
        if !is_on_host(BASE_IMAGE, engine, runner, timeouts)? {
            bail!(
                "cannot build the node image {}: its base image {BASE_IMAGE} is not on this host and could not be pulled ({why}); pull it where Docker Hub is reachable (`docker pull {BASE_IMAGE}`, or `docker load` a saved copy), or set [docker] node_image / LABCTL_NODE_IMAGE to a local image",
                self.name()
            );
        }
        bail!(
            "cannot build the node image {} from {BASE_IMAGE} (`{build}` failed): {why}; the recipe is the template {RECIPE_TEMPLATE}, and installing {} needs the base's package mirror",
            self.name(),
            tool_names()
        )
    }
}

impl Recipe {
    fn new(text: String) -> Recipe {
        let digest = Sha256::digest(text.as_bytes());
        let hash: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        Recipe { tag: format!("{REPOSITORY}:{}-{}", env!("CARGO_PKG_VERSION"), &hash[..12]), text }
    }
}

/// Whether `engine` has `image` (this host's engine unless the seat is elsewhere).
fn is_on_host(image: &str, engine: &Engine, runner: &dyn Runner, timeouts: &Timeouts) -> Result<bool> {
    let inspect =
        DockerCli::on(engine, *timeouts).read(&["image", "inspect", "--format", "{{.Id}}", image], "look for an image");
    Ok(runner.run(&inspect)?.success())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{test_cluster, test_settings};
    use crate::exec::fake::RecordingRunner;

    fn built(templates: &Templates) -> Recipe {
        match NodeImage::for_cluster(&test_cluster(&test_settings("")), templates).unwrap() {
            NodeImage::Built(recipe) => recipe,
            other => panic!("no override, yet {other:?}"),
        }
    }

    #[test]
    fn the_tag_carries_the_version_and_the_recipe_hash() {
        let recipe = built(&Templates::load(Path::new("/nonexistent")).unwrap());
        let (version, hash) = recipe.tag.strip_prefix("labctl/node:").unwrap().rsplit_once('-').unwrap();
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
        assert_eq!(hash.len(), 12);
        assert!(recipe.text.contains("FROM docker:dind\n"), "{}", recipe.text);
        assert!(recipe.text.contains("apk add --no-cache curl tree vim bash bash-completion"), "{}", recipe.text);

        // A workspace's own recipe is a different image.
        let dir = tempfile::tempdir().unwrap();
        let own = recipe.text.replace("bash-completion", "bash-completion openssh-server");
        std::fs::create_dir_all(dir.path().join("templates/node")).unwrap();
        std::fs::write(dir.path().join("templates/node/Dockerfile.tera"), own).unwrap();
        let changed = built(&Templates::load(dir.path()).unwrap());
        assert_ne!(changed.tag, recipe.tag);
        assert!(changed.text.contains("openssh-server"));
    }

    #[test]
    fn a_given_image_is_used_as_is_and_never_built() {
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let settings = test_settings("[docker]\nnode_image = \"my/node:1\"\n");
        let image = NodeImage::for_cluster(&test_cluster(&settings), &templates).unwrap();
        assert_eq!(image.name(), "my/node:1");
        let runner = RecordingRunner::default();
        assert_eq!(image.build_command(&Engine::local(), &runner, &Timeouts::default()).unwrap(), None);
        assert!(runner.calls().is_empty(), "{:?}", runner.command_lines());
    }

    #[test]
    fn the_image_is_built_only_when_its_tag_is_missing() {
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let image = NodeImage::for_cluster(&test_cluster(&test_settings("")), &templates).unwrap();
        let present = RecordingRunner::lenient();
        present.always("docker image inspect", 0, "sha256:0123\n", "");
        assert_eq!(image.build_command(&Engine::local(), &present, &Timeouts::default()).unwrap(), None);
        assert!(present.changes().is_empty(), "finding out is a probe");

        let missing = RecordingRunner::lenient();
        missing.always("docker image inspect", 1, "", "Error: No such image");
        let build = image.build_command(&Engine::local(), &missing, &Timeouts::default()).unwrap();
        assert!(missing.changes().is_empty(), "finding out is a probe");
        let build = build.unwrap_or_else(|| panic!("no build planned: {:?}", missing.command_lines()));
        image.build(&build, &Engine::local(), &missing, &Timeouts::default()).unwrap();
        assert_eq!(missing.changes(), vec![format!("docker build --tag {} -", image.name())]);
        assert_eq!(build.args, ["build", "--tag", image.name(), "-"]);
        let NodeImage::Built(recipe) = &image else { unreachable!() };
        assert_eq!(build.stdin.as_deref(), Some(recipe.text.as_bytes()), "the recipe goes on stdin");
        assert_eq!(build.timeout, Some(Timeouts::default().limit(Wait::Long)));
    }

    #[test]
    fn a_failed_build_without_the_base_image_says_how_to_get_it() {
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let image = NodeImage::for_cluster(&test_cluster(&test_settings("")), &templates).unwrap();
        let runner = RecordingRunner::default();
        runner.always("docker image inspect", 1, "", "Error: No such image");
        runner.always(
            "docker build",
            1,
            "",
            "Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host",
        );
        let build = image
            .build_command(&Engine::local(), &runner, &Timeouts::default())
            .unwrap()
            .expect("the image is missing");
        let error = image.build(&build, &Engine::local(), &runner, &Timeouts::default()).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "cannot build the node image {}: its base image docker:dind is not on this host and could not be pulled",
                image.name()
            )),
            "{error}"
        );
        assert!(error.contains("no such host"), "{error}");
        assert!(error.contains("`docker pull docker:dind`") && error.contains("LABCTL_NODE_IMAGE"), "{error}");
        assert_eq!(error.lines().count(), 1);
    }
}
