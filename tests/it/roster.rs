//! `labctl class roster` on seats whose credentials `up` left in
//! .labctl/access/: one login line per seat, handouts with the secret, and
//! no secret in anything printed. (e2e_access.rs logs in with them.)

use std::os::unix::fs::PermissionsExt;

use crate::support::Workspace;

const PRIVATE_KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ-roster-test\n-----END OPENSSH PRIVATE KEY-----\n";
const PASSWORD: &str = "Hq7xTfr4MzpK2wNe";

fn class(access: &str) -> Workspace {
    let workspace = Workspace::new();
    workspace.file(
        "labctl.toml",
        &format!("[cluster]\nname = \"cls\"\nworkers = 1\n\n[class]\nseats = 3\nssh_port_base = 2200\naccess = \"{access}\"\n"),
    );
    workspace
}

/// Seat `seat`'s folder as `labctl up` leaves it.
fn seat_is_up(workspace: &Workspace, seat: u32, access: &str) {
    let dir = format!(".labctl/access/s{seat:02}");
    match access {
        "key" => {
            workspace.file(&format!("{dir}/id_ed25519"), PRIVATE_KEY);
            workspace.file(
                &format!("{dir}/id_ed25519.pub"),
                &format!("ssh-ed25519 AAAAC3Nza{seat} labctl@cls-s{seat:02}\n"),
            );
        }
        _ => {
            workspace.file(&format!("{dir}/password"), &format!("{PASSWORD}\n"));
        }
    }
    workspace.file(
        &format!("{dir}/known_hosts"),
        &format!("cls-s{seat:02}-manager ssh-ed25519 AAAAM{seat}\ncls-s{seat:02}-node1 ssh-ed25519 AAAAN{seat}\n"),
    );
}

fn mode(workspace: &Workspace, relative: &str) -> u32 {
    std::fs::metadata(workspace.path().join(relative)).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_roster_prints_each_seats_login_and_writes_handouts_but_shows_no_key() {
    let workspace = class("key");
    seat_is_up(&workspace, 1, "key");
    seat_is_up(&workspace, 3, "key");
    let run = workspace.run(&["class", "roster", "--host", "lab.example.org"]);
    assert_eq!(run.code, 1, "seat 2 has no credentials yet: {run:?}");
    let login = |seat: u32| {
        format!("ssh -p 220{seat} -i .labctl/access/s0{seat}/id_ed25519 -o HostKeyAlias=cls-s0{seat}-manager -o StrictHostKeyChecking=yes -o UserKnownHostsFile=.labctl/access/s0{seat}/known_hosts -L 49000:localhost:9000 root@lab.example.org")
    };
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "class cls, 3 seats: students log in with a key, which only their handout holds");
    assert_eq!(
        lines[4].split_whitespace().collect::<Vec<_>>(),
        ["2", "not", "up", "yet:", "labctl", "up", "--seat", "2", "-"]
    );
    for (line, seat) in [(lines[3], 1), (lines[5], 3)] {
        assert_eq!(line, format!("{seat}     {}  .labctl/access/s0{seat}/README.txt", login(seat)));
    }
    assert!(run.stderr.contains("students reach lab.example.org (--host)"), "{}", run.stderr);
    assert!(run.stderr.contains("no credentials yet for seat 2: run labctl up --seat 2"), "{}", run.stderr);
    assert!(!run.stdout.contains("PRIVATE KEY") && !run.stderr.contains("PRIVATE KEY"));

    let handout = workspace.read(".labctl/access/s03/README.txt");
    assert!(handout.contains(PRIVATE_KEY.trim_end()), "{handout}");
    assert!(handout.contains("    cls-s03-node1 ssh-ed25519 AAAAN3\n"), "{handout}");
    assert!(handout.contains("ssh -p 2203 -i ~/.ssh/labctl-s03 -o HostKeyAlias=cls-s03-manager -o StrictHostKeyChecking=yes -L 49000:localhost:9000 root@lab.example.org"));
    assert_eq!(mode(&workspace, ".labctl/access/s03/README.txt"), 0o600);
    let config = workspace.read(".labctl/access/s03/ssh_config");
    let known_hosts = workspace.path().join(".labctl/access/s03/known_hosts");
    assert!(config.contains(&format!("    UserKnownHostsFile {}\n", known_hosts.display())), "{config}");
    assert!(config.contains("Host node1\n    HostName node1\n    ProxyJump manager\n"), "{config}");
    assert_eq!(mode(&workspace, ".labctl/access/s03/ssh_config"), 0o600);
    assert!(!workspace.path().join(".labctl/access/s02/README.txt").exists());

    let json = workspace.run(&["class", "roster", "--seat", "3", "--json", "--host", "lab.example.org"]).success();
    let roster: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let seat = &roster["seats"][0];
    assert_eq!(
        (seat["seat"].as_u64(), seat["port"].as_u64(), seat["ready"].as_bool()),
        (Some(3), Some(2203), Some(true))
    );
    assert_eq!(seat["identity_file"], ".labctl/access/s03/id_ed25519");
    assert_eq!(seat["tunnels"][0]["local"], 49000);
    assert!(!json.stdout.contains("PRIVATE KEY"));
}

#[test]
fn in_password_mode_the_password_is_in_the_handout_only() {
    let workspace = class("password");
    seat_is_up(&workspace, 2, "password");
    let run = workspace.run(&["class", "roster", "--seat", "2", "--host", "lab.example.org"]).success();
    assert!(
        run.stdout.contains(
            "2     ssh -p 2202 -o HostKeyAlias=cls-s02-manager -o StrictHostKeyChecking=yes -o UserKnownHostsFile=.labctl/access/s02/known_hosts -L 49000:localhost:9000 root@lab.example.org  .labctl/access/s02/README.txt\n"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("students log in with a password, which only their handout holds"), "{}", run.stdout);
    let json = workspace.run(&["class", "roster", "--seat", "2", "--json"]).success();
    for output in [&run.stdout, &run.stderr, &json.stdout, &json.stderr] {
        assert!(!output.contains(PASSWORD), "{output}");
    }
    let handout = workspace.read(".labctl/access/s02/README.txt");
    assert!(handout.contains(&format!("Your password: {PASSWORD}")), "{handout}");
    assert!(!handout.contains("IdentityFile"), "{handout}");
}

#[test]
fn a_roster_needs_students_who_log_in_and_a_real_host_name() {
    let single = Workspace::new();
    let error = single.run(&["class", "roster"]).single_error();
    assert!(error.contains("students do not log in to this workspace's seats (access \"none\")"), "{error}");
    assert!(error.contains("set [class] access = \"key\" or \"password\""), "{error}");

    let error = class("key").run(&["class", "roster", "--host", "root@lab"]).single_error();
    assert!(error.starts_with("--host \"root@lab\" is not a host name or address"), "{error}");
    let error = class("key").run(&["class", "roster", "--seat", "4"]).single_error();
    assert!(error.contains("seat 4 does not exist: this class has seats 1-3"), "{error}");
}

#[test]
fn by_default_students_reach_the_address_of_the_default_routes_network() {
    let workspace = class("key");
    seat_is_up(&workspace, 1, "key");
    // The fake host's default route goes out on eth0, whose network here is
    // loopback's: the kernel's own choice of address there is 127.0.0.1.
    let routes = workspace.host_root().join("proc/net/route");
    std::fs::write(&routes, "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n")
        .unwrap();
    workspace.host_route("eth0", "0.0.0.0/0").host_route("eth0", "127.0.0.0/8").host_route("docker0", "172.17.0.0/16");
    let run = workspace.run(&["class", "roster", "--seat", "1"]).success();
    assert!(
        run.stderr.contains(
            "students reach 127.0.0.1 (this host's address on eth0, its default route ([class] ssh_bind = \"auto\"))"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("root@127.0.0.1"), "{}", run.stdout);

    // Every interface, as asked: the roster needs a name (this machine's, or --host).
    let everywhere = Workspace::new();
    everywhere.file(
        "labctl.toml",
        "[cluster]\nname = \"cls\"\nworkers = 1\n\n[class]\nseats = 3\nssh_port_base = 2200\nssh_bind = \"0.0.0.0\"\naccess = \"key\"\n",
    );
    seat_is_up(&everywhere, 1, "key");
    let run = everywhere.run(&["class", "roster", "--seat", "1"]).success();
    assert!(run.stderr.contains("(this machine's name; --host gives another)"), "{}", run.stderr);
}
