use std::path::PathBuf;

use super::*;

fn catalog() -> Catalog {
    Catalog::load(std::path::Path::new("/nonexistent-workspace")).expect("built-in labs load")
}

fn origin(text: &str) -> Origin {
    Origin { path: Some(PathBuf::from("labctl.toml")), text: text.to_string() }
}

/// Settings from a config text, or the error lines.
fn settings(text: &str) -> Result<Settings, Vec<String>> {
    let origin = origin(text);
    let raw = parse(&origin).map_err(|error| vec![error.to_string()])?;
    validate::resolve(raw, origin, &catalog(), None)
        .map_err(|error| error.to_string().lines().map(String::from).collect())
}

fn single_error(text: &str) -> String {
    let errors = settings(text).expect_err("the config should be rejected");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap()
}

#[test]
fn nodes_name_the_manager_and_workers_even_when_renamed() {
    let settings = settings("[cluster]\nmanager_name = \"boss\"\nworkers = 2\nworker_prefix = \"w\"\n").unwrap();
    let nodes = &settings.nodes;
    assert_eq!((nodes.manager().name.as_str(), nodes.manager().role), ("boss", Role::Manager));
    let workers: Vec<(&str, Role)> = nodes.workers().iter().map(|node| (node.name.as_str(), node.role)).collect();
    assert_eq!(workers, vec![("w1", Role::Worker), ("w2", Role::Worker)]);
    assert_eq!(nodes.names(), vec!["boss", "w1", "w2"]);
    assert_eq!(nodes.node("w2").map(|node| node.ip.to_string()), Some("192.168.56.12".to_string()));
    assert_eq!(nodes.node("node1"), None);
}

#[test]
fn defaults_reproduce_the_handout_class() {
    let settings = settings("").unwrap();
    assert_eq!(settings.cluster_name, "swarm-lab");
    assert_eq!(settings.provider, ProviderSetting::Auto);
    let nodes: Vec<(String, Role, String)> =
        settings.nodes.iter().map(|node| (node.name.clone(), node.role, node.ip.to_string())).collect();
    assert_eq!(
        nodes,
        vec![
            ("manager".to_string(), Role::Manager, "192.168.56.10".to_string()),
            ("node1".to_string(), Role::Worker, "192.168.56.11".to_string()),
            ("node2".to_string(), Role::Worker, "192.168.56.12".to_string()),
            ("node3".to_string(), Role::Worker, "192.168.56.13".to_string()),
        ]
    );
    assert_eq!(settings.registry.as_ref().map(Registry::address), Some("manager:5000".to_string()));
    assert_eq!(
        settings.forwards,
        vec![Forward { node: "manager".into(), host: 49000, guest: 9000, protocol: "tcp".into() }]
    );
    assert_eq!(settings.vagrant.provider, Hypervisor::VirtualBox);
    let seeded: Vec<(&str, &str)> =
        settings.seeded_labs.iter().map(|lab| (lab.id.as_str(), lab.target.as_str())).collect();
    assert_eq!(
        seeded,
        vec![
            ("lab1", "/root/work/ingress"),
            ("lab2", "/root/work/work3"),
            ("lab3", "/root/work/db"),
            ("lab4", "/root/work/ch04"),
            ("lab5", "/root/work/heal"),
            ("visualizer", "/root/work/visualizer"),
        ]
    );
    assert_eq!(settings.node_image, None, "labctl's own node image");
}

#[test]
fn customised_cluster_resolves_names_addresses_and_overrides() {
    let settings = settings(
        r#"
[cluster]
name = "class-b"
subnet = "192.168.57.0/24"
manager_name = "leader"
manager_ip = "192.168.57.100"
workers = 2
worker_prefix = "worker"
worker_ip_start = "192.168.57.101"

[resources]
memory_mb = 1024
[resources.node.leader]
memory_mb = 4096
cpus = 4

[labs]
root = "/home/vagrant/labs"
seed = ["db", "ingress"]
[labs.target]
db = "/srv/db"
"#,
    )
    .unwrap();
    let summary: Vec<String> = settings
        .nodes
        .iter()
        .map(|node| format!("{} {} {} {}", node.name, node.ip, node.memory_mb, node.cpus))
        .collect();
    assert_eq!(
        summary,
        vec!["leader 192.168.57.100 4096 4", "worker1 192.168.57.101 1024 2", "worker2 192.168.57.102 1024 2"]
    );
    assert_eq!(settings.forwards[0].node, "leader", "a forward without node goes to the manager");
    let seeded: Vec<(&str, &str)> =
        settings.seeded_labs.iter().map(|lab| (lab.id.as_str(), lab.target.as_str())).collect();
    assert_eq!(seeded, vec![("lab3", "/srv/db"), ("lab1", "/home/vagrant/labs/ingress")]);
}

#[test]
fn malformed_toml_names_line_and_column() {
    let error = single_error("[cluster]\nname = \"x\"\nworkers = = 3\n");
    assert!(error.starts_with("labctl.toml:3:11: "), "{error}");
}

#[test]
fn unknown_key_suggests_the_right_one() {
    let error = single_error("[cluster]\nwokers = 3\n");
    assert!(error.starts_with("labctl.toml:2:1: unknown key `wokers`; did you mean `workers`?"), "{error}");
}

#[test]
fn manager_outside_the_subnet_is_rejected_with_the_usable_range() {
    let error = single_error("[cluster]\nmanager_ip = \"10.0.0.5\"\n");
    assert_eq!(
        error,
        "labctl.toml:2:14: cluster.manager_ip: 10.0.0.5 is outside the usable range of subnet 192.168.56.0/24; pick addresses from 192.168.56.2 to 192.168.56.254"
    );
}

#[test]
fn workers_running_past_the_subnet_are_rejected_once() {
    let error = single_error("[cluster]\nworker_ip_start = \"192.168.56.253\"\n");
    assert!(
        error.starts_with("labctl.toml:2:19: cluster.worker_ip_start: node3 gets 192.168.56.255, which is outside"),
        "{error}"
    );
    let error = single_error("[images]\nparallel = 0\n");
    assert!(error.starts_with("labctl.toml:2:12: images.parallel: is 0"), "{error}");
}

#[test]
fn duplicated_addresses_name_the_node_that_has_it() {
    let error = single_error("[cluster]\nworker_ip_start = \"192.168.56.9\"\n");
    assert!(
        error.starts_with("labctl.toml:1:1: cluster.manager_ip: 192.168.56.10 is duplicated: node2 gets it too"),
        "{error}"
    );
    let error = single_error("[images]\nparallel = 0\n");
    assert!(error.starts_with("labctl.toml:2:12: images.parallel: is 0"), "{error}");
}

#[test]
fn the_host_address_is_not_a_node_address() {
    let error = single_error("[cluster]\nmanager_ip = \"192.168.56.1\"\n");
    assert!(error.contains("192.168.56.1 is the host's address"), "{error}");
}

#[test]
fn invalid_hostnames_are_rejected_for_manager_and_workers() {
    let error = single_error("[cluster]\nmanager_name = \"Manager_1\"\n");
    assert!(
        error.starts_with("labctl.toml:2:16: cluster.manager_name: \"Manager_1\" is not a valid hostname"),
        "{error}"
    );
    let error = single_error("[cluster]\nworker_prefix = \"node_\"\n");
    assert!(error.contains("worker names like \"node_1\", not a valid hostname"), "{error}");
    let error = single_error("[cluster]\nmanager_name = \"node1\"\n");
    assert!(error.contains("\"node1\" is also a worker's name"), "{error}");
}

#[test]
fn zero_workers_is_rejected() {
    let error = single_error("[cluster]\nworkers = 0\n");
    assert_eq!(error, "labctl.toml:2:11: cluster.workers: is 0, but a swarm lab needs at least one worker; the handout uses workers = 3");
}

#[test]
fn duplicate_forwarded_host_ports_are_rejected() {
    let error = single_error("[[forward]]\nhost = 8080\nguest = 80\n\n[[forward]]\nhost = 8080\nguest = 8088\n");
    assert_eq!(
        error,
        "labctl.toml:6:8: forward[1].host: host port 8080 is forwarded twice (also forward[0]); each [[forward]] needs its own host port"
    );
}

#[test]
fn forwards_and_registry_must_name_real_nodes() {
    let errors =
        settings("[[forward]]\nnode = \"node9\"\nhost = 8080\nguest = 80\n\n[registry]\nhost = \"registry\"\n")
            .unwrap_err();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].contains(
        "forward[0].node: \"node9\" is not a node of this cluster; use one of: manager, node1, node2, node3"
    ));
    assert!(errors[1].contains("registry.host: \"registry\" is not a node"));
}

#[test]
fn unknown_labs_get_a_suggestion() {
    let error = single_error("[labs]\nseed = [\"lab1\", \"ingres\"]\n");
    assert!(
        error.starts_with("labctl.toml:2:17: labs.seed[1]: \"ingres\" is not a lab; did you mean \"ingress\"?"),
        "{error}"
    );
    let error = single_error("[images]\nparallel = 0\n");
    assert!(error.starts_with("labctl.toml:2:12: images.parallel: is 0"), "{error}");
}

#[test]
fn the_same_lab_twice_and_clashing_targets_are_rejected() {
    let error = single_error("[labs]\nseed = [\"lab1\", \"ingress\"]\n");
    assert!(error.contains("\"ingress\" is lab1, which is already listed"), "{error}");
    let error = single_error("[labs]\nseed = [\"lab1\", \"lab2\"]\n[labs.target]\nlab2 = \"/root/work/ingress\"\n");
    assert!(error.contains("lab2 and lab1 would both be seeded into /root/work/ingress"), "{error}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let errors = settings("[cluster]\nworkers = 0\nsubnet = \"bad\"\n[vagrant]\nprovider = \"hyperv\"\n").unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

#[test]
fn node_image_comes_from_the_environment_when_set() {
    let origin = origin("[docker]\nnode_image = \"docker:dind\"\n");
    let raw = parse(&origin).unwrap();
    let settings = validate::resolve(raw, origin, &catalog(), Some("labctl/node:local".into())).unwrap();
    assert_eq!(settings.node_image.as_deref(), Some("labctl/node:local"));
}

#[test]
fn subnets_must_be_network_addresses() {
    let error = single_error("[cluster]\nsubnet = \"192.168.56.7/24\"\n");
    assert!(error.contains("write the network address \"192.168.56.0/24\""), "{error}");
}

#[test]
fn a_one_seat_workspace_is_the_cluster_of_before() {
    let settings = settings("").unwrap();
    let catalog = catalog();
    let seat = Cluster::new(&settings, &catalog).unwrap();
    assert_eq!(seat.name(), "swarm-lab");
    assert!(seat.seat_of_class().is_only());
    assert_eq!(seat.subnet().to_string(), "192.168.56.0/24");
    assert_eq!(seat.student_access(), None, "one seat publishes no SSH server unless asked");
    assert_eq!(seat.engine(), &Engine::local());
}

#[test]
fn seat_k_gets_its_own_name_subnet_addresses_and_shifted_ports() {
    let text = "[cluster]\nname = \"cls\"\n[class]\nseats = 12\nport_step = 10\nssh_port_base = 2200\n";
    let settings = settings(text).unwrap();
    let catalog = catalog();
    let seat = Cluster::seat(&settings, &catalog, 3).unwrap();
    assert_eq!(seat.name(), "cls-s03");
    assert_eq!(seat.class_name(), "cls");
    assert_eq!(seat.subnet().to_string(), "192.168.58.0/24");
    let addresses: Vec<String> = seat.nodes().iter().map(|node| format!("{}={}", node.name, node.ip)).collect();
    assert_eq!(
        addresses,
        ["manager=192.168.58.10", "node1=192.168.58.11", "node2=192.168.58.12", "node3=192.168.58.13"]
    );
    assert_eq!(seat.forwards()[0].host, 49020, "the visualizer's 49000 moves by two port steps");
    assert_eq!(seat.student_access(), Some((Access::Key, 2203)), "a class logs in with keys by default");
    let first = Cluster::seat(&settings, &catalog, 1).unwrap();
    assert_eq!((first.name(), first.subnet().to_string()), ("cls-s01", "192.168.56.0/24".to_string()));
}

#[test]
fn class_problems_name_the_key_and_the_fix() {
    let error = single_error("[class]\nseats = 0\n");
    assert!(error.starts_with("labctl.toml:2:9: class.seats: is 0"), "{error}");
    let error = single_error("[class]\nseats = 120\n");
    assert!(error.contains("at most 99 seats"), "{error}");
    let error = single_error("[cluster]\nsubnet = \"192.168.250.0/24\"\nmanager_ip = \"192.168.250.10\"\nworker_ip_start = \"192.168.250.11\"\n[class]\nseats = 10\n");
    assert!(error.contains("seat 7 would get 192.169.0.0/24, outside the private range 192.168.0.0/16"), "{error}");
    let error = single_error(
        "[[forward]]\nhost = 8080\nguest = 80\n[[forward]]\nhost = 8081\nguest = 81\n[class]\nseats = 2\n",
    );
    assert!(error.contains("host port 8081 would be both seat 1's forward[1] and seat 2's forward[0]"), "{error}");
    assert!(error.contains("raise [class] port_step"), "{error}");
    let error = single_error("[cluster]\nprovider = \"vagrant\"\n[class]\nseats = 3\n");
    assert!(error.contains("set [cluster] provider = \"docker\""), "{error}");
    let error = single_error("[class]\naccess = \"telnet\"\n");
    assert!(error.contains("\"telnet\" is not an access mode; use one of: key, password, none"), "{error}");
    let error = single_error("[class]\nssh_bind = \"everywhere\"\n");
    assert!(error.starts_with("labctl.toml:2:12: class.ssh_bind"), "{error}");
}

#[test]
fn engines_need_one_target_and_room_for_every_seat() {
    let text = "[class]\nseats = 12\n[[class.engines]]\nhost = \"ssh://ubuntu@10.0.0.5\"\nseats = 10\n[[class.engines]]\ncontext = \"lab-2\"\nseats = 1\n";
    let error = single_error(text);
    assert!(error.contains("class.seats: is 12, but the [[class.engines]] hold 11 seats"), "{error}");
    let error = single_error("[class]\nseats = 2\n[[class.engines]]\nhost = \"ssh://a\"\ncontext = \"b\"\nseats = 2\n");
    assert!(error.contains("class.engines[0]: needs exactly one of host"), "{error}");
    let error = single_error("[class]\nseats = 2\n[[class.engines]]\nhost = \"10.0.0.5\"\nseats = 2\n");
    assert!(error.contains("\"10.0.0.5\" is not a Docker host URL"), "{error}");
    let error = single_error("[cluster]\nprovider = \"vagrant\"\n[[class.engines]]\ncontext = \"b\"\nseats = 1\n");
    assert!(error.contains("class.engines: lists Docker engines, but [cluster] provider = \"vagrant\""), "{error}");
    let settings = settings(&text.replace("seats = 1\n", "seats = 2\n")).unwrap();
    let catalog = catalog();
    let engine = |number| Cluster::seat(&settings, &catalog, number).unwrap().engine().clone();
    assert_eq!(engine(10).docker_options(), ["--host", "ssh://ubuntu@10.0.0.5"]);
    assert_eq!(engine(11).docker_options(), ["--context", "lab-2"]);
}

const SSH_CLASS: &str = r#"[cluster]
provider = "ssh"
workers = 1

[ssh]
known_hosts_file = "ssh/known_hosts"

[[ssh.hosts]]
node = "manager"
address = "203.0.113.10"
user = "ubuntu"
advertise_ip = "10.0.1.10"

[[ssh.hosts]]
node = "node1"
address = "10.0.1.11"
port = 2222
"#;

#[test]
fn with_the_ssh_provider_the_nodes_are_the_machines() {
    let settings = settings(SSH_CLASS).unwrap();
    let cluster = Cluster::new(&settings, crate::config::test_catalog()).unwrap();
    let nodes: Vec<(&str, String)> =
        cluster.nodes().iter().map(|node| (node.name.as_str(), node.ip.to_string())).collect();
    assert_eq!(nodes, [("manager", "10.0.1.10".to_string()), ("node1", "10.0.1.11".to_string())]);
    let manager = cluster.ssh_host("manager").unwrap();
    assert_eq!((manager.address.as_str(), manager.user.as_deref()), ("203.0.113.10", Some("ubuntu")));
    assert_eq!(cluster.ssh_host("node1").unwrap().port, Some(2222));
    assert_eq!(cluster.ssh().known_hosts_file.as_deref(), Some("ssh/known_hosts"));
}

#[test]
fn every_node_needs_a_machine_and_every_machine_a_node() {
    let error = single_error("[cluster]\nprovider = \"ssh\"\n");
    assert!(
        error.starts_with("labctl.toml:2:12: cluster.provider: provider \"ssh\" needs one [[ssh.hosts]] machine per node, but none is listed for manager, node1, node2, node3;"),
        "{error}"
    );
    let one_missing = SSH_CLASS.replace("workers = 1", "workers = 2");
    assert!(single_error(&one_missing).contains(
        "ssh.hosts: provider \"ssh\" needs one [[ssh.hosts]] machine per node, but none is listed for node2"
    ));
    let unknown = SSH_CLASS.replace("node = \"node1\"", "node = \"nod1\"");
    let errors = settings(&unknown).unwrap_err();
    assert!(
        errors[0].starts_with(
            "labctl.toml:15:8: ssh.hosts[1].node: \"nod1\" is not a node of this cluster; did you mean \"node1\"?"
        ),
        "{errors:#?}"
    );
    assert!(errors[1].contains("none is listed for node1"), "{errors:#?}");
}

#[test]
fn machines_are_checked_field_by_field_with_their_line() {
    let bad = SSH_CLASS.replace("address = \"10.0.1.11\"", "address = \"ubuntu@10.0.1.11\"");
    let error = single_error(&bad);
    assert!(
        error.starts_with(
            "labctl.toml:16:11: ssh.hosts[1].address: \"ubuntu@10.0.1.11\" has a user in it; put the user in `user`"
        ),
        "{error}"
    );
    let twice =
        SSH_CLASS.replace("address = \"10.0.1.11\"", "address = \"203.0.113.10\"\nadvertise_ip = \"10.0.1.11\"");
    let twice = twice.replace("port = 2222\n", "");
    assert!(single_error(&twice)
        .contains("ssh.hosts[1].address: 203.0.113.10 is also ssh.hosts[0]; one machine runs one Docker"));
    let same_swarm_address = SSH_CLASS.replace("address = \"10.0.1.11\"", "address = \"10.0.1.10\"");
    assert!(single_error(&same_swarm_address).contains("10.0.1.10 is manager's swarm address too"));
}

#[test]
fn machines_without_the_ssh_provider_are_refused() {
    let error = single_error(&SSH_CLASS.replace("provider = \"ssh\"", "provider = \"docker\""));
    assert!(
        error.contains("ssh.hosts: lists machines, but [cluster] provider = \"docker\"; set provider = \"ssh\""),
        "{error}"
    );
}

#[test]
fn each_seat_of_a_class_has_machines_of_its_own() {
    let mut class = SSH_CLASS.replace("workers = 1\n", "workers = 1\n\n[class]\nseats = 2\naccess = \"none\"\n");
    let error = single_error(&class);
    assert!(error.contains("none is listed for seat 2 manager, seat 2 node1"), "{error}");
    class.push_str("\n[[ssh.hosts]]\nseat = 2\nnode = \"manager\"\naddress = \"10.0.2.10\"\n\n[[ssh.hosts]]\nseat = 2\nnode = \"node1\"\naddress = \"10.0.2.11\"\n");
    let settings = settings(&class).unwrap();
    let seat2 = Cluster::seat(&settings, crate::config::test_catalog(), 2).unwrap();
    assert_eq!(seat2.nodes().manager().ip.to_string(), "10.0.2.10");
    assert_eq!(seat2.ssh_host("node1").unwrap().address, "10.0.2.11");
    let too_far = class.replace("seat = 2\nnode = \"node1\"", "seat = 3\nnode = \"node1\"");
    let errors = self::settings(&too_far).unwrap_err();
    assert!(errors.iter().any(|line| line.contains("seat: is 3, but the class has seats 1-2")), "{errors:#?}");
}

#[test]
fn a_class_gets_the_cache_at_the_last_address_of_each_seat_and_one_seat_none() {
    assert_eq!(settings("").unwrap().cache, None, "one seat: no cache unless asked");
    let class = settings("[class]\nseats = 3\n").unwrap();
    let cache = class.cache.clone().expect("on by default for a class");
    assert_eq!(
        cache,
        CacheSettings { upstream: Upstream::Remote(cache::DOCKER_HUB.into()), image: "registry:2".into() }
    );
    let catalog = catalog();
    let endpoint = |number| Cluster::seat(&class, &catalog, number).unwrap().cache_endpoint();
    assert_eq!(endpoint(1).as_deref(), Some("192.168.56.254:5000"));
    assert_eq!(endpoint(3).as_deref(), Some("192.168.58.254:5000"));

    let offline = settings("[cache]\nenabled = true\nupstream = \"none\"\n").unwrap();
    assert_eq!(offline.cache.map(|cache| cache.upstream), Some(Upstream::Offline));
    let off = settings("[class]\nseats = 3\n[cache]\nenabled = false\n").unwrap();
    assert_eq!(off.cache, None);
}

#[test]
fn cache_problems_name_the_key_and_the_fix() {
    let error = single_error("[cache]\nupstream = \"registry-1.docker.io\"\n");
    assert!(
        error.starts_with("labctl.toml:2:12: cache.upstream: \"registry-1.docker.io\" is not a registry URL"),
        "{error}"
    );
    let error = single_error("[cache]\nimage = \"\"\n");
    assert!(error.starts_with("labctl.toml:2:9: cache.image"), "{error}");
    let error = single_error("[cluster]\nprovider = \"vagrant\"\n[cache]\nenabled = true\n");
    assert!(
        error.starts_with("labctl.toml:4:11: cache.enabled: the class cache runs beside docker-provider nodes"),
        "{error}"
    );
    // The cache takes the subnet's last address in every seat: no node may.
    let error = single_error("[cluster]\nworker_ip_start = \"192.168.56.252\"\n[class]\nseats = 2\n");
    assert!(
        error.starts_with(
            "labctl.toml:2:19: cluster.worker_ip_start: node3 gets 192.168.56.254, the class cache's address"
        ),
        "{error}"
    );
    let error = single_error("[images]\nparallel = 0\n");
    assert!(error.starts_with("labctl.toml:2:12: images.parallel: is 0"), "{error}");
}

#[test]
fn resource_limits_name_the_key_and_the_fix() {
    let error = single_error("[resources]\npids = 100\n");
    assert_eq!(
        error,
        "labctl.toml:2:8: resources.pids: 100 is too few for a node's Docker and the labs' services; use at least 256 (1024 recommended)"
    );
    let error = single_error("[resources]\n[resources.node.node2]\npids = 10\n");
    assert!(error.starts_with("labctl.toml:3:8: resources.node.node2.pids: 10 is too few"), "{error}");
    let error = single_error("[resources]\nlog_mb = 0\n");
    assert!(
        error.starts_with("labctl.toml:2:10: resources.log_mb: 0 is not a log size labctl keeps; use 1 to 1024"),
        "{error}"
    );
    let settings = settings("[resources]\npids = 2000\n[resources.node.node2]\npids = 4000\n").unwrap();
    let pids: Vec<u32> = settings.nodes.iter().map(|node| node.pids).collect();
    assert_eq!(pids, [2000, 2000, 4000, 2000]);
}

#[test]
fn the_pages_tls_needs_both_its_certificate_and_its_key() {
    let error = single_error("[class]\nseats = 2\nweb_cert = \"tls/cert.pem\"\n");
    assert!(
        error.ends_with(
            "class.web_cert: has no web_key beside it; give both (the certificate and its private key, PEM) or neither"
        ),
        "{error}"
    );
    let settings =
        settings("[class]\nseats = 2\nweb_cert = \"tls/cert.pem\"\nweb_key = \"tls/key.pem\"\nweb_port = 8443\n")
            .unwrap();
    assert_eq!(settings.class.web_tls, Some(("tls/cert.pem".to_string(), "tls/key.pem".to_string())));
    assert_eq!(settings.class.web_port, 8443);
    let error = single_error("[class]\nweb_port = 0\n");
    assert!(error.ends_with("class.web_port: is 0; give the port of the class's web pages, e.g. 8800"), "{error}");
}

#[test]
fn a_class_on_incus_has_no_class_cache_and_refuses_one() {
    let settings = test_settings("[cluster]\nprovider = \"incus\"\n[class]\nseats = 3\n");
    assert!(settings.cache.is_none(), "the cache serves docker-provider nodes only");
    let error = single_error("[cluster]\nprovider = \"incus\"\n[class]\nseats = 3\n[cache]\nenabled = true\n");
    assert!(error.contains("cache.enabled") && error.contains("Incus nodes pull directly"), "{error}");
}
