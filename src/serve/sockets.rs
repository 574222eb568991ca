//! The terminals' websockets (`/ws/terminal`): who may open one, how many,
//! and what crosses it. A page opens a terminal on one of its seat's nodes;
//! the board opens one of its own on any seat, or watches (and may take
//! over) a terminal a student has open.
//!
//! The first message says who and what (`{secret, seat?, node, cols, rows}`,
//! or `{secret, seat, watch: ID, take?}` for a watcher); after it come keys
//! (`{t: "in", d}`), sizes (`{t: "size", cols, rows}`) and, from a watcher,
//! `{t: "take", on}`. The server sends the shell's output as binary
//! messages and, as text, JSON: `{say}` for a line in the terminal,
//! `{size: [cols, rows]}` for a watcher, `{notice}` for the page's own line
//! ("your instructor is watching").

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use super::terminal::{type_keys, Session};
use super::watch::{Event, Shared, Terminals};
use super::Site;

/// Terminals one seat may hold at once.
pub const TERMINALS_PER_SEAT: usize = 6;
/// Terminal connections (open or still saying who they are) one client
/// address may hold at once: a flood from one machine is refused, and the
/// other seats go on.
pub const SOCKETS_PER_CLIENT: usize = 32;
/// A shell that ends this soon after it started did not start: the page
/// is told how its seat is.
const QUICK_END: Duration = Duration::from_secs(5);
/// A terminal nobody typed in or read from for this long ends.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// How often a page is asked whether it is still there (a websocket ping);
/// one that has said nothing for three of these is gone, and its terminal
/// ends without waiting for [`IDLE`].
const PING: Duration = Duration::from_secs(20);
/// The largest websocket message taken (keys and sizes are small).
const MAX_MESSAGE: usize = 64 * 1024;

/// The close code of a refusal the page knows: it stops retrying.
const REFUSED: u16 = 4401;
/// The close code of "not now" (too many terminals): the page says so and
/// tries again later.
const BUSY: u16 = 4429;

/// The terminals of the class: their limits, and the open ones.
#[derive(Clone)]
pub struct Sockets {
    site: Arc<Site>,
    /// Open terminals per seat number.
    open: Arc<Counts<u32>>,
    /// Terminal connections per client address.
    clients: Arc<Counts<IpAddr>>,
    /// The open terminals, for the board and its watchers.
    pub terminals: Arc<Terminals>,
    /// The last `class status --json`, to say how a seat is.
    board: Arc<Mutex<Value>>,
}

impl Sockets {
    pub fn new(site: Arc<Site>, board: Arc<Mutex<Value>>) -> Sockets {
        Sockets {
            site,
            open: Arc::new(Counts::at_most(TERMINALS_PER_SEAT)),
            clients: Arc::new(Counts::at_most(SOCKETS_PER_CLIENT)),
            terminals: Arc::default(),
            board,
        }
    }

    pub fn router(&self) -> Router {
        Router::new().route("/ws/terminal", get(terminal)).with_state(self.clone())
    }

    /// How many terminals seat `number` has open.
    pub fn connected(&self, number: u32) -> usize {
        self.open.held(&number)
    }

    /// How seat `number` is, in `labctl class status`'s words (the board's
    /// last reading), for a terminal on `node` whose shell ended: said when
    /// the shell ended as it started (`quick`: it could not start), or when
    /// the board reads that node or the whole seat as down, however long
    /// the shell ran (a loaded server may take longer than [`QUICK_END`] to
    /// find a stopped node's shell gone).
    fn seat_status(&self, number: u32, node: &str, quick: bool) -> Option<String> {
        let board = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        let line = board["seats"].as_array()?.iter().find(|line| line["seat"] == number)?.clone();
        drop(board);
        if line["reachable"] == false {
            return Some(format!("not reachable: {}", line["error"].as_str().unwrap_or("its engine does not answer")));
        }
        let not_ready: Vec<&str> = line["not_ready"].as_array()?.iter().filter_map(Value::as_str).collect();
        // Each is "node1 (Down)": the node's name, then why.
        let node_down = not_ready.iter().any(|entry| entry.split(" (").next() == Some(node));
        if !quick && !node_down {
            return None;
        }
        Some(format!(
            "{}/{} nodes Ready{}",
            line["nodes_ready"].as_u64()?,
            line["nodes"].as_u64()?,
            match not_ready.is_empty() {
                true => String::new(),
                false => format!("; {}", not_ready.join(", ")),
            }
        ))
    }
}

/// What a terminal's first message says.
#[derive(Deserialize)]
struct Opening {
    secret: String,
    /// The seat the board's secret opens a terminal on.
    #[serde(default)]
    seat: Option<u32>,
    /// The node of a new terminal.
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    cols: u16,
    #[serde(default)]
    rows: u16,
    /// The board watches this open terminal instead.
    #[serde(default)]
    watch: Option<u64>,
    /// … and types in it.
    #[serde(default)]
    take: bool,
}

/// A message after the first: keys, the terminal's new size, or a watcher
/// taking the terminal over (or giving it back).
#[derive(Deserialize)]
#[serde(tag = "t")]
enum Input {
    #[serde(rename = "in")]
    Keys { d: String },
    #[serde(rename = "size")]
    Size { cols: u16, rows: u16 },
    #[serde(rename = "take")]
    Take { on: bool },
}

async fn terminal(
    State(sockets): State<Sockets>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let client = client.ip();
    if !sockets.clients.take(client) {
        return (StatusCode::TOO_MANY_REQUESTS, "refused: too many connections from this computer").into_response();
    }
    // Given back however the connection ends, upgraded or not.
    let slot = SocketSlot { sockets: sockets.clone(), client };
    upgrade.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE).on_upgrade(move |socket| async move {
        let slot = slot;
        opened(slot.sockets.clone(), socket).await;
    })
}

/// How many of something each key holds (a seat's terminals, a computer's
/// connections), at most `limit` each.
struct Counts<K> {
    limit: usize,
    held: Mutex<HashMap<K, usize>>,
}

impl<K: std::hash::Hash + Eq> Counts<K> {
    fn at_most(limit: usize) -> Counts<K> {
        Counts { limit, held: Mutex::default() }
    }

    /// Count one more for `key`, unless it holds `limit` already.
    fn take(&self, key: K) -> bool {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(key).or_default();
        if *count >= self.limit {
            return false;
        }
        *count += 1;
        true
    }

    fn give_back(&self, key: &K) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(key);
            }
        }
    }

    fn held(&self, key: &K) -> usize {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).get(key).copied().unwrap_or(0)
    }
}

/// One client's connection, counted in [`Sockets::clients`]; given back when dropped.
struct SocketSlot {
    sockets: Sockets,
    client: IpAddr,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.sockets.clients.give_back(&self.client);
    }
}

/// Close with `code` and why.
async fn refuse_socket(mut socket: WebSocket, code: u16, why: &'static str) {
    let frame = CloseFrame { code, reason: why.into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// A line for the terminal itself (not the shell's output).
async fn say(socket: &mut WebSocket, line: &str) {
    let _ = socket.send(Message::Text(json!({ "say": line }).to_string().into())).await;
}

async fn opened(sockets: Sockets, mut socket: WebSocket) {
    // The first message, within a few seconds, says who and which node.
    let first = tokio::time::timeout(Duration::from_secs(10), socket.recv()).await;
    let Ok(Some(Ok(Message::Text(text)))) = first else { return refuse_socket(socket, REFUSED, "refused").await };
    let Ok(opening) = serde_json::from_str::<Opening>(&text) else {
        return refuse_socket(socket, REFUSED, "refused").await;
    };
    let Some(seat) = sockets.site.seat_for(&opening.secret, opening.seat) else {
        return refuse_socket(socket, REFUSED, "refused: this link is not valid").await;
    };
    if let Some(id) = opening.watch {
        // Watching is the board's: a seat's own secret watches nothing.
        if !sockets.site.is_board(&opening.secret) {
            return refuse_socket(socket, REFUSED, "refused").await;
        }
        let Some(shared) = sockets.terminals.find(seat.number, id) else {
            return refuse_socket(socket, REFUSED, "refused: that terminal is closed").await;
        };
        return watch(socket, shared, opening.take).await;
    }
    let node = opening.node.as_deref().unwrap_or_default();
    let Some((_, shell)) = seat.shells.iter().find(|(name, _)| name == node) else {
        return refuse_socket(socket, REFUSED, "refused: no such node").await;
    };
    let (number, label) = (seat.number, seat.label.clone());
    if !sockets.open.take(number) {
        return refuse_socket(socket, BUSY, "too many terminals open for this seat; close one").await;
    }
    let size = |value: u16, default: u16| if (2..=1000).contains(&value) { value } else { default };
    let (cols, rows) = (size(opening.cols, 80), size(opening.rows, 24));
    let started = Instant::now();
    let id = sockets.terminals.next_id();
    // Each terminal's own mark, so that ending it ends its shell only.
    let shell = shell.retagged(&seat.tag, &format!("{}-{id}", seat.tag));
    match Session::start(&shell, cols, rows) {
        Ok(session) => {
            let shared = sockets.terminals.opened(id, number, node, session.keys(), (cols, rows));
            bridge(&mut socket, session, &shared).await;
            sockets.terminals.closed(&shared);
        }
        Err(_) => say(&mut socket, "labctl: cannot start a terminal on this node\r\n").await,
    }
    if let Some(status) = sockets.seat_status(number, node, started.elapsed() < QUICK_END) {
        let status = crate::mask::visible(&status);
        say(&mut socket, &format!("[labctl: seat {label}: {status}; trying again in a moment]\r\n")).await;
    }
    sockets.open.give_back(&number);
}

/// When a page was last heard from and a terminal last used: a page
/// gone without a word, or a terminal left alone, ends.
struct Liveness {
    heard: Instant,
    used: Instant,
}

impl Liveness {
    fn new() -> Liveness {
        Liveness { heard: Instant::now(), used: Instant::now() }
    }

    /// Why the terminal should end now, at a ping's tick.
    fn over(&self) -> Option<&'static str> {
        if self.heard.elapsed() > PING * 3 {
            return Some("\r\n[labctl: the page stopped answering; closed]\r\n");
        }
        (self.used.elapsed() > IDLE).then_some("\r\n[labctl: closed after 30 minutes without use]\r\n")
    }
}

/// The page's line while the instructor looks: `(watching, typing)`.
fn notice((watching, typing): (usize, usize)) -> &'static str {
    match (watching, typing) {
        (_, 1..) => "your instructor is typing in this terminal",
        (1.., 0) => "your instructor is watching this terminal",
        _ => "",
    }
}

/// Carry keys to the shell and its output to the page (and its watchers)
/// until either ends, the page goes silent, or nothing happens for [`IDLE`].
async fn bridge(socket: &mut WebSocket, mut session: Session, shared: &Shared) {
    let mut onlookers = shared.onlookers();
    let keys = session.keys();
    let mut ping = tokio::time::interval(PING);
    let mut live = Liveness::new();
    loop {
        tokio::select! {
            output = session.output.recv() => match output {
                Some(bytes) => {
                    live.used = Instant::now();
                    shared.printed(&bytes);
                    if socket.send(Message::Binary(bytes.into())).await.is_err() { return }
                }
                None => return say(socket, "\r\n[labctl: the shell ended]\r\n").await,
            },
            message = socket.recv() => {
                live.heard = Instant::now();
                match message {
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<Input>(&text) {
                        Ok(Input::Keys { d }) => {
                            live.used = Instant::now();
                            if !type_keys(&keys, d.into_bytes()) {
                                return say(socket, "\r\n[labctl: the shell reads none of the keys sent; closed]\r\n").await;
                            }
                        }
                        Ok(Input::Size { cols, rows }) if (2..=1000).contains(&cols) && (2..=1000).contains(&rows) => {
                            session.resize(cols, rows);
                            shared.resized(cols, rows);
                        }
                        _ => {}
                    },
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    Some(Ok(_)) => {}
                }
            },
            Ok(()) = onlookers.changed() => {
                let line = notice(*onlookers.borrow_and_update());
                let message = json!({ "notice": line }).to_string();
                if socket.send(Message::Text(message.into())).await.is_err() { return }
            },
            _ = ping.tick() => {
                if let Some(why) = live.over() { return say(socket, why).await }
                if socket.send(Message::Ping(Default::default())).await.is_err() { return }
            }
        }
    }
}

/// The board watches a student's terminal: the screen as it has been
/// lately, then all that follows; with `take`, its keys go in too.
async fn watch(mut socket: WebSocket, shared: Arc<Shared>, take: bool) {
    if !shared.join(take) {
        return refuse_socket(socket, BUSY, "this terminal has as many watchers as it may").await;
    }
    let mut typing = take;
    let (recent, mut events) = shared.follow();
    let (cols, rows) = shared.size();
    let _ = socket.send(Message::Text(json!({ "size": [cols, rows] }).to_string().into())).await;
    let _ = socket.send(Message::Binary(recent.into())).await;
    let mut ping = tokio::time::interval(PING);
    let mut live = Liveness::new();
    let mut ended = shared.has_ended();
    while !ended {
        tokio::select! {
            event = events.recv() => match event {
                Ok(Event::Output(bytes)) => {
                    live.used = Instant::now();
                    if socket.send(Message::Binary(bytes.to_vec().into())).await.is_err() { break }
                }
                Ok(Event::Size(cols, rows)) => {
                    let _ = socket.send(Message::Text(json!({ "size": [cols, rows] }).to_string().into())).await;
                }
                Ok(Event::Ended) | Err(RecvError::Closed) => ended = true,
                Err(RecvError::Lagged(_)) => say(&mut socket, "\r\n[labctl: some output skipped: this page fell behind]\r\n").await,
            },
            message = socket.recv() => {
                live.heard = Instant::now();
                match message {
                    Some(Ok(Message::Text(text))) => match serde_json::from_str::<Input>(&text) {
                        Ok(Input::Keys { d }) if typing => {
                            live.used = Instant::now();
                            let _ = type_keys(shared.keys(), d.into_bytes());
                        }
                        Ok(Input::Take { on }) if on != typing => {
                            shared.typing(on);
                            typing = on;
                        }
                        _ => {}
                    },
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                }
            },
            _ = ping.tick() => {
                if let Some(why) = live.over() { say(&mut socket, why).await; break }
                if socket.send(Message::Ping(Default::default())).await.is_err() { break }
            }
        }
    }
    if ended {
        say(&mut socket, "\r\n[labctl: the student closed this terminal]\r\n").await;
    }
    shared.leave(typing);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sockets() -> Sockets {
        Sockets::new(Arc::new(super::super::tests::site()), Arc::default())
    }

    #[test]
    fn one_client_holds_a_bounded_number_of_connections() {
        let sockets = sockets();
        let (one, other): (IpAddr, IpAddr) = ("10.0.0.5".parse().unwrap(), "10.0.0.6".parse().unwrap());
        for _ in 0..SOCKETS_PER_CLIENT {
            assert!(sockets.clients.take(one));
        }
        assert!(!sockets.clients.take(one), "the flood is refused");
        assert!(sockets.clients.take(other), "another computer is not");
        sockets.clients.give_back(&one);
        assert!(sockets.clients.take(one));
    }

    #[test]
    fn a_terminal_that_cannot_start_or_whose_node_is_down_says_how_its_seat_is() {
        let sockets = sockets();
        *sockets.board.lock().unwrap() = json!({ "seats": [
            { "seat": 1, "reachable": true, "nodes_ready": 1, "nodes": 2, "not_ready": ["node1 (Down)"] },
            { "seat": 2, "reachable": false, "error": "engine e2 does not answer" }
        ]});
        assert_eq!(sockets.seat_status(1, "manager", true).as_deref(), Some("1/2 nodes Ready; node1 (Down)"));
        assert_eq!(
            sockets.seat_status(2, "manager", true).as_deref(),
            Some("not reachable: engine e2 does not answer")
        );
        assert_eq!(sockets.seat_status(3, "manager", true), None);
        // A shell that ran a while: said only when its node or seat is down.
        assert_eq!(sockets.seat_status(1, "node1", false).as_deref(), Some("1/2 nodes Ready; node1 (Down)"));
        assert_eq!(sockets.seat_status(1, "node10", false), None, "another node's name is not node1's");
        assert_eq!(sockets.seat_status(1, "manager", false), None, "a shell the student ended: nothing to say");
        assert!(sockets.seat_status(2, "manager", false).is_some_and(|said| said.starts_with("not reachable")));
    }

    #[test]
    fn a_seat_holds_a_bounded_number_of_terminals() {
        let sockets = sockets();
        for _ in 0..TERMINALS_PER_SEAT {
            assert!(sockets.open.take(1));
        }
        assert!(!sockets.open.take(1), "one more is refused");
        assert!(sockets.open.take(2), "another seat's count is its own");
        sockets.open.give_back(&1);
        assert!(sockets.open.take(1));
        assert_eq!((sockets.connected(1), sockets.connected(2), sockets.connected(3)), (TERMINALS_PER_SEAT, 1, 0));
    }

    #[test]
    fn the_student_is_told_while_the_instructor_watches_or_types() {
        assert_eq!(notice((0, 0)), "");
        assert_eq!(notice((1, 0)), "your instructor is watching this terminal");
        assert_eq!(notice((2, 1)), "your instructor is typing in this terminal");
    }

    #[test]
    fn a_page_that_stops_answering_or_a_terminal_left_alone_ends() {
        let mut live = Liveness::new();
        assert_eq!(live.over(), None);
        live.heard = Instant::now() - PING * 4;
        assert!(live.over().is_some_and(|why| why.contains("stopped answering")));
        live.heard = Instant::now();
        live.used = Instant::now() - IDLE - Duration::from_secs(1);
        assert!(live.over().is_some_and(|why| why.contains("30 minutes")));
    }
}
