//! End-to-end: one image cache for a class of two seats (LABCTL_E2E=1).
//!
//! A plain registry started here (the offline `labctl-test/registry:2`)
//! stands in for Docker Hub, on both seats' networks, which the test creates
//! itself (labctl reuses a network of the right subnet): whichever seat
//! makes the cache (they come up at once), the cache reaches it by name from
//! its first second (registry:2 as a pull-through cache asks its upstream
//! when it starts), and no traffic leaves this host.
//! Every node of both seats pulls an image by its Docker Hub name; the
//! upstream's access log shows how often it served each blob. Then the class
//! goes offline (`upstream = "none"`): a lab image this host has is pushed
//! into the cache once and every node pulls it from there. Everything the
//! test made is removed however it ends.
//!
//! A second test, on a workspace of its own (10.72.0.0/24), checks that a
//! seat may read an offline cache and never write it: a node's push is
//! refused, what labctl pushes later is served at once, and a writable
//! cache an older labctl made is recreated read-only.

use std::collections::BTreeMap;
use std::io::Write;

use crate::support::{free_port, host_docker, quiet_docker, require_e2e, Run, Workspace};

const CLASS: &str = "labctl-e2e-cache";
const CACHE: &str = "labctl-cache-labctl-e2e-cache";
/// The test's stand-in for Docker Hub, on the seats' networks.
const UPSTREAM: &str = "labctl-e2e-cache-upstream";
const UPSTREAM_URL: &str = "http://labctl-e2e-cache-upstream:5000";
/// The seats' networks, with their subnets, as labctl makes them.
const SEAT_NETWORKS: [(&str, &str); 2] = [("labctl-e2e-cache-s01", "10.69.0"), ("labctl-e2e-cache-s02", "10.69.1")];
/// The image the nodes pull through the cache (Docker Hub name `library/…`).
const PROBE: &str = "labctl-e2e-cache-probe";
/// The image this host has and an offline class's cache gets pushed.
const OFFLINE: &str = "labctl-e2e-cache-offline:1";
/// The image `labctl images load` copies from this host into every node.
const LOADED: &str = "labctl-e2e-cache-loaded:1";
const NODES: [(&str, &str); 4] = [("1", "manager"), ("1", "node1"), ("2", "manager"), ("2", "node1")];

/// The class's workspace and the upstream; removed on drop.
struct Class {
    workspace: Workspace,
}

impl Class {
    fn new() -> Class {
        let class = Class { workspace: Workspace::new() };
        class.configure(&format!("upstream = \"{UPSTREAM_URL}\""), "[]");
        class.remove_all();
        // Labelled as labctl labels them, so that `destroy` removes them too.
        for (seat, prefix) in SEAT_NETWORKS {
            let (label, network) = (format!("labctl.cluster={seat}"), format!("labctl-{seat}"));
            let (subnet, gateway) = (format!("{prefix}.0/24"), format!("{prefix}.1"));
            host_docker(&[
                "network",
                "create",
                "--label",
                &label,
                "--subnet",
                &subnet,
                "--gateway",
                &gateway,
                &network,
            ]);
        }
        let seat1 = ["--network", "labctl-labctl-e2e-cache-s01", "--publish", "127.0.0.1::5000"];
        host_docker(&[&["run", "--detach", "--name", UPSTREAM][..], &seat1, &["labctl-test/registry:2"]].concat());
        host_docker(&["network", "connect", "labctl-labctl-e2e-cache-s02", UPSTREAM]);
        class
    }

    /// labctl.toml: two seats of a manager and one worker on 10.69.0/1.x,
    /// with `cache` as the [cache] keys and `seed` as the seeded labs.
    fn configure(&self, cache: &str, seed: &str) {
        let config = format!(
            "[cluster]\nname = \"{CLASS}\"\nprovider = \"docker\"\nsubnet = \"10.69.0.0/24\"\nmanager_ip = \"10.69.0.10\"\nworkers = 1\nworker_ip_start = \"10.69.0.11\"\n\n\
[[forward]]\nhost = 29150\nguest = 9000\n\n[registry]\nenabled = false\n\n[docker]\nnode_image = \"labctl-test/node:bookworm\"\n\n\
[labs]\nseed = {seed}\n\n[class]\nseats = 2\naccess = \"none\"\n\n[cache]\n{cache}\n"
        );
        self.workspace.file("labctl.toml", &config);
    }

    fn labctl(&self, args: &[&str]) -> Run {
        self.workspace.run_with_host_tools(args)
    }

    /// `docker pull IMAGE` on a node of a seat; its output, or the failure.
    fn pull(&self, seat: &str, node: &str, image: &str) -> Result<String, String> {
        let run = self.labctl(&["exec", "--seat", seat, node, "--", "docker", "pull", image]);
        match run.code {
            0 => Ok(run.stdout),
            _ => Err(format!("seat {seat} {node}: {}{}", run.stdout, run.stderr)),
        }
    }

    /// The image ID of `image` on a node of a seat.
    fn image_id(&self, seat: &str, node: &str, image: &str) -> String {
        let run = self
            .labctl(&["exec", "--seat", seat, node, "--", "docker", "image", "inspect", "--format", "{{.Id}}", image]);
        run.success().stdout.trim().to_string()
    }

    fn remove_all(&self) {
        // The upstream first: a network with a container on it cannot go.
        quiet_docker(&["rm", "--force", UPSTREAM]);
        self.labctl(&["destroy", "--seat", "all", "--yes"]);
        quiet_docker(&["rm", "--force", CACHE]);
        quiet_docker(&["volume", "rm", "--force", CACHE]);
        for (seat, _) in SEAT_NETWORKS {
            quiet_docker(&["network", "rm", &format!("labctl-{seat}")]);
        }
        quiet_docker(&["image", "rm", OFFLINE, LOADED]);
    }
}

impl Drop for Class {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// A one-layer image of random bytes, imported into this host's Docker as `tag`.
fn import_image(tag: &str) {
    let mut noise = vec![0u8; 256 * 1024];
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut state = seed | 1;
    for byte in noise.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(noise.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    archive.append_data(&mut header, "noise", noise.as_slice()).unwrap();
    let bytes = archive.into_inner().unwrap();
    let mut import = duct::cmd("docker", ["import", "-", tag]).stdin_bytes(bytes).stdout_null().unchecked();
    import = import.stderr_capture();
    let output = import.run().unwrap();
    assert!(output.status.success(), "docker import: {}", String::from_utf8_lossy(&output.stderr));
    std::io::stdout().flush().ok();
}

/// Push the probe image into the upstream through its loopback port, and
/// keep no copy on this host.
fn seed_upstream() {
    let port = host_docker(&["port", UPSTREAM, "5000/tcp"]);
    let port = port.lines().find(|line| line.starts_with("127.0.0.1:")).expect("published").trim().to_string();
    let target = format!("{port}/library/{PROBE}:1");
    import_image(&target);
    let mut tries = 0;
    while duct::cmd("docker", ["push", &target]).stdout_null().stderr_null().unchecked().run().unwrap().status.code()
        != Some(0)
    {
        tries += 1;
        assert!(tries < 40, "the upstream registry never took the probe image");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    host_docker(&["image", "rm", &target]);
}

/// How often the upstream answered `GET` for each blob of `repository`.
fn blob_gets(repository: &str) -> BTreeMap<String, usize> {
    let logs = duct::cmd("docker", ["logs", UPSTREAM]).stderr_to_stdout().read().unwrap();
    let prefix = format!("\"GET /v2/{repository}/blobs/");
    let mut counts = BTreeMap::new();
    for line in logs.lines() {
        if let Some(start) = line.find(&prefix) {
            let digest = line[start + prefix.len()..].split_whitespace().next().unwrap_or_default();
            *counts.entry(digest.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// Every request the upstream logged for `repository`.
fn requests_for(repository: &str) -> usize {
    let logs = duct::cmd("docker", ["logs", UPSTREAM]).stderr_to_stdout().read().unwrap();
    logs.lines().filter(|line| line.contains(&format!(" /v2/{repository}/"))).count()
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_cache_one_fetch_per_engine_for_two_seats_and_an_offline_push() {
    require_e2e();
    let class = Class::new();
    seed_upstream();

    // The seats come up at once: one makes the cache, the other joins it.
    let up = class.labctl(&["up", "--seat", "all"]).success();
    let said = |text: &str| up.stderr.matches(text).count();
    let through = format!("(pulls through {UPSTREAM_URL}): ");
    assert_eq!(said(&format!("{through}created")), 1, "{}", up.stderr);
    assert_eq!(said(&format!("{through}joined this seat's network")), 1, "{}", up.stderr);
    assert!(
        up.stderr.contains("class cache at 10.69.0.254:5000") && up.stderr.contains("class cache at 10.69.1.254:5000")
    );
    let networks = host_docker(&[
        "inspect",
        "--format",
        "{{range $name, $net := .NetworkSettings.Networks}}{{$name}}={{$net.IPAddress}} {{end}}",
        CACHE,
    ]);
    assert_eq!(networks.trim(), "labctl-labctl-e2e-cache-s01=10.69.0.254 labctl-labctl-e2e-cache-s02=10.69.1.254");

    // One node first, then the three others at once.
    let image = format!("library/{PROBE}:1");
    let repository = format!("library/{PROBE}");
    class.pull("1", "manager", &image).unwrap();
    let after_first = blob_gets(&repository);
    std::thread::scope(|scope| {
        let pulls: Vec<_> =
            NODES[1..].iter().map(|(seat, node)| scope.spawn(|| class.pull(seat, node, &image))).collect();
        for pull in pulls {
            pull.join().unwrap().unwrap();
        }
    });
    let after_all = blob_gets(&repository);
    let ids: Vec<String> = NODES.iter().map(|(seat, node)| class.image_id(seat, node, &image)).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    eprintln!("upstream GETs per blob after the first node: {after_first:?}; after all four: {after_all:?}");
    assert_eq!(after_first.len(), 2, "the image's config and its layer came from upstream: {after_first:?}");
    assert_eq!(after_all, after_first, "the other three nodes, of both seats, got it from the cache");
    // registry:2 streams a blob it lacks to its client while storing its own
    // copy: at most two fetches, whatever the number of nodes.
    assert!(after_all.values().all(|count| *count <= 2), "{after_all:?}");

    // Offline: the lab image this host has goes into the cache, once.
    import_image(OFFLINE);
    class.workspace.file(
        "labs/cacheprobe/lab.toml",
        &format!("id = \"cacheprobe\"\ntitle = \"Cache\"\ntitle_ko = \"캐시\"\ndir = \"cacheprobe\"\nfiles = [\"notes.txt\"]\nimages = [\"{OFFLINE}\"]\n"),
    );
    class.workspace.file("labs/cacheprobe/notes.txt", "cache\n");
    class.workspace.file("labs/cacheprobe/README.md", "# 캐시\n");
    class.workspace.file("labs/cacheprobe/README.en.md", "# Cache\n");
    class.configure("upstream = \"none\"", "[\"cacheprobe\"]");
    let up = class.labctl(&["up", "--seat", "all"]).success();
    assert!(up.stderr.contains("recreated for the new [cache] settings"), "{}", up.stderr);
    // Once for the class, before its seats come up; the seats only join.
    assert_eq!(up.stderr.matches("pushed labctl-e2e-cache-offline:1").count(), 1, "{}", up.stderr);
    let offline = format!("library/{}", OFFLINE);
    for (seat, node) in NODES {
        class.pull(seat, node, &offline).unwrap();
    }
    assert_eq!(requests_for("library/labctl-e2e-cache-offline"), 0, "offline: nothing asked upstream");
    let again = class.labctl(&["up", "--seat", "all"]).success();
    assert_eq!(again.stderr.matches("already serving this seat").count(), 2, "{}", again.stderr);

    // `images load` over both seats: saved once here, into each node once.
    import_image(LOADED);
    let load = class.labctl(&["images", "load", "--seat", "all", LOADED]).success();
    assert!(load.stderr.contains("4 of 4 image copies missing on 4 nodes of 2 seats"), "{}", load.stderr);
    assert!(load.stderr.contains(&format!(" at once: {LOADED} on 4 nodes of 2 seats")), "{}", load.stderr);
    let host_id = host_docker(&["image", "inspect", "--format", "{{.Id}}", LOADED]);
    for (seat, node) in NODES {
        assert_eq!(class.image_id(seat, node, LOADED), host_id.trim(), "seat {seat} {node}");
    }
    let again = class.labctl(&["images", "load", "--seat", "1-2", LOADED]).success();
    assert!(again.stderr.contains(&format!("{LOADED}: already on every node")), "{}", again.stderr);

    // Destroying the class removes the cache with its last seat.
    host_docker(&["rm", "--force", UPSTREAM]);
    let destroyed = class.labctl(&["destroy", "--seat", "all", "--yes"]).success();
    assert!(
        destroyed.stderr.contains("class cache labctl-cache-labctl-e2e-cache with its storage"),
        "{}",
        destroyed.stderr
    );
    assert_eq!(quiet_docker(&["ps", "--all", "--quiet", "--filter", &format!("name=^{CACHE}$")]), "");
    assert_eq!(quiet_docker(&["volume", "ls", "--quiet", "--filter", &format!("name=^{CACHE}$")]), "");
}

const RO_CLUSTER: &str = "labctl-e2e-cache-ro";
const RO_CACHE: &str = "labctl-cache-labctl-e2e-cache-ro";
const RO_NETWORK: &str = "labctl-labctl-e2e-cache-ro";
/// The cache's address on the cluster's network, as every node's dockerd has it.
const RO_ADDRESS: &str = "10.72.0.254:5000";
/// The lab's image from the start, and one it gets later.
const RO_LAB_IMAGE: &str = "labctl-e2e-cache-ro-lab:1";
const RO_LATER_IMAGE: &str = "labctl-e2e-cache-ro-later:1";
/// What a student would spoil the cache with.
const SPOILED: &str = "10.72.0.254:5000/library/alpine:latest";

/// A one-seat workspace with an offline cache; everything removed on drop.
struct OfflineSeat {
    workspace: Workspace,
}

impl OfflineSeat {
    fn new() -> OfflineSeat {
        let seat = OfflineSeat { workspace: Workspace::new() };
        seat.remove_all();
        seat
    }

    /// labctl.toml and the lab `roprobe`, whose images are `images`.
    fn configure(&self, images: &[&str]) {
        let config = format!(
            "[cluster]\nname = \"{RO_CLUSTER}\"\nprovider = \"docker\"\nsubnet = \"10.72.0.0/24\"\nmanager_ip = \"10.72.0.10\"\nworkers = 1\nworker_ip_start = \"10.72.0.11\"\n\n\
[[forward]]\nhost = {}\nguest = 9000\n\n[registry]\nenabled = false\n\n[docker]\nnode_image = \"labctl-test/node:bookworm\"\n\n\
[labs]\nseed = [\"roprobe\"]\n\n[cache]\nenabled = true\nupstream = \"none\"\nimage = \"labctl-test/registry:2\"\n",
            free_port()
        );
        self.workspace.file("labctl.toml", &config);
        let images: Vec<String> = images.iter().map(|image| format!("\"{image}\"")).collect();
        self.workspace.file(
            "labs/roprobe/lab.toml",
            &format!("id = \"roprobe\"\ntitle = \"Cache\"\ntitle_ko = \"캐시\"\ndir = \"roprobe\"\nfiles = [\"notes.txt\"]\nimages = [{}]\n", images.join(", ")),
        );
        self.workspace.file("labs/roprobe/notes.txt", "cache\n");
        self.workspace.file("labs/roprobe/README.md", "# 캐시\n");
        self.workspace.file("labs/roprobe/README.en.md", "# Cache\n");
    }

    fn labctl(&self, args: &[&str]) -> Run {
        self.workspace.run_with_host_tools(args)
    }

    /// `sh -c script` on a node; its output, or all it said when it fails.
    fn on_node(&self, node: &str, script: &str) -> Result<String, String> {
        let run = self.labctl(&["exec", node, "--", "sh", "-c", script]);
        match run.code {
            0 => Ok(run.stdout),
            _ => Err(format!("{}{}", run.stdout, run.stderr)),
        }
    }

    /// Pull `image` by its Docker Hub name on a node that has no copy (from
    /// the cache: this test reaches no other registry); its image ID.
    fn pull_afresh(&self, node: &str, image: &str) -> String {
        let script = format!(
            "docker image rm --force library/{image} >/dev/null 2>&1; docker pull --quiet library/{image} >/dev/null && docker image inspect --format '{{{{.Id}}}}' library/{image}"
        );
        self.on_node(node, &script)
            .unwrap_or_else(|failure| panic!("{node} pulls {image}: {failure}"))
            .trim()
            .to_string()
    }

    /// A student's push, on the manager, of an image tagged for the cache.
    fn push_spoiled(&self) -> Result<String, String> {
        self.on_node("manager", &format!("docker tag library/{RO_LAB_IMAGE} {SPOILED} && docker push {SPOILED}"))
    }

    /// Whether the cache holds `path` (`library/alpine:latest`), read through
    /// its port on this host's loopback.
    fn cache_holds(&self, path: &str) -> bool {
        let port = host_docker(&["port", RO_CACHE, "5000/tcp"]);
        let port = port.lines().find(|line| line.starts_with("127.0.0.1:")).expect("published").trim().to_string();
        let inspect = duct::cmd("docker", ["manifest", "inspect", "--insecure", &format!("{port}/{path}")]);
        inspect.stdout_null().stderr_null().unchecked().run().unwrap().status.success()
    }

    /// The cache's writers left on this host's Docker.
    fn writers(&self) -> String {
        quiet_docker(&["ps", "--all", "--quiet", "--filter", &format!("label=labctl.cache.writer={RO_CLUSTER}")])
    }

    fn remove_all(&self) {
        self.labctl(&["destroy", "--yes"]);
        let writers = self.writers();
        for writer in writers.split_whitespace() {
            quiet_docker(&["rm", "--force", writer]);
        }
        quiet_docker(&["rm", "--force", RO_CACHE]);
        quiet_docker(&["volume", "rm", "--force", RO_CACHE]);
        quiet_docker(&["network", "rm", RO_NETWORK]);
        quiet_docker(&["image", "rm", RO_LAB_IMAGE, RO_LATER_IMAGE]);
    }
}

impl Drop for OfflineSeat {
    fn drop(&mut self) {
        self.remove_all();
    }
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_cache_offline_seats_read_the_cache_and_never_write_it() {
    require_e2e();
    let seat = OfflineSeat::new();
    import_image(RO_LAB_IMAGE);
    seat.configure(&[RO_LAB_IMAGE]);
    let up = seat.labctl(&["up"]).success();
    let line =
        format!("(offline, read-only for the seats: holds this engine's lab images): created, pushed {RO_LAB_IMAGE}");
    assert!(up.stderr.contains(&line), "{}", up.stderr);
    assert_eq!(seat.writers(), "", "the writer is gone once it pushed");

    // The seat reads the lab image from the cache; a student's push is refused.
    let host_id = host_docker(&["image", "inspect", "--format", "{{.Id}}", RO_LAB_IMAGE]);
    assert_eq!(seat.pull_afresh("manager", RO_LAB_IMAGE), host_id.trim());
    let refused = seat.push_spoiled().expect_err("a seat's push into the cache");
    assert!(refused.contains("405"), "{refused}");
    assert!(!seat.cache_holds("library/alpine:latest"), "nothing of the push is served");

    // What labctl pushes later, the running cache serves at once, though a
    // node asked for it before (and was told it is unknown).
    import_image(RO_LATER_IMAGE);
    let early = seat.on_node("node1", &format!("docker pull {RO_ADDRESS}/library/{RO_LATER_IMAGE}"));
    assert!(early.is_err(), "{early:?}");
    seat.configure(&[RO_LAB_IMAGE, RO_LATER_IMAGE]);
    let up = seat.labctl(&["up"]).success();
    let line = format!("holds this engine's lab images): pushed {RO_LATER_IMAGE} ");
    assert!(up.stderr.contains(&line), "{}", up.stderr);
    let later_id = host_docker(&["image", "inspect", "--format", "{{.Id}}", RO_LATER_IMAGE]);
    assert_eq!(seat.pull_afresh("node1", RO_LATER_IMAGE), later_id.trim());
    assert_eq!(seat.writers(), "");

    // A cache an older labctl made (the same run, without the read-only
    // mode and its label) took a seat's push; `up` recreates it read-only.
    let workspace_label = format!("labctl.workspace={}", seat.workspace.path().display());
    host_docker(&["rm", "--force", RO_CACHE]);
    host_docker(&[
        "run",
        "--detach",
        "--name",
        RO_CACHE,
        "--restart",
        "always",
        "--network",
        RO_NETWORK,
        "--ip",
        "10.72.0.254",
        "--publish",
        "127.0.0.1::5000",
        "--mount",
        &format!("type=volume,src={RO_CACHE},dst=/var/lib/registry"),
        "--label",
        &format!("labctl.cache={RO_CLUSTER}"),
        "--label",
        "labctl.cache.upstream=none",
        "--label",
        &workspace_label,
        "labctl-test/registry:2",
    ]);
    let mut old = seat.push_spoiled();
    for _ in 0..40 {
        if old.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        old = seat.push_spoiled();
    }
    old.expect("the older labctl's cache takes a seat's push");
    let up = seat.labctl(&["up"]).success();
    let line = format!(
        "recreated read-only (an older labctl made it writable by the seats), pushed {RO_LAB_IMAGE}, {RO_LATER_IMAGE}"
    );
    assert!(up.stderr.contains(&line), "{}", up.stderr);
    let refused = seat.push_spoiled().expect_err("a seat's push into the recreated cache");
    assert!(refused.contains("405"), "{refused}");
    assert_eq!(seat.pull_afresh("manager", RO_LAB_IMAGE), host_id.trim());
    let again = seat.labctl(&["up"]).success();
    assert!(again.stderr.contains("holds this engine's lab images): already serving"), "{}", again.stderr);

    let destroyed = seat.labctl(&["destroy", "--yes"]).success();
    assert!(destroyed.stderr.contains(&format!("class cache {RO_CACHE} with its storage")), "{}", destroyed.stderr);
    assert_eq!(quiet_docker(&["volume", "ls", "--quiet", "--filter", &format!("name=^{RO_CACHE}$")]), "");
}
