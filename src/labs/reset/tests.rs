use std::collections::BTreeMap;

use base64::Engine;

use super::*;
use crate::config::test_settings;
use crate::exec::fake::RecordingRunner;
use crate::files::sha256_hex;
use crate::labs::Catalog;
use crate::provider::docker::DockerProvider;

const MANAGER: &str = "docker exec swarm-lab-manager";

fn catalog() -> Catalog {
    Catalog::load(std::path::Path::new("/nonexistent")).unwrap()
}

/// A base64 tar holding `files`, as the manager would send a backup.
fn encoded_tar(files: &[(&str, &str)]) -> String {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, content.as_bytes()).unwrap();
    }
    base64::engine::general_purpose::STANDARD.encode(builder.into_inner().unwrap())
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
fn reset_removes_the_stack_waits_recreates_the_network_and_backs_up_before_restoring() {
    let settings = test_settings("");
    let catalog = catalog();
    let lab = catalog.resolve("lab1").unwrap();
    let runner = RecordingRunner::default();
    runner.answer(&format!("{MANAGER} docker stack ls"), 0, "other\nsimple-web\n", "");
    runner.answer(&format!("{MANAGER} docker service ls"), 0, "simple-web_api\nsimple-web_nginx\n", "");
    runner.answer(&format!("{MANAGER} docker network ls"), 0, "bridge\nch03\ningress\n", "");
    let compose = sha256_hex(&lab.read("docker-compose.yml").unwrap());
    let listing = format!("{compose}  ./docker-compose.yml\n0000  ./ch03-webapi.yml\n1111  ./notes.txt\n");
    runner.answer(&format!("{MANAGER} sh -c 'cd \"$1\" 2>/dev/null || exit 0; find"), 0, &listing, "");
    // The stack is still going away on the first look, gone on the second.
    runner.answer(&format!("{MANAGER} sh -c 'for stack;"), 0, "x1y2z3\n", "");
    runner.answer(&format!("{MANAGER} sh -c 'for stack;"), 0, "", "");
    runner.answer(&format!("{MANAGER} docker network inspect ch03"), 1, "", "Error: No such network: ch03");
    let backup = encoded_tar(&[("ch03-webapi.yml", "student version\n"), ("notes.txt", "my notes\n")]);
    runner.answer(&format!("{MANAGER} sh -c 'cd \"$1\" && shift && tar"), 0, &backup, "");

    let provider = DockerProvider::new(&settings, &runner);
    let backups = tempfile::tempdir().unwrap();
    let reset = Reset {
        lab,
        target: "/root/work/ingress".into(),
        manager: "manager",
        shell: NodeShell::new(&provider, &runner),
        backups: backups.path().to_path_buf(),
    };
    let plan = reset.plan(false).unwrap();
    assert_eq!(plan.stacks, vec!["simple-web"]);
    assert_eq!(plan.networks, vec!["ch03"]);
    let files = plan.files.clone().unwrap();
    assert_eq!(files.changed, vec!["ch03-webapi.yml"]);
    assert_eq!(files.added, vec!["notes.txt"]);
    assert_eq!(files.missing, vec!["simple-web/Dockerfile", "simple-web/hello.js"]);

    let done = reset.execute(&plan).unwrap();
    let lines = runner.command_lines();
    let position = |needle: &str| {
        lines.iter().position(|line| line.contains(needle)).unwrap_or_else(|| panic!("{needle} never ran: {lines:#?}"))
    };
    let order = [
        position("docker stack rm simple-web"),
        position("for stack;"),
        position("docker network rm ch03"),
        position("docker network create --driver overlay --attachable ch03"),
        position("labctl-backup"),
        position("labctl-restore"),
        position("labctl-remove /root/work/ingress notes.txt"),
        position("labctl-record"),
    ];
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "wrong order {order:?}: {lines:#?}");
    assert_eq!(
        lines.iter().filter(|line| line.contains("for stack;")).count(),
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
    let runner = RecordingRunner::default();
    let provider = DockerProvider::new(&settings, &runner);
    let reset = Reset {
        lab: catalog.resolve("lab3").unwrap(),
        target: "/root/work/db".into(),
        manager: "manager",
        shell: NodeShell::new(&provider, &runner),
        backups: std::env::temp_dir(),
    };
    let plan = reset.plan(true).unwrap();
    assert_eq!(plan.files, None);
    reset.execute(&plan).unwrap();
    assert!(runner
        .command_lines()
        .iter()
        .all(|line| !line.contains("labctl-backup") && !line.contains("labctl-restore")));
}
