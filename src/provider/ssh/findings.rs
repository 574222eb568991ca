//! What a machine answered to labctl's first look (node/ssh-probe.sh), and
//! why one cannot be used, in words that say what to do: ssh's own
//! failures (no answer, a changed or unknown host key, a refused login) and
//! a user without passwordless sudo.

use std::path::Path;

use anyhow::Result;

use crate::config::ssh::SshHost;
use crate::exec::{shell_quote, Output, TimedOut};

/// Docker on a machine, as the probe found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Docker {
    /// It answers: its server version.
    Running(String),
    /// Installed, not answering.
    Stopped,
    Missing,
}

/// What the probe learnt of a machine that can be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The login user, as the machine knows it.
    pub user: String,
    /// `ID ID_LIKE` of /etc/os-release.
    pub os: String,
    pub docker: Docker,
    /// The stamp of the last provisioning labctl did there (empty: none).
    pub provisioned: String,
}

impl Probe {
    /// Whether provisioning can install Docker there (the families
    /// provision/20-docker.sh knows).
    pub fn can_install_docker(&self) -> bool {
        ["debian", "ubuntu", "rhel", "fedora", "centos"].iter().any(|family| self.os.split(' ').any(|id| id == *family))
    }
}

/// Why a machine cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// No connection: timed out, refused, no route, unknown name.
    Silent(String),
    /// The machine shows another host key than the one known for `name`
    /// (as ssh names it in known_hosts; empty when ssh did not say).
    HostKeyChanged {
        name: String,
    },
    /// No key is known for it yet, and first-seen keys are not accepted.
    HostKeyUnknown,
    LoginRefused(String),
    NoSudo {
        user: String,
        why: String,
    },
    /// Anything else ssh or the probe said.
    Failed(String),
}

impl Finding {
    /// One or two words for `status`'s machine column.
    pub fn state(&self) -> &'static str {
        match self {
            Finding::Silent(_) => "unreachable",
            Finding::HostKeyChanged { .. } => "host key changed",
            Finding::HostKeyUnknown => "host key unknown",
            Finding::LoginRefused(_) => "login refused",
            Finding::NoSudo { .. } => "no sudo",
            Finding::Failed(_) => "error",
        }
    }

    /// The full sentence: which machine, what is wrong, what to do.
    pub fn explain(&self, node: &str, host: &SshHost, known_hosts_file: Option<&Path>) -> String {
        let machine = format!("host {node} ({})", host.describe());
        let known_hosts = known_hosts_file.map(|file| file.display().to_string());
        match self {
            Finding::Silent(why) => format!(
                "{machine} does not answer: {why}; check that it is on and that this host reaches it on port {}",
                host.port.unwrap_or(22)
            ),
            Finding::HostKeyChanged { name } => {
                let name = if name.is_empty() { host.known_hosts_name() } else { name.clone() };
                let file = known_hosts.map(|file| format!(" -f {}", shell_quote(&file))).unwrap_or_default();
                format!(
                    "{machine} shows another host key than the one known for {name}, so labctl does not log in (another machine at that address, or someone in between); if the machine was reinstalled, check its new key, remove the old one with `ssh-keygen -R {}{file}`, then run `labctl up --accept-new-host-keys`",
                    shell_quote(&name)
                )
            }
            Finding::HostKeyUnknown => format!(
                "{machine}: its host key is not known yet (not in {}); check its fingerprint (`ssh-keyscan -p {} {} | ssh-keygen -lf -`), then run `labctl up --accept-new-host-keys` once to record it",
                known_hosts.unwrap_or_else(|| "~/.ssh/known_hosts".to_string()),
                host.port.unwrap_or(22),
                shell_quote(&host.address)
            ),
            Finding::LoginRefused(why) => format!(
                "{machine} refused the login: {why}; check user and identity_file in [[ssh.hosts]] and the machine's ~/.ssh/authorized_keys (labctl logs in without prompts: a key, from the agent or identity_file)"
            ),
            Finding::NoSudo { user, why } => format!(
                "user {user} on host {node} ({}) cannot run sudo without a password: {why}; add `{user} ALL=(ALL) NOPASSWD:ALL` to /etc/sudoers.d/labctl there (`sudo visudo -f /etc/sudoers.d/labctl`), or log in as a user who has it",
                host.address
            ),
            Finding::Failed(why) => format!("{machine}: {why}"),
        }
    }
}

/// The probe's outcome: what it printed, or why it could not run.
pub fn read_probe(result: Result<Output>) -> Result<Probe, Finding> {
    let output = match result {
        Ok(output) => output,
        Err(error) => {
            return Err(match error.downcast_ref::<TimedOut>() {
                Some(timed_out) => {
                    Finding::Silent(format!("no answer within {}", crate::ui::format_elapsed(timed_out.limit)))
                }
                None => Finding::Failed(format!("{error:#}")),
            })
        }
    };
    // 255: ssh's own failure (the remote command's status otherwise).
    if output.code == Some(255) || !output.success() {
        return Err(ssh_failure(&output));
    }
    let value = |key: &str| {
        output.stdout.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix('=')).map(|value| value.trim())
    };
    let user = value("user").unwrap_or("?").to_string();
    match value("sudo") {
        Some("yes") => {}
        Some(_) => {
            let why = value("sudo_error").filter(|why| !why.is_empty()).unwrap_or("sudo refused");
            return Err(Finding::NoSudo { user, why: why.to_string() });
        }
        None => return Err(Finding::Failed(format!("unexpected answer to labctl's probe: {}", output.tail(3)))),
    }
    let docker = match value("docker") {
        Some("missing") => Docker::Missing,
        Some("stopped") | None => Docker::Stopped,
        Some(version) => Docker::Running(version.to_string()),
    };
    Ok(Probe {
        user,
        os: value("os").unwrap_or_default().to_string(),
        docker,
        provisioned: value("provisioned").unwrap_or_default().to_string(),
    })
}

/// Why ssh (or the probe) failed, from its last words.
pub fn ssh_failure(output: &Output) -> Finding {
    let text = output.stderr.replace('\r', "");
    if let Some(name) = text.lines().find_map(|line| {
        line.strip_prefix("Host key for ").and_then(|rest| rest.split_once(" has changed")).map(|(name, _)| name)
    }) {
        return Finding::HostKeyChanged { name: name.to_string() };
    }
    if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        return Finding::HostKeyChanged { name: String::new() };
    }
    if text.contains("Host key verification failed") || text.contains("host key is known for") {
        return Finding::HostKeyUnknown;
    }
    let last = output.tail(1);
    if text.contains("Permission denied") || text.contains("Too many authentication failures") {
        return Finding::LoginRefused(last);
    }
    let silent = [
        "Connection timed out",
        "timed out",
        "Connection refused",
        "No route to host",
        "Could not resolve hostname",
        "Network is unreachable",
        "Connection closed by",
        "Connection reset by",
    ];
    if silent.iter().any(|words| text.contains(words)) {
        return Finding::Silent(last);
    }
    Finding::Failed(if last.is_empty() { format!("ssh failed with {:?}", output.code) } else { last })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ssh::{build_host, RawSshHost};

    fn failed(code: i32, stderr: &str) -> Output {
        Output { code: Some(code), stdout: String::new(), stderr: stderr.into() }
    }

    fn host(port: Option<u16>) -> SshHost {
        let raw = RawSshHost {
            node: "node1".into(),
            address: "10.0.0.5".into(),
            user: Some("ubuntu".into()),
            port,
            ..RawSshHost::default()
        };
        build_host(&raw).unwrap()
    }

    const CHANGED: &str = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\nOffending ED25519 key in /class/known_hosts:2\r\nHost key for [10.0.0.5]:2222 has changed and you have requested strict checking.\r\nHost key verification failed.\r\n";

    #[test]
    fn a_changed_host_key_is_refused_with_the_line_that_removes_the_old_one() {
        let finding = ssh_failure(&failed(255, CHANGED));
        assert_eq!(finding, Finding::HostKeyChanged { name: "[10.0.0.5]:2222".into() });
        let text = finding.explain("node1", &host(Some(2222)), Some(Path::new("/class/known_hosts")));
        assert!(
            text.contains("remove the old one with `ssh-keygen -R '[10.0.0.5]:2222' -f /class/known_hosts`"),
            "{text}"
        );
        assert!(text.starts_with("host node1 (ubuntu@10.0.0.5:2222) shows another host key"), "{text}");
        let default_file = finding.explain("node1", &host(Some(2222)), None);
        assert!(default_file.contains("`ssh-keygen -R '[10.0.0.5]:2222'`"), "{default_file}");
    }

    #[test]
    fn ssh_failures_are_told_apart() {
        let unknown = "No ED25519 host key is known for 10.0.0.5 and you have requested strict checking.\r\nHost key verification failed.\r\n";
        assert_eq!(ssh_failure(&failed(255, unknown)), Finding::HostKeyUnknown);
        let refused = failed(255, "ubuntu@10.0.0.5: Permission denied (publickey).\r\n");
        assert_eq!(
            ssh_failure(&refused),
            Finding::LoginRefused("ubuntu@10.0.0.5: Permission denied (publickey).".into())
        );
        let silent = failed(255, "ssh: connect to host 10.0.0.5 port 22: Connection timed out\r\n");
        assert_eq!(ssh_failure(&silent).state(), "unreachable");
        let text = ssh_failure(&silent).explain("node1", &host(None), None);
        assert_eq!(
            text,
            "host node1 (ubuntu@10.0.0.5) does not answer: ssh: connect to host 10.0.0.5 port 22: Connection timed out; check that it is on and that this host reaches it on port 22"
        );
    }

    #[test]
    fn the_probe_tells_docker_and_the_last_provisioning() {
        let output = Output {
            code: Some(0),
            stdout: "user=ubuntu\nsudo=yes\nos=ubuntu debian\ndocker=24.0.7\nprovisioned=ab12\n".into(),
            stderr: String::new(),
        };
        let probe = read_probe(Ok(output)).unwrap();
        assert_eq!(probe.docker, Docker::Running("24.0.7".into()));
        assert_eq!((probe.user.as_str(), probe.provisioned.as_str()), ("ubuntu", "ab12"));
        assert!(probe.can_install_docker());
    }

    #[test]
    fn a_user_without_passwordless_sudo_is_the_exact_finding() {
        let output = Output {
            code: Some(0),
            stdout: "user=student\nsudo=no\nsudo_error=sudo: a password is required\n".into(),
            stderr: String::new(),
        };
        let finding = read_probe(Ok(output)).unwrap_err();
        assert_eq!(
            finding.explain("manager", &host(None), None),
            "user student on host manager (10.0.0.5) cannot run sudo without a password: sudo: a password is required; add `student ALL=(ALL) NOPASSWD:ALL` to /etc/sudoers.d/labctl there (`sudo visudo -f /etc/sudoers.d/labctl`), or log in as a user who has it"
        );
    }
}
