//! The SSH server students log in through, on every node of a seat: the
//! manager's is published on the seat's host port, the workers' are reached
//! through it (`ssh -J`). What each node needs (a host key, labctl's sshd
//! configuration, the seat's credential, sshd running) is read by one probe
//! and done by one script (`node/ssh-access.sh.tera`), both given the
//! credential on stdin only. After a node restarts sshd is not running: the
//! probe sees it and `up` starts it again.

use anyhow::{anyhow, bail, Result};

use super::{Credential, SeatFiles};
use crate::config::{Access, Cluster};
use crate::exec::{CommandSpec, Runner};
use crate::parallel::in_parallel;
use crate::provider::{NodeShell, STATE_DIR};
use crate::timeouts::Wait;

/// Checks and sets up the SSH server on a node (its usage in its header).
pub const SCRIPT: &str = "node/ssh-access.sh.tera";

/// Something a node lacks for its students to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Todo {
    /// No host key yet (a new state volume).
    HostKey,
    /// labctl's sshd configuration is missing or differs.
    Config,
    /// The seat's key or password is not installed (a new container).
    Credential,
    /// sshd does not run (the node restarted).
    Start,
}

impl Todo {
    pub const ALL: [Todo; 4] = [Todo::HostKey, Todo::Config, Todo::Credential, Todo::Start];

    fn parse(word: &str) -> Option<Todo> {
        match word {
            "host-key" => Some(Todo::HostKey),
            "config" => Some(Todo::Config),
            "credential" => Some(Todo::Credential),
            "start" => Some(Todo::Start),
            _ => None,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Todo::HostKey => "host key made",
            Todo::Config => "configured",
            Todo::Credential => "credential installed",
            Todo::Start => "sshd started",
        }
    }
}

/// One node: what it lacks, and its host key when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    pub node: String,
    pub todo: Vec<Todo>,
    /// `TYPE KEY`, e.g. `ssh-ed25519 AAAA…`.
    pub host_key: Option<String>,
}

/// What giving the seat's students their way in takes.
#[derive(Debug)]
pub struct Plan {
    /// `ssh-keygen` for a seat without its key pair (key mode).
    pub key_generation: Option<CommandSpec>,
    /// The seat has no password yet (password mode): one is made.
    pub new_password: bool,
    /// Every node, in the configured order.
    pub nodes: Vec<NodePlan>,
}

/// What carrying out a [`Plan`] did.
#[derive(Debug, Default)]
pub struct Report {
    pub credential_made: bool,
    /// The nodes that lacked something, with what was done.
    pub changed: Vec<(String, Vec<Todo>)>,
    /// Nodes whose host key is not the one `known_hosts` held (their state
    /// volume was made anew): the students' saved key must be replaced.
    pub renewed_host_keys: Vec<String>,
}

/// One seat's students' access, on its nodes and in its folder here.
pub struct SeatAccess<'a> {
    pub cluster: &'a Cluster<'a>,
    pub access: Access,
    pub files: SeatFiles,
    pub shell: NodeShell<'a>,
    /// Runs `ssh-keygen` on this host.
    pub host: &'a dyn Runner,
    /// [`SCRIPT`], rendered.
    pub script: String,
}

impl SeatAccess<'_> {
    /// Read the seat's folder and ask every running node (probes only);
    /// the nodes in `not_running` (a dry run before they start) lack all.
    pub fn plan(&self, not_running: &[String]) -> Result<Plan> {
        let key_generation = match self.access {
            Access::Key => super::key_generation(&self.files, self.cluster, &self.cluster.timeouts())?,
            Access::Password | Access::None => None,
        };
        let credential = super::read_credential(&self.files, self.access)?;
        let new_password = self.access == Access::Password && credential.is_none();
        let nodes = self.cluster.nodes().names();
        let nodes = in_parallel(&nodes, |node| {
            if not_running.iter().any(|name| name == node) {
                let todo = Todo::ALL.to_vec();
                return Ok(NodePlan { node: node.to_string(), todo, host_key: None });
            }
            let output = self.shell.run_checked(&self.check_command(node, credential.as_ref()))?;
            parse_check(node, &output.stdout)
        })?;
        Ok(Plan { key_generation, new_password, nodes })
    }

    /// The commands that change something, in order (a dry run prints them).
    pub fn commands(&self, plan: &Plan) -> Result<Vec<CommandSpec>> {
        let credential = super::read_credential(&self.files, self.access)?;
        let nodes = plan.nodes.iter().filter(|node| !node.todo.is_empty());
        let apply = nodes.map(|node| self.apply_command(&node.node, credential.as_ref()));
        Ok(plan.key_generation.iter().cloned().chain(apply).collect())
    }

    /// Make the credentials if needed, set up every node that lacks
    /// something (all at once), and write the seat's `known_hosts`.
    pub fn apply(&self, plan: &Plan) -> Result<Report> {
        let mut report = Report::default();
        if let Some(generation) = &plan.key_generation {
            super::prepare_folder(&self.files)?;
            self.host.run_checked(generation)?;
            super::tighten_key_files(&self.files)?;
            report.credential_made = true;
        }
        if plan.new_password {
            super::generate_password(&self.files)?;
            report.credential_made = true;
        }
        let credential = super::read_credential(&self.files, self.access)?
            .ok_or_else(|| anyhow!("internal error: no credential in {} after making it", self.files.dir.display()))?;
        // A new credential is on no node yet: the plan has every node
        // install it (its probe was given none to look for).
        let host_keys = in_parallel(&plan.nodes, |node| {
            if node.todo.is_empty() {
                return Ok(node.host_key.clone());
            }
            let output = self.shell.run_checked(&self.apply_command(&node.node, Some(&credential)))?;
            Ok(parse_host_key(&output.stdout))
        })?;
        let changed = plan.nodes.iter().filter(|node| !node.todo.is_empty());
        report.changed = changed.map(|node| (node.node.clone(), node.todo.clone())).collect();
        let mut known = Vec::new();
        for (node, key) in plan.nodes.iter().zip(host_keys) {
            let key = key.ok_or_else(|| anyhow!("node {}: its SSH server has no host key", node.node))?;
            known.push((node.node.clone(), key));
        }
        report.renewed_host_keys = super::write_known_hosts(&self.files, self.cluster, &known)?;
        Ok(report)
    }

    fn argv(&self, action: &str, id: &str) -> Vec<String> {
        let auth = match self.access {
            Access::Password => "password",
            Access::Key | Access::None => "key",
        };
        ["sh", "-c", &self.script, "labctl-ssh-access", action, STATE_DIR, auth, id, &self.permitted_forwards()]
            .map(String::from)
            .to_vec()
    }

    /// Where a student's `ssh -L` may lead (sshd's `PermitOpen`), and no
    /// further: each node's SSH port (the ssh config reaches the workers
    /// with ProxyJump) and the seat's forwards as the roster's `-L` names
    /// them (`localhost:9000` on the manager, `node2:80`). A `-D` SOCKS
    /// proxy into the server's networks, or `-L` to anything else, is refused.
    pub fn permitted_forwards(&self) -> String {
        let manager = &self.cluster.nodes().manager().name;
        let nodes = self.cluster.nodes().names().into_iter().map(|node| format!("{node}:22"));
        let forwards = self.cluster.forwards().iter().filter(|forward| forward.protocol == "tcp").map(|forward| {
            let target = if &forward.node == manager { "localhost" } else { forward.node.as_str() };
            format!("{target}:{}", forward.guest)
        });
        let mut permitted: Vec<String> = Vec::new();
        for target in nodes.chain(forwards) {
            if !permitted.contains(&target) {
                permitted.push(target);
            }
        }
        permitted.join(" ")
    }

    /// The probe: the credential goes on stdin (key mode: the public key,
    /// to look for in authorized_keys; password mode: nothing).
    fn check_command(&self, node: &str, credential: Option<&Credential>) -> CommandSpec {
        let id = credential.map_or_else(|| "none".to_string(), Credential::id);
        let stdin = match credential {
            Some(Credential::Key { public_key }) => format!("{public_key}\n").into_bytes(),
            Some(Credential::Password(_)) | None => Vec::new(),
        };
        let argv = self.argv("check", &id);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.shell.command_with_stdin(Wait::Read, node, &argv, "read its SSH server's state", stdin).probe()
    }

    /// The setup: the public key, or `root:PASSWORD` for chpasswd, on stdin
    /// (masked wherever the command shows). Without a credential yet (a
    /// dry run) it shows what runs once there is one.
    fn apply_command(&self, node: &str, credential: Option<&Credential>) -> CommandSpec {
        let id = credential.map_or_else(|| "new".to_string(), Credential::id);
        let argv = self.argv("apply", &id);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let (stdin, secret) = match credential {
            Some(Credential::Key { public_key }) => (format!("{public_key}\n"), None),
            Some(Credential::Password(password)) => {
                (format!("{}:{}\n", super::USER, password.expose()), Some(password.expose()))
            }
            None => (String::new(), None),
        };
        let spec = self.shell.command_with_stdin(
            Wait::Change,
            node,
            &argv,
            "set up the students' SSH server",
            stdin.into_bytes(),
        );
        match secret {
            Some(secret) => spec.secret(secret),
            None => spec,
        }
    }
}

/// The probe's answer on `node`: `todo WHAT` lines, `host-key TYPE KEY`, or
/// `missing sshd` (an error: the node's image lacks the server).
fn parse_check(node: &str, stdout: &str) -> Result<NodePlan> {
    let mut plan = NodePlan { node: node.to_string(), todo: Vec::new(), host_key: parse_host_key(stdout) };
    for line in stdout.lines() {
        if line.trim() == "missing sshd" {
            bail!(
                "node {node} has no SSH server (sshd): its container runs an image without openssh-server (made by an older labctl, or [docker] node_image); remove the node's container (its volumes keep the students' work) and run labctl up again to make it from labctl's current node image"
            );
        }
        if let Some(word) = line.strip_prefix("todo ") {
            let todo = Todo::parse(word.trim())
                .ok_or_else(|| anyhow!("node {node}: unexpected answer from the SSH server check: {line:?}"))?;
            plan.todo.push(todo);
        }
    }
    Ok(plan)
}

/// `TYPE KEY` from a `host-key TYPE KEY` line.
fn parse_host_key(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|line| line.strip_prefix("host-key ")).map(|key| key.trim().to_string())
}

#[cfg(test)]
mod tests;
