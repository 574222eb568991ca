use super::*;

#[test]
fn the_publisher_of_a_port_is_found_with_its_mode_and_target() {
    let listing = "e2e_db\ne2e_web tcp/ingress/8093/80 udp/ingress/9000/9000\nhost_web tcp/host/8090/80\n";
    assert_eq!(publisher_of(listing, 8093), Some(Publisher { service: "e2e_web".into(), ingress: true, target: 80 }));
    assert_eq!(publisher_of(listing, 8090), Some(Publisher { service: "host_web".into(), ingress: false, target: 80 }));
    assert_eq!(publisher_of(listing, 9000), None, "a UDP port answers no HTTP");
    assert_eq!(publisher_of(listing, 80), None);
    assert_eq!(publisher_of("", 80), None);
}

#[test]
fn urls_give_their_port_and_path() {
    assert_eq!(port_and_path("http://localhost:8088/"), Some((8088, "/".into())));
    assert_eq!(port_and_path("http://localhost"), Some((80, "/".into())));
    assert_eq!(port_and_path("http://node1/apis/nodes?x=1#top"), Some((80, "/apis/nodes?x=1".into())));
    assert_eq!(port_and_path("http://[::1]:9000/a"), Some((9000, "/a".into())));
    assert_eq!(port_and_path("https://localhost/"), None);
    assert_eq!(port_and_path("http://localhost:http/"), None);
}

#[test]
fn the_service_is_asked_by_its_tasks_name_on_its_target_port() {
    let web = Publisher { service: "my-web_nginx".into(), ingress: true, target: 80 };
    assert_eq!(network_url(&web, "/index.html"), "http://tasks.my-web_nginx:80/index.html");
}

#[test]
fn the_checks_node_is_asked_first() {
    let nodes: Vec<String> = ["manager", "node1", "node2"].map(String::from).to_vec();
    assert_eq!(fetch_order("node2", &nodes), vec!["node2", "manager", "node1"]);
}

mod checks {
    //! `run_checks` of an `ingress = true` http check on both kinds of host.

    use super::FALLBACK_NOTE;
    use crate::config::{test_settings_with, Cluster};
    use crate::exec::fake::RecordingRunner;
    use crate::labs::manifest::Language;
    use crate::labs::Catalog;
    use crate::lifecycle::check::{run_checks, Failure, Outcome};
    use crate::lifecycle::mesh::Mesh;
    use crate::provider::docker::DockerProvider;
    use crate::provider::NodeShell;
    use crate::templates::Templates;

    const MANAGER: &str = "docker exec swarm-lab-manager";
    const NODE1: &str = "docker exec swarm-lab-node1";
    const LIST_PORTS: &str = "docker exec swarm-lab-manager sh -c '#!/bin/sh…' labctl-ports";
    const THROUGH_MESH: &str =
        "docker exec swarm-lab-node1 sh -c '#!/bin/sh…' labctl-published http://localhost:8093/page";
    /// What node/fetch-published.sh says on a node whose kernel has no IPVS.
    const NO_IPVS: &str = "this node's kernel has no IPVS\n";
    const PUBLISHED: &str = "e2e_db\ne2e_web tcp/ingress/8093/80\n";

    /// A workspace lab with `count` ingress checks of port 8093 on node1.
    fn lab_with_ingress_checks(count: usize) -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest =
            "id = \"mesh\"\ntitle = \"t\"\ntitle_ko = \"t\"\ndir = \"mesh\"\nlanguage = \"en\"\nfiles = [\"a.yml\"]\n"
                .to_string();
        for index in 0..count {
            manifest.push_str(&format!(
                "\n[[checks]]\nkind = \"http\"\nname = \"web answers {index}\"\nnode = \"node1\"\nurl = \"http://localhost:8093/page\"\ncontains = \"marker\"\ningress = true\nhint_ko = \"k\"\nhint_en = \"publish 8093\"\n"
            ));
        }
        for (name, content) in
            [("lab.toml", manifest.as_str()), ("a.yml", "x"), ("README.md", "ko"), ("README.en.md", "en")]
        {
            let path = dir.path().join("labs/mesh").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        let catalog = Catalog::load(dir.path()).unwrap();
        (dir, catalog)
    }

    /// Run the lab's checks `rounds` times with one [`Mesh`], as `solve` does.
    fn check_rounds(runner: &RecordingRunner, count: usize, rounds: usize) -> Vec<Outcome> {
        let (_dir, catalog) = lab_with_ingress_checks(count);
        check_rounds_with(runner, &catalog, rounds, &Mesh::default())
    }

    fn check_rounds_with(runner: &RecordingRunner, catalog: &Catalog, rounds: usize, mesh: &Mesh) -> Vec<Outcome> {
        let lab = catalog.resolve("mesh").unwrap();
        let settings = test_settings_with("", catalog);
        let cluster = Cluster::new(&settings, catalog).unwrap();
        let templates = Templates::load(std::path::Path::new("/nonexistent")).unwrap();
        let provider = DockerProvider::new(&cluster, runner);
        let shell = NodeShell::new(&provider, runner);
        let mut outcomes = Vec::new();
        for _ in 0..rounds {
            outcomes = run_checks(lab, &cluster, &templates, shell, Language::En, mesh).unwrap();
        }
        outcomes
    }

    /// A strict runner whose manager's Docker answers.
    fn answering_runner() -> RecordingRunner {
        let runner = RecordingRunner::default();
        runner.always(&format!("{MANAGER} docker version"), 0, "20.10.24\n", "");
        runner
    }

    fn ran(runner: &RecordingRunner, prefix: &str) -> Vec<String> {
        runner.command_lines().into_iter().filter(|line| line.starts_with(prefix)).collect()
    }

    #[test]
    fn with_ipvs_the_check_goes_through_the_published_port() {
        let runner = answering_runner();
        runner.always(LIST_PORTS, 0, PUBLISHED, "");
        runner.answer(THROUGH_MESH, 0, "status 200\nmarker\n", "");
        let outcomes = check_rounds(&runner, 1, 1);
        assert_eq!((outcomes[0].passed, outcomes[0].detail.as_str()), (true, "status 200"));
        let fetches = ran(&runner, NODE1);
        assert_eq!(fetches.len(), 1, "{fetches:#?}");
        assert!(!runner.command_lines().iter().any(|line| line.contains("labctl-on-network")));
        // The ports (and whether Docker answers) on the manager, then the page on node1.
        let batches = runner.batch_lines();
        assert_eq!(batches.len(), 2, "{batches:#?}");
        assert!(batches[0].starts_with(MANAGER) && batches[1].starts_with(NODE1), "{batches:#?}");
    }

    #[test]
    fn without_ipvs_the_service_is_fetched_on_its_network_from_a_node_that_runs_a_task() {
        let runner = answering_runner();
        runner.always(LIST_PORTS, 0, PUBLISHED, "");
        runner.answer(THROUGH_MESH, 5, "", NO_IPVS);
        let on_network = "sh -c '#!/bin/sh…' labctl-on-network e2e_web http://tasks.e2e_web:80/page";
        runner.answer(&format!("{NODE1} {on_network}"), 4, "", "no running task of e2e_web here\n");
        runner.answer(&format!("{MANAGER} {on_network}"), 0, "status 200\nmarker\n", "");
        runner.answer(&format!("docker exec swarm-lab-node2 {on_network}"), 0, "status 500\n", "");
        runner.answer(&format!("docker exec swarm-lab-node3 {on_network}"), 4, "", "no running task of e2e_web here\n");
        let outcomes = check_rounds(&runner, 1, 1);
        assert!(outcomes[0].passed, "the first node in order that runs a task answers: {outcomes:#?}");
        assert_eq!(outcomes[0].detail, format!("{FALLBACK_NOTE} (http://tasks.e2e_web:80/page: status 200)"));
        let lines = runner.command_lines();
        assert!(!lines.iter().any(|line| line.contains("labctl-http http://localhost")), "{lines:#?}");
        let tried: Vec<&String> = lines.iter().filter(|line| line.contains("labctl-on-network")).collect();
        assert_eq!(tried.len(), 4, "every node at once, in one round: {tried:#?}");
        // The node runs its own HTTP client (http-get.sh) in the task's namespace.
        assert!(tried.iter().all(|line| line.ends_with("'#!/bin/sh…'")), "{tried:#?}");
        assert_eq!(runner.batch_lines().len(), 1 + 1 + 4, "ports, through the mesh, then the four nodes");
    }

    #[test]
    fn the_kernel_is_probed_once_per_node_and_run_and_checks_share_their_reads() {
        let runner = answering_runner();
        runner.always(LIST_PORTS, 0, PUBLISHED, "");
        runner.always(THROUGH_MESH, 5, "", NO_IPVS);
        runner.always(&format!("{NODE1} sh -c '#!/bin/sh…' labctl-on-network"), 0, "status 200\nmarker\n", "");
        runner.always("docker exec", 4, "", "no running task of e2e_web here\n");
        let outcomes = check_rounds(&runner, 2, 3);
        assert!(outcomes.iter().all(|outcome| outcome.passed), "{outcomes:#?}");
        assert_eq!(ran(&runner, THROUGH_MESH).len(), 1, "the kernel is known after the first run");
        assert_eq!(ran(&runner, LIST_PORTS).len(), 3, "two checks, one listing a run");
        let fetched = ran(&runner, &format!("{NODE1} sh -c '#!/bin/sh…' labctl-on-network"));
        assert_eq!(fetched.len(), 3, "two checks, one fetch a run: {fetched:#?}");
    }

    #[test]
    fn a_service_that_is_not_answering_yet_is_worth_waiting_for() {
        let runner = answering_runner();
        runner.always(LIST_PORTS, 0, PUBLISHED, "");
        runner.answer(THROUGH_MESH, 5, "", NO_IPVS);
        runner.always("docker exec", 4, "", "no running task of e2e_web here\n");
        let outcomes = check_rounds(&runner, 1, 1);
        assert_eq!(outcomes[0].failure, Some(Failure::NotYet), "{outcomes:#?}");
        assert_eq!(
            outcomes[0].detail,
            "routing mesh unavailable on this host (no IPVS), and no task of e2e_web runs to check it on its network"
        );
        let runner = answering_runner();
        runner.always(LIST_PORTS, 0, PUBLISHED, "");
        runner.answer(THROUGH_MESH, 5, "", NO_IPVS);
        runner.answer(&format!("{NODE1} sh -c '#!/bin/sh…' labctl-on-network"), 0, "status 502\n", "");
        runner.always("docker exec", 4, "", "no running task of e2e_web here\n");
        let outcomes = check_rounds(&runner, 1, 1);
        assert_eq!(outcomes[0].failure, Some(Failure::NotYet));
        assert!(outcomes[0].detail.ends_with("status 502, 200 expected)"), "{}", outcomes[0].detail);
    }

    #[test]
    fn a_port_no_service_publishes_and_a_node_that_cannot_enter_a_task_are_final() {
        let runner = answering_runner();
        runner.answer(LIST_PORTS, 0, "e2e_web tcp/ingress/8092/80\n", "");
        let (_dir, catalog) = lab_with_ingress_checks(1);
        let mesh = Mesh::default();
        let outcomes = check_rounds_with(&runner, &catalog, 1, &mesh);
        assert_eq!(
            (outcomes[0].failure, outcomes[0].detail.as_str()),
            (Some(Failure::Final), "no service publishes port 8093")
        );
        assert!(ran(&runner, NODE1).is_empty(), "no service, no fetch");
        assert_eq!(mesh.known("node1"), None);

        let runner = answering_runner();
        runner.always(LIST_PORTS, 0, PUBLISHED, "");
        runner.answer(THROUGH_MESH, 5, "", NO_IPVS);
        runner.answer(
            &format!("{NODE1} sh -c '#!/bin/sh…' labctl-on-network"),
            3,
            "",
            "nsenter is missing (util-linux)\n",
        );
        runner.always("docker exec", 4, "", "no running task of e2e_web here\n");
        let outcomes = check_rounds(&runner, 1, 1);
        assert_eq!(outcomes[0].failure, Some(Failure::Final), "{outcomes:#?}");
        assert_eq!(
            outcomes[0].detail,
            "routing mesh unavailable on this host (no IPVS), and node1 cannot check e2e_web on its network: nsenter is missing (util-linux)"
        );
    }

    #[test]
    fn a_port_published_in_host_mode_needs_no_mesh() {
        let runner = answering_runner();
        runner.always(LIST_PORTS, 0, "e2e_web tcp/host/8093/80\n", "");
        runner.answer(&format!("{NODE1} sh -c '#!/bin/sh…' labctl-http"), 0, "status 200\nmarker\n", "");
        let outcomes = check_rounds(&runner, 1, 1);
        assert!(outcomes[0].passed, "{outcomes:#?}");
        assert!(ran(&runner, THROUGH_MESH).is_empty(), "a port in host mode answers without IPVS");
        assert!(!runner.command_lines().iter().any(|line| line.contains("labctl-on-network")));
    }
}
