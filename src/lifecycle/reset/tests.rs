use std::collections::BTreeMap;

use super::*;
use crate::config::{test_cluster, test_settings};
use crate::exec::fake::RecordingRunner;
use crate::files::sha256_hex;
use crate::labs::Catalog;
use crate::provider::docker::DockerProvider;

const MANAGER: &str = "docker exec swarm-lab-manager";

fn catalog() -> Catalog {
    Catalog::load(std::path::Path::new("/nonexistent")).unwrap()
}

fn templates() -> &'static Templates {
    static TEMPLATES: std::sync::OnceLock<Templates> = std::sync::OnceLock::new();
    TEMPLATES.get_or_init(|| Templates::load(std::path::Path::new("/nonexistent")).unwrap())
}

/// A tar holding `files`, as tar on the manager writes a backup (all
/// ASCII, so it fits the fake runner's text output).
fn tar_of(files: &[(&str, &str)]) -> String {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, content.as_bytes()).unwrap();
    }
    String::from_utf8(builder.into_inner().unwrap()).unwrap()
}

const BACKUP: &str = "docker exec swarm-lab-manager tar -c -f - -C /root/work/ingress -- ch03-webapi.yml notes.txt";

/// Answers for planning a reset of lab1 whose student changed
/// ch03-webapi.yml, added notes.txt and deployed the simple-web stack.
fn student_was_here(runner: &RecordingRunner, lab: &Lab) {
    runner.answer(&format!("{MANAGER} docker stack ls"), 0, "other\nsimple-web\n", "");
    runner.answer(&format!("{MANAGER} docker service ls"), 0, "simple-web_api\nsimple-web_nginx\n", "");
    runner.answer(&format!("{MANAGER} docker network ls"), 0, "bridge\nch03\ningress\n", "");
    let compose = sha256_hex(&lab.read("docker-compose.yml").unwrap());
    let listing = format!("{compose}  ./docker-compose.yml\n0000  ./ch03-webapi.yml\n1111  ./notes.txt\n");
    runner.answer(&format!("{MANAGER} sh -c '#!/bin/sh…' labctl-list /root/work/ingress"), 0, &listing, "");
}

fn reset_of<'a>(lab: &'a Lab, provider: &'a DockerProvider, runner: &'a RecordingRunner, backups: &Path) -> Reset<'a> {
    reset_in("/root/work/ingress", lab, provider, runner, backups)
}

/// A reset of `lab` seeded to `target`.
fn reset_in<'a>(
    target: &str,
    lab: &'a Lab,
    provider: &'a DockerProvider,
    runner: &'a RecordingRunner,
    backups: &Path,
) -> Reset<'a> {
    Reset {
        lab,
        target: target.into(),
        manager: "manager",
        shell: NodeShell::new(provider, runner),
        templates: templates(),
        backups: backups.to_path_buf(),
    }
}

/// Plan and carry out a reset of lab1 after [`student_was_here`], with tar
/// on the manager answering `code`, `archive` and `stderr`.
fn reset_lab1(code: i32, archive: &str, stderr: &str) -> (Result<Done>, RecordingRunner, tempfile::TempDir) {
    let settings = test_settings("");
    let catalog = catalog();
    let lab = catalog.resolve("lab1").unwrap();
    let runner = RecordingRunner::default();
    student_was_here(&runner, lab);
    runner.answer(BACKUP, code, archive, stderr);
    let cluster = test_cluster(&settings);
    let provider = DockerProvider::new(&cluster, &runner);
    let backups = tempfile::tempdir().unwrap();
    let reset = reset_of(lab, &provider, &runner, backups.path());
    let outcome = reset.plan(false).and_then(|plan| reset.execute(&plan));
    (outcome, runner, backups)
}

/// Where `needle` first ran among `lines`.
fn position(lines: &[String], needle: &str) -> usize {
    lines.iter().position(|line| line.contains(needle)).unwrap_or_else(|| panic!("{needle} never ran: {lines:#?}"))
}

#[test]
fn files_are_compared_with_the_pristine_copy() {
    let pristine: BTreeMap<String, String> = [
        ("a.yml".to_string(), "h1".to_string()),
        ("dir/b.js".to_string(), "h2".to_string()),
        ("c".to_string(), "h3".to_string()),
    ]
    .into();
    let listing = "h1  ./a.yml\nXX  ./dir/b.js\nh9  ./notes.txt\n";
    let plan = compare(listing, &pristine);
    assert_eq!(
        plan,
        FilePlan { changed: vec!["dir/b.js".into()], added: vec!["notes.txt".into()], missing: vec!["c".into()] }
    );
    assert_eq!(plan.to_back_up(), vec!["dir/b.js", "notes.txt"]);
}

#[test]
fn a_never_seeded_lab_restores_everything_and_backs_up_nothing() {
    let pristine: BTreeMap<String, String> = [("a.yml".to_string(), "h1".to_string())].into();
    let plan = compare("", &pristine);
    assert_eq!(plan.missing, vec!["a.yml"]);
    assert!(plan.to_back_up().is_empty());
}

#[test]
fn reset_backs_up_first_then_removes_the_stack_restores_and_sets_up_again() {
    let settings = test_settings("");
    let catalog = catalog();
    let lab = catalog.resolve("lab1").unwrap();
    let runner = RecordingRunner::lenient();
    student_was_here(&runner, lab);
    // The stack is still going away on the first look, gone on the second.
    runner.answer(&format!("{MANAGER} sh -c '#!/bin/sh…' labctl-wait simple-web"), 0, "x1y2z3\n", "");
    runner.answer(&format!("{MANAGER} sh -c '#!/bin/sh…' labctl-wait simple-web"), 0, "", "");
    runner.answer(&format!("{MANAGER} docker network inspect ch03"), 1, "", "Error: No such network: ch03");
    let backup = tar_of(&[("ch03-webapi.yml", "student version\n"), ("notes.txt", "my notes\n")]);
    runner.answer(BACKUP, 0, &backup, "");

    let cluster = test_cluster(&settings);
    let provider = DockerProvider::new(&cluster, &runner);
    let backups = tempfile::tempdir().unwrap();
    let reset = reset_of(lab, &provider, &runner, backups.path());
    let plan = reset.plan(false).unwrap();
    assert_eq!(plan.stacks, vec!["simple-web"]);
    assert_eq!(plan.networks, vec!["ch03"]);
    let files = plan.files.clone().unwrap();
    assert_eq!(files.changed, vec!["ch03-webapi.yml"]);
    assert_eq!(files.added, vec!["notes.txt"]);
    assert_eq!(files.missing, vec!["simple-web/Dockerfile", "simple-web/hello.js"]);

    let done = reset.execute(&plan).unwrap();
    let lines = runner.command_lines();
    let order = [
        position(&lines, BACKUP),
        position(&lines, "docker stack rm simple-web"),
        position(&lines, "labctl-wait simple-web"),
        position(&lines, "docker network rm ch03"),
        position(&lines, "labctl-restore"),
        position(&lines, "labctl-remove /root/work/ingress notes.txt"),
        position(&lines, "labctl-record"),
        position(&lines, "docker network create --driver overlay --attachable ch03"),
    ];
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "wrong order {order:?}: {lines:#?}");
    assert_eq!(
        lines.iter().filter(|line| line.contains("labctl-wait simple-web")).count(),
        2,
        "it waited until the stack was gone"
    );

    let folder = done.backup.expect("a backup was made");
    assert!(folder.starts_with(backups.path().join("lab1")));
    assert_eq!(std::fs::read_to_string(folder.join("ch03-webapi.yml")).unwrap(), "student version\n");
    assert_eq!(std::fs::read_to_string(folder.join("notes.txt")).unwrap(), "my notes\n");

    // The restore carries the pristine files for the changed and missing ones.
    let restore = runner.calls().into_iter().find(|spec| spec.args.iter().any(|arg| arg == "labctl-restore")).unwrap();
    let mut archive = tar::Archive::new(restore.stdin.as_deref().unwrap());
    let mut restored: Vec<String> =
        archive.entries().unwrap().map(|entry| entry.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
    restored.sort();
    assert_eq!(restored, vec!["ch03-webapi.yml", "simple-web/Dockerfile", "simple-web/hello.js"]);
}

#[test]
fn keep_files_touches_only_the_swarm() {
    let settings = test_settings("");
    let catalog = catalog();
    let runner = RecordingRunner::lenient();
    let cluster = test_cluster(&settings);
    let provider = DockerProvider::new(&cluster, &runner);
    let reset = reset_in("/root/work/db", catalog.resolve("lab3").unwrap(), &provider, &runner, &std::env::temp_dir());
    let plan = reset.plan(true).unwrap();
    assert_eq!(plan.files, None);
    reset.execute(&plan).unwrap();
    assert!(runner.command_lines().iter().all(|line| !line.contains("tar -c") && !line.contains("labctl-restore")));
}

#[test]
fn lab3_reset_also_removes_the_stack_under_the_handouts_own_name() {
    // The original handout deploys `todo-mysql`; the lab's name is `todo_mysql`.
    let settings = test_settings("");
    let catalog = catalog();
    let runner = RecordingRunner::lenient();
    runner.answer(&format!("{MANAGER} docker stack ls"), 0, "todo-mysql\nvisualizer\n", "");
    runner.answer(
        &format!("{MANAGER} sh -c '#!/bin/sh…' labctl-service-networks todo-mysql_master"),
        0,
        "todoapp\n",
        "",
    );
    let cluster = test_cluster(&settings);
    let provider = DockerProvider::new(&cluster, &runner);
    let reset = reset_in("/root/work/db", catalog.resolve("lab3").unwrap(), &provider, &runner, &std::env::temp_dir());
    let plan = reset.plan(true).unwrap();
    assert_eq!(plan.stacks, vec!["todo-mysql"]);
    reset.execute(&plan).unwrap();
    assert!(runner.command_lines().iter().any(|line| line.ends_with("docker stack rm todo-mysql")));
}

#[test]
fn a_stack_under_an_alias_on_another_labs_network_is_not_this_labs() {
    // lab 4's file deployed as my-web is lab 4's only on its network ch04:
    // lab 2's my-web stack (on ch03) stays.
    let settings = test_settings("");
    let catalog = catalog();
    let runner = RecordingRunner::lenient();
    runner.answer(&format!("{MANAGER} docker stack ls"), 0, "my-web\n", "");
    runner.answer(&format!("{MANAGER} sh -c '#!/bin/sh…' labctl-service-networks my-web_nginx"), 0, "ch03\n", "");
    let cluster = test_cluster(&settings);
    let provider = DockerProvider::new(&cluster, &runner);
    let reset =
        reset_in("/root/work/ch04", catalog.resolve("lab4").unwrap(), &provider, &runner, &std::env::temp_dir());
    assert!(reset.plan(true).unwrap().stacks.is_empty());

    let runner = RecordingRunner::lenient();
    runner.answer(&format!("{MANAGER} docker stack ls"), 0, "my-web\n", "");
    runner.answer(&format!("{MANAGER} sh -c '#!/bin/sh…' labctl-service-networks my-web_nginx"), 0, "ch04\n", "");
    let provider = DockerProvider::new(&cluster, &runner);
    let reset =
        reset_in("/root/work/ch04", catalog.resolve("lab4").unwrap(), &provider, &runner, &std::env::temp_dir());
    assert_eq!(reset.plan(true).unwrap().stacks, vec!["my-web"]);
}

#[test]
fn the_backup_is_made_before_a_setup_that_writes_into_the_lab_directory() {
    // The lab's setup writes notes.txt, where the student keeps notes: the
    // backup must hold the student's version, so it comes before any change;
    // the setup runs on the restored lab, as when it was seeded.
    let settings = test_settings("");
    let catalog = catalog();
    let mut lab = catalog.resolve("lab1").unwrap().clone();
    lab.manifest.setup = vec!["echo 'write your notes here' > notes.txt".into()];
    let runner = RecordingRunner::lenient();
    student_was_here(&runner, &lab);
    runner.answer(BACKUP, 0, &tar_of(&[("ch03-webapi.yml", "mine\n"), ("notes.txt", "student notes\n")]), "");
    let cluster = test_cluster(&settings);
    let provider = DockerProvider::new(&cluster, &runner);
    let backups = tempfile::tempdir().unwrap();
    let reset = reset_of(&lab, &provider, &runner, backups.path());
    let done = reset.execute(&reset.plan(false).unwrap()).unwrap();

    let changes = runner.changes();
    assert!(changes[0].starts_with(BACKUP), "the backup is the first change: {changes:#?}");
    assert!(position(&changes, "labctl-remove /root/work/ingress notes.txt") < position(&changes, "labctl-setup"));
    let folder = done.backup.unwrap();
    assert_eq!(std::fs::read_to_string(folder.join("notes.txt")).unwrap(), "student notes\n");
}

#[test]
fn a_tar_that_fails_half_way_fails_the_reset_before_anything_changes() {
    // The first file made it, then the disk under the lab failed.
    let whole = tar_of(&[("ch03-webapi.yml", "student version\n"), ("notes.txt", "my notes\n")]);
    let (outcome, runner, backups) =
        reset_lab1(2, &whole[..700], "tar: notes.txt: Read error at byte 0: Input/output error\n");
    let message = format!("{:#}", outcome.unwrap_err());
    assert!(
        message.starts_with("nothing was changed: the backup failed: could not copy the students' files"),
        "{message}"
    );
    assert!(message.contains("Read error"), "{message}");
    assert_eq!(runner.changes().len(), 1, "only the backup ran: {:#?}", runner.changes());
    let left: Vec<_> = std::fs::read_dir(backups.path().join("lab1")).unwrap().collect();
    assert!(left.is_empty(), "no partial backup is left to be mistaken for a whole one: {left:?}");
}

#[test]
fn a_backup_without_every_planned_file_fails_the_reset() {
    // tar said it succeeded, yet notes.txt is not in the archive.
    let (outcome, runner, _backups) = reset_lab1(0, &tar_of(&[("ch03-webapi.yml", "student version\n")]), "");
    let error = format!("{:#}", outcome.unwrap_err());
    assert!(error.contains("lacks notes.txt"), "{error}");
    assert_eq!(runner.changes().len(), 1, "{:#?}", runner.changes());
}

#[test]
fn two_resets_within_one_second_get_two_backup_folders() {
    let settings = test_settings("");
    let catalog = catalog();
    let lab = catalog.resolve("lab1").unwrap();
    let runner = RecordingRunner::lenient();
    let cluster = test_cluster(&settings);
    let provider = DockerProvider::new(&cluster, &runner);
    let backups = tempfile::tempdir().unwrap();
    let reset = reset_of(lab, &provider, &runner, backups.path());
    let mut folders = Vec::new();
    for version in ["first", "second"] {
        student_was_here(&runner, lab);
        runner.answer(BACKUP, 0, &tar_of(&[("ch03-webapi.yml", version), ("notes.txt", version)]), "");
        folders.push(reset.execute(&reset.plan(false).unwrap()).unwrap().backup.unwrap());
    }
    assert_ne!(folders[0], folders[1]);
    assert!(folders[1].starts_with(backups.path().join("lab1")));
    assert_eq!(std::fs::read_to_string(folders[0].join("notes.txt")).unwrap(), "first");
    assert_eq!(std::fs::read_to_string(folders[1].join("notes.txt")).unwrap(), "second");
}
