//! End-to-end swarm safety with the docker provider (LABCTL_E2E=1): the
//! worker join token is in no process's argv on this host (node containers'
//! processes included) while `up` joins workers, cold or healing; and a
//! locked manager stops `up` with the unlock instruction instead of being
//! wiped. Its cluster has its own name and subnet, so it runs beside e2e.rs
//! and e2e_labs.rs.

use crate::support::{host_docker, require_e2e, ArgvWatch, E2eCluster, Run};

const CLUSTER: &str = "labctl-e2e-swarm";
const TOKEN_PREFIX: &[u8] = b"SWMTKN-1-";

/// A command line with a swarm join token (any cluster's).
pub fn has_token(argv: &[u8]) -> bool {
    argv.windows(TOKEN_PREFIX.len()).any(|window| window == TOKEN_PREFIX)
}

/// `labctl up`, which must succeed with this cluster's join token in no
/// process's argv. (Only this cluster's token counts: other tests running
/// on this host may show fake ones.)
fn up_watching_argv(cluster: &E2eCluster) -> Run {
    let watch = ArgvWatch::start(has_token);
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
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_no_join_token_in_any_argv_and_a_locked_swarm_survives() {
    require_e2e();
    // The sampler sees a short-lived process that carries a token.
    let watch = ArgvWatch::start(has_token);
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
