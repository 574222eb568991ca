//! The system `ssh` client as labctl calls it: the argv, never a shell
//! string. The user's ~/.ssh/config and agent are used as ssh uses them
//! (`-F` only for a class's own `[ssh] config_file`); labctl adds batch
//! mode, a connect timeout, its host key policy and one multiplexed
//! connection per machine.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::ssh::{resolve_path, SshHost};
use crate::exec::{env_var, CommandSpec};

/// How long a machine's multiplexed connection stays open after its last
/// command: the next labctl command within it needs no new login.
pub const CONTROL_PERSIST: &str = "180";
/// A unix socket path has room for 107 bytes (sun_path); ssh names the
/// control socket `%C` (40 hex digits) and first binds it with a
/// 17-character temporary suffix.
const SOCKET_PATH_ROOM: usize = 107 - 1 - 40 - 17;

/// Which host keys ssh accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeys {
    /// Only keys already in known_hosts: `StrictHostKeyChecking=yes`.
    Known,
    /// Also a machine seen for the first time (`--accept-new-host-keys`):
    /// `StrictHostKeyChecking=accept-new`. A changed key is still refused.
    AcceptNew,
}

/// What every ssh command of a cluster is given.
#[derive(Debug, Clone)]
pub struct Client {
    config_file: Option<PathBuf>,
    known_hosts_file: Option<PathBuf>,
    /// Where the control sockets are; `None`: no multiplexing.
    control_dir: Option<PathBuf>,
    connect_timeout: Duration,
    host_keys: HostKeys,
    workspace: PathBuf,
    home: Option<PathBuf>,
}

impl Client {
    pub fn new(
        config_file: Option<&str>,
        known_hosts_file: Option<&str>,
        workspace: &Path,
        connect_timeout: Duration,
        host_keys: HostKeys,
    ) -> Client {
        let home = env_var("HOME").map(PathBuf::from);
        let resolve = |path: &str| resolve_path(path, workspace, home.as_deref());
        Client {
            config_file: config_file.map(resolve),
            known_hosts_file: known_hosts_file.map(resolve),
            control_dir: None,
            connect_timeout,
            host_keys,
            workspace: workspace.to_path_buf(),
            home,
        }
    }

    /// Multiplex through sockets in `dir` (see [`control_dir`]).
    pub fn multiplexed(mut self, dir: Option<PathBuf>) -> Client {
        self.control_dir = dir;
        self
    }

    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    /// Where ssh finds `host`'s identity_file, if it has one.
    pub fn identity_file(&self, host: &SshHost) -> Option<PathBuf> {
        host.identity_file.as_deref().map(|file| resolve_path(file, &self.workspace, self.home.as_deref()))
    }

    pub fn known_hosts_file(&self) -> Option<&Path> {
        self.known_hosts_file.as_deref()
    }

    /// The options every command to `host` starts with.
    fn options(&self, host: &SshHost) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(file) = &self.config_file {
            args.extend(["-F".to_string(), file.display().to_string()]);
        }
        let policy = match self.host_keys {
            HostKeys::Known => "yes",
            HostKeys::AcceptNew => "accept-new",
        };
        let seconds = self.connect_timeout.as_secs().max(1);
        let mut options = vec![
            "BatchMode=yes".to_string(),
            format!("ConnectTimeout={seconds}"),
            format!("StrictHostKeyChecking={policy}"),
        ];
        if let Some(file) = &self.known_hosts_file {
            options.push(format!("UserKnownHostsFile={}", file.display()));
        }
        if let Some(dir) = &self.control_dir {
            options.push("ControlMaster=auto".into());
            options.push(format!("ControlPath={}/%C", dir.display()));
            options.push(format!("ControlPersist={CONTROL_PERSIST}"));
            // A kept connection to a machine that went away (rebooted, off)
            // ends within a few missed keepalives instead of holding every
            // later command until its time limit.
            options.push(format!("ServerAliveInterval={}", (seconds / 3).max(1)));
            options.push("ServerAliveCountMax=3".into());
        }
        if host.identity_file.is_some() {
            // Only that key: an agent with many keys would otherwise use up
            // the server's MaxAuthTries before offering it.
            options.push("IdentitiesOnly=yes".into());
        }
        for option in options {
            args.extend(["-o".to_string(), option]);
        }
        if let Some(port) = host.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        if let Some(user) = &host.user {
            args.extend(["-l".to_string(), user.clone()]);
        }
        if let Some(path) = self.identity_file(host) {
            args.extend(["-i".to_string(), path.display().to_string()]);
        }
        args
    }

    /// `ssh OPTIONS -T|-t -- ADDRESS REMOTE`: `remote` is one command line,
    /// already quoted for the machine's shell (exec::shell_line).
    pub fn command(&self, host: &SshHost, remote: &str, terminal: bool, purpose: &str) -> CommandSpec {
        CommandSpec::new("ssh", &[], purpose).args(self.options(host)).arg(if terminal { "-t" } else { "-T" }).args([
            "--",
            &host.address,
            remote,
        ])
    }

    /// `ssh -O exit`: close the machine's multiplexed connection, if any.
    pub fn close_command(&self, host: &SshHost) -> Option<CommandSpec> {
        self.control_dir.as_ref()?;
        let purpose = format!("close the ssh connection to {}", host.address);
        Some(CommandSpec::new("ssh", &[], &purpose).args(self.options(host)).args(["-O", "exit", "--", &host.address]))
    }
}

/// The folder for the control sockets: `$XDG_RUNTIME_DIR/labctl/ssh`, else
/// the workspace's `.labctl/ssh`, else (a path too long for a socket)
/// `/tmp/labctl-ssh-<uid>`; each made private (0700) and refused when
/// another user owns it or others may enter it. `None`: no multiplexing.
pub fn control_dir(workspace: &Path) -> Option<PathBuf> {
    let uid = rustix::process::geteuid().as_raw();
    let candidates = [
        env_var("XDG_RUNTIME_DIR").map(|runtime| PathBuf::from(runtime).join("labctl/ssh")),
        Some(workspace.join(".labctl/ssh")),
        Some(PathBuf::from(format!("/tmp/labctl-ssh-{uid}"))),
    ];
    candidates
        .into_iter()
        .flatten()
        .filter(|dir| dir.is_absolute() && dir.as_os_str().len() <= SOCKET_PATH_ROOM)
        .find(|dir| private_dir(dir, uid))
}

/// Make `dir` (0700) unless it exists; whether it is a real folder of this
/// user's that no one else may enter.
fn private_dir(dir: &Path, uid: u32) -> bool {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).ok();
    match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta.is_dir() && meta.uid() == uid && meta.permissions().mode() & 0o077 == 0,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ssh::{build_host, RawSshHost};

    fn host(port: Option<u16>, user: Option<&str>, identity_file: Option<&str>) -> SshHost {
        build_host(&RawSshHost {
            node: "node1".into(),
            address: "10.0.0.5".into(),
            port,
            user: user.map(String::from),
            identity_file: identity_file.map(String::from),
            ..RawSshHost::default()
        })
        .unwrap()
    }

    #[test]
    fn a_plain_host_gets_batch_mode_a_timeout_and_strict_host_keys_only() {
        let client = Client::new(None, None, Path::new("/class"), Duration::from_secs(15), HostKeys::Known);
        let spec = client.command(&host(None, None, None), "sudo -n -- docker info", false, "ask");
        assert_eq!(
            spec.to_string(),
            "ssh -o BatchMode=yes -o ConnectTimeout=15 -o StrictHostKeyChecking=yes -T -- 10.0.0.5 'sudo -n -- docker info'"
        );
        assert_eq!(client.close_command(&host(None, None, None)), None, "nothing to close without multiplexing");
    }

    #[test]
    fn class_files_users_ports_keys_and_multiplexing_are_passed_as_options() {
        let client = Client::new(
            Some("ssh/config"),
            Some("ssh/known_hosts"),
            Path::new("/class"),
            Duration::from_secs(15),
            HostKeys::AcceptNew,
        )
        .multiplexed(Some(PathBuf::from("/run/user/1000/labctl/ssh")));
        let host = host(Some(2222), Some("ubuntu"), Some("keys/seat1"));
        let args = client.command(&host, "true", true, "open a shell").args;
        assert_eq!(
            args,
            [
                "-F",
                "/class/ssh/config",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=15",
                "-o",
                "StrictHostKeyChecking=accept-new",
                "-o",
                "UserKnownHostsFile=/class/ssh/known_hosts",
                "-o",
                "ControlMaster=auto",
                "-o",
                "ControlPath=/run/user/1000/labctl/ssh/%C",
                "-o",
                "ControlPersist=180",
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=3",
                "-o",
                "IdentitiesOnly=yes",
                "-p",
                "2222",
                "-l",
                "ubuntu",
                "-i",
                "/class/keys/seat1",
                "-t",
                "--",
                "10.0.0.5",
                "true",
            ]
        );
        let close = client.close_command(&host).unwrap().to_string();
        assert!(close.ends_with("-i /class/keys/seat1 -O exit -- 10.0.0.5"), "{close}");
    }

    #[test]
    fn the_control_folder_is_private_and_short_enough_for_a_socket() {
        let workspace = tempfile::tempdir().unwrap();
        let dir = control_dir(workspace.path()).expect("some folder works");
        assert!(dir.as_os_str().len() <= SOCKET_PATH_ROOM);
        let meta = std::fs::metadata(&dir).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o700);

        // Others may enter: not used.
        let open = workspace.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(!private_dir(&open, rustix::process::geteuid().as_raw()));
    }
}
