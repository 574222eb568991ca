//! `labctl reset`: put one lab back to its starting state without touching
//! other labs or the cluster. Right after planning, every file a student
//! changed or added is copied back to the host into a folder of its own,
//! and the reset goes on only when each of them is in it: nothing a student
//! wrote is ever lost. Then the swarm side (stacks, services, networks) is
//! removed, the pristine files are restored, and the networks and setup
//! commands run again, in the order seeding uses.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context, Result};

use super::seed::manifest_of;
use crate::files::{tar_archive, ArchiveEntry};
use crate::labs::manifest::StackSpec;
use crate::labs::Lab;
use crate::provider::{NodeShell, STATE_DIR};
use crate::templates::Templates;
use crate::timeouts::Wait;

/// How long removed stacks may take to disappear (stack removal is
/// asynchronous); waits are scaled by `LABCTL_TIMEOUT_SCALE`.
const GONE_DEADLINE: Duration = Duration::from_secs(90);
/// How long a lab's network may stay in use by tasks that are shutting down.
const NETWORK_DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(500);

/// The node scripts a reset runs (templates/node/, each says its arguments).
const LIST_FILES_SCRIPT: &str = "node/list-lab-files.sh.tera";
const LEFTOVERS_SCRIPT: &str = "node/stack-leftovers.sh.tera";
const NETWORKS_SCRIPT: &str = "node/service-networks.sh.tera";
const SETUP_SCRIPT: &str = "node/lab-setup.sh.tera";
const EXTRACT_SCRIPT: &str = "node/extract-into.sh.tera";
const REMOVE_SCRIPT: &str = "node/remove-files.sh.tera";
const RECORD_SCRIPT: &str = "node/write-stdin.sh.tera";

/// What a reset will do, read from the cluster before anything changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub lab: String,
    pub target: String,
    /// Deployed stacks of the lab.
    pub stacks: Vec<String>,
    /// Standalone services of the lab that exist.
    pub services: Vec<String>,
    /// The lab's networks that exist (removed, then created again).
    pub networks: Vec<String>,
    /// `None` with `--keep-files`.
    pub files: Option<FilePlan>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePlan {
    /// Seeded files whose content differs from the pristine copy.
    pub changed: Vec<String>,
    /// Files in the lab directory that the lab does not have.
    pub added: Vec<String>,
    /// Seeded files that are gone.
    pub missing: Vec<String>,
}

impl FilePlan {
    pub fn to_back_up(&self) -> Vec<String> {
        self.changed.iter().chain(&self.added).cloned().collect()
    }
}

/// What a reset did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Done {
    pub networks_kept: Vec<(String, String)>,
    pub backup: Option<PathBuf>,
}

pub struct Reset<'a> {
    pub lab: &'a Lab,
    pub target: String,
    pub manager: &'a str,
    pub shell: NodeShell<'a>,
    pub templates: &'a Templates,
    /// `<workspace>/.labctl/backups`.
    pub backups: PathBuf,
}

impl Reset<'_> {
    fn read(&self, argv: &[&str], purpose: &str) -> Result<String> {
        let spec = self.shell.probe(self.manager, argv, purpose);
        Ok(self.shell.run_checked(&spec)?.stdout)
    }

    fn change(&self, argv: &[&str], purpose: &str) -> Result<()> {
        self.shell.run_checked(&self.shell.command(self.manager, argv, purpose)).map(|_| ())
    }

    /// Read the cluster and the lab directory: what would change.
    pub fn plan(&self, keep_files: bool) -> Result<Plan> {
        let manifest = &self.lab.manifest;
        let present = |listing: &str, wanted: &mut dyn Iterator<Item = &String>| -> Vec<String> {
            let names: Vec<&str> = listing.lines().map(str::trim).collect();
            wanted.filter(|name| names.contains(&name.as_str())).cloned().collect()
        };
        let stacks = self.read(&["docker", "stack", "ls", "--format", "{{.Name}}"], "list the stacks")?;
        let services = self.read(&["docker", "service", "ls", "--format", "{{.Name}}"], "list the services")?;
        let networks = self.read(&["docker", "network", "ls", "--format", "{{.Name}}"], "list the networks")?;
        let files = if keep_files { None } else { Some(self.file_plan()?) };
        // A stack deployed under an alias (the notes' name) is this lab's
        // only when it is on one of the lab's networks: another lab may
        // deploy a stack of that name (lab 2's my-web beside lab 4's).
        let mut lab_stacks = Vec::new();
        for stack in &manifest.stacks {
            for name in present(&stacks, &mut stack.names()) {
                if name == stack.name || self.on_lab_network(&name, stack)? {
                    lab_stacks.push(name);
                }
            }
        }
        Ok(Plan {
            lab: manifest.id.clone(),
            target: self.target.clone(),
            stacks: lab_stacks,
            services: present(&services, &mut manifest.services.iter()),
            networks: present(&networks, &mut manifest.networks.iter().map(|network| &network.name)),
            files,
        })
    }

    /// Whether stack `name`'s first service (of `stack`'s) is attached to
    /// one of the lab's networks.
    fn on_lab_network(&self, name: &str, stack: &StackSpec) -> Result<bool> {
        let Some(first) = stack.services.first() else { return Ok(true) };
        let script = self.templates.node_script(NETWORKS_SCRIPT)?;
        let service = format!("{name}_{first}");
        let spec = self.shell.probe(
            self.manager,
            &["sh", "-c", &script, "labctl-service-networks", &service],
            "read a stack's networks",
        );
        let output = self.shell.run(&spec)?;
        let networks: Vec<&str> = self.lab.manifest.networks.iter().map(|network| network.name.as_str()).collect();
        Ok(output.success() && output.stdout.split_whitespace().any(|network| networks.contains(&network)))
    }

    /// Compare the lab directory on the manager with the pristine files.
    fn file_plan(&self) -> Result<FilePlan> {
        let script = self.templates.node_script(LIST_FILES_SCRIPT)?;
        let listing = self.read(&["sh", "-c", &script, "labctl-list", &self.target], "list the lab's files")?;
        let pristine = manifest_of(self.lab, &self.target)?;
        Ok(compare(&listing, &pristine.files.iter().map(|file| (file.path.clone(), file.sha256.clone())).collect()))
    }

    /// Carry out `plan`: backup (nothing changes unless it is whole), swarm
    /// side, pristine files, then the lab's networks and setup.
    pub fn execute(&self, plan: &Plan) -> Result<Done> {
        let mut done = Done::default();
        if let Some(files) = &plan.files {
            done.backup = self.back_up(&files.to_back_up()).context("nothing was changed: the backup failed")?;
        }
        if !plan.stacks.is_empty() {
            let mut argv = vec!["docker", "stack", "rm"];
            argv.extend(plan.stacks.iter().map(String::as_str));
            self.change(&argv, "remove the lab's stacks")?;
            self.wait_until_gone(&plan.stacks)?;
        }
        if !plan.services.is_empty() {
            let mut argv = vec!["docker", "service", "rm"];
            argv.extend(plan.services.iter().map(String::as_str));
            self.change(&argv, "remove the lab's services")?;
        }
        for network in &plan.networks {
            if let Err(reason) = self.remove_network(network) {
                done.networks_kept.push((network.clone(), reason));
            }
        }
        if let Some(files) = &plan.files {
            self.restore(files)?;
        }
        self.set_up()?;
        Ok(done)
    }

    /// Poll until the stacks' services and networks are really gone.
    fn wait_until_gone(&self, stacks: &[String]) -> Result<()> {
        let script = self.templates.node_script(LEFTOVERS_SCRIPT)?;
        let mut argv = vec!["sh", "-c", &script, "labctl-wait"];
        argv.extend(stacks.iter().map(String::as_str));
        let limit = self.shell.provider.timeouts().scaled(GONE_DEADLINE);
        let deadline = Instant::now() + limit;
        loop {
            // Each poll ends by the deadline, so a hung one cannot stretch the wait.
            let spec = self.shell.probe_until(self.manager, &argv, "wait for the stacks to be gone", deadline);
            let remaining = self.shell.run_checked(&spec)?.stdout;
            if remaining.trim().is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(anyhow!(
                    "stacks {} were still being removed after {}s; run `labctl reset {}` again in a moment",
                    stacks.join(", "),
                    limit.as_secs(),
                    self.lab.manifest.id
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Remove a network, retrying while tasks that used it shut down;
    /// `Err(reason)` when something else still uses it.
    fn remove_network(&self, network: &str) -> Result<(), String> {
        let deadline = Instant::now() + self.shell.provider.timeouts().scaled(NETWORK_DEADLINE);
        loop {
            let argv = ["docker", "network", "rm", network];
            let spec = self.shell.command_until(self.manager, &argv, "remove the lab's network", deadline);
            let output = self.shell.run(&spec).map_err(|error| format!("{error:#}"))?;
            if output.success() || output.stderr.contains("not found") {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("still in use ({}); another lab's stack may use it", output.tail(1)));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The lab's setup: its networks (when missing) and setup commands.
    fn set_up(&self) -> Result<()> {
        for network in &self.lab.manifest.networks {
            let exists = self.shell.run(&self.shell.probe(
                self.manager,
                &["docker", "network", "inspect", &network.name],
                "look for a network",
            ))?;
            if exists.success() {
                continue;
            }
            let mut argv = vec!["docker", "network", "create", "--driver", network.driver.as_str()];
            if network.attachable {
                argv.push("--attachable");
            }
            argv.push(&network.name);
            self.change(&argv, "create the lab's network")?;
        }
        for command in &self.lab.manifest.setup {
            let script = self.templates.node_script(SETUP_SCRIPT)?;
            self.change(&["sh", "-c", &script, "labctl-setup", &self.target, command], "run the lab's setup")?;
        }
        Ok(())
    }

    /// Copy `files` from the lab directory into a new folder of its own
    /// on this host: tar on the node streams straight into an archive file
    /// (no pipe, so tar's own exit status counts), which is unpacked and
    /// checked to hold every file. On any failure the partial copy is
    /// removed and the lab is left as it was.
    fn back_up(&self, files: &[String]) -> Result<Option<PathBuf>> {
        if files.is_empty() {
            return Ok(None);
        }
        let folder = new_folder(&self.backups.join(&self.lab.manifest.id))?;
        let archive = folder.with_extension("tar");
        let copied = self.copy_into(files, &archive, &folder);
        let _ = std::fs::remove_file(&archive);
        match copied {
            Ok(()) => Ok(Some(folder)),
            Err(error) => {
                let _ = std::fs::remove_dir_all(&folder);
                Err(error)
            }
        }
    }

    fn copy_into(&self, files: &[String], archive: &Path, folder: &Path) -> Result<()> {
        let mut argv = vec!["tar", "-c", "-f", "-", "-C", &self.target, "--"];
        argv.extend(files.iter().map(String::as_str));
        let spec = self
            .shell
            .command_for(Wait::Long, self.manager, &argv, "copy the students' files")
            .stdout_file(archive.to_path_buf());
        self.shell.run_checked(&spec)?;
        let reader = std::fs::File::open(archive).with_context(|| format!("cannot read {}", archive.display()))?;
        tar::Archive::new(std::io::BufReader::new(reader))
            .unpack(folder)
            .with_context(|| format!("cannot unpack the backup into {}", folder.display()))?;
        let lost: Vec<&str> = files
            .iter()
            .filter(|file| !std::fs::symlink_metadata(folder.join(file)).is_ok_and(|meta| meta.is_file()))
            .map(String::as_str)
            .collect();
        if !lost.is_empty() {
            bail!("the backup in {} lacks {}", folder.display(), lost.join(", "));
        }
        Ok(())
    }

    /// Put back the pristine files, remove the added ones, record the manifest.
    fn restore(&self, files: &FilePlan) -> Result<()> {
        let to_write: Vec<&String> = files.changed.iter().chain(&files.missing).collect();
        if !to_write.is_empty() {
            let entries = to_write
                .into_iter()
                .map(|path| {
                    Ok(ArchiveEntry {
                        path: path.clone(),
                        content: self.lab.read(path)?,
                        mode: self.lab.manifest.file_mode(path),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let archive = tar_archive(&entries)?;
            let script = self.templates.node_script(EXTRACT_SCRIPT)?;
            let spec = self.shell.command_with_stdin(
                Wait::Long,
                self.manager,
                &["sh", "-c", &script, "labctl-restore", &self.target],
                "restore the pristine files",
                archive,
            );
            self.shell.run_checked(&spec)?;
        }
        if !files.added.is_empty() {
            let script = self.templates.node_script(REMOVE_SCRIPT)?;
            let mut argv = vec!["sh", "-c", &script, "labctl-remove", &self.target];
            argv.extend(files.added.iter().map(String::as_str));
            self.change(&argv, "remove the added files")?;
        }
        let manifest = serde_json::to_vec_pretty(&manifest_of(self.lab, &self.target)?)?;
        let record = format!("{STATE_DIR}/labs/{}.json", self.lab.manifest.id);
        let script = self.templates.node_script(RECORD_SCRIPT)?;
        let spec = self.shell.command_with_stdin(
            Wait::Change,
            self.manager,
            &["sh", "-c", &script, "labctl-record", &record],
            "record the pristine files",
            manifest,
        );
        self.shell.run_checked(&spec).map(|_| ())
    }
}

/// `sha256sum` lines ("<hash>  ./path") against the pristine (path, hash) pairs.
pub fn compare(listing: &str, pristine: &BTreeMap<String, String>) -> FilePlan {
    let mut present: BTreeMap<String, String> = BTreeMap::new();
    for line in listing.lines() {
        if let Some((hash, path)) = line.split_once("  ") {
            present.insert(path.trim_start_matches("./").to_string(), hash.to_string());
        }
    }
    let mut plan = FilePlan::default();
    for (path, hash) in pristine {
        match present.get(path) {
            None => plan.missing.push(path.clone()),
            Some(actual) if actual != hash => plan.changed.push(path.clone()),
            Some(_) => {}
        }
    }
    plan.added = present.keys().filter(|path| !pristine.contains_key(*path)).cloned().collect();
    plan
}

/// A folder under `parent` that did not exist before, named by the time
/// (`20261124T055012Z`, sortable and valid in any file system), with `-2`,
/// `-3`, … when another backup took that second: a backup never merges into
/// an earlier one.
fn new_folder(parent: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let stamp = humantime::format_rfc3339_seconds(SystemTime::now()).to_string().replace(['-', ':'], "");
    let mut folder = parent.join(&stamp);
    let mut attempt = 1;
    loop {
        match std::fs::create_dir(&folder) {
            Ok(()) => return Ok(folder),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => {
                attempt += 1;
                folder = parent.join(format!("{stamp}-{attempt}"));
            }
            Err(error) => return Err(error).with_context(|| format!("cannot create {}", folder.display())),
        }
    }
}

#[cfg(test)]
mod tests;
