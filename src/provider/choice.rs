//! Which provider a command uses, and why: `auto` resolved against what
//! this host has.

use std::cell::RefCell;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};

use super::docker_cli::DockerCli;
use super::ProviderKind;
use crate::config::{Cluster, Engine, EngineTarget, Hypervisor, ProviderSetting};
use crate::exec::{find_program, CommandSpec, Runner, TimedOut};
use crate::exit::Unreachable;
use crate::timeouts::{Timeouts, Wait, RAISE_HINT};

/// The provider a command will use, with the reason to show the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub kind: ProviderKind,
    pub reason: String,
}

/// The program that drives a Vagrant hypervisor provider.
pub fn hypervisor_program(hypervisor: Hypervisor) -> &'static str {
    match hypervisor {
        Hypervisor::Libvirt => "virsh",
        Hypervisor::VirtualBox => "VBoxManage",
    }
}

pub fn hypervisor_label(hypervisor: Hypervisor) -> &'static str {
    match hypervisor {
        Hypervisor::Libvirt => "libvirt",
        Hypervisor::VirtualBox => "VirtualBox",
    }
}

/// What this host has, looked up once and only when needed.
pub struct Host<'a> {
    runner: &'a dyn Runner,
    /// Programs to pretend are installed, instead of searching PATH (tests).
    installed: Option<Vec<&'static str>>,
    timeouts: Timeouts,
    /// Each Docker engine asked so far, with its answer.
    docker_engines: RefCell<Vec<(EngineTarget, Result<String, String>)>>,
}

impl<'a> Host<'a> {
    pub fn new(runner: &'a dyn Runner, timeouts: Timeouts) -> Self {
        Host { runner, installed: None, timeouts, docker_engines: RefCell::default() }
    }

    #[cfg(test)]
    pub fn with_programs(runner: &'a dyn Runner, installed: &[&'static str]) -> Self {
        Host { installed: Some(installed.to_vec()), ..Host::new(runner, Timeouts::default()) }
    }

    pub fn runner(&self) -> &'a dyn Runner {
        self.runner
    }

    /// Where `program` is installed, if it is.
    pub fn find(&self, program: &str) -> Option<PathBuf> {
        match &self.installed {
            Some(installed) => installed.contains(&program).then(|| PathBuf::from("/usr/bin").join(program)),
            None => find_program(program),
        }
    }

    pub fn has(&self, program: &str) -> bool {
        self.find(program).is_some()
    }

    /// `Ok(server version)` when `engine` answers within the read limit,
    /// `Err(why not)` otherwise; each engine is asked once.
    pub fn docker_engine(&self, engine: &Engine) -> Result<String, String> {
        let known = self.docker_engines.borrow().iter().find(|(target, _)| *target == engine.target).cloned();
        if let Some((_, answer)) = known {
            return answer;
        }
        let answer = self.ask_docker_engine(engine);
        self.docker_engines.borrow_mut().push((engine.target.clone(), answer.clone()));
        answer
    }

    fn ask_docker_engine(&self, engine: &Engine) -> Result<String, String> {
        if !self.has("docker") {
            return Err("the `docker` command is not installed".into());
        }
        let spec = DockerCli::on(engine, self.timeouts)
            .read(&["version", "--format", "{{.Server.Version}}"], "ask the Docker engine for its version");
        match self.runner.run(&spec) {
            Ok(output) if output.success() && !output.stdout.trim().is_empty() => Ok(output.stdout.trim().to_string()),
            Ok(output) if engine.is_configured() => Err(output.tail(1)),
            Ok(output) => Err(format!("the Docker engine does not answer ({})", output.tail(1))),
            Err(error) => match error.downcast_ref::<TimedOut>() {
                Some(timed_out) if engine.is_configured() => {
                    Err(format!("no reply within {} ({RAISE_HINT})", crate::ui::format_elapsed(timed_out.limit)))
                }
                _ => Err(format!("{error:#}")),
            },
        }
    }
}

/// A seat on a `[[class.engines]]` engine: the docker provider on that
/// engine, or when the engine does not answer an [`Unreachable`] error
/// naming it, so that only its seats fail.
fn choose_engine(engine: &Engine, setting: ProviderSetting, source: &str, host: &Host) -> Result<Choice> {
    if setting == ProviderSetting::Vagrant {
        bail!(
            "provider vagrant (set in {source}): this seat lives on the Docker {} ([[class.engines]]); seats on engines use the docker provider",
            engine.describe()
        );
    }
    let version = host
        .docker_engine(engine)
        .map_err(|why| {
            anyhow!(
                "{why}; check that it runs and that this host reaches it (`docker {} version`)",
                engine.docker_options().join(" ")
            )
        })
        .map_err(|error| error.context(Unreachable::engine_silent(&engine.describe())))?;
    let reason = match setting {
        ProviderSetting::Auto => {
            format!("auto: [[class.engines]] puts this seat on {}, Docker Engine {version}", engine.describe())
        }
        _ => format!("set in {source}; on {}, Docker Engine {version}", engine.describe()),
    };
    Ok(Choice { kind: ProviderKind::Docker, reason })
}

/// The ssh provider, for a workspace whose nodes are the machines of
/// `[[ssh.hosts]]`: no other provider can make those, and it needs only the
/// `ssh` client here.
fn choose_ssh(cluster: &Cluster, setting: ProviderSetting, source: &str, host: &Host) -> Result<Choice> {
    let configured = cluster.provider() == ProviderSetting::Ssh;
    if !configured {
        bail!(
            "provider ssh (set in {source}): {} lists no machines; add one [[ssh.hosts]] per node and set [cluster] provider = \"ssh\" (or import them: `labctl class import hosts.csv`)",
            cluster.source()
        );
    }
    if !matches!(setting, ProviderSetting::Ssh | ProviderSetting::Auto) {
        bail!(
            "provider {} (set in {source}): the nodes of this workspace are the machines of [[ssh.hosts]] (provider = \"ssh\" in {}), which only the ssh provider uses; drop --provider",
            setting.as_str(),
            cluster.source()
        );
    }
    if !host.has("ssh") {
        bail!("provider ssh (set in {}): the `ssh` client is not installed here; install OpenSSH's client (apt-get install openssh-client)", cluster.source());
    }
    let machines = cluster.nodes().all().len();
    Ok(Choice {
        kind: ProviderKind::Ssh,
        reason: format!("set in {}; {machines} machines of [[ssh.hosts]]", cluster.source()),
    })
}

/// The incus provider, only when asked for: it needs the `incus` client
/// here (the server it talks to is checked when the nodes are listed).
fn choose_incus(source: &str, host: &Host) -> Result<Choice> {
    if !host.has("incus") {
        bail!("provider incus (set in {source}): the `incus` client is not installed here; install it (apt-get install incus-client, or incus for a server here too), then run `labctl doctor`");
    }
    Ok(Choice { kind: ProviderKind::Incus, reason: format!("set in {source}") })
}

/// Resolve `auto` (or check an explicit choice) against this host.
/// `requested` is the command line's `--provider`, which wins over the file.
pub fn choose(cluster: &Cluster, requested: Option<ProviderSetting>, host: &Host) -> Result<Choice> {
    let (setting, source) = match requested {
        Some(setting) => (setting, "--provider".to_string()),
        None => (cluster.provider(), cluster.source()),
    };
    if cluster.provider() == ProviderSetting::Ssh || setting == ProviderSetting::Ssh {
        return choose_ssh(cluster, setting, &source, host);
    }
    if setting == ProviderSetting::Incus {
        return choose_incus(&source, host);
    }
    if cluster.engine().is_configured() {
        return choose_engine(cluster.engine(), setting, &source, host);
    }
    let hypervisor = hypervisor_label(cluster.vagrant().provider);
    let has_vagrant = host.has("vagrant");
    let has_hypervisor = host.has(hypervisor_program(cluster.vagrant().provider));
    let vagrant_missing = || match (has_vagrant, has_hypervisor) {
        (false, false) => format!("Vagrant and {hypervisor} not found"),
        (false, true) => "Vagrant not found".to_string(),
        _ => format!("{hypervisor} not found"),
    };
    match setting {
        ProviderSetting::Vagrant if has_vagrant && has_hypervisor => {
            Ok(Choice { kind: ProviderKind::Vagrant, reason: format!("set in {source}") })
        }
        ProviderSetting::Vagrant => {
            bail!("provider vagrant (set in {source}): {}; install Vagrant and {hypervisor}, or use the docker provider", vagrant_missing())
        }
        ProviderSetting::Docker => match host.docker_engine(cluster.engine()) {
            Ok(_) => Ok(Choice { kind: ProviderKind::Docker, reason: format!("set in {source}") }),
            Err(why) => bail!("provider docker (set in {source}): {why}; install Docker Engine and start it (sudo systemctl start docker)"),
        },
        // Seats are docker-in-docker clusters, whatever else the host has.
        ProviderSetting::Auto if !cluster.seat_of_class().is_only() => {
            let seats = cluster.seat_of_class().of;
            match host.docker_engine(cluster.engine()) {
                Ok(version) => Ok(Choice {
                    kind: ProviderKind::Docker,
                    reason: format!("auto: a class of {seats} seats runs on Docker; Docker Engine {version} answers"),
                }),
                Err(why) => bail!(
                    "a class of {seats} seats needs the docker provider, but {why}; install Docker Engine and start it (sudo systemctl start docker), then run `labctl doctor`"
                ),
            }
        }
        ProviderSetting::Auto if has_vagrant && has_hypervisor => {
            Ok(Choice { kind: ProviderKind::Vagrant, reason: format!("auto: Vagrant and {hypervisor} found") })
        }
        ProviderSetting::Ssh => unreachable!("handled by choose_ssh"),
        ProviderSetting::Incus => unreachable!("handled by choose_incus"),
        ProviderSetting::Auto => match host.docker_engine(cluster.engine()) {
            Ok(version) => Ok(Choice {
                kind: ProviderKind::Docker,
                reason: format!("auto: {}; Docker Engine {version} answers", vagrant_missing()),
            }),
            Err(why) => bail!(
                "no provider can work here: {} and {why}; install Vagrant + {hypervisor} (VMs) or Docker Engine (containers), then run `labctl doctor`",
                vagrant_missing()
            ),
        },
    }
}

/// With `auto`, the provider the cluster already lives on, if any: its
/// VMs in the workspace's Vagrant environment, or its labelled containers.
/// A seat on a `[[class.engines]]` engine is docker's anyway: nothing to ask.
pub fn existing(cluster: &Cluster, host: &Host, vagrant_dir: &std::path::Path) -> Option<Choice> {
    if cluster.engine().is_configured() || matches!(cluster.provider(), ProviderSetting::Ssh | ProviderSetting::Incus) {
        return None;
    }
    let manager_machine = vagrant_dir.join(".vagrant/machines").join(&cluster.nodes().manager().name);
    // A class's seats never live on Vagrant (validation refuses it).
    let has_vm = cluster.seat_of_class().is_only()
        && std::fs::read_dir(&manager_machine)
            .map(|providers| providers.flatten().any(|provider| provider.path().join("id").is_file()))
            .unwrap_or(false);
    if has_vm && host.has("vagrant") {
        return Some(Choice {
            kind: ProviderKind::Vagrant,
            reason: "auto: the cluster's VMs exist in .labctl/vagrant".into(),
        });
    }
    if host.docker_engine(cluster.engine()).is_ok() {
        let filter = format!("label={}={}", super::labels::CLUSTER_LABEL, cluster.name());
        let spec = CommandSpec::new(
            "docker",
            &["ps", "--all", "--quiet", "--filter", &filter],
            "look for the cluster's containers",
        )
        .probe()
        .timeout(cluster.timeouts().limit(Wait::Read));
        let found = host.runner().run(&spec).map(|output| !output.stdout.trim().is_empty()).unwrap_or(false);
        if found {
            return Some(Choice { kind: ProviderKind::Docker, reason: "auto: the cluster's containers exist".into() });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{test_cluster, Settings};
    use crate::exec::fake::RecordingRunner;
    use crate::labs::Catalog;

    fn settings(config: &str) -> Settings {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("labctl.toml"), config).unwrap();
        let catalog = Catalog::load(dir.path()).unwrap();
        let location = crate::config::ConfigLocation { workspace: dir.path().to_path_buf(), explicit: None };
        crate::config::load(&location, &catalog).unwrap()
    }

    #[test]
    fn auto_prefers_vagrant_with_virtualbox_and_never_asks_docker() {
        let runner = RecordingRunner::default();
        let host = Host::with_programs(&runner, &["vagrant", "VBoxManage", "docker"]);
        let choice = choose(&test_cluster(&settings("")), None, &host).unwrap();
        assert_eq!(choice, Choice { kind: ProviderKind::Vagrant, reason: "auto: Vagrant and VirtualBox found".into() });
        assert!(runner.command_lines().is_empty());
    }

    #[test]
    fn auto_falls_back_to_a_docker_engine_that_answers() {
        let runner = RecordingRunner::default();
        runner.answer("docker version", 0, "27.3.1\n", "");
        let host = Host::with_programs(&runner, &["vagrant", "docker"]);
        let choice = choose(&test_cluster(&settings("")), None, &host).unwrap();
        assert_eq!(choice.kind, ProviderKind::Docker);
        assert_eq!(choice.reason, "auto: VirtualBox not found; Docker Engine 27.3.1 answers");
        // The engine is asked once, however often its answer is needed.
        assert!(host.docker_engine(&Engine::local()).is_ok());
        assert_eq!(runner.command_lines(), vec!["docker version --format '{{.Server.Version}}'"]);
    }

    #[test]
    fn auto_with_nothing_usable_says_what_to_install() {
        let runner = RecordingRunner::default();
        runner.answer("docker version", 1, "", "Cannot connect to the Docker daemon\n");
        let host = Host::with_programs(&runner, &["docker"]);
        let error = choose(&test_cluster(&settings("")), None, &host).unwrap_err().to_string();
        assert_eq!(
            error,
            "no provider can work here: Vagrant and VirtualBox not found and the Docker engine does not answer (Cannot connect to the Docker daemon); install Vagrant + VirtualBox (VMs) or Docker Engine (containers), then run `labctl doctor`"
        );
    }

    #[test]
    fn a_docker_cli_that_cannot_start_is_explained() {
        let runner = RecordingRunner::default();
        runner.fail_to_start("docker version", "permission denied");
        let host = Host::with_programs(&runner, &["docker"]);
        assert_eq!(host.docker_engine(&Engine::local()), Err("permission denied".to_string()));
    }

    #[test]
    fn an_explicit_provider_is_checked_not_replaced() {
        let runner = RecordingRunner::default();
        let host = Host::with_programs(&runner, &["vagrant", "docker"]);
        let error = choose(&test_cluster(&settings("[cluster]\nprovider = \"vagrant\"\n")), None, &host)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("provider vagrant (set in /"), "{error}");
        assert!(error.contains("labctl.toml): VirtualBox not found; install Vagrant and VirtualBox"), "{error}");

        runner.answer("docker version", 0, "27.3.1\n", "");
        let choice = choose(&test_cluster(&settings("")), Some(ProviderSetting::Docker), &host).unwrap();
        assert_eq!(choice, Choice { kind: ProviderKind::Docker, reason: "set in --provider".into() });
    }

    const TWO_ENGINES: &str = "[cluster]\nname = \"cls\"\n[class]\nseats = 2\naccess = \"none\"\n[[class.engines]]\nhost = \"unix:///run/docker.sock\"\nseats = 1\n[[class.engines]]\nname = \"lab-server-2\"\nhost = \"ssh://ubuntu@10.0.0.5\"\nseats = 1\n";

    #[test]
    fn a_seat_on_a_class_engine_is_dockers_and_only_that_engine_is_asked() {
        let settings = crate::config::test_settings(TWO_ENGINES);
        let catalog = crate::config::test_catalog();
        let seat = Cluster::seat(&settings, catalog, 2).unwrap();
        let runner = RecordingRunner::default();
        runner.answer("docker --host ssh://ubuntu@10.0.0.5 version", 0, "27.3.1\n", "");
        // Vagrant and VirtualBox here do not matter: seats are containers.
        let host = Host::with_programs(&runner, &["vagrant", "VBoxManage", "docker"]);
        assert_eq!(existing(&seat, &host, std::path::Path::new("/nonexistent")), None);
        let choice = choose(&seat, None, &host).unwrap();
        assert_eq!(choice.kind, ProviderKind::Docker);
        assert_eq!(
            choice.reason,
            "auto: [[class.engines]] puts this seat on engine \"lab-server-2\" (ssh://ubuntu@10.0.0.5), Docker Engine 27.3.1"
        );
        assert_eq!(
            runner.command_lines(),
            vec!["docker --host ssh://ubuntu@10.0.0.5 version --format '{{.Server.Version}}'"]
        );
        let error = choose(&seat, Some(ProviderSetting::Vagrant), &host).unwrap_err().to_string();
        assert!(error.contains("seats on engines use the docker provider"), "{error}");
    }

    #[test]
    fn an_engine_that_does_not_answer_makes_its_seat_unreachable_and_says_which() {
        let settings = crate::config::test_settings(TWO_ENGINES);
        let catalog = crate::config::test_catalog();
        let runner = RecordingRunner::default();
        runner.answer(
            "docker --host ssh://ubuntu@10.0.0.5 version",
            255,
            "",
            "error during connect: ssh: connect to host 10.0.0.5 port 22: No route to host\n",
        );
        runner.answer("docker --host unix:///run/docker.sock version", 0, "24.0.7\n", "");
        let host = Host::with_programs(&runner, &["docker"]);
        let error = choose(&Cluster::seat(&settings, catalog, 2).unwrap(), None, &host).unwrap_err();
        assert!(crate::exit::is_unreachable(&error));
        assert_eq!(
            format!("{error:#}"),
            "engine \"lab-server-2\" (ssh://ubuntu@10.0.0.5) does not answer: error during connect: ssh: connect to host 10.0.0.5 port 22: No route to host; check that it runs and that this host reaches it (`docker --host ssh://ubuntu@10.0.0.5 version`)"
        );
        // The other engine's seat is not held back.
        assert!(choose(&Cluster::seat(&settings, catalog, 1).unwrap(), None, &host).is_ok());
        let limits: Vec<_> = runner.calls().iter().map(|spec| spec.timeout).collect();
        assert_eq!(limits, vec![Some(std::time::Duration::from_secs(30)); 2], "the read limit");
    }

    #[test]
    fn auto_puts_a_class_on_docker_even_where_vagrant_works() {
        let runner = RecordingRunner::default();
        runner.always("docker version", 0, "27.3.1\n", "");
        let host = Host::with_programs(&runner, &["vagrant", "VBoxManage", "docker"]);
        let class = settings("[class]\nseats = 3\naccess = \"none\"\n");
        for seat in 1..=3 {
            let cluster = crate::config::Cluster::seat(&class, crate::config::test_catalog(), seat).unwrap();
            let choice = choose(&cluster, None, &host).unwrap();
            assert_eq!(
                choice,
                Choice {
                    kind: ProviderKind::Docker,
                    reason: "auto: a class of 3 seats runs on Docker; Docker Engine 27.3.1 answers".into()
                }
            );
        }
        // A single cluster on the same host still prefers VMs.
        assert_eq!(choose(&test_cluster(&settings("")), None, &host).unwrap().kind, ProviderKind::Vagrant);

        let no_engine = RecordingRunner::default();
        no_engine.answer("docker version", 1, "", "Cannot connect to the Docker daemon\n");
        let host = Host::with_programs(&no_engine, &["vagrant", "VBoxManage", "docker"]);
        let error = choose(&test_cluster(&class), None, &host).unwrap_err().to_string();
        assert_eq!(
            error,
            "a class of 3 seats needs the docker provider, but the Docker engine does not answer (Cannot connect to the Docker daemon); install Docker Engine and start it (sudo systemctl start docker), then run `labctl doctor`"
        );
    }

    #[test]
    fn a_class_is_never_found_on_vagrant() {
        let workspace = tempfile::tempdir().unwrap();
        let machine = workspace.path().join(".vagrant/machines/manager/virtualbox");
        std::fs::create_dir_all(&machine).unwrap();
        std::fs::write(machine.join("id"), "0f6e").unwrap();
        let runner = RecordingRunner::lenient();
        runner.always("docker version", 0, "27.3.1\n", "");
        let host = Host::with_programs(&runner, &["vagrant", "VBoxManage", "docker"]);
        let single = settings("");
        assert_eq!(existing(&test_cluster(&single), &host, workspace.path()).unwrap().kind, ProviderKind::Vagrant);
        let class = settings("[class]\nseats = 2\naccess = \"none\"\n");
        assert_eq!(existing(&test_cluster(&class), &host, workspace.path()), None);
    }

    #[test]
    fn libvirt_needs_virsh_instead_of_virtualbox() {
        let runner = RecordingRunner::default();
        let host = Host::with_programs(&runner, &["vagrant", "virsh"]);
        let choice = choose(&test_cluster(&settings("[vagrant]\nprovider = \"libvirt\"\n")), None, &host).unwrap();
        assert_eq!(choice.reason, "auto: Vagrant and libvirt found");
    }
}
