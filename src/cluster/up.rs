//! `labctl up` as a list of named actions, as kind creates a cluster: nodes,
//! a class's image cache, swarm, images, registry, labs, and the students'
//! SSH logins of a class. Each action reads what is there (probes
//! only), returns what it would change as a plan (data that can be printed
//! and tested), and carries the plan out. A dry run prints every plan and
//! carries out none: [`Steps`] is the only code that tells the two apart.

use std::path::Path;

use anyhow::Result;

use crate::access;
use crate::access::nodes::{SeatAccess, Todo};
use crate::config::{self, Access, Cluster, Registry, Upstream};
use crate::exec::{CommandSpec, Runner};
use crate::images::{self, SavedImages};
use crate::lifecycle::seed;
use crate::provider::cache::{self, ClassCache};
use crate::provider::docker::DockerProvider;
use crate::provider::{Isolation, NodeChange, NodeShell, NodesPlan, Provider};
use crate::registry;
use crate::swarm::{self, Bootstrap};
use crate::templates::Templates;
use crate::ui::{count, Ui};

/// Whether `up` changes the cluster or only says how it would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    /// Print every action's plan; carry out none.
    DryRun,
}

/// An action's plan in words, for a dry run to print.
#[derive(Debug, Default)]
pub struct Shown {
    /// The step line ("nodes running (4): 4 created").
    pub summary: String,
    /// Said before anything runs, in a real run too (a node image built first).
    pub notes: Vec<String>,
    /// The commands that change something, in the order they would run.
    pub commands: Vec<CommandSpec>,
}

/// What carrying a plan out did.
#[derive(Debug)]
pub struct Done {
    pub changed: bool,
    /// The step line ("swarm initialised on manager 192.168.56.10; 3 workers joined").
    pub summary: String,
}

/// One named step of `up`.
pub trait Action {
    type Plan;
    /// What the step line says while the action works.
    fn title(&self) -> &'static str;
    /// Read what is there (probes only) and decide what to change.
    fn plan(&self) -> Result<Self::Plan>;
    /// The plan in words and commands.
    fn show(&self, plan: &Self::Plan) -> Result<Shown>;
    /// Make the planned changes.
    fn apply(&self, plan: &Self::Plan) -> Result<Done>;
}

/// Runs actions one after the other, each as one step line: planned and
/// carried out, or (dry run) planned and printed.
pub struct Steps<'a> {
    ui: &'a Ui,
    mode: Mode,
    changed: bool,
}

impl<'a> Steps<'a> {
    pub fn new(ui: &'a Ui, mode: Mode) -> Self {
        Steps { ui, mode, changed: false }
    }

    /// Plan `action`, then carry the plan out or print it; returns the plan.
    pub fn run<A: Action>(&mut self, action: &A) -> Result<A::Plan> {
        let ui = self.ui;
        let mode = self.mode;
        let (plan, changed, planned) = ui.step(action.title(), || {
            let plan = action.plan()?;
            let shown = action.show(&plan)?;
            for note in &shown.notes {
                ui.note(note);
            }
            if mode == Mode::DryRun {
                let planned: String = shown.commands.iter().map(|command| format!("would run: {command}\n")).collect();
                return Ok(((plan, false, planned), format!("planned: {}", shown.summary)));
            }
            let done = action.apply(&plan)?;
            Ok(((plan, done.changed, String::new()), done.summary))
        })?;
        // A plan is data, like `reset --dry-run`'s: on stdout, after its step line.
        ui.print(&planned);
        self.changed |= changed;
        Ok(plan)
    }

    /// The nodes that do not run while the actions after `nodes` plan: in a
    /// dry run, the ones its plan would have created or started.
    pub fn not_running(&self, nodes: &NodesPlan) -> Vec<String> {
        match self.mode {
            Mode::Apply => Vec::new(),
            Mode::DryRun => nodes.not_running(),
        }
    }

    /// Whether any action changed something.
    pub fn changed(&self) -> bool {
        self.changed
    }
}

pub struct Up<'a> {
    pub cluster: &'a Cluster<'a>,
    pub templates: &'a Templates,
    pub provider: &'a dyn Provider,
    pub runner: &'a dyn Runner,
    /// `--reinit-swarm`: start the manager's swarm over (confirmed by the command).
    pub reinit_swarm: bool,
    /// Where the seats' credentials are kept (`<workspace>/.labctl/access`).
    pub access_root: &'a Path,
    /// The images saved from this host for the nodes, shared by the seats of
    /// one command: each is saved once for the whole class.
    pub saved: &'a SavedImages,
}

impl<'a> Up<'a> {
    /// Bring the cluster up (or print how); returns whether anything changed.
    pub fn run(&self, ui: &'a Ui, mode: Mode) -> Result<bool> {
        let mut steps = Steps::new(ui, mode);
        let nodes = steps.run(&Nodes { provider: self.provider, templates: self.templates, ui })?;
        let not_running = steps.not_running(&nodes);
        self.say_isolation(ui);
        if let Some(cache) = self.class_cache(ui) {
            steps.run(&Cache { cache })?;
        }
        let in_no_swarm = [nodes.created(), not_running.clone()].concat();
        steps.run(&Swarm {
            nodes: self.cluster.nodes(),
            bootstrap: Bootstrap::new(self.cluster, self.shell(), self.templates)
                .in_no_swarm(in_no_swarm)
                .reinit_swarm(self.reinit_swarm)
                .own_swarms_only(!self.provider.info().owns_machines),
        })?;
        if self.cluster.preload_images() {
            steps.run(&Images { up: self, ui })?;
        }
        if let Some(registry) = self.cluster.registry() {
            let host_running = !not_running.contains(&registry.host);
            steps.run(&RegistryAction { registry, up: self, host_running })?;
        }
        if !self.cluster.seeded().is_empty() {
            steps.run(&Labs { up: self })?;
        }
        if let Some(logins) = self.student_logins(ui, not_running)? {
            steps.run(&logins)?;
        }
        Ok(steps.changed())
    }

    /// The students' SSH logins when they log in to this seat: the docker
    /// provider publishes the manager's port; Vagrant VMs have none.
    fn student_logins(&self, ui: &'a Ui, not_running: Vec<String>) -> Result<Option<StudentLogins<'_>>> {
        let Some((access, port)) = self.cluster.student_access() else { return Ok(None) };
        if !self.provider.info().student_logins {
            ui.warn(&format!(
                "{}: students log in to docker provider seats only (its manager's SSH port); Vagrant VMs are reached with `labctl ssh`",
                self.cluster.locate("class.access").trim_end_matches(": ")
            ));
            return Ok(None);
        }
        let seat = SeatAccess {
            cluster: self.cluster,
            access,
            files: access::SeatFiles::new(self.access_root, self.cluster),
            shell: self.shell(),
            host: self.runner,
            script: self.templates.node_script(access::nodes::SCRIPT)?,
        };
        Ok(Some(StudentLogins { seat, port, ui, not_running }))
    }

    fn shell(&self) -> NodeShell<'_> {
        NodeShell::new(self.provider, self.runner)
    }

    /// Say once per engine how far its seats' students are from its host,
    /// and warn when they log in as root on a rootful engine.
    fn say_isolation(&self, ui: &Ui) {
        if !self.provider.info().nodes_on_docker_engine {
            return;
        }
        let engine = self.cluster.engine().in_words();
        match (self.provider.isolation(), self.cluster.student_access()) {
            (Isolation::Rootful, Some(_)) => ui.warn_once(&format!(
                "students log in to seats on {engine}, a rootful engine: root in a node is root on its host (its kernel settings and cgroups are open to them); put the class on a rootless engine (`sudo labctl class engine --write` makes one and puts the seats on it)"
            )),
            (isolation, _) => {
                let whose = if self.cluster.seat_of_class().is_only() { "nodes" } else { "seats" };
                ui.note_once(&format!("{whose} on {engine}: {}", isolation.describe()))
            }
        }
    }

    /// The class's image cache on this seat's engine: docker-provider nodes only.
    fn class_cache(&self, ui: &Ui) -> Option<ClassCache<'_>> {
        let cache = ClassCache::of(self.cluster, self.runner)?;
        if !self.provider.info().class_cache {
            ui.warn(
                "[cache] serves docker-provider nodes only; these nodes pull directly (set [registry] mirror for them)",
            );
            return None;
        }
        Some(cache)
    }
}

/// The class cache on `first`'s engine, made once before any seat of the
/// class comes up (`first` being the first seat `up` brings up there): its
/// network first, then the cache on it, with the offline pushes. The seats
/// that come up after only join it, so that seats that come up together
/// never make it, or push into it, side by side.
pub fn prepare_class_cache(first: &Cluster, runner: &dyn Runner, ui: &Ui, mode: Mode) -> Result<()> {
    let Some(cache) = ClassCache::of(first, runner) else { return Ok(()) };
    Steps::new(ui, mode).run(&ClassCacheStep { cache, first, runner, ui }).map(|_| ())
}

/// The class's step for its cache on one engine (see [`prepare_class_cache`]).
struct ClassCacheStep<'a> {
    cache: ClassCache<'a>,
    first: &'a Cluster<'a>,
    runner: &'a dyn Runner,
    ui: &'a Ui,
}

impl Action for ClassCacheStep<'_> {
    type Plan = cache::Plan;

    fn title(&self) -> &'static str {
        "starting the class cache"
    }

    fn plan(&self) -> Result<cache::Plan> {
        // Offline, the seeded labs' images go in, once; online the nodes' pulls fill it.
        self.cache.plan(&images::lab_images(self.first, None)?)
    }

    fn show(&self, plan: &cache::Plan) -> Result<Shown> {
        let notes =
            plan.skipped.iter().map(|skip| format!("not in the class cache: {}: {}", skip.image, skip.why)).collect();
        Ok(Shown {
            summary: describe_cache(&self.cache, plan, None, CacheFor::Class),
            notes,
            commands: self.cache.commands(plan),
        })
    }

    /// A cache that cannot start leaves the nodes pulling from the internet
    /// as before: said, not fatal.
    fn apply(&self, plan: &cache::Plan) -> Result<Done> {
        let made = DockerProvider::new(self.first, self.runner).ensure_network().and_then(|()| self.cache.apply(plan));
        match made {
            Ok(outcome) => Ok(Done {
                changed: outcome.changed,
                summary: describe_cache(&self.cache, plan, Some(&outcome), CacheFor::Class),
            }),
            Err(error) => {
                self.ui.warn(&format!(
                    "{error:#}; until the class cache runs, the nodes pull straight from their registries; fix it and run `labctl up` again"
                ));
                Ok(Done {
                    changed: false,
                    summary: format!("class cache {} not running (see the warning)", self.cache.name()),
                })
            }
        }
    }
}

struct Nodes<'a> {
    provider: &'a dyn Provider,
    templates: &'a Templates,
    ui: &'a Ui,
}

impl Action for Nodes<'_> {
    type Plan = NodesPlan;

    fn title(&self) -> &'static str {
        "starting nodes"
    }

    fn plan(&self) -> Result<NodesPlan> {
        self.provider.plan_nodes(self.ui, self.templates)
    }

    fn show(&self, plan: &NodesPlan) -> Result<Shown> {
        Ok(Shown { summary: describe_nodes(&plan.changes), notes: plan.notes.clone(), commands: plan.commands.clone() })
    }

    fn apply(&self, plan: &NodesPlan) -> Result<Done> {
        self.provider.bring_up(plan, self.ui)?;
        let changed = plan.changes.iter().any(|(_, change)| *change != NodeChange::AlreadyRunning);
        Ok(Done { changed, summary: describe_nodes(&plan.changes) })
    }
}

struct Swarm<'a> {
    nodes: &'a config::Nodes,
    bootstrap: Bootstrap<'a>,
}

impl Action for Swarm<'_> {
    type Plan = swarm::Plan;

    fn title(&self) -> &'static str {
        "bootstrapping the swarm"
    }

    fn plan(&self) -> Result<swarm::Plan> {
        self.bootstrap.plan()
    }

    fn show(&self, plan: &swarm::Plan) -> Result<Shown> {
        let summary = describe_swarm(self.nodes, &plan.expected(self.nodes.all()));
        Ok(Shown { summary, notes: Vec::new(), commands: self.bootstrap.commands(plan)? })
    }

    fn apply(&self, plan: &swarm::Plan) -> Result<Done> {
        let report = self.bootstrap.apply(plan)?;
        Ok(Done { changed: report.changed(), summary: describe_swarm(self.nodes, &report) })
    }
}

struct Images<'a> {
    up: &'a Up<'a>,
    ui: &'a Ui,
}

impl Action for Images<'_> {
    /// The labs' images; each node gets those it lacks.
    type Plan = Vec<String>;

    fn title(&self) -> &'static str {
        "loading the labs' images"
    }

    fn plan(&self) -> Result<Vec<String>> {
        images::lab_images(self.up.cluster, None)
    }

    fn show(&self, wanted: &Vec<String>) -> Result<Shown> {
        let summary = format!("load into every node that lacks them: {}", wanted.join(", "));
        Ok(Shown { summary, ..Shown::default() })
    }

    fn apply(&self, wanted: &Vec<String>) -> Result<Done> {
        let up = self.up;
        let seats = [images::SeatNodes::all_nodes(up.cluster, up.shell())];
        let timeouts = up.cluster.timeouts();
        let plans = images::plan(wanted, &seats, up.runner, timeouts)?;
        let at_once = images::loads_at_once(up.cluster.parallel_loads());
        images::carry_out(&plans, &seats, up.runner, at_once, timeouts, up.saved)?;
        let missing: Vec<&str> =
            plans.iter().filter(|plan| plan.id.is_none()).map(|plan| plan.image.as_str()).collect();
        let loaded = plans.iter().filter(|plan| plan.id.is_some() && !plan.missing_on.is_empty()).count();
        if !missing.is_empty() {
            self.ui.warn(&format!(
                "not on this host, so the nodes will pull them: {} (`labctl images pull` fetches them once)",
                missing.join(", ")
            ));
        }
        let present = wanted.len() - missing.len();
        Ok(Done { changed: loaded > 0, summary: format!("{present} images on every node ({loaded} loaded now)") })
    }
}

struct Cache<'a> {
    cache: ClassCache<'a>,
}

impl Action for Cache<'_> {
    /// Only this seat's join: the class's step makes the cache and fills
    /// it before any seat comes up (prepare_class_cache).
    type Plan = cache::Plan;

    fn title(&self) -> &'static str {
        "joining the class cache"
    }

    fn plan(&self) -> Result<cache::Plan> {
        self.cache.seat_plan()
    }

    fn show(&self, plan: &cache::Plan) -> Result<Shown> {
        let summary = describe_cache(&self.cache, plan, None, CacheFor::Seat);
        Ok(Shown { summary, notes: Vec::new(), commands: plan.join.iter().cloned().collect() })
    }

    /// A cache the class's step could not start (it said why) leaves the
    /// nodes pulling from their registries as before: said, not fatal.
    fn apply(&self, plan: &cache::Plan) -> Result<Done> {
        if !self.cache.runs()? {
            return Ok(Done {
                changed: false,
                summary: format!("class cache {} not running (see the class's step)", self.cache.name()),
            });
        }
        let outcome = self.cache.apply(plan)?;
        Ok(Done {
            changed: outcome.changed,
            summary: describe_cache(&self.cache, plan, Some(&outcome), CacheFor::Seat),
        })
    }
}

struct RegistryAction<'a> {
    registry: &'a Registry,
    up: &'a Up<'a>,
    /// False in a dry run whose nodes do not run yet.
    host_running: bool,
}

impl Action for RegistryAction<'_> {
    type Plan = registry::Plan;

    fn title(&self) -> &'static str {
        "starting the registry"
    }

    fn plan(&self) -> Result<registry::Plan> {
        let node = self.up.cluster.nodes().node(&self.registry.host);
        let address = node.map_or(std::net::Ipv4Addr::UNSPECIFIED, |node| node.ip);
        registry::plan(self.registry, address, self.up.shell(), self.host_running)
    }

    fn show(&self, plan: &registry::Plan) -> Result<Shown> {
        let summary = describe_registry(self.registry, plan.outcome());
        Ok(Shown { summary, notes: Vec::new(), commands: plan.command().into_iter().cloned().collect() })
    }

    fn apply(&self, plan: &registry::Plan) -> Result<Done> {
        // This host's Docker gives the node the registry image when it has
        // it: the docker provider's nodes run on it, and a VM or lab PC
        // without internet is spared a pull that cannot work.
        let host_has_docker =
            self.up.provider.info().nodes_on_docker_engine || crate::exec::find_program("docker").is_some();
        let host_runner = host_has_docker.then_some(self.up.runner);
        let outcome = registry::apply(plan, self.registry, self.up.shell(), host_runner, self.up.saved)?;
        // Ready means every node's daemon reaches it by name, as a push does.
        let nodes: Vec<&str> = self.up.cluster.nodes().iter().map(|node| node.name.as_str()).collect();
        let script = self.up.templates.node_script(registry::ANSWERS_SCRIPT)?;
        let waited = registry::wait_until_every_node_reaches(self.registry, &nodes, self.up.shell(), &script)?;
        let mut summary = describe_registry(self.registry, outcome);
        summary.push_str(&describe_reach(nodes.len(), &waited));
        Ok(Done { changed: outcome != registry::Outcome::AlreadyRunning, summary })
    }
}

struct Labs<'a> {
    up: &'a Up<'a>,
}

impl Action for Labs<'_> {
    /// The ids of the labs to seed; seeding copies only what is missing.
    type Plan = Vec<String>;

    fn title(&self) -> &'static str {
        "seeding the labs"
    }

    fn plan(&self) -> Result<Vec<String>> {
        Ok(self.up.cluster.seeded().iter().map(|placed| placed.id().to_string()).collect())
    }

    fn show(&self, ids: &Vec<String>) -> Result<Shown> {
        Ok(Shown { summary: format!("copy the missing files of {}", ids.join(", ")), ..Shown::default() })
    }

    fn apply(&self, _ids: &Vec<String>) -> Result<Done> {
        let up = self.up;
        let report = seed::seed(up.cluster, up.templates, up.shell())?;
        Ok(Done { changed: report.changed(), summary: describe_seed(up.cluster, &report) })
    }
}

struct StudentLogins<'a> {
    seat: SeatAccess<'a>,
    /// The manager's SSH port on the engine's host.
    port: u16,
    ui: &'a Ui,
    /// Nodes that do not run while this plans (a dry run): nothing to ask.
    not_running: Vec<String>,
}

impl Action for StudentLogins<'_> {
    type Plan = access::nodes::Plan;

    fn title(&self) -> &'static str {
        "opening the students' SSH logins"
    }

    fn plan(&self) -> Result<access::nodes::Plan> {
        self.seat.plan(&self.not_running)
    }

    fn show(&self, plan: &access::nodes::Plan) -> Result<Shown> {
        let mut notes = Vec::new();
        if plan.key_generation.is_some() {
            notes.push(format!(
                "a key pair for {} goes to {}",
                self.seat.cluster.seat_of_class(),
                self.seat.files.dir.display()
            ));
        }
        if plan.new_password {
            notes.push(format!(
                "a password for {} goes to {}",
                self.seat.cluster.seat_of_class(),
                self.seat.files.password().display()
            ));
        }
        let pending: Vec<(String, Vec<Todo>)> = plan
            .nodes
            .iter()
            .filter(|node| !node.todo.is_empty())
            .map(|node| (node.node.clone(), node.todo.clone()))
            .collect();
        let summary = self.describe(plan.key_generation.is_some() || plan.new_password, &pending);
        Ok(Shown { summary, notes, commands: self.seat.commands(plan)? })
    }

    fn apply(&self, plan: &access::nodes::Plan) -> Result<Done> {
        let report = self.seat.apply(plan)?;
        if !report.renewed_host_keys.is_empty() {
            self.ui.warn(&format!(
                "{}: new SSH host keys on {} (their state volume was made anew); {} holds the new ones, and students who saved the old ones need the seat's new handout (labctl class roster)",
                self.seat.cluster.seat_of_class(),
                report.renewed_host_keys.join(", "),
                self.seat.files.known_hosts().display()
            ));
        }
        let changed = report.credential_made || !report.changed.is_empty() || !report.renewed_host_keys.is_empty();
        Ok(Done { changed, summary: self.describe(report.credential_made, &report.changed) })
    }
}

impl StudentLogins<'_> {
    /// "students log in on port 2203 (key): key pair made, sshd set up on 2
    /// nodes", "…: sshd started on 1 node", "…: sshd already running on 2 nodes".
    fn describe(&self, credential_made: bool, changed: &[(String, Vec<Todo>)]) -> String {
        let (how, made) = match self.seat.access {
            Access::Password => ("password", "password made"),
            Access::Key | Access::None => ("key", "key pair made"),
        };
        let mut parts = Vec::new();
        if credential_made {
            parts.push(made.to_string());
        }
        // A node that lacked everything is new: "set up" says it all.
        let (new, partial): (Vec<_>, Vec<_>) = changed.iter().partition(|(_, done)| done.len() == Todo::ALL.len());
        if !new.is_empty() {
            parts.push(format!("sshd set up on {}", count(new.len(), "node")));
        }
        for todo in Todo::ALL {
            let nodes = partial.iter().filter(|(_, done)| done.contains(&todo)).count();
            if nodes > 0 {
                parts.push(format!("{} on {}", todo.describe(), count(nodes, "node")));
            }
        }
        let ready = format!("students log in on port {} ({how})", self.port);
        match parts.is_empty() {
            true => {
                format!("{ready}: sshd already running on {}", count(self.seat.cluster.nodes().all().len(), "node"))
            }
            false => format!("{ready}: {}", parts.join(", ")),
        }
    }
}

fn describe_nodes(changes: &[(String, NodeChange)]) -> String {
    let count = |wanted: NodeChange| changes.iter().filter(|(_, change)| *change == wanted).count();
    let (created, recreated) = (count(NodeChange::Created), count(NodeChange::Recreated));
    let (started, running) = (count(NodeChange::Started), count(NodeChange::AlreadyRunning));
    let (provisioned, given_docker) = (count(NodeChange::Provisioned), count(NodeChange::DockerInstalled));
    if running == changes.len() {
        return format!("nodes already running ({running})");
    }
    let mut parts = Vec::new();
    if created > 0 {
        parts.push(format!("{created} created"));
    }
    if recreated > 0 {
        parts.push(format!("{recreated} recreated on kept volumes"));
    }
    if started > 0 {
        parts.push(format!("{started} started"));
    }
    if provisioned > 0 {
        parts.push(format!("{provisioned} provisioned"));
    }
    if given_docker > 0 {
        parts.push(format!("{given_docker} provisioned with Docker"));
    }
    if running > 0 {
        parts.push(format!("{running} already running"));
    }
    format!("nodes running ({}): {}", changes.len(), parts.join(", "))
}

fn describe_swarm(nodes: &config::Nodes, report: &swarm::Report) -> String {
    let manager = nodes.manager();
    let workers = nodes.workers().len();
    if !report.changed() {
        return format!("swarm healthy: {} Leader, {} Ready", manager.name, count(workers, "worker"));
    }
    let mut parts = Vec::new();
    if report.initialised {
        parts.push(format!("swarm initialised on {} {}", manager.name, manager.ip));
    }
    if !report.joined.is_empty() {
        parts.push(format!("{} joined", count(report.joined.len(), "worker")));
    }
    if !report.rejoined.is_empty() {
        parts.push(format!("rejoined {}", report.rejoined.join(", ")));
    }
    if !report.removed_stale.is_empty() {
        parts.push(format!("removed stale entries of {}", report.removed_stale.join(", ")));
    }
    parts.join("; ")
}

fn describe_registry(registry: &Registry, outcome: registry::Outcome) -> String {
    let address = registry.address();
    match outcome {
        registry::Outcome::AlreadyRunning => format!("registry already running at {address}"),
        registry::Outcome::Restarted => format!("registry restarted at {address}"),
        registry::Outcome::Created => format!("registry started at {address}"),
        registry::Outcome::Rebound => format!(
            "registry at {address} made again on its kept volume, published on its node's class address only (it was on every interface)"
        ),
    }
}

/// ", reached by name from all N nodes" and who had to wait, how long.
fn describe_reach(nodes: usize, waited: &[registry::Waited]) -> String {
    let answered = match nodes {
        1 => ", reached by name from its node".to_string(),
        nodes => format!(", reached by name from all {nodes} nodes"),
    };
    if waited.is_empty() {
        return answered;
    }
    let who: Vec<String> =
        waited.iter().map(|wait| format!("{} after {:.1} s", wait.node, wait.took.as_secs_f64())).collect();
    format!("{answered} ({}: a daemon that ran before /etc/hosts named the registry's node)", who.join(", "))
}

/// What the cache is at this seat: "pulls through URL" or "offline".
fn describe_cache_kind(cache: &ClassCache) -> String {
    match cache.upstream() {
        Upstream::Remote(url) => format!("pulls through {url}"),
        Upstream::Offline => "offline, read-only for the seats: holds this engine's lab images".to_string(),
    }
}

/// Whose step line a cache's is: the class's (made once, before the seats) or a seat's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CacheFor {
    Class,
    Seat,
}

/// The cache's step line: what `plan` will do, or (with its outcome) did.
fn describe_cache(cache: &ClassCache, plan: &cache::Plan, done: Option<&cache::Outcome>, whom: CacheFor) -> String {
    let head = match whom {
        CacheFor::Class => {
            format!("class cache {} on engine {} ({})", cache.name(), cache.engine(), describe_cache_kind(cache))
        }
        CacheFor::Seat => format!("class cache at {} ({})", cache.endpoint(), describe_cache_kind(cache)),
    };
    let said = |planned: &str, happened: &str| if done.is_some() { happened } else { planned }.to_string();
    let mut parts = Vec::new();
    if plan.leftover_writer.is_some() {
        parts.push(said(
            "remove the writer an interrupted `labctl up` left",
            "removed the writer an interrupted `labctl up` left",
        ));
    }
    match &plan.container {
        cache::Container::Running => {}
        cache::Container::Start(_) => parts.push(said("start it", "started")),
        cache::Container::Create(_) => parts.push(said("create it", "created")),
        cache::Container::Recreate(recreation) => parts.push(match recreation.why {
            cache::Outdated::Settings => {
                said("recreate it for the new [cache] settings", "recreated for the new [cache] settings")
            }
            cache::Outdated::Writable => said(
                "recreate it read-only (an older labctl made it writable by the seats)",
                "recreated read-only (an older labctl made it writable by the seats)",
            ),
            cache::Outdated::Forwarding => said(
                "recreate it routing nothing between seats (an older labctl's forwarded packets from one seat's network to another's)",
                "recreated routing nothing between seats (an older labctl's forwarded packets from one seat's network to another's)",
            ),
        }),
    }
    if plan.join.is_some() {
        parts.push(said("join this seat's network", "joined this seat's network"));
    }
    let pushed: Vec<&str> = match done {
        Some(outcome) => outcome.pushed.iter().map(String::as_str).collect(),
        None => plan.pushes.iter().map(|push| push.image.as_str()).collect(),
    };
    if !pushed.is_empty() {
        parts.push(format!("{} {}", said("push", "pushed"), pushed.join(", ")));
    }
    match (parts.is_empty(), whom) {
        (true, CacheFor::Class) => format!("{head}: already serving"),
        (true, CacheFor::Seat) => format!("{head}: already serving this seat"),
        (false, _) => format!("{head}: {}", parts.join(", ")),
    }
}

fn describe_seed(cluster: &Cluster, report: &seed::SeedReport) -> String {
    if !report.changed() {
        return format!("labs already seeded ({})", count(cluster.seeded().len(), "lab"));
    }
    let mut parts: Vec<String> =
        report.copied.iter().map(|(lab, files)| format!("{lab} ({})", count(files.len(), "file"))).collect();
    if !report.networks.is_empty() {
        parts.push(format!("networks {}", report.networks.join(", ")));
    }
    format!("labs seeded: {}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{test_cluster, test_settings, Cluster};
    use crate::exec::fake::RecordingRunner;
    use crate::provider::docker::DockerProvider;
    use crate::provider::vagrant::VagrantProvider;
    use crate::ui::Verbosity;

    fn up_with(cluster: &Cluster, provider: &dyn Provider, runner: &RecordingRunner, mode: Mode) -> Result<bool> {
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let access_root = Path::new("/nonexistent/.labctl/access");
        let saved = SavedImages::default();
        let up =
            Up { cluster, templates: &templates, provider, runner, reinit_swarm: false, access_root, saved: &saved };
        up.run(&Ui::new(Verbosity::Quiet), mode)
    }

    /// A docker cluster whose nodes run, with node2 a worker of another swarm.
    fn docker_cluster_with_a_stray_worker(runner: &RecordingRunner) {
        crate::provider::docker::answer_running_cluster(runner);
        let mut entries = String::new();
        for (node, id) in [("manager", "m1"), ("node1", "n1"), ("node2", "other"), ("node3", "n3")] {
            let manager = node == "manager";
            let info = format!(r#"{{"LocalNodeState":"active","NodeID":"{id}","ControlAvailable":{manager}}}"#);
            runner.always(&format!("docker exec swarm-lab-{node} docker info --format"), 0, &info, "");
            if node != "node2" {
                let leader = if manager { "Leader" } else { "" };
                entries.push_str(&format!(
                    "{{\"ID\":\"{id}\",\"Hostname\":\"{node}\",\"Status\":\"Ready\",\"ManagerStatus\":\"{leader}\"}}\n"
                ));
            }
        }
        let after_join = entries.clone() + r#"{"ID":"other","Hostname":"node2","Status":"Ready","ManagerStatus":""}"#;
        runner.answer("docker exec swarm-lab-manager docker node ls", 0, &entries, "");
        runner.always("docker exec swarm-lab-manager docker node ls", 0, &after_join, "");
        runner.always("docker exec swarm-lab-manager docker swarm join-token", 0, "SWMTKN-1-abc-def\n", "");
        runner.always("docker exec swarm-lab-manager docker ps --all", 0, "running\n", "");
    }

    #[test]
    fn a_dry_run_only_probes_and_a_real_run_applies_the_same_plan() {
        let settings = test_settings("");
        let cluster = test_cluster(&settings);
        let dry = RecordingRunner::lenient();
        docker_cluster_with_a_stray_worker(&dry);
        let changed = up_with(&cluster, &DockerProvider::new(&cluster, &dry), &dry, Mode::DryRun).unwrap();
        assert!(!changed);
        assert_eq!(dry.changes(), Vec::<String>::new(), "probes only: {:#?}", dry.command_lines());
        assert!(!dry.command_lines().iter().any(|line| line.contains("join-token")), "no secret is read to plan");

        let real = RecordingRunner::lenient();
        docker_cluster_with_a_stray_worker(&real);
        let changed = up_with(&cluster, &DockerProvider::new(&cluster, &real), &real, Mode::Apply).unwrap();
        assert!(changed);
        let changes: Vec<String> = real.changes().into_iter().filter(|line| !line.contains("labctl-seed")).collect();
        assert!(changes[0].starts_with("docker exec swarm-lab-node2 docker swarm leave --force"), "{changes:#?}");
        assert!(changes[1].starts_with("docker exec --interactive swarm-lab-node2 sh -c '#!/bin/sh…' labctl-join"));
        assert_eq!(changes.len(), 2, "the manager, the other workers and the registry are left alone: {changes:#?}");
    }

    #[test]
    fn the_class_makes_its_cache_on_the_first_seats_network_and_a_seat_joins_it_after_its_nodes() {
        let settings =
            test_settings("[cluster]\nname = \"cls\"\n[class]\nseats = 2\naccess = \"none\"\n[labs]\nseed = []\n");
        let seat = Cluster::seat(&settings, crate::config::test_catalog(), 2).unwrap();
        let ui = Ui::new(Verbosity::Quiet);

        // The class's step, before any seat: the seat's network, then the cache on it.
        let runner = RecordingRunner::default();
        runner.always("docker network inspect", 1, "", "Error: No such network");
        runner.always("docker network create", 0, "", "");
        runner.answer("docker container inspect", 1, "", "Error: No such container: labctl-cache-cls");
        runner.always("docker ps --all --filter label=labctl.cache.writer=cls", 0, "", "");
        runner.always("docker run --detach --name labctl-cache-cls", 0, "3f2c\n", "");
        runner.always("docker port labctl-cache-cls", 0, "127.0.0.1:41234\n", "");
        runner.always("docker logs --tail 100 labctl-cache-cls", 0, "", "msg=\"listening on [::]:5000\"");
        prepare_class_cache(&seat, &runner, &ui, Mode::Apply).unwrap();
        let changes = runner.changes();
        assert!(
            changes[0].starts_with("docker network create --driver bridge --subnet 192.168.57.0/24"),
            "{changes:#?}"
        );
        assert!(changes[1].starts_with("docker run --detach --name labctl-cache-cls --restart always --network labctl-cls-s02 --ip 192.168.57.254"), "{changes:#?}");
        assert_eq!(changes.len(), 2, "{changes:#?}");

        // A seat only joins it, right after its nodes, before its swarm.
        let runner = RecordingRunner::lenient();
        runner.always("docker network inspect", 1, "", "Error: No such network");
        runner.always("docker image inspect", 0, "sha256:node\n", "");
        let found =
            "3f2c\trunning\thttps://registry-1.docker.io\tpull-through\tregistry:2\tlabctl-cls-s01=192.168.56.254 ";
        runner.always("docker container inspect", 0, found, "");
        // The fake's empty answers stop the swarm step after its init.
        let error = up_with(&seat, &DockerProvider::new(&seat, &runner), &runner, Mode::Apply).unwrap_err();
        assert!(error.to_string().contains("`docker info` on manager"), "{error:#}");
        let changes = runner.changes();
        let position = |prefix: &str| changes.iter().position(|line| line.starts_with(prefix));
        assert_eq!(position("docker run --detach --name labctl-cache-cls"), None, "a seat never makes it");
        let join =
            position("docker network connect --ip 192.168.57.254 labctl-cls-s02 labctl-cache-cls").expect("joined");
        assert!(position("docker run --detach --name cls-s02-node3") < Some(join), "{changes:#?}");
        let init = position("docker exec cls-s02-manager docker swarm init").expect("the swarm starts");
        assert!(join < init, "{changes:#?}");
    }

    #[test]
    fn a_dry_run_of_a_cluster_that_does_not_exist_asks_no_node_anything() {
        let settings = test_settings("");
        let cluster = test_cluster(&settings);
        let docker = RecordingRunner::lenient();
        docker.always("docker network inspect", 1, "", "Error: No such network");
        docker.always("docker image inspect", 1, "", "Error: No such image");
        up_with(&cluster, &DockerProvider::new(&cluster, &docker), &docker, Mode::DryRun).unwrap();
        assert_eq!(docker.changes(), Vec::<String>::new());
        assert!(
            !docker.command_lines().iter().any(|line| line.starts_with("docker exec")),
            "{:#?}",
            docker.command_lines()
        );

        // No Vagrantfile yet: not even `vagrant status` runs.
        let dir = tempfile::tempdir().unwrap();
        let vagrant = RecordingRunner::lenient();
        let provider = VagrantProvider::new(&cluster, &vagrant, dir.path().to_path_buf());
        up_with(&cluster, &provider, &vagrant, Mode::DryRun).unwrap();
        assert_eq!(vagrant.command_lines(), Vec::<String>::new());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
    }
}
