//! The small node scripts run for real with this host's `sh`, in a
//! temporary folder: what labctl relies on from each.

use std::path::{Path, PathBuf};

use super::*;
use crate::exec::{CommandSpec, Output, RealRunner, Runner};
use crate::files::{tar_archive, ArchiveEntry, FileMode};

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        let node = Node { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir(node.path("bin")).unwrap();
        node
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// A fake `program` first on PATH.
    fn fake(&self, program: &str, body: &str) {
        let path = self.path("bin").join(program);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }

    /// `sh -c SCRIPT NAME ARGS…` with `stdin`, as labctl runs it on a node.
    fn run(&self, template: &str, args: &[&str], stdin: &[u8]) -> Output {
        let templates = Templates::load(Path::new("/nonexistent")).unwrap();
        let script = templates.node_script(template).unwrap();
        let mut argv = vec!["-c", script.as_str(), "labctl-test"];
        argv.extend(args);
        let mut spec = CommandSpec::new("sh", &argv, "run a node script")
            .stdin(stdin.to_vec())
            .timeout(std::time::Duration::from_secs(30));
        let path = format!("{}:{}", self.path("bin").display(), std::env::var("PATH").unwrap_or_default());
        spec.env.push(("PATH".into(), path));
        let runner = RealRunner::new(crate::ui::Ui::new(crate::ui::Verbosity::Quiet), std::sync::Arc::default());
        runner.run(&spec).unwrap()
    }
}

/// A tar of `files` as labctl sends one to a node.
fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let entries: Vec<ArchiveEntry> = files
        .iter()
        .map(|(path, content)| ArchiveEntry {
            path: path.to_string(),
            content: content.as_bytes().to_vec(),
            mode: FileMode::Plain,
        })
        .collect();
    tar_archive(&entries).unwrap()
}

#[test]
fn lab_files_are_listed_with_checksums_and_a_missing_directory_lists_nothing() {
    let node = Node::new();
    let missing = node.run("node/list-lab-files.sh.tera", &[node.path("lab").to_str().unwrap()], b"");
    assert!(missing.success() && missing.stdout.is_empty(), "{missing:?}");
    std::fs::create_dir_all(node.path("lab/dir with space")).unwrap();
    std::fs::write(node.path("lab/dir with space/a.yml"), "a\n").unwrap();
    let listed = node.run("node/list-lab-files.sh.tera", &[node.path("lab").to_str().unwrap()], b"");
    assert!(listed.success(), "{listed:?}");
    assert_eq!(listed.stdout, format!("{}  ./dir with space/a.yml\n", crate::files::sha256_hex(b"a\n")));
}

#[test]
fn files_are_unpacked_removed_and_recorded_in_place() {
    let node = Node::new();
    let lab = node.path("work/lab");
    let lab = lab.to_str().unwrap();
    std::fs::create_dir_all(node.path("work/lab")).unwrap();
    std::fs::write(node.path("work/lab/kept.txt"), "student\n").unwrap();
    let restored = node.run("node/extract-into.sh.tera", &[lab], &tar_of(&[("sub/a.yml", "pristine\n")]));
    assert!(restored.success(), "{restored:?}");
    assert_eq!(std::fs::read_to_string(node.path("work/lab/sub/a.yml")).unwrap(), "pristine\n");
    assert!(node.path("work/lab/kept.txt").exists(), "extracting keeps what the tar does not hold");

    let removed = node.run("node/remove-files.sh.tera", &[lab, "kept.txt", "-gone", "sub/a.yml"], b"");
    assert!(removed.success(), "{removed:?}");
    assert!(!node.path("work/lab/kept.txt").exists() && !node.path("work/lab/sub/a.yml").exists());

    let solution = node.path("state/solutions/lab1");
    let solution = solution.to_str().unwrap();
    std::fs::create_dir_all(node.path("state/solutions/lab1")).unwrap();
    std::fs::write(node.path("state/solutions/lab1/old.sh"), "old\n").unwrap();
    let uploaded = node.run("node/replace-dir.sh.tera", &[solution], &tar_of(&[("solve.sh", "echo new\n")]));
    assert!(uploaded.success(), "{uploaded:?}");
    assert!(!node.path("state/solutions/lab1/old.sh").exists(), "the directory is replaced");
    assert!(node.path("state/solutions/lab1/solve.sh").exists());

    let record = node.path("state/labs/lab1.json");
    let recorded = node.run("node/write-stdin.sh.tera", &[record.to_str().unwrap()], b"{\"id\":\"lab1\"}");
    assert!(recorded.success(), "{recorded:?}");
    assert_eq!(std::fs::read_to_string(&record).unwrap(), "{\"id\":\"lab1\"}");
    let seeded = node.run("node/read-seeded-labs.sh.tera", &[node.path("state").to_str().unwrap()], b"");
    assert_eq!((seeded.success(), seeded.stdout.as_str()), (true, "{\"id\":\"lab1\"}"));
    let none = node.run("node/read-seeded-labs.sh.tera", &[node.path("nothing").to_str().unwrap()], b"");
    assert_eq!((none.success(), none.stdout.as_str()), (true, ""), "no lab seeded is no error");
}

#[test]
fn a_setup_command_runs_in_the_lab_directory_and_stops_at_its_first_failure() {
    let node = Node::new();
    let lab = node.path("work/new-lab");
    let ran = node.run("node/lab-setup.sh.tera", &[lab.to_str().unwrap(), "echo hi > notes.txt"], b"");
    assert!(ran.success(), "{ran:?}");
    assert_eq!(std::fs::read_to_string(lab.join("notes.txt")).unwrap(), "hi\n");
    let failed = node.run("node/lab-setup.sh.tera", &[lab.to_str().unwrap(), "false; touch after"], b"");
    assert!(!failed.success());
    assert!(!lab.join("after").exists(), "a failing step stops the command");
}

#[test]
fn a_solution_runs_in_the_lab_directory_with_its_variables() {
    let node = Node::new();
    std::fs::create_dir_all(node.path("lab")).unwrap();
    std::fs::create_dir_all(node.path("solution")).unwrap();
    let body =
        "echo \"$(pwd) $LABCTL_SOLUTION_DIR $LABCTL_REGISTRY $LABCTL_LAB $LABCTL_SOLVE_LIB\"\nfalse\necho not here\n";
    std::fs::write(node.path("solution/solve.sh"), body).unwrap();
    let (lab, solution) = (node.path("lab"), node.path("solution"));
    let args = [lab.to_str().unwrap(), solution.to_str().unwrap(), "manager:5000", "solve.sh", "lab1"];
    let ran = node.run("node/run-solution.sh.tera", &args, b"");
    let solution = solution.display();
    let expected = format!("{} {solution} manager:5000 lab1 {solution}/labctl-solve-lib.sh\n", lab.display());
    assert_eq!((ran.success(), ran.stdout), (false, expected), "it ran under sh -e");
    assert!(!node.path("solution").exists(), "the instructor's solution is left on the node");

    // Passed: gone too, and the solution's own status is the script's.
    std::fs::create_dir_all(node.path("solution")).unwrap();
    std::fs::write(node.path("solution/solve.sh"), "touch done\n").unwrap();
    let (lab, solution) = (node.path("lab"), node.path("solution"));
    let args = [lab.to_str().unwrap(), solution.to_str().unwrap(), "", "solve.sh", "lab1"];
    let ran = node.run("node/run-solution.sh.tera", &args, b"");
    assert!(ran.success(), "{ran:?}");
    assert!(node.path("lab/done").exists() && !node.path("solution").exists());
}

#[test]
fn dockerd_is_asked_until_it_answers_or_the_tries_run_out() {
    let node = Node::new();
    // Answers on the third question.
    let count = node.path("asked");
    node.fake("docker", &format!("echo x >> '{}'; [ $(wc -l < '{}') -ge 3 ]", count.display(), count.display()));
    let answered = node.run("node/wait-for-docker.sh.tera", &["10"], b"");
    assert!(answered.success(), "{answered:?}");
    assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 3);

    node.fake("docker", "exit 1");
    let gave_up = node.run("node/wait-for-docker.sh.tera", &["3"], b"");
    assert_eq!(gave_up.code, Some(1));
}

#[test]
fn a_daemon_is_asked_for_the_registry_until_it_resolves_its_name_or_time_is_up() {
    let node = Node::new();
    // Go's resolver in dockerd answers from an old /etc/hosts twice, then
    // the registry itself says it has no such image: that is the answer.
    let count = node.path("asked");
    let count = count.display();
    node.fake(
        "docker",
        &format!(
            "echo \"$*\" >> '{count}'; if [ $(wc -l < '{count}') -lt 3 ]; then \
             echo 'Error response from daemon: Get \"https://manager:5000/v2/\": dial tcp: lookup manager on 127.0.0.11:53: no such host' >&2; exit 1; fi; \
             echo 'Error response from daemon: manifest for manager:5000/labctl/registry-probe:absent not found: manifest unknown: manifest unknown' >&2; exit 1"
        ),
    );
    let reached = node.run("node/registry-answers.sh.tera", &["manager:5000", "10"], b"");
    assert_eq!((reached.code, reached.stdout.as_str()), (Some(0), "3\n"), "{reached:?}");
    let asked = std::fs::read_to_string(node.path("asked")).unwrap();
    assert_eq!(asked.lines().next(), Some("pull --quiet manager:5000/labctl/registry-probe:absent"));

    // A daemon that never gets there: its last words, after the deadline.
    node.fake(
        "docker",
        "echo 'Get \"https://manager:5000/v2/\": http: server gave HTTP response to HTTPS client' >&2; exit 1",
    );
    let started = std::time::Instant::now();
    let gave_up = node.run("node/registry-answers.sh.tera", &["manager:5000", "1"], b"");
    assert_eq!(gave_up.code, Some(1), "{gave_up:?}");
    assert!(gave_up.stderr.contains("server gave HTTP response to HTTPS client"), "{gave_up:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "bounded: {:?}", started.elapsed());
}

#[test]
fn stack_leftovers_and_published_ports_ask_docker_with_their_arguments() {
    let node = Node::new();
    let log = node.path("docker.log");
    node.fake(
        "docker",
        &format!("echo \"$*\" >> '{}'; if [ \"$1 $2\" = 'service ls' ]; then echo id1; fi", log.display()),
    );
    let left = node.run("node/stack-leftovers.sh.tera", &["web", "db"], b"");
    assert_eq!(left.stdout, "id1\nid1\n", "{left:?}");
    let asked = std::fs::read_to_string(&log).unwrap();
    assert!(asked.contains("service ls --quiet --filter label=com.docker.stack.namespace=db\n"), "{asked}");
    assert!(asked.contains("ps --quiet --filter label=com.docker.stack.namespace=web\n"), "{asked}");

    std::fs::remove_file(&log).unwrap();
    let ports = node.run("node/list-published-ports.sh.tera", &["{{.Spec.Name}}"], b"");
    assert!(ports.success(), "{ports:?}");
    let asked = std::fs::read_to_string(&log).unwrap();
    assert!(asked.ends_with("service inspect --format {{.Spec.Name}} id1\n"), "{asked}");

    node.fake("docker", "exit 0");
    let none = node.run("node/list-published-ports.sh.tera", &["{{.Spec.Name}}"], b"");
    assert_eq!((none.success(), none.stdout.as_str()), (true, ""), "no service, no inspect");
}

#[test]
fn a_batch_of_reads_runs_every_command_at_once_and_frames_each_answer_exactly() {
    use crate::exec::batch;
    let node = Node::new();
    // Each command waits until all have started: run one after another,
    // the batch would never end (the runner's limit would fail the test).
    node.fake(
        "slow",
        &format!("touch '{0}/started.'$1; while [ $(ls '{0}' | grep -c started) -lt 3 ]; do sleep 0.05; done; printf '%s' \"$2\"", node.path("").display()),
    );
    let commands: Vec<Vec<String>> = vec![
        vec!["slow".into(), "a".into(), "first line\nsecond, no newline at the end".into()],
        vec!["sh".into(), "-c".into(), "slow b ''; echo 'to stderr' >&2; exit 3".into()],
        vec!["slow".into(), "c".into(), "it's $HOME and `words` * kept as given\n\n".into()],
        vec!["no-such-program-here".into()],
    ];
    let boundary = batch::boundary().unwrap();
    let args = batch::arguments(&boundary, &commands);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let printed = node.run("node/run-reads.sh.tera", &args, b"");
    assert!(printed.success(), "{printed:?}");
    let outputs = batch::parse(&boundary, commands.len(), &printed.stdout).unwrap();
    assert_eq!(
        (outputs[0].code, outputs[0].stdout.as_str(), outputs[0].stderr.as_str()),
        (Some(0), "first line\nsecond, no newline at the end", "")
    );
    assert_eq!((outputs[1].code, outputs[1].stdout.as_str(), outputs[1].stderr.as_str()), (Some(3), "", "to stderr\n"));
    assert_eq!(outputs[2].stdout, "it's $HOME and `words` * kept as given\n\n");
    assert_eq!(outputs[3].code, Some(127), "{:?}", outputs[3]);
    assert!(outputs[3].stderr.contains("no-such-program-here"), "{:?}", outputs[3]);
}

#[test]
fn a_published_port_is_fetched_only_where_the_kernel_has_ipvs() {
    let node = Node::new();
    let fetch = "echo \"fetched $1\"";
    let answer = node.run("node/fetch-published.sh.tera", &["http://localhost:8089/", fetch], b"");
    // This host's own kernel decides, as a node's would.
    let has_ipvs = Path::new("/proc/net/ip_vs").exists() || Path::new("/sys/module/ip_vs").exists();
    match has_ipvs {
        true => assert_eq!((answer.code, answer.stdout.as_str()), (Some(0), "fetched http://localhost:8089/\n")),
        false => assert_eq!((answer.code, answer.stdout.as_str()), (Some(5), ""), "{answer:?}"),
    }
}

#[test]
fn a_worker_that_joined_says_its_own_node_id() {
    let node = Node::new();
    // Through Docker's API where the node has curl and the socket (on this
    // host: when its Docker runs), else through the CLI: the same answer.
    node.fake(
        "curl",
        r#"case "$*" in
  *swarm/join*) cat >/dev/null; printf '\n200' ;;
  *info*) echo '{"ID":"d1","Swarm":{"NodeID":"abc123","NodeAddr":"10.0.0.11","RemoteManagers":[{"NodeID":"mgr9","Addr":"10.0.0.10:2377"}]}}' ;;
esac"#,
    );
    node.fake(
        "docker",
        r#"case "$1" in info) echo abc123 ;; swarm) echo "This node joined a swarm as a worker." ;; esac"#,
    );
    let token = "SWMTKN-1-abc-def\n";
    let joined =
        node.run("node/swarm-join.sh.tera", &["10.0.0.11", "10.0.0.11:2377", "10.0.0.10:2377"], token.as_bytes());
    assert_eq!((joined.code, joined.stdout.as_str()), (Some(0), "node-id abc123\n"), "{joined:?}");
}
