//! The vagrant provider: drives `vagrant` in the rendered environment.
//!
//! VirtualBox does not support `vagrant up --parallel`, and concurrent
//! `vagrant up` processes race on port forwarding, so machines boot one at a
//! time with `--no-provision` (manager first); provisioning, the slow part,
//! then runs on all new machines at once.

use std::path::PathBuf;
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{anyhow, bail, Context as _, Result};

use super::{
    bounded, on_node_within, Isolation, Machine, NodeChange, NodeIo, NodesPlan, Preparation, Provider, ProviderKind,
    ProviderSteps,
};
use crate::config::{Cluster, Hypervisor};
use crate::exec::{shell_line, CommandSpec, Output, Runner};
use crate::parallel::in_parallel;
use crate::templates::Templates;
use crate::timeouts::{Timeouts, Wait};
use crate::ui::Ui;

pub mod environment;
pub mod libvirt;

pub struct VagrantProvider<'a> {
    cluster: &'a Cluster<'a>,
    runner: &'a dyn Runner,
    /// The rendered environment (Vagrantfile and provision/).
    dir: PathBuf,
}

impl<'a> VagrantProvider<'a> {
    pub fn new(cluster: &'a Cluster<'a>, runner: &'a dyn Runner, dir: PathBuf) -> Self {
        VagrantProvider { cluster, runner, dir }
    }

    /// `vagrant ARGS` in the environment, within the limit of its kind.
    fn vagrant(&self, args: &[&str], purpose: &str, wait: Wait) -> CommandSpec {
        CommandSpec::new("vagrant", args, purpose).dir(self.dir.clone()).timeout(self.cluster.timeouts().limit(wait))
    }

    /// Machine state per node from `vagrant status --machine-readable`;
    /// nothing before the environment has been rendered (no machine exists).
    fn status(&self) -> Result<Vec<(String, String)>> {
        if !self.dir.join("Vagrantfile").is_file() {
            return Ok(Vec::new());
        }
        let spec = self.vagrant(&["status", "--machine-readable"], "read the machines' state", Wait::Read).probe();
        let output = self.runner.run_checked(&spec)?;
        Ok(parse_status(&output.stdout))
    }

    fn docker_answers(&self, node: &str) -> bool {
        let argv = ["docker".to_string(), "info".to_string()];
        let limit = self.cluster.timeouts().limit(Wait::Read);
        let spec = self.node_command(node, &argv, NodeIo::Captured, Some(limit)).probe();
        self.runner.run(&spec).map(|output| output.success()).unwrap_or(false)
    }
}

/// `1700000000,manager,state,running` lines → (machine, state).
fn parse_status(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields.len() >= 4 && fields[2] == "state" && !fields[1].is_empty())
                .then(|| (fields[1].to_string(), fields[3].to_string()))
        })
        .collect()
}

impl Provider for VagrantProvider<'_> {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Vagrant
    }

    fn isolation(&self) -> Isolation {
        Isolation::VirtualMachine
    }

    fn prepare(&self, templates: &Templates) -> Result<Option<Preparation>> {
        // Not part of the environment: `labctl render` only writes files.
        if self.cluster.vagrant().provider == Hypervisor::Libvirt {
            libvirt::check_subnet_free(self.cluster, self.runner)?;
        }
        environment::prepare(self.cluster, templates, &self.dir).map(Some)
    }

    fn plan_nodes(&self, _ui: &Ui, _templates: &Templates) -> Result<NodesPlan> {
        let states = self.status()?;
        let state_of = |node: &str| states.iter().find(|(name, _)| name == node).map(|(_, state)| state.as_str());
        let changes: Vec<(String, NodeChange)> = self
            .cluster
            .nodes()
            .iter()
            .map(|node| {
                let change = match state_of(&node.name) {
                    Some("running") => NodeChange::AlreadyRunning,
                    Some("not_created") | None => NodeChange::Created,
                    Some(_) => NodeChange::Started,
                };
                (node.name.clone(), change)
            })
            .collect();
        // New machines always need provisioning; running ones only when
        // Docker does not answer (a provisioning that failed or was cut
        // short); a stopped one is asked once it has booted.
        let needs: Vec<bool> = in_parallel(&changes, |(node, change)| {
            Ok(match change {
                NodeChange::Created => true,
                NodeChange::AlreadyRunning => !self.docker_answers(node),
                NodeChange::Started | NodeChange::Recreated => false,
                NodeChange::Provisioned | NodeChange::DockerInstalled => false,
            })
        })?;
        let boot: Vec<String> = changes
            .iter()
            .filter(|(_, change)| *change != NodeChange::AlreadyRunning)
            .map(|(node, _)| node.clone())
            .collect();
        let provision: Vec<String> =
            changes.iter().zip(needs).filter(|(_, needed)| *needed).map(|((node, _), _)| node.clone()).collect();
        let check_after_boot: Vec<String> =
            changes.iter().filter(|(_, change)| *change == NodeChange::Started).map(|(node, _)| node.clone()).collect();
        let commands = boot
            .iter()
            .map(|node| self.boot_command(node))
            .chain(provision.iter().map(|node| self.provision_command(node)))
            .collect();
        let steps = Steps { boot, provision, check_after_boot };
        Ok(NodesPlan { changes, notes: Vec::new(), commands, steps: ProviderSteps::Vagrant(steps) })
    }

    fn bring_up(&self, plan: &NodesPlan, ui: &Ui) -> Result<()> {
        let ProviderSteps::Vagrant(steps) = &plan.steps else {
            bail!("internal error: the vagrant provider was given another provider's plan")
        };
        // One at a time, manager first (the nodes are in that order).
        for (index, node) in steps.boot.iter().enumerate() {
            ui.substep(&format!("booting {node} ({}/{})", index + 1, steps.boot.len()));
            self.run_followed(self.boot_command(node), node, "boot", ui)?;
        }
        let silent: Vec<bool> = in_parallel(&steps.check_after_boot, |node| Ok(!self.docker_answers(node)))?;
        let to_provision: Vec<&String> = self
            .cluster
            .nodes()
            .iter()
            .map(|node| &node.name)
            .filter(|node| {
                steps.provision.contains(node)
                    || steps.check_after_boot.iter().zip(&silent).any(|(checked, silent)| checked == *node && *silent)
            })
            .collect();
        if !to_provision.is_empty() {
            let names: Vec<&str> = to_provision.iter().map(|node| node.as_str()).collect();
            ui.substep(&format!("provisioning {} at once", names.join(", ")));
        }
        in_parallel(&to_provision, |node| self.run_followed(self.provision_command(node), node, "provision", ui))
            .map(|_| ())
    }

    fn machines(&self) -> Result<Vec<Machine>> {
        Ok(Machine::for_nodes(self.cluster.nodes(), &self.status()?, "not_created"))
    }

    fn timeouts(&self) -> Timeouts {
        self.cluster.timeouts()
    }

    fn node_command(&self, node: &str, argv: &[String], io: NodeIo, limit: Option<Duration>) -> CommandSpec {
        let remote = format!("sudo -n -- {}", shell_line(&on_node_within(argv, limit)));
        let mut spec =
            CommandSpec::new("vagrant", &["ssh", node], &format!("run a command on {node}")).dir(self.dir.clone());
        if io == NodeIo::Terminal {
            spec = spec.arg("--tty");
        }
        bounded(spec.args(["-c".to_string(), remote]), limit)
    }

    fn daemon_log(&self, node: &str) -> CommandSpec {
        let argv: Vec<String> =
            ["journalctl", "--unit", "docker", "--no-pager", "--lines", "5000"].map(String::from).to_vec();
        let mut spec = self.node_command(node, &argv, NodeIo::Captured, Some(self.timeouts().limit(Wait::Read)));
        spec.purpose = format!("read {node}'s Docker log");
        spec.probe()
    }

    fn shell_command(&self, node: &str) -> CommandSpec {
        // The user's own shell: no limit (see `RealRunner::run_interactive`).
        CommandSpec::new("vagrant", &["ssh", node, "--tty", "-c", "sudo -i"], &format!("open a shell on {node}"))
            .dir(self.dir.clone())
    }

    fn stop(&self) -> Result<usize> {
        let running = self.status()?.iter().filter(|(_, state)| state == "running").count();
        if running > 0 {
            self.run_checked_on(self.vagrant(&["halt"], "stop the machines", Wait::Long), "the cluster")?;
        }
        Ok(running)
    }

    fn destroy(&self) -> Result<Vec<String>> {
        let existing = self.status()?.iter().filter(|(_, state)| state != "not_created").count();
        if existing == 0 {
            return Ok(Vec::new());
        }
        self.run_checked_on(self.vagrant(&["destroy", "--force"], "destroy the machines", Wait::Long), "the cluster")?;
        Ok(vec![format!("{existing} VMs")])
    }
}

/// What the vagrant provider's part of a [`NodesPlan`] runs.
#[derive(Debug)]
pub(in crate::provider) struct Steps {
    /// Machines to boot, in order (`vagrant up NODE --no-provision`).
    boot: Vec<String>,
    /// Machines to provision, known now.
    provision: Vec<String>,
    /// Stopped machines to provision after they boot if Docker does not answer.
    check_after_boot: Vec<String>,
}

impl VagrantProvider<'_> {
    fn boot_command(&self, node: &str) -> CommandSpec {
        self.vagrant(&["up", node, "--no-provision"], &format!("boot {node}"), Wait::Long)
    }

    fn provision_command(&self, node: &str) -> CommandSpec {
        self.vagrant(&["provision", node], &format!("provision {node}"), Wait::Long)
    }

    /// Run a long vagrant command (`what` = boot or provision) with its output
    /// kept in `.labctl/logs/vagrant-<what>-<node>.log`, followed while it
    /// runs: each `labctl: …` line a provisioning script prints is a
    /// sub-step (`provision node1: installing docker.io …`), each of
    /// Vagrant's own `==> node: …` lines the spinner's text. A failure names
    /// the node and shows the log's last lines.
    fn run_followed(&self, spec: CommandSpec, node: &str, what: &str, ui: &Ui) -> Result<()> {
        let log = self.logs_dir().join(format!("vagrant-{what}-{node}.log"));
        if let Some(folder) = log.parent() {
            std::fs::create_dir_all(folder).with_context(|| format!("cannot create {}", folder.display()))?;
        }
        // A previous run's output must not be followed as this one's.
        let _ = std::fs::remove_file(&log);
        let spec = spec.stdout_file(log.clone());
        let finished = AtomicBool::new(false);
        let output = std::thread::scope(|scope| {
            scope.spawn(|| {
                follow(&log, &finished, |line| {
                    if let Some((_, message)) = line.split_once("labctl: ") {
                        ui.substep(&format!("{what} {node}: {}", message.trim()));
                    } else if let Some((_, message)) = line.split_once(&format!("==> {node}: ")) {
                        ui.progress(&format!("{what} {node}: {}", message.trim()));
                    }
                })
            });
            let output = self.runner.run(&spec);
            finished.store(true, Ordering::SeqCst);
            output
        })?;
        if output.success() {
            return Ok(());
        }
        let printed = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> =
            printed.lines().chain(output.stderr.lines()).filter(|line| !line.trim().is_empty()).collect();
        Err(anyhow!(
            "vagrant failed on {node} while trying to {} (`{spec}`): {} (the whole output: {}){}",
            spec.purpose,
            spec.mask(&tail[tail.len().saturating_sub(6)..].join(" | ")),
            log.display(),
            self.console(node).map(|console| format!("; {console}")).unwrap_or_default()
        ))
    }

    /// Where the machine's serial console is kept (libvirt only, see the
    /// Vagrantfile): the kernel's and systemd's view of a boot that never
    /// reached ssh.
    fn console_log(&self, node: &str) -> Option<PathBuf> {
        (self.cluster.vagrant().provider == Hypervisor::Libvirt)
            .then(|| self.logs_dir().join(format!("console-{node}.log")))
    }

    /// `.labctl/logs`, next to the environment's folder: vagrant's output
    /// per node and, on libvirt, each machine's serial console (the
    /// Vagrantfile's CONSOLE_LOG_DIR).
    fn logs_dir(&self) -> PathBuf {
        self.dir.parent().unwrap_or(&self.dir).join("logs")
    }

    /// The serial console's last lines, for a failure's message; libvirt
    /// writes the file as root, so a user who cannot read it is told how.
    fn console(&self, node: &str) -> Option<String> {
        let path = self.console_log(node)?;
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                // Without the terminal's escapes and colours.
                let plain = anstream::adapter::strip_str(&text).to_string();
                let plain: String = plain.chars().filter(|c| *c == '\n' || !c.is_control()).collect();
                let lines: Vec<&str> = plain.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
                Some(format!(
                    "its serial console ends: {} (all of it: {})",
                    lines[lines.len().saturating_sub(4)..].join(" | "),
                    path.display()
                ))
            }
            Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => Some(format!(
                "its serial console is in {0} (written by libvirt as root: sudo tail {0})",
                path.display()
            )),
            Err(_) => None,
        }
    }

    /// Run a vagrant command; a failure names the node and shows vagrant's last lines.
    fn run_checked_on(&self, spec: CommandSpec, node: &str) -> Result<Output> {
        let output = self.runner.run(&spec)?;
        if output.success() {
            return Ok(output);
        }
        Err(anyhow!("vagrant failed on {node} while trying to {} (`{spec}`): {}", spec.purpose, output.tail(6)))
    }
}

/// Call `each` with every line `path` gains until `finished` (and then the
/// rest): the output of a command still running into that file.
fn follow(path: &std::path::Path, finished: &AtomicBool, mut each: impl FnMut(&str)) {
    let mut seen = 0;
    let mut partial = String::new();
    loop {
        let done = finished.load(Ordering::SeqCst);
        if let Ok(bytes) = std::fs::read(path) {
            if bytes.len() > seen {
                partial.push_str(&String::from_utf8_lossy(&bytes[seen..]));
                seen = bytes.len();
                while let Some(end) = partial.find('\n') {
                    let line: String = partial.drain(..=end).collect();
                    each(line.trim_end());
                }
            }
        }
        if done {
            if !partial.trim().is_empty() {
                each(partial.trim_end());
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_readable_status_is_parsed() {
        let text = "1700000000,,ui,info,Current machine states:\n\
                    1700000000,manager,metadata,provider,virtualbox\n\
                    1700000000,manager,provider-name,virtualbox\n\
                    1700000000,manager,state,running\n\
                    1700000000,node1,state,poweroff\n\
                    1700000000,node2,state,not_created\n";
        let states = parse_status(text);
        assert_eq!(
            states,
            vec![
                ("manager".to_string(), "running".to_string()),
                ("node1".to_string(), "poweroff".to_string()),
                ("node2".to_string(), "not_created".to_string()),
            ]
        );
    }
}
