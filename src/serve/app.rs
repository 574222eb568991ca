//! The HTTP side of `labctl serve`: routes, who may use each, and the
//! board's state. Every answer about a seat is computed from that seat's
//! own data only.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::pages::Listener;
use super::sockets::Sockets;
use super::watch::Terminals;
use super::{assets, SeatSite, Site};
use crate::exec::{CommandSpec, RealRunner, Runner};
use crate::ui::{Ui, Verbosity};

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
    /// The terminals' websockets, and the open terminals.
    sockets: Sockets,
    /// The last `class status --json`.
    board: Arc<Mutex<Value>>,
    /// Who may open the labs' pages (see [`super::pages`]), and where.
    sessions: super::pages::Sessions,
    pages: Arc<Vec<Listener>>,
    /// Seats with a check running: one at a time a seat.
    checking: Arc<Mutex<std::collections::HashSet<u32>>>,
}

impl App {
    pub fn new(site: Site) -> anyhow::Result<App> {
        let pages = Arc::new(super::pages::listeners(&site)?);
        let site = Arc::new(site);
        let board = Arc::new(Mutex::new(Value::Null));
        Ok(App {
            sockets: Sockets::new(site.clone(), board.clone()),
            site,
            board,
            sessions: super::pages::Sessions::default(),
            pages,
            checking: Arc::default(),
        })
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
            .route("/watch", get(|| async { page("watch.html") }))
            .with_state(self.clone())
            .merge(self.sockets.router())
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
        self.site.seat_for(given, named)
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
        .pages
        .iter()
        .filter(|listener| listener.seat == seat.number)
        .map(|listener| json!({ "guest": listener.guest, "node": listener.node, "port": listener.port }))
        .collect();
    let mut response = no_store(Json(json!({ "pages": pages })));
    let cookie = format!("{}={token}; HttpOnly; SameSite=Lax; Path=/", super::pages::cookie(&seat.label));
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

/// The board: every seat's line of `class status`, with its open terminals.
async fn board(State(app): State<App>, headers: HeaderMap) -> Response {
    if !bearer(&headers).is_some_and(|given| app.site.is_board(given)) {
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
                "connected": app.sockets.connected(seat.number),
                "terminals": open_terminals(&app.sockets.terminals, seat.number),
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

/// A seat's open terminals, for the board to watch or take over.
fn open_terminals(terminals: &Terminals, seat: u32) -> Vec<Value> {
    terminals
        .of_seat(seat)
        .iter()
        .map(|open| {
            json!({
                "id": open.id,
                "node": open.node,
                "minutes": open.opened.elapsed().as_secs() / 60,
                "watchers": open.watchers(),
            })
        })
        .collect()
}

/// From the board: `labctl reset LAB --seat K --yes` (with its backup of
/// what the student changed) or `labctl solve LAB --seat K`.
async fn board_action(
    State(app): State<App>,
    headers: HeaderMap,
    Path((action, number, lab)): Path<(String, u32, String)>,
) -> Response {
    if !bearer(&headers).is_some_and(|given| app.site.is_board(given)) {
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
    if !bearer(&headers).is_some_and(|given| app.site.is_board(given)) {
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
    for listener in app.pages.iter() {
        let page_address = SocketAddr::new(address.ip(), listener.port);
        let page_listener = std::net::TcpListener::bind(page_address).map_err(|error| {
            anyhow::anyhow!(
                "cannot listen on {page_address} for seat {}'s page on port {}: {error}; set [class] web_port so that the ports after it are free",
                listener.label,
                listener.guest
            )
        })?;
        page_listener.set_nonblocking(true)?;
        let forwarded = super::pages::Forwarded::new(listener.clone(), app.sessions.clone());
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
