//! End-to-end swarm safety with the docker provider (LABCTL_E2E=1): the
//! worker join token is in no process's argv on this host (node containers'
//! processes included) while `up` joins workers, cold or healing; and a
//! locked manager stops `up` with the unlock instruction instead of being
//! wiped. Its cluster has its own name and subnet, so it runs beside e2e.rs
//! and e2e_labs.rs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::support::{e2e_enabled, host_docker, E2eCluster, Run};

const CLUSTER: &str = "labctl-e2e-swarm";
const TOKEN_PREFIX: &[u8] = b"SWMTKN-1-";

/// Samples every process's command line (/proc/*/cmdline, which on this
/// host includes every process inside the node containers) every 20 ms and
/// keeps those that contain a swarm join token (any cluster's).
pub struct ArgvWatch {
    stop: Arc<AtomicBool>,
    samples: Arc<AtomicUsize>,
    thread: JoinHandle<Vec<String>>,
}

impl ArgvWatch {
    pub fn start() -> ArgvWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(AtomicUsize::new(0));
        let (stop_flag, counter) = (stop.clone(), samples.clone());
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop_flag.load(Ordering::Relaxed) {
                for command_line in command_lines_with_token() {
                    if !seen.contains(&command_line) {
                        seen.push(command_line);
                    }
                }
                counter.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
            seen
        });
        ArgvWatch { stop, samples, thread }
    }

    /// Stop sampling; the command lines seen with a token.
    pub fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        let seen = self.thread.join().expect("the sampler does not panic");
        assert!(self.samples.load(Ordering::Relaxed) >= 5, "the sampler barely ran");
        seen
    }
}

fn command_lines_with_token() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().bytes().all(|byte| byte.is_ascii_digit()))
        // A process may end between the listing and the read.
        .filter_map(|entry| std::fs::read(entry.path().join("cmdline")).ok())
        .filter(|argv| argv.windows(TOKEN_PREFIX.len()).any(|window| window == TOKEN_PREFIX))
        .map(|argv| String::from_utf8_lossy(&argv).replace('\0', " "))
        .collect()
}

/// `labctl up`, which must succeed with this cluster's join token in no
/// process's argv. (Only this cluster's token counts: other tests running
/// on this host may show fake ones.)
fn up_watching_argv(cluster: &E2eCluster) -> Run {
    let watch = ArgvWatch::start();
    let up = cluster.labctl(&["up"]);
    let seen = watch.finish();
    let up = up.success();
    let token = cluster.exec("manager", "docker swarm join-token --quiet worker").trim().to_string();
    assert!(token.starts_with("SWMTKN-1-"), "{token:?}");
    let leaks: Vec<String> = seen.iter().filter(|line| line.contains(&token)).map(|line| mask(line)).collect();
    assert!(leaks.is_empty(), "the join token was in a process's argv:\n{}", leaks.join("\n"));
    up
}

/// A command line to show in a failure, without the token's secret part.
pub fn mask(command_line: &str) -> String {
    let words = command_line.split(' ');
    let masked: Vec<&str> =
        words.map(|word| if word.starts_with("SWMTKN-1-") { "SWMTKN-1-****" } else { word }).collect();
    masked.join(" ")
}

#[test]
fn e2e_no_join_token_in_any_argv_and_a_locked_swarm_survives() {
    if !e2e_enabled() {
        return;
    }
    // The sampler sees a short-lived process that carries a token.
    let watch = ArgvWatch::start();
    duct::cmd("sh", ["-c", "sleep 0.3", "SWMTKN-1-sampler-self-test"]).run().unwrap();
    let seen = watch.finish();
    assert!(seen.iter().any(|line| line.contains("sleep 0.3 SWMTKN-1-sampler-self-test")), "{seen:?}");

    let cluster = E2eCluster::new(CLUSTER, 58);

    // A cold up joins three workers; no token in any process list.
    let up = up_watching_argv(&cluster);
    assert!(up.stderr.contains("3 workers joined"), "{}", up.stderr);

    // A heal: a worker that left and a removed node container come back.
    cluster.exec("node2", "docker swarm leave --force");
    host_docker(&["rm", "--force", &cluster.container("node3")]);
    let healed = up_watching_argv(&cluster);
    assert!(healed.stderr.contains("joined"), "{}", healed.stderr);

    // Autolock on, a service of the class, then the cluster stops and starts.
    let autolock = cluster.exec("manager", "docker swarm update --autolock=true");
    let key = autolock
        .split_whitespace()
        .find(|word| word.starts_with("SWMKEY-1-"))
        .unwrap_or_else(|| panic!("no unlock key in: {autolock}"))
        .to_string();
    cluster.exec("manager", "docker service create --detach --no-resolve-image --name keepme labctl-e2e/none:1");
    cluster.labctl(&["down"]).success();
    let locked = cluster.labctl(&["up"]);
    assert_eq!(locked.code, 1, "up must stop on a locked swarm: {locked:?}");
    assert!(locked.stderr.contains("docker swarm unlock"), "{}", locked.stderr);
    assert!(locked.stderr.contains("--reinit-swarm"), "{}", locked.stderr);

    // Unlocked by hand, the swarm still has the service; up finishes the job.
    cluster.exec("manager", &format!("printf '%s\\n' '{key}' | docker swarm unlock"));
    let up = cluster.labctl(&["up"]).success();
    assert!(!up.stderr.contains("swarm initialised"), "{}", up.stderr);
    assert_eq!(cluster.exec("manager", "docker service ls --format '{{.Name}}'").trim(), "keepme");
}
