//! Students reach their seat over SSH. This module keeps each seat's
//! credentials on this host, readable only by the instructor:
//! `.labctl/access/<seat>/` (0700; every file 0600) holds
//! - `id_ed25519` and `id_ed25519.pub` (`[class] access = "key"`): a key
//!   pair made by this host's `ssh-keygen`, which writes the private key
//!   itself, so it passes through no command line and not even through
//!   labctl until `class roster` copies it into the handout;
//! - `password` (`access = "password"`): 16 random characters from the
//!   kernel's generator;
//! - `known_hosts`: every node's host key under its alias (`cls-s03-node1`),
//!   as `up` read it from the node itself, so that nobody has to trust a key
//!   on first use;
//! - what `class roster` writes: `README.txt` (the student's handout, with
//!   the key or password) and `ssh_config` (the instructor's way in).
//!
//! [`nodes`] runs the SSH server on every node; [`roster`] words the logins.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::{Access, Cluster};
use crate::exec::CommandSpec;
use crate::files;
use crate::timeouts::{Timeouts, Wait};

pub mod links;
pub mod nodes;
pub mod roster;

/// Where the seats' credentials live, under the workspace.
pub const ACCESS_DIR: &str = ".labctl/access";

/// The user students log in as: the handouts are written for root.
pub const USER: &str = "root";

/// One seat's folder of credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatFiles {
    pub dir: PathBuf,
}

impl SeatFiles {
    /// `<access root>/s03` for seat 3 of `cluster`'s class.
    pub fn new(access_root: &Path, cluster: &Cluster) -> SeatFiles {
        SeatFiles { dir: access_root.join(cluster.seat_of_class().label()) }
    }

    pub fn private_key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }

    pub fn public_key(&self) -> PathBuf {
        self.dir.join("id_ed25519.pub")
    }

    pub fn password(&self) -> PathBuf {
        self.dir.join("password")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    pub fn handout(&self) -> PathBuf {
        self.dir.join("README.txt")
    }

    /// The seat's folder, made (or tightened) to 0700, with its parent.
    pub(crate) fn create(&self) -> Result<()> {
        if let Some(root) = self.dir.parent() {
            files::create_private_dir(root)?;
        }
        files::create_private_dir(&self.dir)
    }
}

/// A value never to show: `Debug` prints a mask.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Secret(****)")
    }
}

/// What a seat's nodes are given so that its student gets in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The seat's public key line (`ssh-ed25519 AAAA… labctl@cls-s03`).
    Key {
        public_key: String,
    },
    Password(Secret),
}

impl Credential {
    /// Names the credential without giving it away, for the record each
    /// node keeps of what it was given: the first 16 hex digits of a hash
    /// (of a 93-bit random password, so nothing to guess it back from).
    pub fn id(&self) -> String {
        let text = match self {
            Credential::Key { public_key } => format!("key:{public_key}"),
            Credential::Password(password) => format!("password:{}", password.expose()),
        };
        files::sha256_hex(text.as_bytes())[..16].to_string()
    }
}

/// The comment of a seat's key, by which the nodes tell labctl's keys from a
/// student's own (`labctl@cls-s03`).
pub fn key_comment(cluster: &Cluster) -> String {
    format!("labctl@{}", cluster.name())
}

/// The `ssh-keygen` that makes the seat's key pair, when it has none yet
/// (none in password mode); an error when only half a pair is there.
pub fn key_generation(seat: &SeatFiles, cluster: &Cluster, timeouts: &Timeouts) -> Result<Option<CommandSpec>> {
    let (private, public) = (seat.private_key(), seat.public_key());
    match (private.exists(), public.exists()) {
        (true, true) => return Ok(None),
        (false, false) => {}
        (true, false) => bail!(
            "{} has no {}: make it again with `ssh-keygen -y -f {} > {}`, or remove the key to get a new pair (the seat's handout changes)",
            private.display(),
            public.display(),
            private.display(),
            public.display()
        ),
        (false, true) => bail!(
            "{} is there without its private key {}: remove it and run labctl up again for a new pair",
            public.display(),
            private.display()
        ),
    }
    // No passphrase: the key is the seat's, handed to its student. `-N ''`
    // is the only secret-looking word, and it is empty.
    let comment = key_comment(cluster);
    let path = private.to_string_lossy().into_owned();
    let spec = CommandSpec::new("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", &comment, "-f", &path], "")
        .timeout(timeouts.limit(Wait::Change));
    Ok(Some(CommandSpec { purpose: format!("make {}'s key pair", cluster.seat_of_class()), ..spec }))
}

/// Prepare the seat's folder for `ssh-keygen` (run by the caller) or write
/// its new password; what it holds afterwards is [`read_credential`]'s.
pub fn prepare_folder(seat: &SeatFiles) -> Result<()> {
    seat.create()
}

/// Make and store a new password for the seat (password mode, none yet).
pub fn generate_password(seat: &SeatFiles) -> Result<()> {
    seat.create()?;
    let password = random_password()?;
    files::write_private(&seat.password(), format!("{}\n", password.expose()).as_bytes())
}

/// After `ssh-keygen`: both files 0600 (it makes the public one 0644).
pub fn tighten_key_files(seat: &SeatFiles) -> Result<()> {
    files::make_private(&seat.private_key())?;
    files::make_private(&seat.public_key())
}

/// The seat's credential as stored, `None` when there is none yet.
pub fn read_credential(seat: &SeatFiles, access: Access) -> Result<Option<Credential>> {
    let read = |path: PathBuf| -> Result<Option<String>> {
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
        }
    };
    match access {
        Access::None => Ok(None),
        Access::Key => match read(seat.public_key())? {
            None => Ok(None),
            Some(line) if line.starts_with("ssh-ed25519 ") && !line.contains('\n') => {
                Ok(Some(Credential::Key { public_key: line }))
            }
            Some(_) => bail!(
                "{} is not an ed25519 public key line; remove the seat's key pair and run labctl up again for a new one",
                seat.public_key().display()
            ),
        },
        Access::Password => match read(seat.password())? {
            None => Ok(None),
            Some(password) if password.len() >= 8 && !password.contains(['\n', ':']) => {
                Ok(Some(Credential::Password(Secret(password))))
            }
            Some(_) => bail!(
                "{} holds no usable password (one line of at least 8 characters, no ':'); remove it and run labctl up again for a new one",
                seat.password().display()
            ),
        },
    }
}

/// Characters that cannot be mistaken for each other when read off paper
/// (no 0/O, 1/l/I).
const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const PASSWORD_LENGTH: usize = 16;

/// 16 characters from the kernel's random generator (`getrandom`): about
/// 93 bits. Bytes past the largest multiple of the alphabet's size are
/// skipped, so that every character is equally likely.
fn random_password() -> Result<Secret> {
    let size = PASSWORD_ALPHABET.len();
    let limit = 256 - 256 % size;
    let mut password = String::with_capacity(PASSWORD_LENGTH);
    while password.len() < PASSWORD_LENGTH {
        let mut bytes = [0u8; 64];
        let filled = rustix::rand::getrandom(&mut bytes[..], rustix::rand::GetRandomFlags::empty())
            .context("cannot read the kernel's random generator (getrandom)")?;
        for &byte in &bytes[..filled] {
            if usize::from(byte) < limit && password.len() < PASSWORD_LENGTH {
                password.push(char::from(PASSWORD_ALPHABET[usize::from(byte) % size]));
            }
        }
    }
    Ok(Secret(password))
}

/// The name a node's host key is known by, whatever address and port reach
/// it (ssh's `HostKeyAlias`): `cls-s03-node1`.
pub fn host_key_alias(cluster: &Cluster, node: &str) -> String {
    format!("{}-{node}", cluster.name())
}

/// `known_hosts` lines for `host_keys` (node, `TYPE KEY`), in node order.
pub fn known_hosts_text(cluster: &Cluster, host_keys: &[(String, String)]) -> String {
    host_keys.iter().map(|(node, key)| format!("{} {key}\n", host_key_alias(cluster, node))).collect()
}

/// The host keys (alias → `TYPE KEY`) a `known_hosts` file holds.
fn parse_known_hosts(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let alias = words.next()?;
            let (kind, key) = (words.next()?, words.next()?);
            Some((alias.to_string(), format!("{kind} {key}")))
        })
        .collect()
}

/// Write the seat's `known_hosts`; returns the nodes whose host key is not
/// the one it held before (a node whose state volume was made anew), so
/// that a changed key is never taken silently.
pub fn write_known_hosts(seat: &SeatFiles, cluster: &Cluster, host_keys: &[(String, String)]) -> Result<Vec<String>> {
    let path = seat.known_hosts();
    let before = std::fs::read_to_string(&path).unwrap_or_default();
    let old = parse_known_hosts(&before);
    let changed = host_keys
        .iter()
        .filter(|(node, key)| {
            let alias = host_key_alias(cluster, node);
            old.iter().any(|(known, old_key)| *known == alias && old_key != key)
        })
        .map(|(node, _)| node.clone())
        .collect();
    let text = known_hosts_text(cluster, host_keys);
    if text != before {
        seat.create()?;
        files::write_private(&path, text.as_bytes())?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_settings;

    #[test]
    fn passwords_are_sixteen_unambiguous_characters_and_differ() {
        let first = random_password().unwrap();
        let second = random_password().unwrap();
        assert_eq!(first.expose().len(), 16);
        assert!(first.expose().bytes().all(|byte| PASSWORD_ALPHABET.contains(&byte)), "{}", first.expose());
        assert_ne!(first, second);
        assert_eq!(format!("{first:?}"), "Secret(****)", "Debug never shows it");
        // Every character of the alphabet turns up: nothing is cut off.
        let many: String = (0..60).map(|_| random_password().unwrap().expose().to_string()).collect();
        assert!(PASSWORD_ALPHABET.iter().all(|byte| many.as_bytes().contains(byte)));
    }

    #[test]
    fn a_password_is_stored_for_its_owner_alone_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let settings = test_settings("[class]\nseats = 3\naccess = \"password\"\n");
        let seat = Cluster::seat(&settings, crate::config::test_catalog(), 3).unwrap();
        let files = SeatFiles::new(&dir.path().join(ACCESS_DIR), &seat);
        assert_eq!(files.dir, dir.path().join(".labctl/access/s03"));
        assert_eq!(read_credential(&files, Access::Password).unwrap(), None);
        generate_password(&files).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.dir), 0o700);
        assert_eq!(mode(&dir.path().join(ACCESS_DIR)), 0o700);
        assert_eq!(mode(&files.password()), 0o600);
        let Some(Credential::Password(password)) = read_credential(&files, Access::Password).unwrap() else {
            panic!("no password read back")
        };
        assert_eq!(std::fs::read_to_string(files.password()).unwrap(), format!("{}\n", password.expose()));
        let id = Credential::Password(password.clone()).id();
        assert_eq!(id.len(), 16);
        assert!(!id.contains(password.expose()));
    }

    #[test]
    fn a_key_pair_is_made_once_by_ssh_keygen_with_the_seats_comment() {
        let dir = tempfile::tempdir().unwrap();
        let settings = test_settings("[cluster]\nname = \"cls\"\n[class]\nseats = 2\n");
        let seat = Cluster::seat(&settings, crate::config::test_catalog(), 2).unwrap();
        let files = SeatFiles::new(dir.path(), &seat);
        let spec = key_generation(&files, &seat, &Timeouts::default()).unwrap().expect("no key yet");
        let path = files.private_key().display().to_string();
        assert_eq!(spec.to_string(), format!("ssh-keygen -q -t ed25519 -N '' -C labctl@cls-s02 -f {path}"));
        assert_eq!(spec.purpose, "make seat 2's key pair");

        std::fs::create_dir_all(&files.dir).unwrap();
        std::fs::write(files.private_key(), "private").unwrap();
        let half = key_generation(&files, &seat, &Timeouts::default()).unwrap_err().to_string();
        assert!(half.contains("ssh-keygen -y -f"), "{half}");
        std::fs::write(files.public_key(), "ssh-ed25519 AAAAC3 labctl@cls-s02\n").unwrap();
        assert_eq!(key_generation(&files, &seat, &Timeouts::default()).unwrap(), None);
        let credential = read_credential(&files, Access::Key).unwrap();
        assert_eq!(credential, Some(Credential::Key { public_key: "ssh-ed25519 AAAAC3 labctl@cls-s02".into() }));
        std::fs::write(files.public_key(), "ssh-rsa AAAA\n").unwrap();
        assert!(read_credential(&files, Access::Key).unwrap_err().to_string().contains("not an ed25519 public key"));
    }

    #[test]
    fn known_hosts_name_each_node_by_its_alias_and_a_changed_key_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let settings = test_settings("[cluster]\nname = \"cls\"\nworkers = 1\n[class]\nseats = 2\n");
        let seat = Cluster::seat(&settings, crate::config::test_catalog(), 1).unwrap();
        let files = SeatFiles::new(dir.path(), &seat);
        let keys =
            vec![("manager".to_string(), "ssh-ed25519 AAAA1".to_string()), ("node1".into(), "ssh-ed25519 BBBB".into())];
        assert_eq!(write_known_hosts(&files, &seat, &keys).unwrap(), Vec::<String>::new());
        assert_eq!(
            std::fs::read_to_string(files.known_hosts()).unwrap(),
            "cls-s01-manager ssh-ed25519 AAAA1\ncls-s01-node1 ssh-ed25519 BBBB\n"
        );
        let renewed = vec![keys[0].clone(), ("node1".to_string(), "ssh-ed25519 CCCC".to_string())];
        assert_eq!(write_known_hosts(&files, &seat, &renewed).unwrap(), vec!["node1".to_string()]);
        assert!(std::fs::read_to_string(files.known_hosts()).unwrap().contains("cls-s01-node1 ssh-ed25519 CCCC\n"));
    }
}
