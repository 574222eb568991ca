//! The labs' own web pages (the visualizer on 9000, a lab's published
//! ports) through `labctl serve`, per seat, so that no `ssh -L` is needed.
//! Each forwarded port of the class (`[[forward]]`) gets a listener of its
//! own (`web_port + 1`, `+ 2`, …), so that a page keeps its own paths. The
//! seat comes from a cookie the seat's page gets (`POST /api/pages`): a
//! token of this server's run, never the link's secret. A request is passed
//! to that seat's forward on this host's loopback, and its answer back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The cookie that names a page session.
pub const COOKIE: &str = "labctl_pages";

/// Page sessions: token → seat number, for this server's run.
#[derive(Clone, Default)]
pub struct Sessions {
    tokens: Arc<Mutex<HashMap<String, u32>>>,
}

impl Sessions {
    /// Seat `number`'s token: one a seat for the server's run (so that a
    /// page loaded again and again holds no more memory).
    pub fn open(&self, number: u32) -> anyhow::Result<String> {
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((token, _)) = tokens.iter().find(|(_, seat)| **seat == number) {
            return Ok(token.clone());
        }
        let token = crate::access::links::random_hex()?;
        tokens.insert(token.clone(), number);
        Ok(token)
    }

    fn seat(&self, token: &str) -> Option<u32> {
        let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        tokens.iter().find(|(known, _)| super::same_secret(token, known)).map(|(_, seat)| *seat)
    }
}

/// One forwarded port's listener: `guest` on the node, each seat's host
/// port for it.
#[derive(Clone)]
pub struct Forwarded {
    pub guest: u16,
    /// Seat number → its host port on this host's loopback.
    pub seats: Arc<HashMap<u32, u16>>,
    pub sessions: Sessions,
    client: Client<HttpConnector, Body>,
}

impl Forwarded {
    pub fn new(guest: u16, seats: HashMap<u32, u16>, sessions: Sessions) -> Forwarded {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Forwarded { guest, seats: Arc::new(seats), sessions, client }
    }

    pub fn router(&self) -> Router {
        Router::new().fallback(pass).with_state(self.clone())
    }
}

/// The session token in the request's cookies.
fn token(request: &Request) -> Option<String> {
    let cookies = request.headers().get(header::COOKIE)?.to_str().ok()?;
    cookies
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

async fn pass(State(forwarded): State<Forwarded>, mut request: Request) -> Response {
    let refused = || {
        (StatusCode::UNAUTHORIZED, "refused: open this page from your seat's page (its \"pages\" links)")
            .into_response()
    };
    let Some(token) = token(&request) else { return refused() };
    let Some(seat) = forwarded.sessions.seat(&token) else { return refused() };
    let Some(port) = forwarded.seats.get(&seat).copied() else {
        return (StatusCode::NOT_FOUND, "this seat has no such page on this server").into_response();
    };
    let path = request.uri().path_and_query().map_or("/", |path| path.as_str()).to_string();
    let Ok(uri) = format!("http://127.0.0.1:{port}{path}").parse::<Uri>() else {
        return (StatusCode::BAD_REQUEST, "bad path").into_response();
    };
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    // The page's cookie stays here; the lab's server sees its own address.
    headers.remove(header::COOKIE);
    strip_hop_by_hop(headers);
    if let Ok(host) = HeaderValue::from_str(&format!("127.0.0.1:{port}")) {
        headers.insert(header::HOST, host);
    }
    match forwarded.client.request(request).await {
        Ok(mut answer) => {
            // A lab's server sets no cookie for this host (it could replace
            // the seat's), and the connection's own headers stay on its side.
            answer.headers_mut().remove(header::SET_COOKIE);
            strip_hop_by_hop(answer.headers_mut());
            answer.map(Body::new).into_response()
        }
        Err(_) => (
            StatusCode::BAD_GATEWAY,
            format!("port {} of your seat does not answer (is the lab's service running?)", forwarded.guest),
        )
            .into_response(),
    }
}

/// The headers of one connection, not of the message (RFC 9110 §7.6.1): a
/// proxy does not pass them on. An upgrade (websockets) is not passed either.
fn strip_hop_by_hop(headers: &mut axum::http::HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(',').map(|name| name.trim().to_ascii_lowercase()))
        .filter(|name| !name.is_empty())
        .collect();
    for name in named {
        headers.remove(name.as_str());
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

/// The listener of each forwarded port: `web_port + 1 + i`.
pub fn address(base: SocketAddr, index: usize) -> Option<SocketAddr> {
    let port = base.port().checked_add(1)?.checked_add(u16::try_from(index).ok()?)?;
    Some(SocketAddr::new(base.ip(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connections_own_headers_are_not_passed_on() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-private"));
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(|name| name.as_str()).collect();
        assert_eq!(left, ["content-type"]);
    }

    #[test]
    fn a_session_names_its_seat_and_nothing_else() {
        let sessions = Sessions::default();
        let one = sessions.open(1).unwrap();
        let two = sessions.open(2).unwrap();
        assert_ne!(one, two);
        assert_eq!(sessions.open(1).unwrap(), one, "one token a seat, however often its page loads");
        assert_eq!((sessions.seat(&one), sessions.seat(&two)), (Some(1), Some(2)));
        assert_eq!(sessions.seat("0123"), None);
        let base: SocketAddr = "127.0.0.1:8800".parse().unwrap();
        assert_eq!(address(base, 0), Some("127.0.0.1:8801".parse().unwrap()));
        assert_eq!(address("127.0.0.1:65535".parse().unwrap(), 0), None);
    }
}
