//! How a student logs in to their seat, in words: the `ssh` command, an ssh
//! config (the manager, and every worker through it with `ProxyJump`), and
//! the handout (`class/handout.txt.tera`) that carries the seat's key or
//! password. Pure: the caller reads the files and writes the results.

use serde::Serialize;

use super::{Credential, USER};
use crate::config::{Access, Cluster};
use crate::exec::shell_quote;
use crate::provider::listen;
use crate::templates::Templates;

/// The student's handout, a template an instructor may translate.
pub const HANDOUT_TEMPLATE: &str = "class/handout.txt.tera";

/// A port of the student's own computer that leads to a node's port while
/// they are logged in (`ssh -L LOCAL:NODE:PORT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tunnel {
    pub local: u16,
    pub node: String,
    pub port: u16,
}

/// Everything about one seat's login but its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Login {
    pub seat: u32,
    /// The seat's cluster name (`cls-s03`).
    pub cluster: String,
    pub access: Access,
    pub host: String,
    pub port: u16,
    pub user: &'static str,
    /// The manager first.
    pub nodes: Vec<String>,
    pub tunnels: Vec<Tunnel>,
}

impl Login {
    /// Seat `seat`'s login at `host`; `configured` is seat 1 (the cluster
    /// as configured), whose forwards are the ports the labs' handouts name
    /// (`localhost:49000`): each student gets those on their own computer,
    /// whatever port their seat has on the server. `None` when students do
    /// not log in.
    pub fn new(seat: &Cluster, configured: &Cluster, host: &str) -> Option<Login> {
        let (access, port) = seat.student_access()?;
        let tunnels = configured
            .forwards()
            .iter()
            .filter(|forward| forward.protocol == "tcp")
            .map(|forward| Tunnel { local: forward.host, node: forward.node.clone(), port: forward.guest })
            .collect();
        Some(Login {
            seat: seat.seat_of_class().number,
            cluster: seat.name().to_string(),
            access,
            host: host.to_string(),
            port,
            user: USER,
            nodes: seat.nodes().names().into_iter().map(String::from).collect(),
            tunnels,
        })
    }

    fn manager(&self) -> &str {
        &self.nodes[0]
    }

    /// The name `node`'s host key is kept under (ssh's `HostKeyAlias`).
    fn alias(&self, node: &str) -> String {
        format!("{}-{node}", self.cluster)
    }

    /// The `-L` value of a tunnel: a manager's port is its own localhost.
    fn forward(&self, tunnel: &Tunnel) -> String {
        let target = if tunnel.node == self.manager() { "localhost" } else { tunnel.node.as_str() };
        format!("{}:{target}:{}", tunnel.local, tunnel.port)
    }

    /// `ssh -p PORT [-i KEY] -o HostKeyAlias=cls-s03-manager -o
    /// StrictHostKeyChecking=yes [-o UserKnownHostsFile=FILE] -L
    /// 49000:localhost:9000 root@HOST`, each word quoted for a POSIX shell (a
    /// leading `~/` left for the shell to expand): the manager's host key is
    /// checked under its alias, where the handout's known_hosts lines (or
    /// the seat's `known_hosts`, FILE) put it, from the first login on.
    pub fn command(&self, identity: Option<&str>, known_hosts: Option<&str>) -> String {
        let home_path = |path: &str| match path.strip_prefix("~/") {
            Some(rest) => format!("~/{}", shell_quote(rest)),
            None => shell_quote(path),
        };
        let mut words = vec!["ssh".to_string(), "-p".into(), self.port.to_string()];
        if let Some(identity) = identity {
            words.extend(["-i".to_string(), home_path(identity)]);
        }
        words.extend(["-o".to_string(), shell_quote(&format!("HostKeyAlias={}", self.alias(self.manager())))]);
        words.extend(["-o".to_string(), "StrictHostKeyChecking=yes".to_string()]);
        if let Some(known_hosts) = known_hosts {
            words.extend(["-o".to_string(), format!("UserKnownHostsFile={}", home_path(known_hosts))]);
        }
        for tunnel in &self.tunnels {
            words.extend(["-L".to_string(), shell_quote(&self.forward(tunnel))]);
        }
        words.push(shell_quote(&format!("{}@{}", self.user, self.host)));
        words.join(" ")
    }

    /// An ssh config with one `Host` per node, named as the handout names
    /// them (`manager`, `node1`, …), each checked against its host key
    /// alias; the workers are reached through the manager. `tunnels` puts
    /// the `-L` forwards on the manager (the student's; the instructor on
    /// the server has the ports already).
    pub fn ssh_config(&self, identity: Option<&str>, known_hosts: Option<&str>, tunnels: bool) -> String {
        let mut text = String::new();
        for (index, node) in self.nodes.iter().enumerate() {
            text.push_str(&format!("Host {node}\n"));
            if index == 0 {
                text.push_str(&format!("    HostName {}\n    Port {}\n", self.host, self.port));
            } else {
                text.push_str(&format!("    HostName {node}\n    ProxyJump {}\n", self.manager()));
            }
            text.push_str(&format!("    User {}\n", self.user));
            if let Some(identity) = identity {
                text.push_str(&format!("    IdentityFile {}\n    IdentitiesOnly yes\n", config_word(identity)));
            }
            text.push_str(&format!("    HostKeyAlias {}\n", self.alias(node)));
            if let Some(known_hosts) = known_hosts {
                text.push_str(&format!("    UserKnownHostsFile {}\n", config_word(known_hosts)));
            }
            text.push_str("    StrictHostKeyChecking yes\n");
            if index == 0 && tunnels {
                for tunnel in &self.tunnels {
                    let forward = self.forward(tunnel);
                    let (local, target) = forward.split_once(':').expect("a forward has a local port");
                    text.push_str(&format!("    LocalForward {local} {target}\n"));
                }
            }
        }
        text
    }
}

/// A value in an ssh config: double-quoted when it has a space.
fn config_word(word: &str) -> String {
    if word.contains([' ', '\t']) {
        format!("\"{word}\"")
    } else {
        word.to_string()
    }
}

/// The address students reach seat `cluster`'s SSH port at, and why:
/// `--host`, else what the seat's provider says (`provider_says`: the Incus
/// server or member the seat runs on), else the one address the port listens on (`[class] ssh_bind`,
/// see `provider::listen`), else the host of the seat's engine when it is
/// another machine (`ssh://`, `tcp://`), else this machine's name.
pub fn student_host(
    flag: Option<&str>,
    provider_says: Option<(String, String)>,
    cluster: &Cluster,
    machine_name: &str,
) -> (String, String) {
    if let Some(host) = flag {
        return (host.to_string(), "--host".into());
    }
    if let Some(said) = provider_says {
        return said;
    }
    if let Ok((bind, why)) = listen::students_bind(cluster) {
        if !bind.is_unspecified() {
            return (bind.to_string(), why);
        }
    }
    if let Some(host) = cluster.engine().target.host_name() {
        return (host, format!("the host of engine {}", cluster.engine().name));
    }
    (machine_name.to_string(), "this machine's name; --host gives another".into())
}

/// What the handout hands over: the key's text or the password.
pub enum HandoutSecret<'a> {
    PrivateKey(&'a str),
    Password(&'a str),
}

impl<'a> HandoutSecret<'a> {
    /// The secret that goes with `credential` (`private_key`: the key file's text).
    pub fn of(credential: &'a Credential, private_key: &'a str) -> HandoutSecret<'a> {
        match credential {
            Credential::Key { .. } => HandoutSecret::PrivateKey(private_key),
            Credential::Password(password) => HandoutSecret::Password(password.expose()),
        }
    }
}

/// The student's handout for `login`: how to log in, their ssh config, the
/// nodes' host keys (`known_hosts`, as `up` read them) and the secret.
pub fn handout(
    templates: &Templates,
    login: &Login,
    secret: HandoutSecret,
    known_hosts: &str,
    web_link: Option<&str>,
) -> anyhow::Result<String> {
    let key_name = format!("labctl-s{:02}", login.seat);
    let identity = format!("~/.ssh/{key_name}");
    let identity = matches!(secret, HandoutSecret::PrivateKey(_)).then_some(identity.as_str());
    let mut context = tera::Context::new();
    context.insert("login", login);
    context.insert("key_name", &key_name);
    context.insert("command", &login.command(identity, None));
    context.insert("ssh_config", login.ssh_config(identity, None, true).trim_end());
    context.insert("known_hosts", known_hosts.trim_end());
    let aliases: Vec<String> = login.nodes.iter().map(|node| login.alias(node)).collect();
    context.insert("aliases", &aliases);
    let (private_key, password) = match secret {
        HandoutSecret::PrivateKey(key) => (Some(key.trim_end()), None),
        HandoutSecret::Password(password) => (None, Some(password)),
    };
    context.insert("private_key", &private_key);
    context.insert("password", &password);
    context.insert("web_link", &web_link);
    templates.render(HANDOUT_TEMPLATE, &context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_settings;

    fn class() -> crate::config::Settings {
        test_settings(
            "[cluster]\nname = \"cls\"\nworkers = 2\n\n[[forward]]\nhost = 49000\nguest = 9000\n\n[[forward]]\nnode = \"node2\"\nhost = 8080\nguest = 80\n\n[[forward]]\nhost = 5353\nguest = 53\nprotocol = \"udp\"\n\n[class]\nseats = 3\nport_step = 10\nssh_port_base = 2200\n",
        )
    }

    fn login_of_seat_3(settings: &crate::config::Settings) -> Login {
        let catalog = crate::config::test_catalog();
        let seat = Cluster::seat(settings, catalog, 3).unwrap();
        let configured = Cluster::new(settings, catalog).unwrap();
        Login::new(&seat, &configured, "lab.example.org").expect("key access by default in a class")
    }

    #[test]
    fn the_command_logs_in_on_the_seats_port_with_the_handouts_ports_on_the_students_computer() {
        let login = login_of_seat_3(&class());
        assert_eq!((login.port, login.access, login.cluster.as_str()), (2203, Access::Key, "cls-s03"));
        let pinned = "-o HostKeyAlias=cls-s03-manager -o StrictHostKeyChecking=yes";
        assert_eq!(
            login.command(Some(".labctl/access/s03/id_ed25519"), Some(".labctl/access/s03/known_hosts")),
            format!("ssh -p 2203 -i .labctl/access/s03/id_ed25519 {pinned} -o UserKnownHostsFile=.labctl/access/s03/known_hosts -L 49000:localhost:9000 -L 8080:node2:80 root@lab.example.org"),
            "seat 3's server ports are 49020 and 8100, but the handouts say 49000; UDP cannot go through ssh"
        );
        assert_eq!(
            login.command(None, None),
            format!("ssh -p 2203 {pinned} -L 49000:localhost:9000 -L 8080:node2:80 root@lab.example.org")
        );
        assert_eq!(
            login.command(Some("/home/my key"), None).split(" -o ").next(),
            Some("ssh -p 2203 -i '/home/my key'")
        );
    }

    #[test]
    fn the_ssh_config_reaches_the_workers_through_the_manager_and_checks_every_host_key() {
        let login = login_of_seat_3(&class());
        let student = login.ssh_config(Some("~/.ssh/labctl-s03"), None, true);
        assert_eq!(
            student,
            "Host manager\n    HostName lab.example.org\n    Port 2203\n    User root\n    IdentityFile ~/.ssh/labctl-s03\n    IdentitiesOnly yes\n    HostKeyAlias cls-s03-manager\n    StrictHostKeyChecking yes\n    LocalForward 49000 localhost:9000\n    LocalForward 8080 node2:80\n\
             Host node1\n    HostName node1\n    ProxyJump manager\n    User root\n    IdentityFile ~/.ssh/labctl-s03\n    IdentitiesOnly yes\n    HostKeyAlias cls-s03-node1\n    StrictHostKeyChecking yes\n\
             Host node2\n    HostName node2\n    ProxyJump manager\n    User root\n    IdentityFile ~/.ssh/labctl-s03\n    IdentitiesOnly yes\n    HostKeyAlias cls-s03-node2\n    StrictHostKeyChecking yes\n"
        );
        let instructor = login.ssh_config(None, Some("/work/class one/.labctl/access/s03/known_hosts"), false);
        assert!(!instructor.contains("LocalForward") && !instructor.contains("IdentityFile"), "{instructor}");
        assert!(
            instructor.contains(
                "    UserKnownHostsFile \"/work/class one/.labctl/access/s03/known_hosts\"\n    StrictHostKeyChecking yes\n"
            ),
            "{instructor}"
        );
    }

    #[test]
    fn students_reach_the_flags_host_the_bound_address_the_engines_host_or_this_machine() {
        let catalog = crate::config::test_catalog();
        let bound = test_settings("[class]\nseats = 2\nssh_bind = \"192.0.2.7\"\n");
        let seat = Cluster::seat(&bound, catalog, 2).unwrap();
        assert_eq!(student_host(None, None, &seat, "here").0, "192.0.2.7");
        assert_eq!(student_host(Some("lab.example.org"), None, &seat, "here").0, "lab.example.org");
        let member = Some(("10.97.0.3".to_string(), "Incus cluster member m2".to_string()));
        assert_eq!(student_host(None, member.clone(), &seat, "here"), member.clone().unwrap());
        assert_eq!(student_host(Some("lab.example.org"), member, &seat, "here").0, "lab.example.org");
        let everywhere = test_settings(
            "[class]\nseats = 3\n[[class.engines]]\ncontext = \"default\"\nseats = 1\n[[class.engines]]\nhost = \"ssh://ubuntu@10.0.0.5:22\"\nseats = 1\n[[class.engines]]\nhost = \"tcp://[2001:db8::5]:2376\"\nseats = 1\n",
        );
        let host_of =
            |number| student_host(None, None, &Cluster::seat(&everywhere, catalog, number).unwrap(), "here").0;
        assert_eq!((host_of(1), host_of(2), host_of(3)), ("here".into(), "10.0.0.5".into(), "2001:db8::5".into()));
    }

    #[test]
    fn no_login_when_students_do_not_log_in() {
        let settings = test_settings("[class]\nseats = 2\naccess = \"none\"\n");
        let catalog = crate::config::test_catalog();
        let seat = Cluster::seat(&settings, catalog, 2).unwrap();
        assert_eq!(Login::new(&seat, &Cluster::new(&settings, catalog).unwrap(), "host"), None);
    }

    #[test]
    fn the_handout_carries_the_secret_the_config_and_the_host_keys() {
        let settings = class();
        let login = login_of_seat_3(&settings);
        let templates = Templates::load(std::path::Path::new("/nonexistent")).unwrap();
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        let known = "cls-s03-manager ssh-ed25519 AAAAM\ncls-s03-node1 ssh-ed25519 AAAA1\n";
        let text =
            handout(&templates, &login, HandoutSecret::PrivateKey(key), known, Some("http://lab:8800/#0123")).unwrap();
        assert!(text.contains("\n       http://lab:8800/#0123\n"), "{text}");
        assert!(text.contains(key.trim_end()), "{text}");
        assert!(text.contains("chmod 600 ~/.ssh/labctl-s03"), "{text}");
        let command = "ssh -p 2203 -i ~/.ssh/labctl-s03 -o HostKeyAlias=cls-s03-manager -o StrictHostKeyChecking=yes -L 49000:localhost:9000";
        assert!(text.contains(command), "{text}");
        // The host keys come before the first login, which checks them.
        assert!(text.find("cls-s03-manager ssh-ed25519").unwrap() < text.find(command).unwrap(), "{text}");
        assert!(text.contains("\n    Host node1\n        HostName node1\n        ProxyJump manager\n"), "{text}");
        assert!(known.lines().all(|line| text.contains(&format!("    {line}\n"))), "{text}");
        assert!(text.contains("http://localhost:49000"), "{text}");

        let password = handout(&templates, &login, HandoutSecret::Password("s3cretPassw0rd"), known, None).unwrap();
        assert!(password.contains("s3cretPassw0rd"), "{password}");
        assert!(!password.contains("PRIVATE KEY") && !password.contains("IdentityFile"), "{password}");
    }
}
