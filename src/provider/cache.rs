//! The class cache on a seat's engine: one registry container per class and
//! engine, `labctl-cache-<class>`, joined to every seat's network at the
//! seat subnet's last usable address (where every node's dockerd has it as
//! its first registry mirror, see `DockerProvider::dockerd_command`).
//!
//! The seats may read it, never write it: what one student pushes there
//! would be what the next seat pulls. Online it is a pull-through cache
//! (`proxy.remoteurl` = `[cache] upstream`), which refuses pushes itself:
//! the first node that pulls an image fetches it for the whole engine.
//! Offline (`upstream = "none"`) it is a plain registry in read-only
//! maintenance mode (`storage.maintenance.readonly`), which answers every
//! push with HTTP 405, and labctl fills it through a writer of its own: a
//! second registry on the same volume, `labctl-cache-<class>.writer`, on no
//! seat's network, its port published on the engine's loopback only (which
//! every dockerd trusts over plain HTTP), started for the pushes and
//! removed after them. The read-only one remembers no miss, so it serves
//! what the writer pushed at once. Switching between online and offline,
//! or an offline cache an older labctl made writable, recreates the
//! container on the same volume and addresses: the nodes never notice.
//!
//! Every docker command here is built by [`docker`], which adds the
//! options that select the seat's engine.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};

use super::docker_cli::DockerCli;
use super::labels::{another_workspace, foreign_workspace, WORKSPACE_LABEL};
use crate::config::{self, CacheSettings, Cluster, EngineTarget, Upstream, CACHE_PORT};
use crate::exec::{CommandSpec, Output, Runner};
use crate::timeouts::Wait;

/// On the cache container and its volume: the class it serves.
pub const CACHE_LABEL: &str = "labctl.cache";
/// On the cache container: the upstream it was created for ("none" offline).
const UPSTREAM_LABEL: &str = "labctl.cache.upstream";
/// On the cache container: what the seats may do with it, [`READ_ONLY`]
/// offline, [`PULL_THROUGH`] online. An older labctl wrote none: its
/// offline cache took the seats' pushes.
const MODE_LABEL: &str = "labctl.cache.mode";
/// The cache's kernel settings: it forwards no packet between the seats'
/// networks it is on (IPv4 and IPv6).
const NO_FORWARDING: [&str; 2] = ["net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0"];
const READ_ONLY: &str = "read-only";
const PULL_THROUGH: &str = "pull-through";
/// The registry's `storage.maintenance.readonly`, by environment: reads are
/// served, every write is answered 405.
const READ_ONLY_ENV: &str = r#"REGISTRY_STORAGE_MAINTENANCE_READONLY={"enabled": true}"#;
/// On the offline cache's writer: the class whose cache it fills.
const WRITER_LABEL: &str = "labctl.cache.writer";
/// Where the registry keeps what it holds.
const STORAGE: &str = "/var/lib/registry";
/// How often a push waits for a registry that has just started.
const PUSH_TRIES: u32 = 20;
/// How many times the cache (or its writer) is started again when Docker
/// gives it a port a seat holds.
const PORT_TRIES: u32 = 5;
/// How long a cache that has just started may take to say it serves (on a
/// normal host; scaled by `LABCTL_TIMEOUT_SCALE`).
const STARTUP: Duration = Duration::from_secs(15);
/// What registry:2 logs once it serves.
const SERVING: &str = "listening on";

/// The cache container (and its volume) of the class called `class`.
pub fn container_name(class: &str) -> String {
    format!("labctl-cache-{class}")
}

/// The writer of the class called `class`'s offline cache: its `.` is in no
/// class name, so no other class's cache is called so.
fn writer_name(class: &str) -> String {
    format!("{}.writer", container_name(class))
}

/// Where `image` lives in a mirror of Docker Hub (`node:slim` →
/// `library/node:slim`), or `None` for an image a Docker Hub mirror never
/// serves: one of another registry, or one pinned by digest.
pub fn docker_hub_path(image: &str) -> Option<String> {
    if image.contains('@') {
        return None;
    }
    let (name, tag) = match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    };
    let name = ["docker.io/", "index.docker.io/"].iter().find_map(|prefix| name.strip_prefix(prefix)).unwrap_or(name);
    let first = name.split('/').next().unwrap_or_default();
    let elsewhere = name.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    if name.is_empty() || elsewhere {
        return None;
    }
    let path = if name.contains('/') { name.to_string() } else { format!("library/{name}") };
    Some(format!("{path}:{tag}"))
}

/// The cache container as its engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    /// This very container (a recreated one has another).
    id: String,
    /// `running`, `exited`, …
    state: String,
    upstream: String,
    /// Its [`MODE_LABEL`], empty when an older labctl made it.
    mode: String,
    /// Its `net.ipv4.ip_forward`, as made ("0"; empty: the engine's default,
    /// which forwards).
    forwarding: String,
    image: String,
    /// The networks it is on, each with its fixed address.
    networks: Vec<(String, String)>,
}

/// What makes the container serve this seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Container {
    Running,
    Start(CommandSpec),
    /// None yet: `docker run` it on this seat's network.
    Create(CommandSpec),
    /// Not what the settings ask for: replace it on the same volume and
    /// rejoin the other seats' networks at their addresses.
    Recreate(Box<Recreation>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recreation {
    pub why: Outdated,
    pub remove: CommandSpec,
    pub create: CommandSpec,
    pub rejoin: Vec<CommandSpec>,
}

/// Why a cache is recreated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outdated {
    /// Made for another upstream or image.
    Settings,
    /// Offline, but made writable by an older labctl: the seats could push
    /// into it.
    Writable,
    /// Made by an older labctl, forwarding packets: on every seat's network,
    /// it was a router from one seat's nodes to another's.
    Forwarding,
}

/// Offline: the registry labctl pushes through, on the cache's volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    /// `docker run` it, published on the engine's loopback only.
    pub start: CommandSpec,
    /// Removed after the pushes, whatever happened.
    pub remove: CommandSpec,
}

/// An image an offline cache cannot be given, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub image: String,
    pub why: String,
}

/// An image the engine has, to push into an offline cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub image: String,
    /// Its place in the cache: `library/node:slim`.
    pub path: String,
}

/// What making the class cache serve one seat takes, decided from probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub container: Container,
    /// Join this seat's network at the cache address.
    pub join: Option<CommandSpec>,
    /// Offline: the labs' images the cache lacks and the engine has.
    pub pushes: Vec<Push>,
    /// Offline: the writer they go through (with them only).
    pub writer: Option<Writer>,
    /// A writer an interrupted `up` left behind: removed.
    pub leftover_writer: Option<CommandSpec>,
    /// Offline: images the cache cannot be given.
    pub skipped: Vec<Skipped>,
}

/// What carrying a plan out did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub changed: bool,
    pub pushed: Vec<String>,
}

pub struct ClassCache<'a> {
    cluster: &'a Cluster<'a>,
    settings: &'a CacheSettings,
    runner: &'a dyn Runner,
}

impl<'a> ClassCache<'a> {
    /// The cache of `cluster`'s class on its engine; `None` when the class has none.
    pub fn of(cluster: &'a Cluster<'a>, runner: &'a dyn Runner) -> Option<ClassCache<'a>> {
        Some(ClassCache { cluster, settings: cluster.class_cache()?, runner })
    }

    pub fn name(&self) -> String {
        container_name(self.cluster.class_name())
    }

    /// Whether the container is there and running (a probe).
    pub fn runs(&self) -> Result<bool> {
        Ok(find(self.cluster, self.runner)?.is_some_and(|found| found.state == "running"))
    }

    /// `address:port` on this seat's network.
    pub fn endpoint(&self) -> String {
        format!("{}:{CACHE_PORT}", self.address())
    }

    /// The name of the engine it runs on.
    pub fn engine(&self) -> &str {
        &self.cluster.engine().name
    }

    pub fn upstream(&self) -> &Upstream {
        &self.settings.upstream
    }

    fn address(&self) -> Ipv4Addr {
        config::cache_address_in(self.cluster.subnet())
    }

    fn network(&self) -> String {
        super::labels::network_name(self.cluster)
    }

    fn docker(&self, args: &[&str], purpose: &str, wait: Wait) -> CommandSpec {
        docker(self.cluster, args, purpose, wait)
    }

    /// Read the container, decide what it needs; offline, which of `images`
    /// to push.
    pub fn plan(&self, images: &[String]) -> Result<Plan> {
        let found = find(self.cluster, self.runner)?;
        let leftover_writer = leftover_writer(self.cluster, self.runner)?;
        let network = self.network();
        let (container, on_network) = match found.as_ref().map(|found| (found, self.outdated(found))) {
            None => (Container::Create(self.run_command()), true),
            Some((found, Some(why))) => {
                let rejoin = found
                    .networks
                    .iter()
                    .filter(|(name, _)| *name != network)
                    .map(|(name, address)| self.join_command(name, address))
                    .collect();
                // By ID: a seat that comes up at the same time may have
                // replaced it already, and its new cache must stay.
                let remove =
                    self.docker(&["rm", "--force", &found.id], "remove the outdated class cache", Wait::Change);
                (Container::Recreate(Box::new(Recreation { why, remove, create: self.run_command(), rejoin })), true)
            }
            Some((found, None)) => {
                let on_network = found.networks.iter().any(|(name, _)| *name == network);
                let container = match found.state.as_str() {
                    "running" => Container::Running,
                    _ => Container::Start(self.docker(&["start", &self.name()], "start the class cache", Wait::Change)),
                };
                (container, on_network)
            }
        };
        let join = (!on_network).then(|| self.join_command(&network, &self.address().to_string()));
        let (pushes, skipped) = match self.upstream() {
            Upstream::Remote(_) => (Vec::new(), Vec::new()),
            Upstream::Offline => self.plan_pushes(images, matches!(container, Container::Running))?,
        };
        let writer = (!pushes.is_empty()).then(|| self.writer());
        Ok(Plan { container, join, pushes, writer, leftover_writer, skipped })
    }

    /// Why `found` is not the cache the settings ask for, if it is not.
    fn outdated(&self, found: &Found) -> Option<Outdated> {
        if found.upstream != self.upstream().label() || found.image != self.settings.image {
            return Some(Outdated::Settings);
        }
        if self.mode() == READ_ONLY && found.mode != READ_ONLY {
            return Some(Outdated::Writable);
        }
        (found.forwarding != "0").then_some(Outdated::Forwarding)
    }

    /// What the seats may do with the cache (its [`MODE_LABEL`]).
    fn mode(&self) -> &'static str {
        match self.upstream() {
            Upstream::Remote(_) => PULL_THROUGH,
            Upstream::Offline => READ_ONLY,
        }
    }

    /// A seat's part: join this seat's network at its address unless the
    /// cache is on it already. The class's step makes, starts or recreates
    /// the container before (rejoining the networks it was on).
    pub fn seat_plan(&self) -> Result<Plan> {
        let network = self.network();
        let on_network = find(self.cluster, self.runner)?
            .is_some_and(|found| found.networks.iter().any(|(name, _)| *name == network));
        let join = (!on_network).then(|| self.join_command(&network, &self.address().to_string()));
        Ok(Plan {
            container: Container::Running,
            join,
            pushes: Vec::new(),
            writer: None,
            leftover_writer: None,
            skipped: Vec::new(),
        })
    }

    /// `docker run` of the cache on this seat's network at its address,
    /// its storage on a labelled volume, its port on the engine's loopback.
    fn run_command(&self) -> CommandSpec {
        let name = self.name();
        let class = self.cluster.class_name();
        let mut spec = self
            .docker(&["run", "--detach"], "start the class cache", Wait::Long)
            .args(["--name", &name, "--restart", "always", "--network"])
            .arg(self.network())
            .args(["--ip".to_string(), self.address().to_string()])
            .args(["--publish".to_string(), format!("127.0.0.1::{CACHE_PORT}")])
            .args([
                "--mount".to_string(),
                format!("type=volume,src={name},dst={STORAGE},volume-label={CACHE_LABEL}={class}"),
            ])
            .args(["--label".to_string(), format!("{CACHE_LABEL}={class}")])
            .args(["--label".to_string(), format!("{UPSTREAM_LABEL}={}", self.upstream().label())])
            .args(["--label".to_string(), format!("{MODE_LABEL}={}", self.mode())])
            // On every seat's network, it must route nothing between them:
            // else a node could reach another seat's through it.
            .args(NO_FORWARDING.map(|sysctl| ["--sysctl", sysctl]).concat());
        spec = self.workspace_label(spec);
        // The registry's own configuration, by environment.
        spec = match self.upstream() {
            Upstream::Remote(url) => spec.args(["--env".to_string(), format!("REGISTRY_PROXY_REMOTEURL={url}")]),
            Upstream::Offline => spec.args(["--env", READ_ONLY_ENV]),
        };
        spec.arg(&self.settings.image)
    }

    /// `spec` with the label that says whose workspace made the container.
    fn workspace_label(&self, spec: CommandSpec) -> CommandSpec {
        match self.cluster.workspace().to_str().filter(|path| !path.is_empty()) {
            Some(workspace) => spec.args(["--label".to_string(), format!("{WORKSPACE_LABEL}={workspace}")]),
            None => spec,
        }
    }

    /// The offline cache's writer: a plain registry on the cache's volume,
    /// on no seat's network (the engine's default bridge), its port
    /// published on the engine's loopback only.
    fn writer(&self) -> Writer {
        let class = self.cluster.class_name();
        let name = writer_name(class);
        let start = self
            .docker(&["run", "--detach", "--name", &name], "start the class cache's writer", Wait::Change)
            .args(["--publish".to_string(), format!("127.0.0.1::{CACHE_PORT}")])
            .args(["--mount".to_string(), format!("type=volume,src={},dst={STORAGE}", self.name())])
            .args(["--label".to_string(), format!("{WRITER_LABEL}={class}")]);
        let start = self.workspace_label(start).arg(&self.settings.image);
        let remove = self.docker(&["rm", "--force", &name], "remove the class cache's writer", Wait::Change);
        Writer { start, remove }
    }

    /// `docker network connect`, at `address` when it has a fixed one.
    fn join_command(&self, network: &str, address: &str) -> CommandSpec {
        let fixed: &[&str] = if address.is_empty() { &[] } else { &["--ip", address] };
        let purpose = "join the class cache to a seat's network";
        self.docker(&[&["network", "connect"], fixed, &[network, &self.name()]].concat(), purpose, Wait::Change)
    }

    /// Offline: the Docker Hub images among `images` that the engine has
    /// and the cache lacks (asked only when it runs and is reachable from
    /// here), and the rest with why.
    fn plan_pushes(&self, images: &[String], running: bool) -> Result<(Vec<Push>, Vec<Skipped>)> {
        let port = match running && self.engine_is_here() {
            true => self.published_port(&self.name())?,
            false => None,
        };
        let (mut pushes, mut skipped) = (Vec::new(), Vec::new());
        for image in images {
            let Some(path) = docker_hub_path(image) else {
                let why = "not a Docker Hub image: nodes pull it from its own registry".to_string();
                skipped.push(Skipped { image: image.clone(), why });
                continue;
            };
            let Some(id) = self.image_id(image)? else {
                let why = "not on this engine: `labctl images pull` it, then `labctl up` again".to_string();
                skipped.push(Skipped { image: image.clone(), why });
                continue;
            };
            let held = match &port {
                Some(port) => self.cache_holds(port, &path, &id)?,
                None => false,
            };
            if !held {
                pushes.push(Push { image: image.clone(), path });
            }
        }
        Ok((pushes, skipped))
    }

    /// Whether `docker` here reaches the engine's loopback (the engine is
    /// this machine's), so the cache can be read through its published port.
    fn engine_is_here(&self) -> bool {
        let local_socket = crate::exec::env_var("DOCKER_HOST").is_none_or(|host| host.starts_with("unix://"));
        self.cluster.engine().target == EngineTarget::Default && local_socket
    }

    /// The engine's image ID of `image`, when it has it.
    fn image_id(&self, image: &str) -> Result<Option<String>> {
        let inspect = self.docker(
            &["image", "inspect", "--format", "{{.Id}}", "--", image],
            "look for an image on the cache's engine",
            Wait::Read,
        );
        let output = self.runner.run(&inspect)?;
        Ok(output.success().then(|| output.stdout.trim().to_string()))
    }

    /// `127.0.0.1:PORT`: the port of `container` (the cache or its writer)
    /// on the engine's loopback.
    fn published_port(&self, container: &str) -> Result<Option<String>> {
        let port = format!("{CACHE_PORT}/tcp");
        let spec = self.docker(&["port", container, &port], "read the class cache's port", Wait::Read);
        let output = self.runner.run(&spec)?;
        Ok(output.stdout.lines().find(|line| line.starts_with("127.0.0.1:")).map(|line| line.trim().to_string()))
    }

    /// Whether the cache holds `path` as the image with ID `id` (its
    /// manifest's config, or the manifest itself with containerd's store).
    fn cache_holds(&self, port: &str, path: &str, id: &str) -> Result<bool> {
        let reference = format!("{port}/{path}");
        let spec = self.docker(
            &["manifest", "inspect", "--insecure", "--verbose", &reference],
            "read an image's manifest in the class cache",
            Wait::Read,
        );
        let output = self.runner.run(&spec)?;
        if !output.success() {
            return Ok(false);
        }
        let manifest: serde_json::Value = serde_json::from_str(&output.stdout).unwrap_or_default();
        let digests = [
            &manifest["Descriptor"]["digest"],
            &manifest["SchemaV2Manifest"]["config"]["digest"],
            &manifest["OCIManifest"]["config"]["digest"],
        ];
        Ok(digests.iter().any(|digest| digest.as_str() == Some(id)))
    }

    /// Carry `plan` out.
    pub fn apply(&self, plan: &Plan) -> Result<Outcome> {
        if let Some(leftover) = &plan.leftover_writer {
            remove_container(self.runner, leftover)?;
        }
        let mut changed = true;
        match &plan.container {
            Container::Running => changed = false,
            Container::Start(start) => self.run_checked(start)?,
            Container::Create(create) => self.create(create)?,
            Container::Recreate(recreation) => {
                remove_container(self.runner, &recreation.remove)?;
                self.create(&recreation.create)?;
                for join in &recreation.rejoin {
                    self.join(join)?;
                }
            }
        }
        if changed {
            self.wait_until_serving(&self.name())?;
        }
        if let Some(join) = &plan.join {
            self.join(join)?;
            changed = true;
        }
        let pushed = match &plan.writer {
            Some(writer) => self.push_through(writer, &plan.pushes)?,
            None => Vec::new(),
        };
        Ok(Outcome { changed: changed || plan.leftover_writer.is_some() || !pushed.is_empty(), pushed })
    }

    /// Start the writer, push `pushes` through it, and remove it whatever
    /// happened: the seats never reach it, and it runs no longer than that.
    fn push_through(&self, writer: &Writer, pushes: &[Push]) -> Result<Vec<String>> {
        self.run_checked(&writer.start)?;
        let name = writer_name(self.cluster.class_name());
        if let Err(error) = self.keep_off_seat_ports(&name, &writer.start) {
            remove_container(self.runner, &writer.remove)?;
            return Err(error);
        }
        let mut pushed = Vec::new();
        let result = self.push_all(pushes, &mut pushed);
        result.and(remove_container(self.runner, &writer.remove)).map(|()| pushed)
    }

    /// Push `pushes` through the writer once it serves; `pushed` names each done.
    fn push_all(&self, pushes: &[Push], pushed: &mut Vec<String>) -> Result<()> {
        let name = writer_name(self.cluster.class_name());
        self.wait_until_serving(&name)?;
        let port = self.published_port(&name)?.ok_or_else(|| {
            anyhow!("the class cache's writer {name} publishes no port on its engine's loopback; see `docker inspect {name}`")
        })?;
        for push in pushes {
            self.push(&port, push)?;
            pushed.push(push.image.clone());
        }
        Ok(())
    }

    fn run_checked(&self, spec: &CommandSpec) -> Result<()> {
        self.runner.run_checked(spec).map(|_| ())
    }

    /// When Docker gave `container` (just started by `start`) a loopback
    /// port that one of the class's seats holds (its forwards, its SSH
    /// port), start it again until it has another: that seat's `up` would
    /// fail on "port is already allocated".
    fn keep_off_seat_ports(&self, container: &str, start: &CommandSpec) -> Result<()> {
        let held = self.cluster.class_host_ports();
        for _ in 0..PORT_TRIES {
            let port = self.published_port(container)?;
            let taken = port.as_deref().and_then(|address| address.rsplit(':').next()?.parse::<u16>().ok());
            match taken {
                Some(port) if held.contains(&port) => {
                    let remove = self.docker(&["rm", "--force", container], "give a seat's port back", Wait::Change);
                    remove_container(self.runner, &remove)?;
                    self.run_checked(start)?;
                }
                _ => return Ok(()),
            }
        }
        bail!(
            "Docker keeps giving {container} a port that one of the class's seats holds; see `docker port {container}`"
        )
    }

    /// `docker run` the cache: only the class's step does, once per engine
    /// before the seats (`cluster::up::prepare_class_cache`). Docker picks
    /// its loopback port from the ephemeral range, where the seats' forwards
    /// may be (49000 + K): a port a seat holds is given back and another
    /// taken (see [`Cache::keep_off_seat_ports`]).
    fn create(&self, create: &CommandSpec) -> Result<()> {
        let output = self.runner.run(create)?;
        if output.success() {
            return self.keep_off_seat_ports(&self.name(), create);
        }
        let tail = output.tail(2);
        if tail.contains("pull") || tail.contains("dial tcp") || tail.contains("lookup") {
            bail!(
                "the class cache's image {image} is not on engine {engine} and could not be pulled ({tail}); load it there (`docker save {image} | docker load` on that engine) or set [cache] image",
                image = self.settings.image,
                engine = self.cluster.engine().name
            );
        }
        output.checked(create).map(|_| ())
    }

    /// Wait (bounded) until the registry `name` (the cache or its writer)
    /// says it serves; an error with its last log line when it stops
    /// instead, or says nothing in time. registry:2 as a pull-through
    /// cache asks its upstream when it starts and exits when that fails
    /// (distribution#4038): a class without internet needs `upstream = "none"`.
    fn wait_until_serving(&self, name: &str) -> Result<()> {
        let deadline = Instant::now() + self.cluster.timeouts().scaled(STARTUP);
        // Enough lines to hold an earlier run's panic above its stack trace.
        let logs = self.docker(&["logs", "--tail", "100", name], "read the class cache's log", Wait::Read);
        let state_format = "{{.State.Status}} {{.RestartCount}}";
        let state = self.docker(
            &["container", "inspect", "--format", state_format, name],
            "look at the class cache",
            Wait::Read,
        );
        loop {
            let log = self.runner.run(&logs)?;
            let text = format!("{}{}", log.stdout, log.stderr);
            if text.contains(SERVING) {
                return Ok(());
            }
            let state = self.runner.run(&state)?.stdout;
            let mut words = state.split_whitespace();
            let status = words.next().unwrap_or_default();
            let restarts: u32 = words.next().and_then(|count| count.parse().ok()).unwrap_or(0);
            let stopped = ["restarting", "exited", "dead"].contains(&status) || restarts > 0;
            let waited = self.cluster.timeouts().scaled(STARTUP).as_secs();
            if stopped || Instant::now() >= deadline {
                let failures = ["panic:", "level=fatal", "level=error"];
                let why = text.lines().rev().find(|line| failures.iter().any(|failure| line.contains(failure)));
                let why = why.or(text.lines().last()).unwrap_or("no log").trim();
                let what = match stopped {
                    true => format!("stopped as it started ({why})"),
                    // registry:2 pings its upstream before it listens: an
                    // address nothing answers holds it there.
                    false => format!("did not start serving within {waited}s (its last log line: {why})"),
                };
                let (subject, hint) = match (self.upstream(), name == self.name()) {
                    (_, false) => {
                        (format!("the class cache's writer {name}"), "it is removed again, and nothing was pushed".to_string())
                    }
                    (Upstream::Remote(url), true) => (format!("the class cache {name}"), format!(
                        "as a pull-through cache it must reach {url} when it starts: give its Docker engine ({}) internet access, or set [cache] upstream = \"none\" for a class without internet",
                        self.cluster.engine().name
                    )),
                    (Upstream::Offline, true) => (format!("the class cache {name}"), format!("see `docker logs {name}`")),
                };
                bail!("{subject} {what}; {hint}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Join a network; already joined (a seat that came up at the same time) is fine.
    fn join(&self, join: &CommandSpec) -> Result<()> {
        let output = self.runner.run(join)?;
        if output.success() || output.stderr.contains("already exists in network") {
            return Ok(());
        }
        output.checked(join).map(|_| ())
    }

    /// Tag, push and untag one image: the engine's Docker pushes to the
    /// writer's port on its own loopback, which it trusts over plain HTTP. A
    /// registry that has just started may not answer yet: the push is tried
    /// again for a while. Pushes happen once per engine, in the class's step
    /// before the seats (`cluster::up::prepare_class_cache`): never two at once.
    fn push(&self, port: &str, push: &Push) -> Result<()> {
        let target = format!("{port}/{}", push.path);
        let commands = self.push_commands(&target, push);
        self.run_checked(&commands[0])?;
        let result = self.push_when_ready(&commands[1]);
        // Untagged whatever happened: the tag only names the push (a name
        // already gone, e.g. dropped by another labctl, is as good).
        let untag = self.runner.run(&commands[2])?;
        let gone = ["No such image", "reference does not exist"].iter().any(|why| untag.stderr.contains(why));
        let untagged = if untag.success() || gone { Ok(()) } else { untag.checked(&commands[2]).map(|_| ()) };
        result.and(untagged)
    }

    fn push_when_ready(&self, push: &CommandSpec) -> Result<()> {
        let mut output: Output = self.runner.run(push)?;
        for _ in 1..PUSH_TRIES {
            let refused =
                ["connection refused", "connection reset", "EOF"].iter().any(|why| output.stderr.contains(why));
            if output.success() || !refused {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
            output = self.runner.run(push)?;
        }
        output.checked(push).map(|_| ())
    }

    /// `docker tag`, `docker push`, `docker image rm` of the tag `target`.
    fn push_commands(&self, target: &str, push: &Push) -> [CommandSpec; 3] {
        [
            self.docker(
                &["tag", &push.image, target],
                &format!("name {} for the class cache", push.image),
                Wait::Change,
            ),
            self.docker(&["push", "--quiet", target], &format!("push {} into the class cache", push.image), Wait::Long),
            self.docker(&["image", "rm", target], &format!("drop the push name of {}", push.image), Wait::Change),
        ]
    }

    /// The commands `plan` runs, for a dry run to print (the writer's port
    /// is known once it runs: `127.0.0.1:PORT`).
    pub fn commands(&self, plan: &Plan) -> Vec<CommandSpec> {
        let mut commands: Vec<CommandSpec> = plan.leftover_writer.iter().cloned().collect();
        match &plan.container {
            Container::Running => {}
            Container::Start(spec) | Container::Create(spec) => commands.push(spec.clone()),
            Container::Recreate(recreation) => {
                commands.extend([recreation.remove.clone(), recreation.create.clone()]);
                commands.extend(recreation.rejoin.iter().cloned());
            }
        }
        commands.extend(plan.join.iter().cloned());
        if let Some(writer) = &plan.writer {
            commands.push(writer.start.clone());
            for push in &plan.pushes {
                commands.extend(self.push_commands(&format!("127.0.0.1:PORT/{}", push.path), push));
            }
            commands.push(writer.remove.clone());
        }
        commands
    }
}

/// Take the class cache off `cluster`'s network before that is removed
/// (whether or not labctl.toml still has a cache: one made earlier would
/// keep the network from going).
pub fn leave(cluster: &Cluster, runner: &dyn Runner) -> Result<()> {
    let Some(found) = find(cluster, runner)? else { return Ok(()) };
    let network = super::labels::network_name(cluster);
    if !found.networks.iter().any(|(joined, _)| *joined == network) {
        return Ok(());
    }
    let name = container_name(cluster.class_name());
    let purpose = "take the class cache off a seat's network";
    let leave = docker(cluster, &["network", "disconnect", "--force", &network, &name], purpose, Wait::Change);
    let output = runner.run(&leave)?;
    // A cache between two restarts is on no network: nothing to leave.
    if !output.success() && !output.stderr.contains("is not connected") {
        output.checked(&leave)?;
    }
    Ok(())
}

/// Remove the class cache and its storage when no seat of the class has a
/// network on this engine any more: `destroy` asks once, after every seat
/// it destroys is gone. Returns what was removed, in words.
pub fn remove_unless_in_use(cluster: &Cluster, runner: &dyn Runner) -> Result<Vec<String>> {
    let cache = find(cluster, runner)?;
    let writer = leftover_writer(cluster, runner)?;
    if cache.is_none() && writer.is_none() {
        return Ok(Vec::new());
    }
    let list = docker(cluster, &["network", "ls", "--format", "{{.Name}}"], "list the engine's networks", Wait::Read);
    let networks = runner.run_checked(&list)?.stdout;
    let class = cluster.class_name();
    if networks.lines().any(|network| is_class_network(network.trim(), class)) {
        return Ok(Vec::new());
    }
    let name = container_name(class);
    // The writer first: the volume goes only once nothing has it.
    if let Some(writer) = &writer {
        remove_container(runner, writer)?;
    }
    let remove = docker(cluster, &["rm", "--force", &name], "remove the class cache", Wait::Change);
    remove_container(runner, &remove)?;
    let volume = docker(cluster, &["volume", "rm", "--force", &name], "remove the class cache's storage", Wait::Change);
    runner.run_checked(&volume)?;
    let engine = &cluster.engine().name;
    let mut removed =
        vec![format!("class cache {name} with its storage (no seat of the class is left on engine {engine})")];
    if writer.is_some() {
        removed.push(format!("its writer {} (left by an interrupted `labctl up`)", writer_name(class)));
    }
    Ok(removed)
}

/// `docker rm --force`: a container gone already (removed by hand, or by a
/// seat that came up at the same time) is as good.
fn remove_container(runner: &dyn Runner, remove: &CommandSpec) -> Result<()> {
    let output = runner.run(remove)?;
    if !output.success() && !output.stderr.contains("No such container") {
        output.checked(remove)?;
    }
    Ok(())
}

/// The removal of the offline cache's writer an interrupted `up` left on
/// this engine, if it did, once sure that it is this workspace's (as the
/// cache itself is, see [`find`]).
fn leftover_writer(cluster: &Cluster, runner: &dyn Runner) -> Result<Option<CommandSpec>> {
    let class = cluster.class_name();
    let list = docker(
        cluster,
        &[
            "ps",
            "--all",
            "--filter",
            &format!("label={WRITER_LABEL}={class}"),
            "--format",
            &format!("{{{{.ID}}}}\t{{{{.Label \"{WORKSPACE_LABEL}\"}}}}"),
        ],
        "look for the class cache's writer",
        Wait::Read,
    );
    let output = runner.run_checked(&list)?;
    let found: Vec<(&str, &str)> = output
        .stdout
        .lines()
        .map(|line| line.split_once('\t').unwrap_or((line, "")))
        .filter(|(id, _)| !id.trim().is_empty())
        .collect();
    if let Some(theirs) = foreign_workspace(found.iter().map(|(_, workspace)| *workspace), cluster.workspace()) {
        let what = format!("the class cache's writer {}", writer_name(class));
        bail!("{}", another_workspace(&what, "it was made", &theirs, cluster));
    }
    if found.is_empty() {
        return Ok(None);
    }
    let ids: Vec<&str> = found.iter().map(|(id, _)| id.trim()).collect();
    let purpose = "remove the class cache's writer an interrupted `labctl up` left";
    Ok(Some(docker(cluster, &[&["rm", "--force"], ids.as_slice()].concat(), purpose, Wait::Change)))
}

/// `docker` on the seat's engine, within the limit of its kind: every
/// docker command of the cache is built here.
fn docker(cluster: &Cluster, args: &[&str], purpose: &str, wait: Wait) -> CommandSpec {
    DockerCli::on(cluster.engine(), cluster.timeouts()).of_kind(wait, args, purpose)
}

/// The container on this engine, if there is one, once sure that it is this
/// workspace's: another workspace's class of the same name has its own.
fn find(cluster: &Cluster, runner: &dyn Runner) -> Result<Option<Found>> {
    let format = format!(
        "{{{{.Id}}}}\t{{{{.State.Status}}}}\t{{{{index .Config.Labels \"{UPSTREAM_LABEL}\"}}}}\t{{{{index .Config.Labels \"{MODE_LABEL}\"}}}}\t{{{{with index .HostConfig \"Sysctls\"}}}}{{{{index . \"net.ipv4.ip_forward\"}}}}{{{{end}}}}\t{{{{.Config.Image}}}}\t{{{{range $name, $network := .NetworkSettings.Networks}}}}{{{{$name}}}}={{{{with $network.IPAMConfig}}}}{{{{.IPv4Address}}}}{{{{end}}}} {{{{end}}}}\t{{{{index .Config.Labels \"{WORKSPACE_LABEL}\"}}}}"
    );
    let inspect = docker(
        cluster,
        &["container", "inspect", "--format", &format, &container_name(cluster.class_name())],
        "look for the class cache",
        Wait::Read,
    );
    let output = runner.run(&inspect)?;
    if !output.success() && output.stderr.contains("No such") {
        return Ok(None);
    }
    let output = output.checked(&inspect)?;
    let line = output.stdout.trim_end_matches('\n');
    let mut fields = line.split('\t');
    let mut next = || fields.next().unwrap_or_default().to_string();
    let (id, state, upstream, mode, forwarding) = (next(), next(), next(), next(), next());
    let (image, networks, workspace) = (next(), next(), next());
    if let Some(theirs) = foreign_workspace(std::iter::once(workspace.as_str()), cluster.workspace()) {
        let what = format!("the class cache {}", container_name(cluster.class_name()));
        bail!("{}", another_workspace(&what, "it was made", &theirs, cluster));
    }
    let networks = networks
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, address)| (name.to_string(), address.to_string()))
        .collect();
    Ok(Some(Found { id, state, upstream, mode, forwarding, image, networks }))
}

/// Whether `network` is a seat network of `class`: `labctl-<class>` (one
/// seat) or `labctl-<class>-sNN`.
fn is_class_network(network: &str, class: &str) -> bool {
    let Some(rest) = network.strip_prefix("labctl-").and_then(|rest| rest.strip_prefix(class)) else {
        return false;
    };
    rest.is_empty()
        || rest.strip_prefix("-s").is_some_and(|seat| seat.len() == 2 && seat.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{test_catalog, test_settings, Settings};
    use crate::exec::fake::RecordingRunner;

    const CLASS: &str = "[cluster]\nname = \"cls\"\n[class]\nseats = 3\naccess = \"none\"\n";
    const INSPECT: &str = "docker container inspect --format";
    /// The probe for a writer an interrupted `up` left.
    const WRITERS: &str = "docker ps --all --filter label=labctl.cache.writer=cls";
    const OFFLINE: &str = "[cache]\nupstream = \"none\"\n";

    fn seat<'a>(settings: &'a Settings, number: u32) -> Cluster<'a> {
        Cluster::seat(settings, test_catalog(), number).unwrap()
    }

    /// The registry's log once it serves (what `apply` waits for).
    const LISTENING: &str = "level=info msg=\"listening on [::]:5000\"";

    /// What `docker container inspect` prints for the cache this labctl
    /// makes for `upstream`.
    fn found(state: &str, upstream: &str, networks: &str) -> String {
        let mode = if upstream == "none" { READ_ONLY } else { PULL_THROUGH };
        found_in_mode(state, upstream, mode, networks)
    }

    /// … and for one labelled `mode` ("" when an older labctl made it).
    fn found_in_mode(state: &str, upstream: &str, mode: &str, networks: &str) -> String {
        let forwarding = if mode.is_empty() { "" } else { "0" };
        format!("3f2c\t{state}\t{upstream}\t{mode}\t{forwarding}\tregistry:2\t{networks}\n")
    }

    #[test]
    fn a_cache_given_a_port_a_seat_holds_is_started_again_until_it_has_another() {
        // Seat 2's forward of the visualizer is 49001: Docker picked it first.
        let settings = test_settings(&format!("{CLASS}[[forward]]\nhost = 49000\nguest = 9000\n"));
        let seat1 = seat(&settings, 1);
        let runner = RecordingRunner::default();
        runner.always(INSPECT, 1, "", "Error: No such container: labctl-cache-cls");
        runner.always(WRITERS, 0, "", "");
        runner.always("docker run --detach --name labctl-cache-cls", 0, "3f2c\n", "");
        runner.answer("docker port labctl-cache-cls 5000/tcp", 0, "127.0.0.1:49001\n", "");
        runner.answer("docker port labctl-cache-cls 5000/tcp", 0, "127.0.0.1:41234\n", "");
        runner.always("docker rm --force labctl-cache-cls", 0, "", "");
        runner.always("docker logs --tail 100 labctl-cache-cls", 0, "", LISTENING);
        runner.always("docker container inspect --format {{.State.Status}}", 0, "running 0\n", "");
        let cache = ClassCache::of(&seat1, &runner).unwrap();
        let plan = cache.plan(&[]).unwrap();
        cache.apply(&plan).unwrap();
        let changes = runner.changes();
        let runs =
            changes.iter().filter(|line| line.starts_with("docker run --detach --name labctl-cache-cls")).count();
        assert_eq!(runs, 2, "{changes:#?}");
        assert!(changes.iter().any(|line| line == "docker rm --force labctl-cache-cls"), "{changes:#?}");
        assert!(seat1.class_host_ports().contains(&49001) && !seat1.class_host_ports().contains(&41234));
    }

    #[test]
    fn a_missing_cache_is_created_on_the_seats_network_at_its_last_address() {
        let settings = test_settings(CLASS);
        let seat2 = seat(&settings, 2);
        let runner = RecordingRunner::lenient();
        runner.always(INSPECT, 1, "", "Error: No such container: labctl-cache-cls");
        runner.always("docker logs --tail 100 labctl-cache-cls", 0, "", LISTENING);
        let cache = ClassCache::of(&seat2, &runner).unwrap();
        let plan = cache.plan(&["node:slim".to_string()]).unwrap();
        let Container::Create(create) = &plan.container else { panic!("{plan:#?}") };
        assert_eq!(
            create.to_string(),
            "docker run --detach --name labctl-cache-cls --restart always --network labctl-cls-s02 --ip 192.168.57.254 --publish 127.0.0.1::5000 --mount type=volume,src=labctl-cache-cls,dst=/var/lib/registry,volume-label=labctl.cache=cls --label labctl.cache=cls --label labctl.cache.upstream=https://registry-1.docker.io --label labctl.cache.mode=pull-through --sysctl net.ipv4.ip_forward=0 --sysctl net.ipv6.conf.all.forwarding=0 --env REGISTRY_PROXY_REMOTEURL=https://registry-1.docker.io registry:2"
        );
        assert_eq!(
            (plan.join.as_ref(), plan.pushes.len()),
            (None, 0),
            "on the network by its run; online nothing is pushed"
        );
        assert_eq!(runner.changes(), Vec::<String>::new(), "planning only reads");

        cache.apply(&plan).unwrap();
        assert_eq!(runner.changes(), vec![create.to_string()]);
    }

    #[test]
    fn another_workspaces_cache_of_the_same_class_name_is_neither_used_nor_replaced_nor_removed() {
        let elsewhere = tempfile::tempdir().unwrap();
        let mut settings = test_settings(CLASS);
        let ours = tempfile::tempdir().unwrap();
        settings.workspace = ours.path().to_path_buf();
        let seat2 = seat(&settings, 2);
        let runner = RecordingRunner::default();
        let theirs = format!(
            "{}{}\n",
            found("running", "none", "labctl-cls-s01=192.168.56.254 ").trim_end_matches('\n'),
            format_args!("\t{}", elsewhere.path().display())
        );
        runner.always(INSPECT, 0, &theirs, "");
        let cache = ClassCache::of(&seat2, &runner).unwrap();
        let expected = format!(
            "the class cache labctl-cache-cls is another workspace's: it was made from {}, and this workspace is {};",
            elsewhere.path().display(),
            ours.path().display()
        );
        for error in [
            cache.plan(&[]).unwrap_err(),
            cache.seat_plan().unwrap_err(),
            remove_unless_in_use(&seat2, &runner).unwrap_err(),
        ] {
            assert!(error.to_string().starts_with(&expected), "{error}");
        }
        assert_eq!(runner.changes(), Vec::<String>::new());
        // Its own is made with the label that says so.
        let runner = RecordingRunner::lenient();
        runner.always(INSPECT, 1, "", "Error: No such container: labctl-cache-cls");
        let plan = ClassCache::of(&seat2, &runner).unwrap().plan(&[]).unwrap();
        let Container::Create(create) = &plan.container else { panic!("{plan:#?}") };
        assert!(
            create.to_string().contains(&format!("--label labctl.workspace={}", ours.path().display())),
            "{create}"
        );
    }

    #[test]
    fn a_running_cache_only_joins_a_seat_it_does_not_serve_yet() {
        let settings = test_settings(CLASS);
        let seat3 = seat(&settings, 3);
        let runner = RecordingRunner::default();
        let networks = "labctl-cls-s01=192.168.56.254 labctl-cls-s02=192.168.57.254 ";
        runner.always(INSPECT, 0, &found("running", "https://registry-1.docker.io", networks), "");
        runner.always(WRITERS, 0, "", "");
        let cache = ClassCache::of(&seat3, &runner).unwrap();
        let plan = cache.plan(&[]).unwrap();
        assert_eq!(plan.container, Container::Running);
        assert_eq!(
            plan.join.as_ref().map(ToString::to_string).as_deref(),
            Some("docker network connect --ip 192.168.58.254 labctl-cls-s03 labctl-cache-cls")
        );

        // Seat 2 is served already: nothing to do.
        let seat2 = seat(&settings, 2);
        let cache = ClassCache::of(&seat2, &runner).unwrap();
        let plan = cache.plan(&[]).unwrap();
        assert_eq!((plan.container.clone(), plan.join.clone()), (Container::Running, None));
        assert!(!cache.apply(&plan).unwrap().changed);
        assert_eq!(runner.changes(), Vec::<String>::new());

        // Stopped: started.
        let runner = RecordingRunner::default();
        runner.always(INSPECT, 0, &found("exited", "https://registry-1.docker.io", networks), "");
        runner.always(WRITERS, 0, "", "");
        let plan = ClassCache::of(&seat2, &runner).unwrap().plan(&[]).unwrap();
        let Container::Start(start) = &plan.container else { panic!("{plan:#?}") };
        assert_eq!(start.to_string(), "docker start labctl-cache-cls");
    }

    #[test]
    fn another_upstream_recreates_the_cache_and_rejoins_every_seat_at_its_address() {
        let settings = test_settings(&format!("{CLASS}{OFFLINE}"));
        let seat1 = seat(&settings, 1);
        let runner = RecordingRunner::default();
        let networks = "labctl-cls-s01=192.168.56.254 labctl-cls-s03=192.168.58.254 labctl-e2e-upstream= ";
        runner.always(INSPECT, 0, &found("running", "https://registry-1.docker.io", networks), "");
        runner.always(WRITERS, 0, "", "");
        let plan = ClassCache::of(&seat1, &runner).unwrap().plan(&[]).unwrap();
        let Container::Recreate(recreation) = &plan.container else { panic!("{plan:#?}") };
        let Recreation { why, remove, create, rejoin } = recreation.as_ref();
        assert_eq!(*why, Outdated::Settings);
        assert_eq!(remove.to_string(), "docker rm --force 3f2c", "this very container");
        // Offline: a plain registry the seats may only read.
        assert!(
            create.to_string().ends_with(
                "--label labctl.cache.upstream=none --label labctl.cache.mode=read-only --sysctl net.ipv4.ip_forward=0 --sysctl net.ipv6.conf.all.forwarding=0 --env 'REGISTRY_STORAGE_MAINTENANCE_READONLY={\"enabled\": true}' registry:2"
            ),
            "{create}"
        );
        assert!(!create.to_string().contains("REGISTRY_PROXY_REMOTEURL"), "{create}");
        let rejoined: Vec<String> = rejoin.iter().map(ToString::to_string).collect();
        assert_eq!(
            rejoined,
            [
                "docker network connect --ip 192.168.58.254 labctl-cls-s03 labctl-cache-cls",
                "docker network connect labctl-e2e-upstream labctl-cache-cls",
            ]
        );
    }

    #[test]
    fn offline_the_engines_lab_images_the_cache_lacks_are_pushed_once_through_a_writer() {
        let settings = test_settings(&format!("{CLASS}{OFFLINE}"));
        let seat1 = seat(&settings, 1);
        let runner = RecordingRunner::lenient();
        runner.always(INSPECT, 0, &found("running", "none", "labctl-cls-s01=192.168.56.254 "), "");
        runner.always("docker port labctl-cache-cls 5000/tcp", 0, "127.0.0.1:32768\n", "");
        runner.always("docker image inspect --format '{{.Id}}' -- node:slim", 0, "sha256:slim\n", "");
        runner.always("docker image inspect --format '{{.Id}}' -- gihyodocker/nginx-proxy", 0, "sha256:proxy\n", "");
        runner.always("docker image inspect --format '{{.Id}}' -- mysql:5.7", 1, "", "No such image");
        // The cache holds nginx-proxy as this very image, and node:slim as an older one.
        runner.always(
            "docker manifest inspect --insecure --verbose 127.0.0.1:32768/gihyodocker/nginx-proxy:latest",
            0,
            r#"{"Descriptor":{"digest":"sha256:m1"},"SchemaV2Manifest":{"config":{"digest":"sha256:proxy"}}}"#,
            "",
        );
        runner.always(
            "docker manifest inspect --insecure --verbose 127.0.0.1:32768/library/node:slim",
            0,
            r#"{"Descriptor":{"digest":"sha256:m2"},"SchemaV2Manifest":{"config":{"digest":"sha256:older"}}}"#,
            "",
        );
        let images: Vec<String> = ["node:slim", "gihyodocker/nginx-proxy", "mysql:5.7", "manager:5000/example/web"]
            .map(String::from)
            .to_vec();
        let cache = ClassCache::of(&seat1, &runner).unwrap();
        let plan = cache.plan(&images).unwrap();
        assert_eq!(plan.pushes, [Push { image: "node:slim".into(), path: "library/node:slim".into() }]);
        let skipped: Vec<&str> = plan.skipped.iter().map(|skipped| skipped.image.as_str()).collect();
        assert_eq!(skipped, ["mysql:5.7", "manager:5000/example/web"]);
        assert!(plan.skipped[0].why.contains("not on this engine"), "{:?}", plan.skipped);
        assert_eq!(runner.changes(), Vec::<String>::new());
        let writer = "docker run --detach --name labctl-cache-cls.writer --publish 127.0.0.1::5000 --mount type=volume,src=labctl-cache-cls,dst=/var/lib/registry --label labctl.cache.writer=cls registry:2";
        let shown: Vec<String> = cache.commands(&plan).iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                writer,
                "docker tag node:slim 127.0.0.1:PORT/library/node:slim",
                "docker push --quiet 127.0.0.1:PORT/library/node:slim",
                "docker image rm 127.0.0.1:PORT/library/node:slim",
                "docker rm --force labctl-cache-cls.writer",
            ],
            "a dry run shows the writer's port as not known yet"
        );

        // The seats' cache is read-only: the push goes through a writer on
        // the same volume, published on the engine's loopback only, on no
        // seat's network, and removed after.
        runner.always("docker logs --tail 100 labctl-cache-cls.writer", 0, "", LISTENING);
        runner.always("docker port labctl-cache-cls.writer 5000/tcp", 0, "127.0.0.1:32769\n", "");
        let outcome = cache.apply(&plan).unwrap();
        assert_eq!(outcome, Outcome { changed: true, pushed: vec!["node:slim".into()] });
        assert_eq!(
            runner.changes(),
            [
                writer,
                "docker tag node:slim 127.0.0.1:32769/library/node:slim",
                "docker push --quiet 127.0.0.1:32769/library/node:slim",
                "docker image rm 127.0.0.1:32769/library/node:slim",
                "docker rm --force labctl-cache-cls.writer",
            ]
        );

        // Nothing to push: no writer.
        let runner = RecordingRunner::lenient();
        runner.always(INSPECT, 0, &found("running", "none", "labctl-cls-s01=192.168.56.254 "), "");
        runner.always("docker image inspect", 1, "", "No such image");
        let cache = ClassCache::of(&seat1, &runner).unwrap();
        let plan = cache.plan(&["node:slim".to_string()]).unwrap();
        assert_eq!((plan.writer.clone(), cache.commands(&plan)), (None, Vec::new()));
        assert!(!cache.apply(&plan).unwrap().changed);
        assert_eq!(runner.changes(), Vec::<String>::new());
    }

    #[test]
    fn a_failed_push_still_removes_the_writer() {
        let settings = test_settings(&format!("{CLASS}{OFFLINE}"));
        let seat1 = seat(&settings, 1);
        let runner = RecordingRunner::lenient();
        runner.always(INSPECT, 0, &found("running", "none", "labctl-cls-s01=192.168.56.254 "), "");
        runner.always("docker image inspect", 0, "sha256:slim\n", "");
        runner.always("docker manifest inspect", 1, "", "no such manifest");
        runner.always("docker port labctl-cache-cls", 0, "127.0.0.1:32769\n", "");
        runner.always("docker logs", 0, "", LISTENING);
        runner.always("docker push", 1, "", "write /var/lib/registry/docker: no space left on device");
        let cache = ClassCache::of(&seat1, &runner).unwrap();
        let error = cache.apply(&cache.plan(&["node:slim".to_string()]).unwrap()).unwrap_err();
        assert!(format!("{error:#}").contains("no space left on device"), "{error:#}");
        let changes = runner.changes();
        assert_eq!(
            changes.last().map(String::as_str),
            Some("docker rm --force labctl-cache-cls.writer"),
            "{changes:#?}"
        );
    }

    #[test]
    fn an_offline_cache_an_older_labctl_made_writable_is_recreated_read_only() {
        let settings = test_settings(&format!("{CLASS}{OFFLINE}"));
        let seat1 = seat(&settings, 1);
        let runner = RecordingRunner::default();
        let networks = "labctl-cls-s01=192.168.56.254 labctl-cls-s02=192.168.57.254 ";
        runner.always(INSPECT, 0, &found_in_mode("running", "none", "", networks), "");
        runner.always(WRITERS, 0, "", "");
        let cache = ClassCache::of(&seat1, &runner).unwrap();
        let plan = cache.plan(&[]).unwrap();
        let Container::Recreate(recreation) = &plan.container else { panic!("{plan:#?}") };
        assert_eq!(recreation.why, Outdated::Writable);
        assert!(recreation.create.to_string().contains("REGISTRY_STORAGE_MAINTENANCE_READONLY"), "{recreation:#?}");
        let rejoined: Vec<String> = recreation.rejoin.iter().map(ToString::to_string).collect();
        assert_eq!(rejoined, ["docker network connect --ip 192.168.57.254 labctl-cls-s02 labctl-cache-cls"]);

        // Online, the proxy refuses pushes whoever made it; but an older
        // labctl's forwarded packets between the seats' networks: recreated.
        let settings = test_settings(CLASS);
        let seat1 = seat(&settings, 1);
        let runner = RecordingRunner::default();
        runner.always(INSPECT, 0, &found_in_mode("running", "https://registry-1.docker.io", "", networks), "");
        runner.always(WRITERS, 0, "", "");
        let plan = ClassCache::of(&seat1, &runner).unwrap().plan(&[]).unwrap();
        let Container::Recreate(recreation) = &plan.container else { panic!("{plan:#?}") };
        assert_eq!(recreation.why, Outdated::Forwarding);
        assert!(recreation.create.to_string().contains(" --sysctl net.ipv4.ip_forward=0 "), "{recreation:#?}");

        // Made by this labctl: kept.
        let runner = RecordingRunner::default();
        runner.always(INSPECT, 0, &found("running", "https://registry-1.docker.io", networks), "");
        runner.always(WRITERS, 0, "", "");
        let plan = ClassCache::of(&seat1, &runner).unwrap().plan(&[]).unwrap();
        assert_eq!((plan.container, plan.join), (Container::Running, None));
    }

    #[test]
    fn a_writer_an_interrupted_up_left_is_removed_if_it_is_this_workspaces() {
        let settings = test_settings(&format!("{CLASS}{OFFLINE}"));
        let seat1 = seat(&settings, 1);
        let runner = RecordingRunner::lenient();
        runner.always(INSPECT, 0, &found("running", "none", "labctl-cls-s01=192.168.56.254 "), "");
        runner.always(WRITERS, 0, "9a1b\t\n", "");
        let cache = ClassCache::of(&seat1, &runner).unwrap();
        let plan = cache.plan(&[]).unwrap();
        assert_eq!(plan.leftover_writer.as_ref().map(ToString::to_string).as_deref(), Some("docker rm --force 9a1b"));
        assert!(cache.apply(&plan).unwrap().changed);
        assert_eq!(runner.changes(), ["docker rm --force 9a1b"]);

        // `destroy` removes it with the cache, before the volume.
        runner.always("docker network ls", 0, "bridge\n", "");
        let removed = remove_unless_in_use(&seat1, &runner).unwrap();
        assert_eq!(removed[1], "its writer labctl-cache-cls.writer (left by an interrupted `labctl up`)");
        assert_eq!(
            runner.changes()[1..],
            [
                "docker rm --force 9a1b",
                "docker rm --force labctl-cache-cls",
                "docker volume rm --force labctl-cache-cls",
            ]
        );

        // Another workspace's is neither removed nor used.
        let elsewhere = tempfile::tempdir().unwrap();
        let runner = RecordingRunner::lenient();
        runner.always(INSPECT, 0, &found("running", "none", "labctl-cls-s01=192.168.56.254 "), "");
        runner.always(WRITERS, 0, &format!("9a1b\t{}\n", elsewhere.path().display()), "");
        for error in [cache_plan_error(&seat1, &runner), remove_unless_in_use(&seat1, &runner).unwrap_err()] {
            let expected = "the class cache's writer labctl-cache-cls.writer is another workspace's: it was made from";
            assert!(error.to_string().starts_with(expected), "{error}");
        }
        assert_eq!(runner.changes(), Vec::<String>::new());
    }

    fn cache_plan_error(cluster: &Cluster, runner: &RecordingRunner) -> anyhow::Error {
        ClassCache::of(cluster, runner).unwrap().plan(&[]).unwrap_err()
    }

    #[test]
    fn a_push_name_another_seat_already_dropped_is_no_failure() {
        // Two seats of a class come up at once and push the same image under
        // the same name: the second untag finds the name gone.
        let settings = test_settings(&format!("{CLASS}{OFFLINE}"));
        let seat2 = seat(&settings, 2);
        let runner = RecordingRunner::lenient();
        runner.always(INSPECT, 0, &found("running", "none", "labctl-cls-s02=192.168.57.254 "), "");
        runner.always("docker port labctl-cache-cls", 0, "127.0.0.1:32768\n", "");
        runner.always("docker logs", 0, "", LISTENING);
        runner.always("docker image inspect", 0, "sha256:slim\n", "");
        runner.always("docker manifest inspect", 1, "", "no such manifest");
        let gone = "Error response from daemon: reference does not exist";
        runner.always("docker image rm 127.0.0.1:32768/library/node:slim", 1, "", gone);
        let cache = ClassCache::of(&seat2, &runner).unwrap();
        let plan = cache.plan(&["node:slim".to_string()]).unwrap();
        let outcome = cache.apply(&plan).unwrap();
        assert_eq!(outcome.pushed, ["node:slim".to_string()]);
    }

    #[test]
    fn a_push_waits_for_a_registry_that_has_just_started() {
        let settings = test_settings(&format!("{CLASS}{OFFLINE}"));
        let seat1 = seat(&settings, 1);
        let runner = RecordingRunner::lenient();
        runner.always(INSPECT, 1, "", "Error: No such container: labctl-cache-cls");
        runner.always("docker image inspect", 0, "sha256:slim\n", "");
        runner.always("docker port labctl-cache-cls", 0, "127.0.0.1:32770\n", "");
        let refused = "Get \"http://127.0.0.1:32770/v2/\": dial tcp 127.0.0.1:32770: connect: connection refused";
        runner.answer("docker push", 1, "", refused);
        runner.always("docker logs", 0, "", LISTENING);
        let cache = ClassCache::of(&seat1, &runner).unwrap();
        let plan = cache.plan(&["node:slim".to_string()]).unwrap();
        assert_eq!(plan.pushes.len(), 1, "a new cache holds nothing");
        cache.apply(&plan).unwrap();
        let pushes = runner.changes().iter().filter(|line| line.starts_with("docker push")).count();
        assert_eq!(pushes, 2);
    }

    #[test]
    fn a_proxy_that_cannot_reach_its_upstream_as_it_starts_is_an_error_naming_the_fix() {
        let settings = test_settings(CLASS);
        let seat1 = seat(&settings, 1);
        let runner = RecordingRunner::lenient();
        runner.answer(INSPECT, 1, "", "Error: No such container: labctl-cache-cls");
        let panic =
            "panic: Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host";
        let log = format!("level=info msg=\"redis not configured\"\n{panic}\n\ngoroutine 1 [running]:\nlevel=info msg=\"Starting upload purge in 23m0s\"\n");
        runner.always("docker logs", 0, "", &log);
        runner.always(
            "docker container inspect --format '{{.State.Status}} {{.RestartCount}}'",
            0,
            "restarting 1\n",
            "",
        );
        let cache = ClassCache::of(&seat1, &runner).unwrap();
        let error = cache.apply(&cache.plan(&[]).unwrap()).unwrap_err().to_string();
        assert!(error.starts_with(&format!("the class cache labctl-cache-cls stopped as it started ({panic}); as a pull-through cache it must reach https://registry-1.docker.io when it starts")), "{error}");
        assert!(error.ends_with("or set [cache] upstream = \"none\" for a class without internet"), "{error}");
    }

    #[test]
    fn every_command_goes_to_the_seats_engine() {
        let settings = test_settings(&format!(
            "{CLASS}[cache]\nupstream = \"none\"\n[[class.engines]]\ncontext = \"big\"\nseats = 3\n"
        ));
        let seat2 = seat(&settings, 2);
        let runner = RecordingRunner::lenient();
        runner.always("docker --context big container inspect", 1, "", "Error: No such container");
        runner.always("docker --context big port", 0, "127.0.0.1:32771\n", "");
        runner.always("docker --context big logs", 0, "", LISTENING);
        let cache = ClassCache::of(&seat2, &runner).unwrap();
        cache.apply(&cache.plan(&["node:slim".to_string()]).unwrap()).unwrap();
        let lines = runner.command_lines();
        assert!(lines.len() > 4 && lines.iter().all(|line| line.starts_with("docker --context big ")), "{lines:#?}");
    }

    #[test]
    fn destroying_a_seat_takes_the_cache_off_its_network_and_the_last_seat_removes_it() {
        let settings = test_settings(CLASS);
        let seat2 = seat(&settings, 2);
        let runner = RecordingRunner::lenient();
        runner.always(INSPECT, 0, &found("running", "none", "labctl-cls-s01=a labctl-cls-s02=b "), "");
        leave(&seat2, &runner).unwrap();
        assert_eq!(runner.changes(), ["docker network disconnect --force labctl-cls-s02 labctl-cache-cls"]);
        // Seat 1's network is still there (another class's does not count).
        runner.always("docker network ls", 0, "bridge\nlabctl-cls-other-s01\nlabctl-cls-s01\n", "");
        assert_eq!(remove_unless_in_use(&seat2, &runner).unwrap(), Vec::<String>::new());
        assert_eq!(runner.changes().len(), 1);

        // The last seat: no seat network of the class is left on the engine.
        let runner = RecordingRunner::lenient();
        runner.always(INSPECT, 0, &found("running", "none", "labctl-cls-s02=b "), "");
        runner.always("docker network ls", 0, "bridge\nlabctl-cls-other-s01\n", "");
        leave(&seat2, &runner).unwrap();
        let removed = remove_unless_in_use(&seat2, &runner).unwrap();
        assert!(removed[0].starts_with("class cache labctl-cache-cls"), "{removed:?}");
        assert_eq!(
            runner.changes(),
            [
                "docker network disconnect --force labctl-cls-s02 labctl-cache-cls",
                "docker rm --force labctl-cache-cls",
                "docker volume rm --force labctl-cache-cls",
            ]
        );

        // A cache between two restarts is on no network; a container
        // removed by hand since it was found: both are fine.
        let runner = RecordingRunner::lenient();
        runner.always(INSPECT, 0, &found("restarting", "https://registry-1.docker.io", "labctl-cls-s02=b "), "");
        let not_connected = "Error response from daemon: container 091d is not connected to network labctl-cls-s02";
        runner.answer("docker network disconnect", 1, "", not_connected);
        runner.answer("docker rm --force", 1, "", "Error: No such container: labctl-cache-cls");
        leave(&seat2, &runner).unwrap();
        assert_eq!(remove_unless_in_use(&seat2, &runner).unwrap().len(), 1);

        // No cache nor writer: probes only.
        let runner = RecordingRunner::lenient();
        runner.always(INSPECT, 1, "", "Error: No such container: labctl-cache-cls");
        leave(&seat2, &runner).unwrap();
        assert!(remove_unless_in_use(&seat2, &runner).unwrap().is_empty());
        assert_eq!(runner.changes(), Vec::<String>::new());
    }

    #[test]
    fn docker_hub_images_have_a_path_in_a_mirror_and_others_none() {
        assert_eq!(docker_hub_path("node:slim").as_deref(), Some("library/node:slim"));
        assert_eq!(docker_hub_path("ubuntu").as_deref(), Some("library/ubuntu:latest"));
        assert_eq!(docker_hub_path("gihyodocker/nginx-proxy").as_deref(), Some("gihyodocker/nginx-proxy:latest"));
        assert_eq!(docker_hub_path("docker.io/library/mysql:5.7").as_deref(), Some("library/mysql:5.7"));
        for elsewhere in ["manager:5000/example/web", "ghcr.io/a/b:1", "localhost/x", "node@sha256:abc"] {
            assert_eq!(docker_hub_path(elsewhere), None, "{elsewhere}");
        }
        assert!(is_class_network("labctl-cls", "cls") && is_class_network("labctl-cls-s07", "cls"));
        assert!(!is_class_network("labctl-cls-other-s01", "cls") && !is_class_network("labctl-clsx", "cls"));
    }
}
