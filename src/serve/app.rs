//! The HTTP side of `labctl serve`: routes, who may use each, and the
//! board's state. Every answer about a seat is computed from that seat's
//! own data only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::terminal::Session;
use super::{assets, same_secret, SeatSite, Site};
use crate::exec::{CommandSpec, RealRunner, Runner};
use crate::ui::{Ui, Verbosity};

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
/// The largest websocket message taken (keys and sizes are small).
const MAX_MESSAGE: usize = 64 * 1024;
/// How often the board's state is read again.
const BOARD_EVERY: Duration = Duration::from_secs(3);
/// How long a seat's check may take.
const CHECK_LIMIT: Duration = Duration::from_secs(180);
/// How long reading the class's status may take.
const STATUS_LIMIT: Duration = Duration::from_secs(120);
/// How long a reset or solve from the board may take.
const ACTION_LIMIT: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub struct App {
    site: Arc<Site>,
    /// Open terminals per seat number.
    open: Arc<Counts<u32>>,
    /// Terminal connections per client address.
    clients: Arc<Counts<std::net::IpAddr>>,
    /// The last `class status --json`.
    board: Arc<Mutex<Value>>,
    /// Who may open the labs' pages (see [`super::pages`]).
    sessions: super::pages::Sessions,
    /// Seats with a check running: one at a time a seat.
    checking: Arc<Mutex<std::collections::HashSet<u32>>>,
}

impl App {
    pub fn new(site: Site) -> App {
        App {
            site: Arc::new(site),
            open: Arc::new(Counts::at_most(TERMINALS_PER_SEAT)),
            clients: Arc::new(Counts::at_most(SOCKETS_PER_CLIENT)),
            board: Arc::new(Mutex::new(Value::Null)),
            sessions: super::pages::Sessions::default(),
            checking: Arc::default(),
        }
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(|| async { page("index.html") }))
            .route("/board", get(|| async { page("board.html") }))
            .route("/assets/{*path}", get(asset))
            .route("/api/seat", get(seat_info))
            .route("/api/handout/{lab}", get(handout))
            .route("/api/check/{lab}", post(check))
            .route("/api/pages", post(lab_pages))
            .route("/api/board", get(board))
            .route("/api/board/{action}/{seat}/{lab}", post(board_action))
            .route("/api/board/gradebook/{lab}", get(gradebook))
            .route("/ws/terminal", get(terminal))
            .with_state(self.clone())
    }

    /// Read the board's state now and every few seconds after.
    pub fn watch_the_class(&self) {
        let app = self.clone();
        tokio::spawn(async move {
            loop {
                let site = app.site.clone();
                let status = tokio::task::spawn_blocking(move || class_status(&site)).await;
                if let Ok(Some(status)) = status {
                    *app.board.lock().unwrap_or_else(PoisonError::into_inner) = status;
                }
                tokio::time::sleep(BOARD_EVERY).await;
            }
        });
    }

    /// The seat whose secret the request carries, or, with the board's
    /// secret, the seat the instructor names (`?seat=K`).
    fn seat_of(&self, headers: &HeaderMap, named: Option<u32>) -> Option<&SeatSite> {
        let given = bearer(headers)?;
        self.seat_for(given, named)
    }

    fn seat_for(&self, given: &str, named: Option<u32>) -> Option<&SeatSite> {
        match named {
            Some(number) if self.is_board(given) => self.site.seats.iter().find(|seat| seat.number == number),
            _ => self.seat_by_secret(given),
        }
    }

    fn is_board(&self, given: &str) -> bool {
        same_secret(given, &self.site.board_secret)
    }

    /// How seat `number` is, in `labctl class status`'s words (the board's
    /// last reading): for a terminal whose shell could not start.
    fn seat_status(&self, number: u32) -> Option<String> {
        let board = self.board.lock().unwrap_or_else(PoisonError::into_inner);
        let line = board["seats"].as_array()?.iter().find(|line| line["seat"] == number)?.clone();
        drop(board);
        if line["reachable"] == false {
            return Some(format!("not reachable: {}", line["error"].as_str().unwrap_or("its engine does not answer")));
        }
        let not_ready: Vec<&str> = line["not_ready"].as_array()?.iter().filter_map(Value::as_str).collect();
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

    /// The port the pages are served on.
    fn site_port(&self) -> u16 {
        self.site.port
    }

    fn seat_by_secret(&self, given: &str) -> Option<&SeatSite> {
        // Every secret compared, each in constant time.
        let mut found = None;
        for seat in &self.site.seats {
            if same_secret(given, &seat.secret) {
                found = Some(seat);
            }
        }
        found
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ")
}

/// The one answer a request without the right secret gets.
fn refused() -> Response {
    (StatusCode::UNAUTHORIZED, "refused: this link is not valid (ask your instructor for your handout's link)")
        .into_response()
}

fn page(name: &str) -> Response {
    match assets::file(name) {
        Some((bytes, kind)) => served(bytes, kind),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A file of the pages, with the headers that keep it to this origin.
fn served(bytes: &'static [u8], kind: &'static str) -> Response {
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

async fn asset(Path(path): Path<String>) -> Response {
    match assets::file(&path) {
        Some((bytes, kind)) if !path.ends_with(".html") => served(bytes, kind),
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

async fn seat_info(State(app): State<App>, headers: HeaderMap, Query(query): Query<SeatQuery>) -> Response {
    let Some(seat) = app.seat_of(&headers, query.seat) else { return refused() };
    let labs: Vec<Value> =
        app.site.labs.iter().map(|lab| json!({ "id": lab.id, "title": lab.title, "title_ko": lab.title_ko })).collect();
    let nodes: Vec<&str> = seat.shells.iter().map(|(node, _)| node.as_str()).collect();
    no_store(Json(json!({
        "class": app.site.class,
        "seat": seat.number,
        "label": seat.label,
        "nodes": nodes,
        "labs": labs,
        "language": app.site.language,
    })))
}

fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
    /// The seat the board's secret acts on.
    seat: Option<u32>,
}

#[derive(Deserialize)]
struct SeatQuery {
    seat: Option<u32>,
}

async fn handout(
    State(app): State<App>,
    headers: HeaderMap,
    Path(lab): Path<String>,
    Query(query): Query<LangQuery>,
) -> Response {
    if app.seat_of(&headers, query.seat).is_none() {
        return refused();
    }
    let Some(page) = app.site.labs.iter().find(|page| page.id == lab) else {
        return (StatusCode::NOT_FOUND, "no such lab").into_response();
    };
    let language = query.lang.unwrap_or_else(|| app.site.language.clone());
    match page.handouts.get(&language) {
        Some(html) => {
            let mut response = no_store(html.clone());
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            response
        }
        None => (StatusCode::NOT_FOUND, "no handout in that language").into_response(),
    }
}

/// The labs' pages of the seat the secret opens: their listeners' ports, and
/// a cookie that lets the browser in (a token of this run, not the secret).
async fn lab_pages(State(app): State<App>, headers: HeaderMap, Query(query): Query<SeatQuery>) -> Response {
    let Some(seat) = app.seat_of(&headers, query.seat) else { return refused() };
    let Ok(token) = app.sessions.open(seat.number) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot make a session").into_response();
    };
    let pages: Vec<Value> = app
        .site
        .pages
        .iter()
        .enumerate()
        .filter(|(_, (guest, _))| seat.forwards.contains_key(guest))
        .filter_map(|(index, (guest, node))| {
            let port = super::pages::address(SocketAddr::new([0, 0, 0, 0].into(), app.site_port()), index)?.port();
            Some(json!({ "guest": guest, "node": node, "port": port }))
        })
        .collect();
    let mut response = no_store(Json(json!({ "pages": pages })));
    let cookie = format!("{}={token}; HttpOnly; SameSite=Lax; Path=/", super::pages::COOKIE);
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `labctl check LAB --seat K --json` for the seat the secret opens.
async fn check(
    State(app): State<App>,
    headers: HeaderMap,
    Path(lab): Path<String>,
    Query(query): Query<LangQuery>,
) -> Response {
    let Some(seat) = app.seat_of(&headers, query.seat) else { return refused() };
    if !app.site.labs.iter().any(|page| page.id == lab) {
        return (StatusCode::NOT_FOUND, "no such lab").into_response();
    }
    let language = match query.lang.as_deref() {
        Some("en") => "en",
        _ => "ko",
    };
    // One check at a time a seat: a page that keeps asking waits its turn.
    if !app.checking.lock().unwrap_or_else(PoisonError::into_inner).insert(seat.number) {
        return (StatusCode::TOO_MANY_REQUESTS, "a check of this seat is running; wait for it").into_response();
    }
    // Held by the check itself: freed when it ends, even if the page left.
    let slot = CheckSlot { app: app.clone(), seat: seat.number };
    let args = [
        "check".to_string(),
        lab,
        "--seat".into(),
        seat.number.to_string(),
        "--json".into(),
        "--lang".into(),
        language.into(),
    ];
    let site = app.site.clone();
    let report = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        labctl_json(&site, &args, CHECK_LIMIT, "check a seat")
    })
    .await;
    match report {
        Ok(Some(report)) => no_store(Json(report)),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "the check did not answer").into_response(),
    }
}

/// The board: every seat's line of `class status`, with its open terminals.
async fn board(State(app): State<App>, headers: HeaderMap) -> Response {
    if !bearer(&headers).is_some_and(|given| app.is_board(given)) {
        return refused();
    }
    let status = app.board.lock().unwrap_or_else(PoisonError::into_inner).clone();

    let seats: Vec<Value> = app
        .site
        .seats
        .iter()
        .map(|seat| {
            let line = status["seats"]
                .as_array()
                .and_then(|lines| lines.iter().find(|line| line["seat"] == seat.number))
                .cloned()
                .unwrap_or(Value::Null);
            json!({
                "seat": seat.number,
                "label": seat.label,
                "connected": app.open.held(&seat.number),
                "reachable": line["reachable"],
                "ready": line["ready"],
                "nodes_ready": line["nodes_ready"],
                "nodes": line["nodes"],
                "checks": line["checks"],
            })
        })
        .collect();
    let labs: Vec<&str> = app.site.labs.iter().map(|lab| lab.id.as_str()).collect();
    no_store(Json(json!({ "class": app.site.class, "seats": seats, "labs": labs })))
}

/// From the board: `labctl reset LAB --seat K --yes` (with its backup of
/// what the student changed) or `labctl solve LAB --seat K`.
async fn board_action(
    State(app): State<App>,
    headers: HeaderMap,
    Path((action, number, lab)): Path<(String, u32, String)>,
) -> Response {
    if !bearer(&headers).is_some_and(|given| app.is_board(given)) {
        return refused();
    }
    if !app.site.seats.iter().any(|seat| seat.number == number) || !app.site.labs.iter().any(|page| page.id == lab) {
        return (StatusCode::NOT_FOUND, "no such seat or lab").into_response();
    }
    let mut args = match action.as_str() {
        "reset" => vec!["reset".to_string(), lab, "--seat".into(), number.to_string(), "--yes".into()],
        "solve" => vec!["solve".to_string(), lab, "--seat".into(), number.to_string()],
        _ => return (StatusCode::NOT_FOUND, "no such action").into_response(),
    };
    args.push("--quiet".into());
    let site = app.site.clone();
    let done =
        tokio::task::spawn_blocking(move || labctl_run(&site, &args, ACTION_LIMIT, "act on a seat from the board"))
            .await;
    match done {
        Ok(Some((true, _))) => no_store(Json(json!({ "ok": true }))),
        Ok(Some((false, said))) => no_store(Json(json!({ "ok": false, "error": crate::mask::visible(&said) }))),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "labctl did not answer").into_response(),
    }
}

/// From the board: the gradebook of a lab as CSV (`labctl check LAB --seat all --csv`).
async fn gradebook(State(app): State<App>, headers: HeaderMap, Path(lab): Path<String>) -> Response {
    if !bearer(&headers).is_some_and(|given| app.is_board(given)) {
        return refused();
    }
    if !app.site.labs.iter().any(|page| page.id == lab) {
        return (StatusCode::NOT_FOUND, "no such lab").into_response();
    }
    let args = vec!["check".to_string(), lab.clone(), "--seat".into(), "all".into(), "--csv".into()];
    let site = app.site.clone();
    let output =
        tokio::task::spawn_blocking(move || labctl_output(&site, &args, CHECK_LIMIT, "export the gradebook")).await;
    match output {
        Ok(Some(csv)) if !csv.is_empty() => {
            let mut response = no_store(csv);
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"gradebook-{lab}.csv\"")) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "the gradebook could not be made").into_response(),
    }
}

/// `labctl class status --json` for every seat.
fn class_status(site: &Site) -> Option<Value> {
    let args = ["class", "status", "--seat", "all", "--json"].map(String::from);
    labctl_json(site, &args, STATUS_LIMIT, "read the class's status")
}

/// What labctl itself prints as JSON for `args`, in the class's workspace
/// (its exit status says only how the seats are, the JSON says it all).
fn labctl_json(site: &Site, args: &[String], limit: Duration, purpose: &str) -> Option<Value> {
    serde_json::from_str(&labctl_output(site, args, limit, purpose)?).ok()
}

/// What labctl itself prints for `args`, in the class's workspace.
fn labctl_output(site: &Site, args: &[String], limit: Duration, purpose: &str) -> Option<String> {
    labctl(site, args, limit, purpose).map(|output| output.stdout)
}

/// Whether labctl did `args` (and, when not, the last lines it said).
fn labctl_run(site: &Site, args: &[String], limit: Duration, purpose: &str) -> Option<(bool, String)> {
    labctl(site, args, limit, purpose).map(|output| (output.success(), output.tail(3)))
}

fn labctl(site: &Site, args: &[String], limit: Duration, purpose: &str) -> Option<crate::exec::Output> {
    let mut argv = vec!["-C".to_string(), site.workspace.display().to_string()];
    argv.extend(args.iter().cloned());
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let program = site.labctl.display().to_string();
    let spec = CommandSpec::new(&program, &argv, purpose).timeout(limit);
    let runner = RealRunner::new(Ui::new(Verbosity::Quiet), Arc::default());
    runner.run(&spec).ok()
}

/// What a terminal's first message says.
#[derive(Deserialize)]
struct Opening {
    secret: String,
    /// The seat the board's secret opens a terminal on.
    #[serde(default)]
    seat: Option<u32>,
    node: String,
    cols: u16,
    rows: u16,
}

/// A message after the first: keys, or the terminal's new size.
#[derive(Deserialize)]
#[serde(tag = "t")]
enum Input {
    #[serde(rename = "in")]
    Keys { d: String },
    #[serde(rename = "size")]
    Size { cols: u16, rows: u16 },
}

async fn terminal(
    State(app): State<App>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let client = client.ip();
    if !app.clients.take(client) {
        return (StatusCode::TOO_MANY_REQUESTS, "refused: too many connections from this computer").into_response();
    }
    // Given back however the connection ends, upgraded or not.
    let slot = SocketSlot { app: app.clone(), client };
    upgrade.max_message_size(MAX_MESSAGE).max_frame_size(MAX_MESSAGE).on_upgrade(move |socket| async move {
        let slot = slot;
        run_terminal(slot.app.clone(), socket).await;
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

/// A seat's running check; the seat may check again once it is dropped.
struct CheckSlot {
    app: App,
    seat: u32,
}

impl Drop for CheckSlot {
    fn drop(&mut self) {
        self.app.checking.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.seat);
    }
}

/// One client's connection counted in [`App::take_socket`]; given back when dropped.
struct SocketSlot {
    app: App,
    client: std::net::IpAddr,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        self.app.clients.give_back(&self.client);
    }
}

/// The close code of a refusal the page knows: it stops retrying.
const REFUSED: u16 = 4401;
/// The close code of "not now" (too many terminals): the page says so and
/// tries again later.
const BUSY: u16 = 4429;

/// Close with `code` and why.
async fn refuse_socket(mut socket: WebSocket, code: u16, why: &'static str) {
    let frame = axum::extract::ws::CloseFrame { code, reason: why.into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn run_terminal(app: App, mut socket: WebSocket) {
    // The first message, within a few seconds, says who and which node.
    let first = tokio::time::timeout(Duration::from_secs(10), socket.recv()).await;
    let Ok(Some(Ok(Message::Text(text)))) = first else { return refuse_socket(socket, REFUSED, "refused").await };
    let Ok(opening) = serde_json::from_str::<Opening>(&text) else {
        return refuse_socket(socket, REFUSED, "refused").await;
    };
    let Some(seat) = app.seat_for(&opening.secret, opening.seat).cloned() else {
        return refuse_socket(socket, REFUSED, "refused: this link is not valid").await;
    };
    let Some((_, shell)) = seat.shells.iter().find(|(node, _)| *node == opening.node) else {
        return refuse_socket(socket, REFUSED, "refused: no such node").await;
    };
    if !app.open.take(seat.number) {
        return refuse_socket(socket, BUSY, "too many terminals open for this seat; close one").await;
    }
    let size = |value: u16, default: u16| if (2..=1000).contains(&value) { value } else { default };
    let started = std::time::Instant::now();
    let session = Session::start(shell, size(opening.cols, 80), size(opening.rows, 24));
    match session {
        Ok(session) => bridge(&mut socket, session).await,
        Err(_) => {
            let _ = socket.send(Message::Text("labctl: cannot start a terminal on this node\r\n".into())).await;
        }
    }
    if started.elapsed() < QUICK_END {
        if let Some(status) = app.seat_status(seat.number) {
            let status = crate::mask::visible(&status);
            let said = format!("[labctl: seat {}: {status}; trying again in a moment]\r\n", seat.label);
            let _ = socket.send(Message::Text(said.into())).await;
        }
    }
    app.open.give_back(&seat.number);
}

/// Carry keys to the shell and its output to the page until either ends,
/// or nothing happens for [`IDLE`].
async fn bridge(socket: &mut WebSocket, mut session: Session) {
    loop {
        tokio::select! {
            output = session.output.recv() => match output {
                Some(bytes) => if socket.send(Message::Binary(bytes.into())).await.is_err() { return },
                None => {
                    let _ = socket.send(Message::Text("\r\n[labctl: the shell ended]\r\n".into())).await;
                    return;
                }
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<Input>(&text) {
                    // The guard writes the keys; it fails only on a full queue.
                    Ok(Input::Keys { d }) if !session.write(d.as_bytes().to_vec()) => {
                        let _ = socket.send(Message::Text("\r\n[labctl: the shell reads none of the keys sent; closed]\r\n".into())).await;
                        return;
                    }
                    Ok(Input::Size { cols, rows }) if (2..=1000).contains(&cols) && (2..=1000).contains(&rows) => session.resize(cols, rows),
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep(IDLE) => {
                let _ = socket.send(Message::Text("\r\n[labctl: closed after 30 minutes without use]\r\n".into())).await;
                return;
            }
        }
    }
}

/// The pages' certificate chain and key (PEM files).
pub struct Tls {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// Serve `app` on `address` until Ctrl-C: HTTPS with `tls`, else HTTP.
pub async fn serve(app: App, address: SocketAddr, tls: Option<Tls>) -> anyhow::Result<()> {
    let listener = std::net::TcpListener::bind(address)
        .map_err(|error| anyhow::anyhow!("cannot listen on {address}: {error}; set [class] web_port to a free port"))?;
    listener.set_nonblocking(true)?;
    app.watch_the_class();
    let handle = axum_server::Handle::new();
    let stop = handle.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.graceful_shutdown(Some(Duration::from_secs(2)));
    });
    let config = match &tls {
        Some(Tls { cert, key }) => {
            // One process-wide choice of cryptography: aws-lc-rs (rustls's default).
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await.map_err(|error| {
                anyhow::anyhow!(
                    "cannot use the certificate {} and key {} ([class] web_cert, web_key): {error}",
                    cert.display(),
                    key.display()
                )
            })?;
            Some(config)
        }
        None => None,
    };
    // The labs' pages, a listener each (see `pages`).
    let mut servers = tokio::task::JoinSet::new();
    for (index, (guest, _)) in app.site.pages.iter().enumerate() {
        let Some(page_address) = super::pages::address(address, index) else { continue };
        let page_listener = std::net::TcpListener::bind(page_address).map_err(|error| {
            anyhow::anyhow!("cannot listen on {page_address} for the labs' page on port {guest}: {error}; set [class] web_port so that the ports after it are free")
        })?;
        page_listener.set_nonblocking(true)?;
        let seats = app.site.seats.iter().filter_map(|seat| Some((seat.number, *seat.forwards.get(guest)?))).collect();
        let forwarded = super::pages::Forwarded::new(*guest, seats, app.sessions.clone());
        let service = forwarded.router().into_make_service();
        let handle = handle.clone();
        let config = config.clone();
        servers.spawn(async move {
            match config {
                Some(config) => axum_server::from_tcp_rustls(page_listener, config).handle(handle).serve(service).await,
                None => axum_server::from_tcp(page_listener).handle(handle).serve(service).await,
            }
        });
    }
    let service = app.router().into_make_service_with_connect_info::<SocketAddr>();
    match config {
        Some(config) => axum_server::from_tcp_rustls(listener, config).handle(handle).serve(service).await?,
        None => axum_server::from_tcp(listener).handle(handle).serve(service).await?,
    }
    servers.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        let seat = |number: u32, secret: &str| SeatSite {
            number,
            label: format!("s{number:02}"),
            secret: secret.to_string(),
            shells: Vec::new(),
            forwards: Default::default(),
        };
        Site {
            class: "cls".into(),
            seats: vec![seat(1, &"1".repeat(32)), seat(2, &"2".repeat(32))],
            board_secret: "b".repeat(32),
            pages: Vec::new(),
            port: 8800,
            labs: Vec::new(),
            language: "ko".into(),
            labctl: "labctl".into(),
            workspace: "/nonexistent".into(),
        }
    }

    #[test]
    fn a_seats_secret_opens_that_seat_only_and_the_boards_any_seat_it_names() {
        let app = App::new(site());
        let (one, two, board) = ("1".repeat(32), "2".repeat(32), "b".repeat(32));
        assert_eq!(app.seat_for(&one, None).map(|seat| seat.number), Some(1));
        assert_eq!(app.seat_for(&one, Some(2)).map(|seat| seat.number), Some(1), "naming another seat changes nothing");
        assert_eq!(app.seat_for(&two, None).map(|seat| seat.number), Some(2));
        assert_eq!(app.seat_for(&board, Some(2)).map(|seat| seat.number), Some(2));
        assert!(app.seat_for(&board, None).is_none(), "the board's secret is no seat's");
        assert!(app.seat_for(&board, Some(9)).is_none());
        assert!(app.seat_for(&"1".repeat(31), None).is_none());
        assert!(app.seat_for("", None).is_none());
    }

    #[test]
    fn one_client_holds_a_bounded_number_of_connections() {
        let app = App::new(site());
        let (one, other): (std::net::IpAddr, std::net::IpAddr) =
            ("10.0.0.5".parse().unwrap(), "10.0.0.6".parse().unwrap());
        for _ in 0..SOCKETS_PER_CLIENT {
            assert!(app.clients.take(one));
        }
        assert!(!app.clients.take(one), "the flood is refused");
        assert!(app.clients.take(other), "another computer is not");
        app.clients.give_back(&one);
        assert!(app.clients.take(one));
    }

    #[test]
    fn a_terminal_that_cannot_start_says_how_its_seat_is() {
        let app = App::new(site());
        *app.board.lock().unwrap() = json!({ "seats": [
            { "seat": 1, "reachable": true, "nodes_ready": 1, "nodes": 2, "not_ready": ["node1 (Down)"] },
            { "seat": 2, "reachable": false, "error": "engine e2 does not answer" }
        ]});
        assert_eq!(app.seat_status(1).as_deref(), Some("1/2 nodes Ready; node1 (Down)"));
        assert_eq!(app.seat_status(2).as_deref(), Some("not reachable: engine e2 does not answer"));
        assert_eq!(app.seat_status(3), None);
    }

    #[test]
    fn a_seat_holds_a_bounded_number_of_terminals() {
        let app = App::new(site());
        for _ in 0..TERMINALS_PER_SEAT {
            assert!(app.open.take(1));
        }
        assert!(!app.open.take(1), "one more is refused");
        assert!(app.open.take(2), "another seat's count is its own");
        app.open.give_back(&1);
        assert!(app.open.take(1));
        assert_eq!((app.open.held(&1), app.open.held(&2), app.open.held(&3)), (TERMINALS_PER_SEAT, 1, 0));
    }
}
