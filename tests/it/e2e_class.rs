//! End to end (LABCTL_E2E=1): a class of three seats with the docker
//! provider. `up --seat all` brings up three isolated swarms at once; a
//! seat's container removed by hand is healed by `up --seat 2` without
//! touching the other seats; a change without --seat is refused; `destroy
//! --seat all --yes` removes everything. Its own name, subnets
//! (10.65.0-2.0/24) and host ports, so it runs beside the other e2e tests.

use crate::support::{host_docker, require_e2e, E2eCluster};

const CLASS: &str = "labctl-e2e-class";

const CONFIG: &str = r#"[cluster]
name = "labctl-e2e-class"
provider = "docker"
subnet = "10.65.0.0/24"
manager_ip = "10.65.0.10"
worker_ip_start = "10.65.0.11"
workers = 1

[[forward]]
host = 29110
guest = 9000

[registry]
image = "labctl-test/registry:2"

[docker]
node_image = "labctl-test/node:bookworm"

[class]
seats = 3
access = "none"

# No class cache: it would ask Docker Hub, and tests talk only to what they made.
[cache]
enabled = false
"#;

/// The containers of seat `seat`, by name: (name, id and start time).
fn seat_containers(seat: u32) -> Vec<(String, String)> {
    let filter = format!("label=labctl.cluster={CLASS}-s{seat:02}");
    let names = host_docker(&["ps", "--all", "--filter", &filter, "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let identity = host_docker(&["inspect", "--format", "{{.Id}} {{.State.StartedAt}}", name]);
            (name.to_string(), identity.trim().to_string())
        })
        .collect()
}

/// `labctl exec --seat SEAT manager -- ARGS…`: its output, which must succeed.
fn on_manager(class: &E2eCluster, seat: u32, args: &[&str]) -> String {
    let seat = seat.to_string();
    let command = [&["exec", "--seat", &seat, "manager", "--"][..], args].concat();
    class.labctl(&command).success().stdout.trim().to_string()
}

/// `hostname status` of every node in seat `seat`'s swarm, sorted.
fn swarm_nodes(class: &E2eCluster, seat: u32) -> Vec<String> {
    let listed = on_manager(class, seat, &["docker", "node", "ls", "--format", "{{.Hostname}} {{.Status}}"]);
    let mut nodes: Vec<String> = listed.lines().map(String::from).collect();
    nodes.sort();
    nodes
}

/// Everything of the class left on this host: containers, volumes, networks.
fn leftovers() -> String {
    let filter = format!("label=labctl.class={CLASS}");
    let containers = host_docker(&["ps", "--all", "--quiet", "--filter", &filter]);
    let volumes = host_docker(&["volume", "ls", "--quiet", "--filter", &filter]);
    let networks = host_docker(&["network", "ls", "--quiet", "--filter", &filter]);
    [containers, volumes, networks].concat()
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_a_class_of_three_seats_comes_up_heals_one_seat_and_goes() {
    require_e2e();
    let class = E2eCluster::class(CLASS, CONFIG);

    let up = class.labctl(&["up", "--seat", "all"]).success();
    assert!(up.stderr.starts_with("3 seats, "), "{}", up.stderr);
    for seat in 1..=3u32 {
        let label = format!("s{seat:02}");
        let cluster = format!("{CLASS}-{label}");
        // The seat's own lines, and its line in the report.
        let ready = format!("{label} │ cluster {cluster} is ready: `labctl ssh --seat {seat} manager`");
        assert!(up.stderr.lines().any(|line| line.starts_with(&ready)), "{ready}\n{}", up.stderr);
        let reported = format!("✓ {label}   {cluster}  local   ");
        assert!(up.stderr.lines().any(|line| line.starts_with(&reported)), "{reported}\n{}", up.stderr);

        // Its containers: <class>-sKK-<node>, labelled with the class and seat.
        let names: Vec<String> = seat_containers(seat).into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, [format!("{cluster}-manager"), format!("{cluster}-node1")]);
        let labels = host_docker(&[
            "inspect",
            "--format",
            "{{index .Config.Labels \"labctl.class\"}} {{index .Config.Labels \"labctl.seat\"}}",
            &names[0],
        ]);
        assert_eq!(labels.trim(), format!("{CLASS} {seat}"));

        // Its own swarm: its manager sees its two nodes and no other seat's,
        // at the seat's addresses.
        assert_eq!(swarm_nodes(&class, seat), ["manager Ready", "node1 Ready"], "seat {seat}");
        let address = on_manager(&class, seat, &["docker", "info", "--format", "{{.Swarm.NodeAddr}}"]);
        assert_eq!(address, format!("10.65.{}.10", seat - 1), "seat {seat}");
    }
    let swarm_ids: Vec<String> = (1..=3)
        .map(|seat| on_manager(&class, seat, &["docker", "info", "--format", "{{.Swarm.Cluster.ID}}"]))
        .collect();
    assert!(
        swarm_ids[0] != swarm_ids[1] && swarm_ids[1] != swarm_ids[2] && swarm_ids[0] != swarm_ids[2],
        "{swarm_ids:?}"
    );

    // Seat 2's worker removed by hand: `up --seat 2` heals seat 2 only.
    let (seat1, seat3) = (seat_containers(1), seat_containers(3));
    host_docker(&["rm", "--force", &format!("{CLASS}-s02-node1")]);
    let heal = class.labctl(&["up", "--seat", "2"]).success();
    assert!(
        heal.stderr.contains("✓ nodes running (2): 1 recreated on kept volumes, 1 already running"),
        "{}",
        heal.stderr
    );
    assert!(!heal.stderr.contains("│"), "one seat prints as a single cluster: {}", heal.stderr);
    assert_eq!(swarm_nodes(&class, 2), ["manager Ready", "node1 Ready"], "seat 2's swarm is whole again");
    assert_eq!(seat_containers(1), seat1, "seat 1 untouched");
    assert_eq!(seat_containers(3), seat3, "seat 3 untouched");

    // A second `up` of every seat finds nothing to do.
    let again = class.labctl(&["up", "--seat", "all"]).success();
    assert_eq!(again.stderr.matches("no changes: cluster").count(), 3, "{}", again.stderr);

    // A change without --seat is refused in one line, and nothing goes.
    for args in [&["destroy", "--yes"][..], &["up"], &["down"]] {
        let error = class.labctl(args).single_error();
        assert!(
            error.ends_with(
                "this workspace is a class of 3 seats; say which this acts on: --seat 3, --seat 2-5 or --seat all"
            ),
            "{error}"
        );
    }
    assert_eq!(seat_containers(1), seat1);

    let destroyed = class.labctl(&["destroy", "--seat", "all", "--yes"]).success();
    assert_eq!(destroyed.stderr.matches("✓ s0").count(), 3, "{}", destroyed.stderr);
    assert_eq!(leftovers(), "", "the class left something behind");
}
