//! End-to-end contract tests of the offline stand-ins for the labs' images
//! (`scripts/test-lab-images`), on this host's Docker (LABCTL_E2E=1). Each
//! runs one stand-in the way the labs and the real image's users do, in a
//! network of its own (a /28 of 192.168.60.0/24), and checks the part of the
//! real image's contract the labs rely on. Everything a test makes is removed
//! however it ends.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{host_docker, quiet_docker, require_e2e};

const LABEL: &str = "labctl.stand-in-test";

/// The containers, images and network one test made; removed on drop.
struct Scratch {
    prefix: String,
    network: String,
    images: RefCell<Vec<String>>,
}

impl Scratch {
    /// A network `labctl-stand-in-NAME` on SUBNET, after removing what an
    /// interrupted run of the same test left behind.
    fn new(name: &str, subnet: &str) -> Scratch {
        let scratch = Scratch {
            prefix: format!("labctl-stand-in-{name}"),
            network: format!("labctl-stand-in-{name}"),
            images: RefCell::new(Vec::new()),
        };
        scratch.remove_all();
        host_docker(&[
            "network",
            "create",
            "--subnet",
            subnet,
            "--label",
            &format!("{LABEL}={name}"),
            &scratch.network,
        ]);
        scratch
    }

    fn container(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// `docker run --detach` on the test's network as container NAME; `options`
    /// go before the image, `command` after it.
    fn start(&self, name: &str, options: &[&str], image: &str, command: &[&str]) -> String {
        let container = self.container(name);
        let label = format!("{LABEL}={}", self.prefix);
        let mut args = vec!["run", "--detach", "--name", &container, "--network", &self.network, "--label", &label];
        args.extend(options);
        args.push(image);
        args.extend(command);
        host_docker(&args);
        container
    }

    /// `docker run --rm` on the test's network; its output (panics on failure).
    fn run(&self, options: &[&str], image: &str, command: &[&str]) -> String {
        let label = format!("{LABEL}={}", self.prefix);
        let mut args = vec!["run", "--rm", "--network", &self.network, "--label", &label];
        args.extend(options);
        args.push(image);
        args.extend(command);
        host_docker(&args)
    }

    /// `docker build` of DIR as an image removed with the scratch.
    fn build(&self, tag: &str, dir: &Path) -> String {
        let image = format!("{}/{tag}", self.prefix);
        self.images.borrow_mut().push(image.clone());
        host_docker(&["build", "--quiet", "--network", &self.network, "--tag", &image, dir.to_str().unwrap()]);
        image
    }

    fn address(&self, container: &str) -> String {
        let format = format!("{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}", self.network);
        host_docker(&["inspect", "--format", &format, container]).trim().to_string()
    }

    fn remove_all(&self) {
        let filter = format!("label={LABEL}={}", self.prefix);
        let listed = quiet_docker(&["ps", "--all", "--quiet", "--filter", &filter]);
        let containers: Vec<&str> = listed.split_whitespace().collect();
        if !containers.is_empty() {
            let mut args = vec!["rm", "--force", "--volumes"];
            args.extend(containers);
            quiet_docker(&args);
        }
        for image in self.images.borrow().iter() {
            quiet_docker(&["image", "rm", image]);
        }
        quiet_docker(&["network", "rm", &self.network]);
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// `docker exec` in CONTAINER with the `NAME=value` env; Err with its stderr.
fn exec(container: &str, env: &[&str], command: &[&str]) -> Result<String, String> {
    let mut args = vec!["exec"];
    for pair in env {
        args.extend(["--env", pair]);
    }
    args.push(container);
    args.extend(command);
    let output = duct::cmd("docker", &args).stdout_capture().stderr_capture().unchecked().run().expect("docker runs");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!("docker exec {container} {command:?}: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// Polls `probe` until it gives a value; panics with its last error and the
/// containers' logs after `limit`, or at once when one of them has stopped.
fn wait_for<T>(what: &str, limit: Duration, containers: &[&str], mut probe: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        let error = match probe() {
            Ok(value) => return value,
            Err(error) => error,
        };
        let stopped = containers
            .iter()
            .find(|container| quiet_docker(&["inspect", "--format", "{{.State.Running}}", container]).trim() != "true");
        if started.elapsed() > limit || stopped.is_some() {
            let logs: Vec<String> = containers
                .iter()
                .map(|container| {
                    let output = duct::cmd("docker", ["logs", "--tail", "30", container]).stderr_to_stdout().read();
                    format!("--- {container}:\n{}", output.unwrap_or_default())
                })
                .collect();
            let why = stopped.map_or(format!("not within {limit:?}"), |container| format!("{container} stopped"));
            panic!("{what}: {why}; last: {error}\n{}", logs.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// GET http://ADDRESS:PORT/PATH: the status code and body.
fn http_get(address: &str, port: u16, path: &str) -> Result<(u16, String), String> {
    let timeout = Duration::from_secs(5);
    let socket = format!("{address}:{port}").parse().map_err(|error| format!("{address}:{port}: {error}"))?;
    let mut stream = TcpStream::connect_timeout(&socket, timeout).map_err(|error| format!("{socket}: {error}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|error| error.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").map_err(|error| error.to_string())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|error| format!("{socket}{path}: {error}"))?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("{socket}{path}: no HTTP status in {answer:?}"))?;
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// The stand-in under its real name, or a panic saying how to build it.
fn stand_in(image: &str) -> &str {
    let label = quiet_docker(&["image", "inspect", "--format", "{{index .Config.Labels \"labctl.recipe\"}}", image]);
    assert!(
        !label.trim().is_empty(),
        "{image} is not a labctl stand-in here: run `bash scripts/test-lab-images` as root"
    );
    image
}

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_stand_in_node_slim_runs_lab1s_simple_web_as_node() {
    require_e2e();
    let image = stand_in("node:slim");
    let scratch = Scratch::new("node", "192.168.60.0/28");

    // The entrypoint's contract: a first word that is an option runs under node.
    assert_eq!(scratch.run(&[], image, &["-e", "console.log(6 * 7)"]).trim(), "42");
    let identity = scratch.run(
        &["--user", "node"],
        image,
        &[
            "node",
            "-e",
            "const os = require('os'); console.log(process.getuid(), os.userInfo().username, os.homedir())",
        ],
    );
    assert_eq!(identity.trim(), "1000 node /home/node");

    // lab1's own Dockerfile: WORKDIR /app, COPY, USER node, CMD node hello.js.
    let simple_web = scratch.build("simple-web", &repository().join("labs/lab1/simple-web"));
    let container = scratch.start("simple-web", &[], &simple_web, &[]);
    let address = scratch.address(&container);
    let hostname = host_docker(&["inspect", "--format", "{{.Config.Hostname}}", &container]);
    let (status, body) = wait_for("simple-web answers on 8000", Duration::from_secs(20), &[&container], || {
        http_get(&address, 8000, "/")
    });
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&format!("hostname: {}", hostname.trim())), "{body}");
    assert_eq!(exec(&container, &[], &["id", "-un"]).unwrap().trim(), "node");
    assert_eq!(exec(&container, &[], &["pwd"]).unwrap().trim(), "/app");
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_stand_in_ubuntu_installs_packages_and_builds_lab2s_my_web() {
    require_e2e();
    stand_in("ubuntu:16.04");
    let scratch = Scratch::new("ubuntu", "192.168.60.16/28");

    // lab2's own Dockerfile: apt-get update, then apt-get install -y -q
    // --no-install-recommends nginx, through this host's Debian mirror.
    let my_web = scratch.build("my-web", &repository().join("labs/lab2"));
    let container = scratch.start("my-web", &[], &my_web, &[]);
    let address = scratch.address(&container);
    let (status, body) =
        wait_for("my-web answers on 80", Duration::from_secs(20), &[&container], || http_get(&address, 80, "/"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("labctl quiz: my-web"), "{body}");
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_stand_in_nginx_proxy_resolves_backend_host_per_request() {
    require_e2e();
    let proxy_image = stand_in("gihyodocker/nginx-proxy:latest");
    let node_image = stand_in("node:slim");
    let scratch = Scratch::new("nginx-proxy", "192.168.60.32/28");

    // Started before any backend: it answers 502 until the name resolves,
    // then reaches the backends without a restart.
    let proxy = scratch.start("proxy", &["--env", "BACKEND_HOST=lab_api:8000"], proxy_image, &[]);
    let address = scratch.address(&proxy);
    let (status, _) = wait_for("the proxy answers", Duration::from_secs(20), &[&proxy], || http_get(&address, 80, "/"));
    assert_eq!(status, 502, "no backend yet");

    // Two backends behind one DNS name, as a swarm service's tasks are.
    let server = "require('http').createServer((request, response) => response.end(require('os').hostname() + ' ' + request.headers.host)).listen(8000)";
    let mut backends = Vec::new();
    for name in ["api-1", "api-2"] {
        let container = scratch.start(name, &["--network-alias", "lab_api"], node_image, &["node", "-e", server]);
        backends.push(host_docker(&["inspect", "--format", "{{.Config.Hostname}}", &container]).trim().to_string());
    }
    let mut seen: Vec<String> = Vec::new();
    wait_for("both backends answer through the proxy", Duration::from_secs(30), &[&proxy], || {
        let (status, body) = http_get(&address, 80, "/")?;
        if status != 200 {
            return Err(format!("status {status}: {body}"));
        }
        let (hostname, host_header) = body.split_once(' ').ok_or_else(|| format!("unexpected answer {body:?}"))?;
        assert_eq!(host_header, address, "the proxy passes the Host header on");
        if !seen.iter().any(|known| known == hostname) {
            seen.push(hostname.to_string());
        }
        if seen.len() == 2 {
            Ok(())
        } else {
            Err(format!("only {seen:?} answered"))
        }
    });
    seen.sort();
    backends.sort();
    assert_eq!(seen, backends);
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_stand_in_mysql_honours_the_entrypoint_contract_and_replicates() {
    require_e2e();
    let image = stand_in("mysql:5.7");
    let scratch = Scratch::new("mysql", "192.168.60.48/28");
    let files = tempfile::tempdir().unwrap();
    let write = |relative: &str, content: &str, mode: u32| {
        let path = files.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let schema =
        "CREATE TABLE todo (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, title VARCHAR(188) NOT NULL);\n";
    write("master-init/01-schema.sql", schema, 0o644);
    // Sourced (not executable): the entrypoint's environment and its SQL runner.
    write(
        "master-init/02-sourced.sh",
        "\"${mysql[@]}\" <<<\"INSERT INTO todo (title) VALUES ('sourced in $MYSQL_DATABASE');\"\n",
        0o644,
    );
    // Executed: its `exit` ends only itself, so 04 still runs.
    write("master-init/03-executed.sh", "#!/bin/sh\necho \"executed as $0\"\nexit 0\n", 0o755);
    write("master-init/04-after.sql", "INSERT INTO todo (title) VALUES ('after the executed script');\n", 0o644);
    write("slave-init/01-schema.sql", schema, 0o644);
    write("master-conf/replication.cnf", "[mysqld]\nserver-id = 11\nlog-bin = mysql-bin\n", 0o644);
    write("slave-conf/replication.cnf", "[mysqld]\nserver-id = 12\nrelay-log = mysql-relay-bin\n", 0o644);
    let mount = |from: &str, to: &str| format!("type=bind,src={},dst={to},readonly", files.path().join(from).display());

    let environment = [
        "--env",
        "MYSQL_ROOT_PASSWORD=root-secret",
        "--env",
        "MYSQL_DATABASE=tododb",
        "--env",
        "MYSQL_USER=gihyo",
        "--env",
        "MYSQL_PASSWORD=gihyo-secret",
    ];
    let master_init = mount("master-init", "/docker-entrypoint-initdb.d");
    let master_conf = mount("master-conf", "/etc/mysql/conf.d");
    let mut options = vec!["--network-alias", "master", "--mount", &master_init, "--mount", &master_conf];
    options.extend(environment);
    let master = scratch.start("master", &options, image, &[]);
    let slave_init = mount("slave-init", "/docker-entrypoint-initdb.d");
    let slave_conf = mount("slave-conf", "/etc/mysql/mysql.conf.d");
    let mut options = vec!["--mount", &slave_init, "--mount", &slave_conf];
    options.extend(environment);
    let slave = scratch.start("slave", &options, image, &[]);

    let root = ["MYSQL_PWD=root-secret"];
    // Over TCP: the server only listens there once its initialisation is done.
    let sql = |container: &str, env: &[&str], user: &str, statement: &str| {
        exec(
            container,
            env,
            &["mysql", "--protocol=tcp", "-h127.0.0.1", "-u", user, "--batch", "--skip-column-names", "-e", statement],
        )
    };
    for container in [&master, &slave] {
        wait_for("mysqld is up", Duration::from_secs(90), &[container], || sql(container, &root, "root", "SELECT 1"));
    }

    // conf.d on the master, mysql.conf.d on the slave are read.
    assert_eq!(sql(&master, &root, "root", "SELECT @@server_id, @@log_bin").unwrap().trim(), "11\t1");
    assert_eq!(sql(&slave, &root, "root", "SELECT @@server_id").unwrap().trim(), "12");
    // The initdb files ran in order: .sql, sourced .sh, executed .sh, .sql.
    let rows = sql(&master, &["MYSQL_PWD=gihyo-secret"], "gihyo", "SELECT title FROM tododb.todo ORDER BY id").unwrap();
    assert_eq!(rows, "sourced in tododb\nafter the executed script\n");
    let logs = duct::cmd("docker", ["logs", &master]).stderr_to_stdout().read().unwrap();
    assert!(logs.contains("executed as /docker-entrypoint-initdb.d/03-executed.sh"), "{logs}");
    // MYSQL_USER reaches MYSQL_DATABASE only; root works from other hosts.
    let denied = sql(&master, &["MYSQL_PWD=gihyo-secret"], "gihyo", "CREATE DATABASE other").unwrap_err();
    assert!(denied.contains("denied"), "{denied}");
    let remote = exec(
        &slave,
        &root,
        &["mysql", "-h", "master", "-uroot", "--batch", "--skip-column-names", "-e", "SELECT CURRENT_USER()"],
    );
    assert_eq!(remote.unwrap().trim(), "root@%");
    // The lab3 check's tools.
    exec(&slave, &[], &["sh", "-c", "command -v getent"]).unwrap();

    // Replication as lab3 sets it up: an account on the master, its binary
    // log position, CHANGE MASTER TO and START SLAVE on the slave.
    sql(
        &master,
        &root,
        "root",
        "CREATE USER 'repl'@'%' IDENTIFIED BY 'repl-secret'; GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';",
    )
    .unwrap();
    let status = sql(&master, &root, "root", "SHOW MASTER STATUS").unwrap();
    let mut fields = status.split_whitespace();
    let (log_file, position) = (fields.next().unwrap(), fields.next().unwrap());
    let change = format!(
        "CHANGE MASTER TO MASTER_HOST='master', MASTER_USER='repl', MASTER_PASSWORD='repl-secret', MASTER_LOG_FILE='{log_file}', MASTER_LOG_POS={position}; START SLAVE;"
    );
    sql(&slave, &root, "root", &change).unwrap();
    sql(&master, &root, "root", "INSERT INTO tododb.todo (title) VALUES ('replicated')").unwrap();
    wait_for("the row reaches the slave", Duration::from_secs(30), &[&master, &slave], || {
        let rows = sql(&slave, &root, "root", "SELECT title FROM tododb.todo WHERE title = 'replicated'")?;
        if rows.trim() == "replicated" {
            Ok(())
        } else {
            Err(format!("slave has {rows:?}"))
        }
    });
    let slave_status = exec(&slave, &root, &["mysql", "-uroot", "--vertical", "-e", "SHOW SLAVE STATUS"]).unwrap();
    assert!(slave_status.contains("Slave_IO_Running: Yes"), "{slave_status}");
    assert!(slave_status.contains("Slave_SQL_Running: Yes"), "{slave_status}");
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_stand_in_visualizer_lists_the_swarms_nodes() {
    require_e2e();
    let image = stand_in("dockersamples/visualizer:latest");
    let scratch = Scratch::new("visualizer", "192.168.60.64/28");
    // A one-node swarm in a docker-in-docker container of the test's own (never
    // this host's Docker), its socket shared through a directory.
    let sockets = tempfile::tempdir().unwrap();
    let socket_dir = format!("type=bind,src={},dst=/sock", sockets.path().display());
    let manager = scratch.start(
        "manager",
        &[
            "--hostname",
            "viz-manager",
            "--mount",
            &socket_dir,
            "--tmpfs",
            "/var/lib/docker",
            "--cap-add",
            "SYS_ADMIN",
            "--cap-add",
            "NET_ADMIN",
            "--cap-add",
            "NET_RAW",
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "apparmor=unconfined",
        ],
        "labctl-test/node:bookworm",
        &["dockerd", "--host=unix:///sock/docker.sock", "--storage-driver=vfs", "--iptables=false"],
    );
    let docker = ["docker", "--host=unix:///sock/docker.sock"];
    wait_for("dockerd answers in the node", Duration::from_secs(30), &[&manager], || {
        exec(&manager, &[], &[docker[0], docker[1], "info"])
    });
    exec(&manager, &[], &[docker[0], docker[1], "swarm", "init", "--advertise-addr", "127.0.0.1"]).unwrap();

    let socket = format!("type=bind,src={},dst=/var/run/docker.sock", sockets.path().join("docker.sock").display());
    let visualizer = scratch.start("app", &["--mount", &socket], image, &[]);
    let address = scratch.address(&visualizer);
    let (status, page) =
        wait_for("the page answers on 8080", Duration::from_secs(20), &[&visualizer], || http_get(&address, 8080, "/"));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<title>Visualizer</title>"), "{page}");

    let (status, body) = http_get(&address, 8080, "/apis/nodes").unwrap();
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    let nodes = answer["objects"].as_array().unwrap_or_else(|| panic!("no objects array: {body}"));
    let hostnames: Vec<&str> = nodes.iter().filter_map(|node| node["Description"]["Hostname"].as_str()).collect();
    assert_eq!(hostnames, ["viz-manager"]);
    assert_eq!(nodes[0]["Spec"]["Role"], "manager");
}
