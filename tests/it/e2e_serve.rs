//! End-to-end (LABCTL_E2E=1): the class in a browser's server, driven as
//! its pages drive it (HTTP with the link's secret as a Bearer token, a
//! terminal's websocket with the secret as its first message). A class of
//! two seats comes up; `labctl serve` runs; each seat's secret opens its own
//! seat only: its terminals are shells on its own nodes, its check runs on
//! it alone; a wrong secret gets a plain refusal; the board sees a check
//! made from the CLI without being asked again; the limits hold (terminals
//! per seat, message size) and never stop the server for the other seat;
//! a terminal's shell ends when its page closes; a terminal whose node is
//! down, or goes down under it, says how the seat is. Its subnets
//! (10.91.0-1.0/24), ports and name are its own.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{require_e2e, Run, Workspace};

const CLASS: &str = "labctl-e2e-serve";
const PORT: u16 = 28810;
const BASE: &str = "127.0.0.1:28810";

fn config() -> String {
    class_config(CLASS, 91, 1, 29185, 2380, PORT)
}

/// A class of two seats of `workers` workers each for `labctl serve`, on
/// 10.`octet`.0-1.0/24, with its own forward, SSH and web ports.
pub(crate) fn class_config(name: &str, octet: u8, workers: u32, forward: u16, ssh_base: u16, web: u16) -> String {
    format!(
        "[cluster]\nname = \"{name}\"\nprovider = \"docker\"\nsubnet = \"10.{octet}.0.0/24\"\nmanager_ip = \"10.{octet}.0.10\"\nworker_ip_start = \"10.{octet}.0.11\"\nworkers = {workers}\n\n[[forward]]\nhost = {forward}\nguest = 9000\n\n[registry]\nenabled = false\n\n[labs]\nseed = [\"visualizer\"]\n\n[docker]\nnode_image = \"labctl-test/node:bookworm\"\n\n[class]\nseats = 2\nssh_port_base = {ssh_base}\nssh_bind = \"127.0.0.1\"\nweb_port = {web}\naccess = \"key\"\n\n[cache]\nenabled = false\n"
    )
}

/// The class; its server (and whatever else it started) stopped and every
/// seat destroyed however the test ends.
pub(crate) struct Class {
    pub workspace: Workspace,
    pub server: Option<duct::Handle>,
    pub others: Vec<duct::Handle>,
}

impl Drop for Class {
    fn drop(&mut self) {
        for process in self.server.take().into_iter().chain(self.others.drain(..)) {
            let _ = process.kill();
        }
        self.labctl(&["destroy", "--seat", "all", "--yes"]);
    }
}

impl Class {
    /// The class of `config`, up, with its handouts written.
    pub fn up(config: &str) -> Class {
        let workspace = Workspace::new();
        workspace.file("labctl.toml", config);
        let class = Class { workspace, server: None, others: Vec::new() };
        class.labctl(&["up", "--seat", "all"]).success();
        class.labctl(&["class", "roster"]).success();
        class
    }

    pub fn labctl(&self, args: &[&str]) -> Run {
        self.workspace.run_with_host_tools(args)
    }

    /// A secret of `.labctl/access/` (`s01/link`, `board-link`).
    pub fn secret(&self, file: &str) -> String {
        self.workspace.read(&format!(".labctl/access/{file}")).trim().to_string()
    }

    /// Start `labctl serve` and wait until it listens on `port`.
    pub fn serve(&mut self, port: u16) {
        self.server = Some(self.workspace.start_with_host_tools(&["serve"]));
        wait_for_port(port, "labctl serve");
    }
}

/// Wait (at most 30 s) until something listens on the loopback's `port`.
pub(crate) fn wait_for_port(port: u16, what: &str) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "{what} never listened on port {port}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// (status, body) of an HTTP/1.1 request to the server.
fn http(method: &str, path: &str, secret: Option<&str>) -> (u16, String) {
    let auth = secret.map(|secret| format!("Authorization: Bearer {secret}\r\n")).unwrap_or_default();
    let (status, _, body) = http_to(BASE, method, path, &auth);
    (status, body)
}

/// (status, head, body) of an HTTP/1.1 request to `address`, with `headers`
/// (each line ending in CRLF); a chunked body joined back.
fn http_to(address: &str, method: &str, path: &str, headers: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).expect("the server listens");
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let body = match head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        true => unchunked(body),
        false => body.to_string(),
    };
    (status, head.to_string(), body)
}

/// The `labctl_pages_sNN` cookie a seat's page gets for the labs' pages,
/// and the port of its first page's listener.
fn page_session(secret: &str) -> (String, u16) {
    let (status, head, body) = http_to(BASE, "POST", "/api/pages", &format!("Authorization: Bearer {secret}\r\n"));
    assert_eq!(status, 200, "{head}\n{body}");
    let cookie = head
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: ").or_else(|| line.strip_prefix("Set-Cookie: ")))
        .and_then(|value| value.split(';').next())
        .unwrap_or_else(|| panic!("no cookie: {head}"))
        .to_string();
    let pages: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pages["pages"][0]["guest"], 9000, "{body}");
    (cookie, pages["pages"][0]["port"].as_u64().unwrap() as u16)
}

/// Chunked bodies (axum's JSON) joined back.
fn unchunked(body: &str) -> String {
    if !body.contains("\r\n") {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { return body.to_string() };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A terminal's websocket, opened as the page opens it.
async fn terminal(secret: &str, node: &str) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{BASE}/ws/terminal")).await.unwrap();
    let opening = serde_json::json!({ "secret": secret, "node": node, "cols": 120, "rows": 40 }).to_string();
    socket.send(Message::Text(opening.into())).await.unwrap();
    socket
}

/// The keys of `line` and Enter, as a page sends them.
fn typed(line: &str) -> Message {
    Message::Text(serde_json::json!({ "t": "in", "d": format!("{line}\r") }).to_string().into())
}

/// Read a socket until `wanted` shows (with `None`, never), it ends (a
/// close frame, a reset or its end), or `within` passes: what it showed,
/// and whether it ended.
async fn read_for(socket: &mut Socket, wanted: Option<&str>, within: Duration) -> (String, bool) {
    let mut seen = String::new();
    let deadline = Instant::now() + within;
    while !wanted.is_some_and(|wanted| seen.contains(wanted)) && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), socket.next()).await {
            Ok(Some(Ok(Message::Binary(bytes)))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(Some(Ok(Message::Text(text)))) => seen.push_str(&text),
            Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) => return (seen, true),
            Ok(Some(Ok(_))) | Err(_) => {}
        }
    }
    (seen, false)
}

/// Type `line` and read the screen until `wanted` shows (or 30 s pass).
async fn run_until(socket: &mut Socket, line: &str, wanted: &str) -> String {
    socket.send(typed(line)).await.unwrap();
    read_until(socket, wanted).await
}

/// Type `line` into a socket the server should have ended, and read it
/// until it ends or 15 s pass: whether it ended, and what it showed
/// before. The typing itself may already fail on a reset connection; that
/// is the ending, not an error of the test.
async fn ends_after_typing(socket: &mut Socket, line: &str) -> (bool, String) {
    if socket.send(typed(line)).await.is_err() {
        return (true, String::new());
    }
    let (seen, ended) = read_for(socket, None, Duration::from_secs(15)).await;
    (ended, seen)
}

/// Read a socket (without typing) until `wanted` shows, or 30 s pass.
async fn read_until(socket: &mut Socket, wanted: &str) -> String {
    read_for(socket, Some(wanted), Duration::from_secs(30)).await.0
}

/// The board's watcher of terminal `id` on seat `seat`, opened as its page opens it.
async fn watcher(secret: &str, seat: u32, id: u64, take: bool) -> Socket {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{BASE}/ws/terminal")).await.unwrap();
    let opening = serde_json::json!({ "secret": secret, "seat": seat, "watch": id, "take": take }).to_string();
    socket.send(Message::Text(opening.into())).await.unwrap();
    socket
}

/// Counts the `sleep 4242` processes on a node.
const SLEEPING: &str =
    "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo; done | grep -c '^sleep 4242'";

/// What `script` prints on seat `seat`'s manager, trimmed.
fn on_node(class: &Class, seat: &str, script: &str) -> String {
    let run = class.labctl(&["exec", "--seat", seat, "manager", "--", "sh", "-c", script]);
    run.stdout.trim().to_string()
}

/// How the server closed a socket: its close code and reason.
async fn closed_with(socket: &mut Socket) -> Option<(CloseCode, String)> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
            Ok(Some(Ok(Message::Close(Some(frame))))) => return Some((frame.code, frame.reason.to_string())),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
    None
}

/// The `docker exec` terminals of the class on this host.
fn exec_shells() -> usize {
    let listing = duct::cmd("ps", ["-eo", "args"]).read().unwrap_or_default();
    listing.lines().filter(|line| line.contains("exec --interactive --tty") && line.contains(CLASS)).count()
}

/// The class's `docker exec` terminals once they number `wanted`, or after
/// 15 s however many there are. A terminal's client is ended on a thread of
/// its own after its page goes, so a count taken at once may still hold it.
async fn exec_shells_settled(wanted: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut count = exec_shells();
    while count != wanted && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
        count = exec_shells();
    }
    count
}

/// The board as `/api/board` gives it once `holds` is true of it, or as it
/// is after 90 s; read every second.
fn board_once(secret: &str, holds: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, body) = http("GET", "/api/board", Some(secret));
        assert_eq!(status, 200, "{body}");
        let board = serde_json::from_str(&unchunked(&body)).unwrap();
        if holds(&board) || Instant::now() >= deadline {
            return board;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
#[ignore = "end-to-end: needs root, Docker and the offline test images; bash scripts/test runs it with LABCTL_E2E=1"]
fn e2e_each_seats_link_opens_its_own_terminals_and_checks_and_the_board_follows_the_class() {
    require_e2e();
    let mut class = Class::up(&config());
    let (seat1, seat2) = (class.secret("s01/link"), class.secret("s02/link"));
    assert!(class
        .workspace
        .read(".labctl/access/s01/README.txt")
        .contains(&format!("http://127.0.0.1:{PORT}/#{seat1}")));

    class.serve(PORT);
    let board_secret = class.secret("board-link");

    // --- Who gets in: a plain refusal without the right secret.
    let (status, body) = http("GET", "/api/seat", None);
    assert_eq!(
        (status, body.as_str()),
        (401, "refused: this link is not valid (ask your instructor for your handout's link)")
    );
    assert_eq!(http("GET", "/api/seat", Some("0123456789abcdef0123456789abcdef")).0, 401);
    assert_eq!(http("GET", "/api/board", Some(&seat1)).0, 401, "a seat's secret does not open the board");
    let (status, body) = http("GET", "/api/seat", Some(&seat1));
    assert_eq!(status, 200, "{body}");
    let seat: serde_json::Value = serde_json::from_str(&unchunked(&body)).unwrap();
    assert_eq!((seat["seat"].as_u64(), seat["nodes"].clone()), (Some(1), serde_json::json!(["manager", "node1"])));
    assert!(!body.contains(&seat2) && !body.contains("s02"), "nothing of seat 2: {body}");
    assert_eq!(http("GET", "/assets/../labctl.toml", None).0, 404);
    let (status, page) = http("GET", "/api/handout/visualizer?lang=en", Some(&seat2));
    assert!(status == 200 && page.contains("<h1>"), "{page}");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        // --- Each seat's terminal is a shell on its own manager.
        let mut one = terminal(&seat1, "manager").await;
        let screen = run_until(&mut one, "hostname -i; docker node ls", "10.91.0.10").await;
        assert!(screen.contains("10.91.0.10"), "seat 1's manager: {screen}");
        let screen =
            run_until(&mut one, "docker node ls --format '{{.Hostname}} {{.Status}}' | sort", "node1 Ready").await;
        assert!(screen.contains("manager Ready") && screen.contains("node1 Ready"), "{screen}");
        let mut two = terminal(&seat2, "manager").await;
        let screen = run_until(&mut two, "hostname -i", "10.91.1.10").await;
        assert!(screen.contains("10.91.1.10") && !screen.contains("10.91.0.10"), "seat 2's manager: {screen}");

        // --- Refusals, and the server goes on for the other seat.
        let mut wrong = terminal("0123456789abcdef0123456789abcdef", "manager").await;
        assert_eq!(closed_with(&mut wrong).await.map(|(code, _)| code), Some(CloseCode::from(4401)));
        let mut nowhere = terminal(&seat1, "node9").await;
        assert_eq!(closed_with(&mut nowhere).await, Some((CloseCode::from(4401), "refused: no such node".to_string())));
        let huge = serde_json::json!({ "t": "in", "d": "x".repeat(200_000) }).to_string();
        let _ = one.send(Message::Text(huge.into())).await;
        let (ended, seen) = ends_after_typing(&mut one, "echo still-here").await;
        assert!(ended && !seen.contains("still-here"), "an oversized message ends that terminal: {seen}");
        let screen = run_until(&mut two, "echo seat-two-works", "seat-two-works").await;
        assert!(screen.contains("seat-two-works"), "{screen}");

        // --- At most 6 terminals a seat; closing them ends their shells.
        // Seat 2's is the class's one terminal left: the oversized one's
        // shell ended with it.
        assert_eq!(exec_shells_settled(1).await, 1, "the ended terminal's shell is gone; seat 2's is open");
        let mut open = Vec::new();
        for _ in 0..6 {
            let mut socket = terminal(&seat1, "node1").await;
            let screen = run_until(&mut socket, "echo ready", "ready").await;
            assert!(screen.contains("ready"), "{screen}");
            open.push(socket);
        }
        let mut seventh = terminal(&seat1, "node1").await;
        let refusal = closed_with(&mut seventh).await;
        assert_eq!(
            refusal.map(|(code, _)| code),
            Some(CloseCode::from(4429)),
            "busy, not refused: the page tries again later"
        );
        assert_eq!(exec_shells(), 1 + 6, "one shell per open terminal");
        for mut socket in open {
            let _ = socket.close(None).await;
        }
        assert_eq!(exec_shells_settled(1).await, 1, "the shells ended with their pages");
        // --- A flood of connections from one computer is refused; seat 2 goes on.
        let mut flood = Vec::new();
        let mut refused_at = None;
        for attempt in 0..40 {
            match tokio_tungstenite::connect_async(format!("ws://{BASE}/ws/terminal")).await {
                Ok((socket, _)) => flood.push(socket),
                Err(_) => {
                    refused_at = Some(attempt);
                    break;
                }
            }
        }
        // Seat 2's terminal is one of this computer's connections too.
        assert_eq!(refused_at, Some(31), "the 33rd connection from one computer is refused");
        drop(flood);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let screen = run_until(&mut two, "echo after-the-flood", "after-the-flood").await;
        assert!(screen.contains("after-the-flood"), "{screen}");
        let _ = two.close(None).await;

        // --- Closing a page ends its shell on the node too, and what runs
        // in its foreground (Docker alone leaves them: moby#9098).
        let mut student = terminal(&seat1, "manager").await;
        let screen = run_until(&mut student, "echo started; sleep 4242", "started").await;
        assert!(screen.contains("started"), "{screen}");
        assert_eq!(on_node(&class, "1", SLEEPING), "1", "the shell's foreground command runs on the node");
        let _ = student.close(None).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while on_node(&class, "1", SLEEPING) != "0" && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert_eq!(on_node(&class, "1", SLEEPING), "0", "nothing of the closed terminal lingers on the node");

        // --- The board watches a student's terminal, then takes it over;
        // the student is told. Nobody else watches it.
        let mut student = terminal(&seat1, "manager").await;
        let screen = run_until(&mut student, "echo before-$((6*7))", "before-42").await;
        assert!(screen.contains("before-42"), "{screen}");
        let (_, body) = http("GET", "/api/board", Some(&board_secret));
        let board: serde_json::Value = serde_json::from_str(&unchunked(&body)).unwrap();
        let open = &board["seats"][0]["terminals"];
        assert_eq!(open.as_array().map(Vec::len), Some(1), "the board lists seat 1's open terminal: {board:#}");
        assert_eq!(open[0]["node"], "manager");
        assert_eq!(board["seats"][1]["terminals"], serde_json::json!([]), "{board:#}");
        let id = open[0]["id"].as_u64().unwrap();
        for (secret, seat) in [(seat2.as_str(), 1), (seat1.as_str(), 1), (board_secret.as_str(), 2)] {
            let mut nosy = watcher(secret, seat, id, false).await;
            assert_eq!(
                closed_with(&mut nosy).await.map(|(code, _)| code),
                Some(CloseCode::from(4401)),
                "only the board watches, and only on the terminal's own seat"
            );
        }
        let mut watching = watcher(&board_secret, 1, id, false).await;
        let seen = read_until(&mut watching, "before-42").await;
        assert!(seen.contains("\"size\":[120,40]") && seen.contains("before-42"), "the screen as it was: {seen}");
        let told = run_until(&mut student, "echo during-$((6*7))", "during-42").await;
        assert!(told.contains("your instructor is watching this terminal"), "{told}");
        let seen = read_until(&mut watching, "during-42").await;
        assert!(seen.contains("during-42"), "the watcher follows: {seen}");
        watching.send(typed("echo ignored-$((6*7))")).await.unwrap();
        watching.send(Message::Text(r#"{"t":"take","on":true}"#.into())).await.unwrap();
        let told = read_until(&mut student, "typing in this terminal").await;
        assert!(told.contains("your instructor is typing in this terminal"), "{told}");
        assert!(!told.contains("ignored-42"), "a watcher's keys go nowhere until it takes over: {told}");
        watching.send(typed("echo taken-$((6*7))")).await.unwrap();
        let reached = read_until(&mut student, "taken-42").await;
        assert!(reached.contains("taken-42"), "the instructor's keys reach the student's shell: {reached}");
        let _ = student.close(None).await;
        let seen = read_until(&mut watching, "closed this terminal").await;
        assert!(seen.contains("the student closed this terminal"), "{seen}");

        // --- A node that goes down under an open terminal: when that
        // shell ends, however long it ran, the terminal says how the seat
        // is. node1's heartbeats to the manager are dropped, so the swarm
        // has it Down while its container (and the shell) still run.
        let mut open_long = terminal(&seat1, "node1").await;
        let screen = run_until(&mut open_long, "echo open-$((6*7))", "open-42").await;
        assert!(screen.contains("open-42"), "{screen}");
        let cut_off =
            ["exec", "--seat", "1", "node1", "--", "iptables", "-I", "OUTPUT", "-d", "10.91.0.10", "-j", "DROP"];
        class.labctl(&cut_off).success();
        let board = board_once(&board_secret, |board| board["seats"][0]["nodes_ready"] == 1);
        assert_eq!(board["seats"][0]["nodes_ready"], 1, "the board reads node1 down: {board:#}");
        open_long.send(typed("exit")).await.unwrap();
        let said = read_for(&mut open_long, Some("trying again"), Duration::from_secs(20)).await.0;
        assert!(said.contains("[labctl: seat s01: 1/2 nodes Ready; node1 (Down)"), "a shell that ran a while: {said}");

        // --- A node that is down: the terminal says how the seat is.
        crate::support::host_docker(&["stop", "--time", "1", &format!("{CLASS}-s01-node1")]);
        // The board reads the class every few seconds: until it has seen
        // node1 stopped, the seat is said to be Ready, and the page tries again.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut said = String::new();
        while !said.contains("nodes Ready; node1") && Instant::now() < deadline {
            let mut down = terminal(&seat1, "node1").await;
            said = read_for(&mut down, Some("trying again"), Duration::from_secs(20)).await.0;
            let _ = down.close(None).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        assert!(said.contains("[labctl: seat s01: 1/2 nodes Ready; node1"), "{said}");
        crate::support::host_docker(&["start", &format!("{CLASS}-s01-node1")]);
    });

    // --- A seat's check runs on that seat only.
    let (status, body) = http("POST", "/api/check/visualizer?lang=en", Some(&seat1));
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&unchunked(&body)).unwrap();
    assert_eq!(report["lab"], "visualizer");
    assert_eq!(report["reachable"], true, "{report:#}");
    assert!(report["checks"].as_array().is_some_and(|checks| !checks.is_empty()));

    // --- The board follows a check made from the CLI, unasked.
    class.labctl(&["check", "visualizer", "--seat", "2"]);
    let checked = |board: &serde_json::Value| {
        board["seats"][1]["checks"].as_array().is_some_and(|checks| checks.iter().any(|c| c["lab"] == "visualizer"))
    };
    // Seat 1's node1 was stopped and started again above: Ready again.
    let board = board_once(&board_secret, |board| checked(board) && board["seats"][0]["nodes_ready"] == 2);
    assert!(checked(&board), "the board shows seat 2's check: {board:#}");
    assert_eq!(board["seats"][0]["nodes_ready"], 2, "{board:#}");

    // --- The labs' pages through the server: each seat's own port 9000.
    for (seat, text) in [(1, "seat-one-page"), (2, "seat-two-page")] {
        let serve_page = format!("mkdir -p /tmp/www && echo {text} > /tmp/www/index.html && (busybox httpd -p 9000 -h /tmp/www || /bin/busybox httpd -p 9000 -h /tmp/www)");
        class.labctl(&["exec", "--seat", &seat.to_string(), "manager", "--", "sh", "-c", &serve_page]).success();
    }
    let (cookie1, port1) = page_session(&seat1);
    let (cookie2, port2) = page_session(&seat2);
    assert!(
        cookie1.starts_with("labctl_pages_s01=") && cookie2.starts_with("labctl_pages_s02="),
        "{cookie1} {cookie2}"
    );
    assert_eq!((port1, port2), (PORT + 1, PORT + 2), "each seat's page has a port of its own");
    let (one, two) = (format!("127.0.0.1:{port1}"), format!("127.0.0.1:{port2}"));
    let (status, _, body) = http_to(&one, "GET", "/", &format!("Cookie: {cookie1}\r\n"));
    assert_eq!((status, body.trim()), (200, "seat-one-page"), "seat 1's visualizer port");
    let (status, _, body) = http_to(&two, "GET", "/", &format!("Cookie: {cookie2}\r\n"));
    assert_eq!((status, body.trim()), (200, "seat-two-page"), "seat 2's, with seat 2's cookie");
    let (status, _, body) = http_to(&two, "GET", "/", &format!("Cookie: {cookie1}\r\n"));
    assert_eq!(status, 401, "seat 1's cookie does not open seat 2's page: {body}");
    let seat2_token = cookie2.split_once('=').unwrap().1;
    let (status, _, _) = http_to(&one, "GET", "/", &format!("Cookie: labctl_pages_s01={seat2_token}\r\n"));
    assert_eq!(status, 401, "nor seat 2's token under seat 1's name");
    // The board's browser holds every seat's cookie: each port takes its own.
    let both = format!("Cookie: {cookie2}; {cookie1}\r\n");
    let (status, _, body) = http_to(&one, "GET", "/", &both);
    assert_eq!((status, body.trim()), (200, "seat-one-page"));
    let (status, _, body) = http_to(&two, "GET", "/", &both);
    assert_eq!((status, body.trim()), (200, "seat-two-page"));
    let (status, _, body) = http_to(&one, "GET", "/", "");
    assert_eq!(status, 401, "no cookie, no page: {body}");

    // --- From the board: a seat's page and terminals, reset, the gradebook.
    let (_, body) = http("GET", "/api/seat?seat=2", Some(&board_secret));
    assert!(unchunked(&body).contains("\"label\":\"s02\""), "the board opens seat 2's page: {body}");
    let (_, body) = http("GET", "/api/seat?seat=2", Some(&seat1));
    assert!(unchunked(&body).contains("\"label\":\"s01\""), "a seat's secret opens its own seat only: {body}");
    assert_eq!(http("POST", "/api/board/reset/2/visualizer", Some(&seat1)).0, 401);
    let (status, body) = http("POST", "/api/board/reset/2/visualizer", Some(&board_secret));
    assert_eq!(status, 200, "{body}");
    assert!(unchunked(&body).contains("\"ok\":true"), "{body}");
    let (status, csv) = http("GET", "/api/board/gradebook/visualizer", Some(&board_secret));
    assert_eq!(status, 200, "{csv}");
    assert!(unchunked(&csv).lines().next().is_some_and(|header| header.starts_with("seat")), "{csv}");
    runtime.block_on(async {
        let opening =
            serde_json::json!({ "secret": board_secret, "seat": 2, "node": "manager", "cols": 80, "rows": 24 });
        let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{BASE}/ws/terminal")).await.unwrap();
        socket.send(Message::Text(opening.to_string().into())).await.unwrap();
        let screen = run_until(&mut socket, "hostname -i", "10.91.1.10").await;
        assert!(screen.contains("10.91.1.10"), "the board's terminal on seat 2: {screen}");
        let _ = socket.close(None).await;
    });

    // --- HTTPS with the class's certificate (a self-signed one here).
    if let Some(server) = class.server.take() {
        let _ = server.kill();
    }
    let tls = class.workspace.path().join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let made = duct::cmd(
        "openssl",
        [
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
    )
    .before_spawn({
        let tls = tls.clone();
        move |command| {
            command.arg("-keyout").arg(tls.join("key.pem")).arg("-out").arg(tls.join("cert.pem"));
            Ok(())
        }
    })
    .stdout_null()
    .stderr_null()
    .run();
    assert!(made.is_ok(), "openssl made a certificate");
    let config = config().replace("[cache]", "web_cert = \"tls/cert.pem\"\nweb_key = \"tls/key.pem\"\n\n[cache]");
    class.workspace.file("labctl.toml", &config);
    class.labctl(&["class", "roster"]).success();
    let handout = class.workspace.read(".labctl/access/s01/README.txt");
    assert!(handout.contains(&format!("https://127.0.0.1:{PORT}/#{seat1}")), "{handout}");
    class.serve(PORT);
    let cert = tls.join("cert.pem").display().to_string();
    let header = format!("Authorization: Bearer {seat1}");
    let seat =
        duct::cmd("curl", ["-sS", "--cacert", &cert, "-H", &header, &format!("https://127.0.0.1:{PORT}/api/seat")])
            .read()
            .unwrap();
    assert!(seat.contains("\"label\":\"s01\""), "HTTPS with the class's certificate: {seat}");
    let plain = duct::cmd("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", &format!("http://{BASE}/api/seat")])
        .unchecked()
        .stderr_null()
        .read()
        .unwrap_or_default();
    assert_ne!(plain, "200", "no plain HTTP on the TLS port");
}
