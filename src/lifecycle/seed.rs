//! Seeding: copy the enabled labs into their directories on the manager,
//! only the files that are missing, and record what a pristine lab holds
//! (a checksum manifest on the node, read later by `status` and `reset`).

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::config::{Cluster, PlacedLab};
use crate::files::{sha256_hex, tar_archive, ArchiveEntry, FileMode};
use crate::labs::Lab;
use crate::provider::{NodeShell, STATE_DIR};
use crate::templates::Templates;
use crate::timeouts::Wait;

const SCRIPT_TEMPLATE: &str = "node/seed.sh.tera";

/// A seeded lab as recorded on the node: the pristine checksum of every file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeededManifest {
    pub id: String,
    pub target: String,
    pub labctl: String,
    pub files: Vec<SeededFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeededFile {
    pub path: String,
    pub sha256: String,
    pub mode: String,
}

/// What seeding changed, per lab id.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    pub copied: BTreeMap<String, Vec<String>>,
    pub networks: Vec<String>,
    pub setup: Vec<String>,
}

impl SeedReport {
    pub fn changed(&self) -> bool {
        !self.copied.is_empty() || !self.networks.is_empty() || !self.setup.is_empty()
    }
}

/// Seed every enabled lab on the manager in one command.
pub fn seed(cluster: &Cluster, templates: &Templates, shell: NodeShell) -> Result<SeedReport> {
    if cluster.seeded().is_empty() {
        return Ok(SeedReport::default());
    }
    let archive = archive(cluster.seeded())?;
    let script = script(templates, STATE_DIR)?;
    let manager = &cluster.nodes().manager().name;
    let argv = ["sh", "-c", &script, "labctl-seed"];
    let spec = shell.command_with_stdin(Wait::Long, manager, &argv, "seed the labs", archive);
    let output = shell.run_checked(&spec)?;
    Ok(parse_report(&output.stdout))
}

/// The seed script, keeping its records in `state_dir`.
fn script(templates: &Templates, state_dir: &str) -> Result<String> {
    let mut context = tera::Context::new();
    context.insert("labctl_version", env!("CARGO_PKG_VERSION"));
    context.insert("state_dir", state_dir);
    templates.render(SCRIPT_TEMPLATE, &context)
}

fn parse_report(text: &str) -> SeedReport {
    let mut report = SeedReport::default();
    for line in text.lines() {
        let mut words = line.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("copied"), Some(lab), Some(file)) => {
                report.copied.entry(lab.to_string()).or_default().push(file.to_string());
            }
            (Some("network"), Some(_), Some(network)) => report.networks.push(network.to_string()),
            (Some("setup"), Some(lab), _) => report.setup.push(lab.to_string()),
            _ => {}
        }
    }
    report
}

/// The manifest of a lab as labctl would seed it now.
pub fn manifest_of(lab: &Lab, target: &str) -> Result<SeededManifest> {
    let files = lab
        .manifest
        .files
        .iter()
        .map(|path| {
            Ok(SeededFile {
                path: path.clone(),
                sha256: sha256_hex(&lab.read(path)?),
                mode: lab.manifest.file_mode(path).octal(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(SeededManifest {
        id: lab.manifest.id.clone(),
        target: target.to_string(),
        labctl: env!("CARGO_PKG_VERSION").into(),
        files,
    })
}

/// The tar the seed script reads: per lab its target, networks, setup
/// commands, manifest and files (with their modes).
fn archive(seeded: &[PlacedLab]) -> Result<Vec<u8>> {
    let mut entries = Vec::new();
    let mut add = |path: String, content: Vec<u8>, mode: FileMode| entries.push(ArchiveEntry { path, content, mode });
    for &PlacedLab { lab, target } in seeded {
        let base = format!("labs/{}", lab.manifest.id);
        let networks: String = lab
            .manifest
            .networks
            .iter()
            .map(|network| format!("{} {} {}\n", network.name, network.driver, network.attachable))
            .collect();
        let manifest = serde_json::to_vec_pretty(&manifest_of(lab, target)?)?;
        add(format!("{base}/target"), target.as_bytes().to_vec(), FileMode::Plain);
        add(format!("{base}/networks"), networks.into_bytes(), FileMode::Plain);
        add(format!("{base}/setup.sh"), lab.manifest.setup.join("\n").into_bytes(), FileMode::Plain);
        add(format!("{base}/manifest.json"), manifest, FileMode::Plain);
        for path in &lab.manifest.files {
            add(format!("{base}/files/{path}"), lab.read(path)?, lab.manifest.file_mode(path));
        }
    }
    tar_archive(&entries)
}

/// Parse the seeded manifests that `cat STATE_DIR/labs/*.json` printed.
pub fn parse_seeded(text: &str) -> Vec<SeededManifest> {
    serde_json::Deserializer::from_str(text).into_iter::<SeededManifest>().filter_map(Result::ok).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{test_settings, Settings};
    use crate::exec::fake::RecordingRunner;
    use crate::exec::{CommandSpec, Runner};
    use crate::labs::Catalog;
    use crate::provider::docker::DockerProvider;

    fn unpack(bytes: &[u8]) -> BTreeMap<String, (Vec<u8>, u32)> {
        let mut archive = tar::Archive::new(bytes);
        let mut entries = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mode = entry.header().mode().unwrap();
            let mut content = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
            entries.insert(path, (content, mode));
        }
        entries
    }

    #[test]
    fn the_archive_carries_files_modes_networks_and_manifest() {
        let settings = test_settings("[labs]\nseed = [\"db\"]\n");
        let catalog = Catalog::load(std::path::Path::new("/nonexistent")).unwrap();
        let entries = unpack(&archive(Cluster::new(&settings, &catalog).unwrap().seeded()).unwrap());
        assert_eq!(entries["labs/lab3/target"].0, b"/root/work/db");
        assert_eq!(entries["labs/lab3/networks"].0, b"todoapp overlay true\n");
        assert_eq!(entries["labs/lab3/files/add-server-id.sh"].1, 0o755);
        assert_eq!(entries["labs/lab3/files/sql/01_ddl.sql"].1, 0o644);
        let manifest: SeededManifest = serde_json::from_slice(&entries["labs/lab3/manifest.json"].0).unwrap();
        let ddl = manifest.files.iter().find(|file| file.path == "sql/01_ddl.sql").unwrap();
        assert_eq!(ddl.sha256, sha256_hex(&entries["labs/lab3/files/sql/01_ddl.sql"].0));
        let modes: Vec<(&str, &str)> =
            manifest.files.iter().map(|file| (file.path.as_str(), file.mode.as_str())).collect();
        assert!(modes.contains(&("sql/01_ddl.sql", "0644")), "the node's record keeps chmod's form: {modes:?}");
        assert!(modes.contains(&("add-server-id.sh", "0755")), "{modes:?}");
        assert!(entries.keys().all(|path| !path.contains("README")), "handouts are not seeded");
    }

    #[test]
    fn instructor_only_files_never_leave_the_host() {
        let settings = test_settings("[labs]\nseed = [\"lab2\"]\n");
        let catalog = Catalog::load(std::path::Path::new("/nonexistent")).unwrap();
        let entries = unpack(&archive(Cluster::new(&settings, &catalog).unwrap().seeded()).unwrap());
        assert!(entries.contains_key("labs/lab2/files/Dockerfile"));
        assert!(entries.keys().all(|path| !path.contains("solution")), "{:?}", entries.keys());
    }

    #[test]
    fn seeding_is_one_command_on_the_manager_and_reports_changes() {
        let settings = test_settings("");
        let catalog = Catalog::load(std::path::Path::new("/nonexistent")).unwrap();
        let templates = Templates::load(std::path::Path::new("/nonexistent")).unwrap();
        let runner = RecordingRunner::default();
        runner.answer(
            "docker exec --interactive swarm-lab-manager sh -c",
            0,
            "copied lab1 ch03-webapi.yml\ncopied lab1 simple-web/hello.js\nnetwork lab1 ch03\nsetup lab9\n",
            "",
        );
        let cluster = Cluster::new(&settings, &catalog).unwrap();
        let provider = DockerProvider::new(&cluster, &runner);
        let report = seed(&cluster, &templates, NodeShell::new(&provider, &runner)).unwrap();
        assert_eq!(report.copied["lab1"], vec!["ch03-webapi.yml", "simple-web/hello.js"]);
        assert_eq!(report.networks, vec!["ch03"]);
        assert_eq!(report.setup, vec!["lab9"]);
        let calls = runner.calls();
        assert_eq!(calls.len(), 1);
        assert!(calls[0].stdin.as_ref().is_some_and(|tar| !tar.is_empty()));
    }

    /// The real seed script run on this host: lab root and records in a
    /// temporary folder, `docker` a fake, and `cp` from `fake_bin` first.
    struct SeedRun {
        dir: tempfile::TempDir,
        settings: Settings,
        script: String,
        archive: Vec<u8>,
    }

    impl SeedRun {
        fn new() -> SeedRun {
            SeedRun::of(&["lab1"])
        }

        fn of(labs: &[&str]) -> SeedRun {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("work");
            let settings = test_settings(&format!("[labs]\nroot = {:?}\nseed = {labs:?}\n", root.to_str().unwrap()));
            let templates = Templates::load(std::path::Path::new("/nonexistent")).unwrap();
            let script = script(&templates, dir.path().join("state").to_str().unwrap()).unwrap();
            let catalog = Catalog::load(std::path::Path::new("/nonexistent")).unwrap();
            let archive = archive(Cluster::new(&settings, &catalog).unwrap().seeded()).unwrap();
            std::fs::create_dir(dir.path().join("bin")).unwrap();
            let run = SeedRun { dir, settings, script, archive };
            run.fake("docker", "exit 0");
            run
        }

        fn fake(&self, program: &str, body: &str) {
            let path = self.dir.path().join("bin").join(program);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        }

        fn run(&self) -> crate::exec::Output {
            let children = std::sync::Arc::new(crate::exec::Children::default());
            let runner = crate::exec::RealRunner::new(crate::ui::Ui::new(crate::ui::Verbosity::Quiet), children);
            let mut spec = CommandSpec::new("sh", &["-c", &self.script, "labctl-seed"], "seed")
                .stdin(self.archive.clone())
                .timeout(std::time::Duration::from_secs(30));
            let path = format!("{}:/usr/bin:/bin", self.dir.path().join("bin").display());
            spec.env.push(("PATH".into(), path));
            runner.run(&spec).unwrap()
        }

        /// Whether a temporary `.NAME.labctl-part` is left in simple-web/.
        fn partial_left(&self) -> bool {
            let entries = std::fs::read_dir(self.target("simple-web")).unwrap().flatten();
            entries.into_iter().any(|entry| entry.file_name().to_string_lossy().ends_with(".labctl-part"))
        }

        fn target(&self, file: &str) -> std::path::PathBuf {
            std::path::Path::new(&self.settings.seeded_labs[0].target).join(file)
        }
    }

    #[test]
    fn a_copy_cut_short_leaves_no_truncated_file_and_the_next_run_completes_it() {
        let seed = SeedRun::new();
        let pristine = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/labs/lab1/simple-web/hello.js")).unwrap();
        // The disk fills up half way through hello.js: cp writes part of it and fails.
        let last = r#"for last; do :; done"#;
        seed.fake(
            "cp",
            &format!(
                "{last}\ncase \"$2\" in *hello.js) head -c 20 \"$2\" > \"$last\"; exit 1 ;; esac\nexec /bin/cp \"$@\""
            ),
        );
        let failed = seed.run();
        assert!(!failed.success(), "the seed fails when a copy fails: {failed:?}");
        assert!(!seed.target("simple-web/hello.js").exists(), "no truncated file at the final name");
        assert!(!seed.partial_left(), "the partial copy is removed");

        // A killed run's partial file is in the way of the next one: it is replaced.
        std::fs::write(seed.target("simple-web/.hello.js.labctl-part"), "half").unwrap();
        std::fs::remove_file(seed.dir.path().join("bin/cp")).unwrap();
        let rerun = seed.run();
        assert!(rerun.success(), "{rerun:?}");
        assert!(rerun.stdout.contains("copied lab1 simple-web/hello.js"), "{}", rerun.stdout);
        assert_eq!(std::fs::read(seed.target("simple-web/hello.js")).unwrap(), pristine);
        assert!(!seed.partial_left());
        let record = std::fs::read_to_string(seed.dir.path().join("state/labs/lab1.json")).unwrap();
        assert_eq!(parse_seeded(&record).len(), 1, "the record is whole: {record}");
    }

    #[test]
    fn destroy_on_a_machine_removes_the_lab_folders_seeding_made_and_keeps_one_that_was_there() {
        // lab3 goes into a folder the machine already had (e.g. /srv/db).
        let seed = SeedRun::of(&["lab1", "lab3"]);
        let lab3 = std::path::PathBuf::from(&seed.settings.seeded_labs[1].target);
        std::fs::create_dir_all(&lab3).unwrap();
        std::fs::write(lab3.join("theirs.txt"), "the school's\n").unwrap();
        let seeded = seed.run();
        assert!(seeded.success(), "{seeded:?}");
        let lab1 = seed.target("");

        let templates = Templates::load(std::path::Path::new("/nonexistent")).unwrap();
        let take_off = templates.node_script("node/take-off.sh.tera").unwrap();
        let state = seed.dir.path().join("state");
        let root = seed.dir.path().join("work");
        let record = state.join("swarm-node-id");
        let children = std::sync::Arc::new(crate::exec::Children::default());
        let runner = crate::exec::RealRunner::new(crate::ui::Ui::new(crate::ui::Verbosity::Quiet), children);
        let argv = crate::provider::ssh::take_off_argv(
            &take_off,
            state.to_str().unwrap(),
            root.to_str().unwrap(),
            record.to_str().unwrap(),
        );
        let args: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
        let mut spec = CommandSpec::new("sh", &args, "take off").timeout(std::time::Duration::from_secs(30));
        // No Docker answers: only the folders and records are taken off.
        seed.fake("docker", "exit 1");
        spec.env.push(("PATH".into(), format!("{}:/usr/bin:/bin", seed.dir.path().join("bin").display())));
        let out = runner.run(&spec).unwrap();
        assert!(out.success(), "{out:?}");
        assert!(!lab1.exists(), "labctl made it: removed");
        assert!(lab3.join("theirs.txt").exists(), "there before labctl: kept");
        assert!(out.stdout.contains(&format!("kept {}", lab3.display())), "{}", out.stdout);
        assert!(!state.exists());
    }

    #[test]
    fn seeded_manifests_are_read_back_from_concatenated_json() {
        let one = SeededManifest {
            id: "lab1".into(),
            target: "/root/work/ingress".into(),
            labctl: "0.1.0".into(),
            files: vec![],
        };
        let two = SeededManifest { id: "lab3".into(), ..one.clone() };
        let text = format!("{}\n{}", serde_json::to_string_pretty(&one).unwrap(), serde_json::to_string(&two).unwrap());
        assert_eq!(parse_seeded(&text), vec![one, two]);
    }
}
