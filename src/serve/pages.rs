//! The labs' own web pages (the visualizer on 9000, a lab's published
//! ports) through `labctl serve`, per seat, so that no `ssh -L` is needed.
//! Each seat's forwarded port (`[[forward]]`) gets a listener of its own,
//! on the ports after `web_port` (see [`listeners`]), so that a page keeps
//! its own paths and each seat's pages their own origin. Who may use one
//! comes from a cookie the seat's page gets (`POST /api/pages`), named for
//! the seat (`labctl_pages_s03`), so that the board's browser, holding
//! several seats' cookies, sends each listener its own: a token of this
//! server's run, never the link's secret. A request (a websocket too) is
//! passed to that seat's forward on this host's loopback, and its answer
//! back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::Site;

/// The cookie that names seat `label`'s page session.
pub fn cookie(label: &str) -> String {
    format!("labctl_pages_{label}")
}

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

/// One listener of the labs' pages: a seat's forward.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    /// Its port, after `web_port`.
    pub port: u16,
    pub seat: u32,
    pub label: String,
    /// The port on the node, the node, and the seat's port for it on this
    /// host's loopback.
    pub guest: u16,
    pub node: String,
    pub host: u16,
}

/// Every seat's pages' listeners: seat `i` (in the class's order), page `j`
/// of the class's `P` pages, on `web_port + 1 + i·P + j`. A seat whose
/// forwards are not on this host has no listener (its ports stay unused).
pub fn listeners(site: &Site) -> anyhow::Result<Vec<Listener>> {
    let count = site.pages.len();
    let mut listeners = Vec::new();
    for (index, seat) in site.seats.iter().enumerate() {
        for (page, (guest, node)) in site.pages.iter().enumerate() {
            let offset = 1 + index * count + page;
            let port = u16::try_from(usize::from(site.port) + offset).map_err(|_| {
                anyhow::anyhow!(
                    "[class] web_port = {} leaves no room for the labs' pages ({} ports after it, one per seat and page); choose a lower port",
                    site.port,
                    site.seats.len() * count
                )
            })?;
            if let Some(host) = seat.forwards.get(guest) {
                let (label, node) = (seat.label.clone(), node.clone());
                listeners.push(Listener { port, seat: seat.number, label, guest: *guest, node, host: *host });
            }
        }
    }
    Ok(listeners)
}

/// One listener's proxy: its seat's forward.
#[derive(Clone)]
pub struct Forwarded {
    listener: Arc<Listener>,
    sessions: Sessions,
    client: Client<HttpConnector, Body>,
}

impl Forwarded {
    pub fn new(listener: Listener, sessions: Sessions) -> Forwarded {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Forwarded { listener: Arc::new(listener), sessions, client }
    }

    pub fn router(&self) -> Router {
        Router::new().fallback(pass).with_state(self.clone())
    }
}

/// The value of cookie `name` in the request.
fn token(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie, _)| *cookie == name)
        .map(|(_, value)| value.to_string())
}

/// Whether the request asks for a websocket (or another upgrade).
fn wants_upgrade(request: &Request) -> bool {
    request.headers().get(header::UPGRADE).is_some()
        && request
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| value.split(',').any(|name| name.trim().eq_ignore_ascii_case("upgrade")))
}

async fn pass(State(forwarded): State<Forwarded>, mut request: Request) -> Response {
    let listener = &forwarded.listener;
    let refused = || {
        (StatusCode::UNAUTHORIZED, "refused: open this page from your seat's page (its \"pages\" links)")
            .into_response()
    };
    let Some(token) = token(&request, &cookie(&listener.label)) else { return refused() };
    if forwarded.sessions.seat(&token) != Some(listener.seat) {
        return refused();
    }
    let path = request.uri().path_and_query().map_or("/", |path| path.as_str()).to_string();
    let Ok(uri) = format!("http://127.0.0.1:{}{path}", listener.host).parse::<Uri>() else {
        return (StatusCode::BAD_REQUEST, "bad path").into_response();
    };
    *request.uri_mut() = uri;
    let upgrade = match wants_upgrade(&request) {
        true => Some((request.headers().get(header::UPGRADE).cloned(), hyper::upgrade::on(&mut request))),
        false => None,
    };
    let headers = request.headers_mut();
    // The page's cookies stay here; the lab's server sees its own address.
    headers.remove(header::COOKIE);
    strip_hop_by_hop(headers);
    if let Some((Some(protocol), _)) = &upgrade {
        // A websocket's own upgrade is passed on, and nothing else of the connection.
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, protocol.clone());
    }
    if let Ok(host) = HeaderValue::from_str(&format!("127.0.0.1:{}", listener.host)) {
        headers.insert(header::HOST, host);
    }
    match forwarded.client.request(request).await {
        Ok(mut answer) => {
            if answer.status() == StatusCode::SWITCHING_PROTOCOLS {
                if let Some((_, from_page)) = upgrade {
                    let to_lab = hyper::upgrade::on(&mut answer);
                    tokio::spawn(async move {
                        if let (Ok(page), Ok(lab)) = (from_page.await, to_lab.await) {
                            let _ =
                                tokio::io::copy_bidirectional(&mut TokioIo::new(page), &mut TokioIo::new(lab)).await;
                        }
                    });
                    answer.headers_mut().remove(header::SET_COOKIE);
                    return answer.map(Body::new).into_response();
                }
            }
            // A lab's server sets no cookie for this host (it could replace
            // the seat's), and the connection's own headers stay on its side.
            answer.headers_mut().remove(header::SET_COOKIE);
            strip_hop_by_hop(answer.headers_mut());
            answer.map(Body::new).into_response()
        }
        Err(_) => (
            StatusCode::BAD_GATEWAY,
            format!("port {} of your seat does not answer (is the lab's service running?)", listener.guest),
        )
            .into_response(),
    }
}

/// The headers of one connection, not of the message (RFC 9110 §7.6.1): a
/// proxy does not pass them on (a websocket's upgrade is passed on by
/// [`pass`] itself).
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
    }

    #[test]
    fn each_seats_page_has_its_own_listener_after_the_web_port() {
        let mut site = super::super::tests::site();
        site.pages = vec![(9000, "manager".into()), (8080, "node1".into())];
        site.seats[0].forwards = [(9000, 49001), (8080, 49081)].into();
        site.seats[1].forwards = [(9000, 49002)].into();
        let ports: Vec<(u16, u32, u16, u16)> = listeners(&site)
            .unwrap()
            .iter()
            .map(|listener| (listener.port, listener.seat, listener.guest, listener.host))
            .collect();
        assert_eq!(ports, [(8801, 1, 9000, 49001), (8802, 1, 8080, 49081), (8803, 2, 9000, 49002)]);
        site.port = 65533;
        let error = listeners(&site).unwrap_err().to_string();
        assert_eq!(error, "[class] web_port = 65533 leaves no room for the labs' pages (4 ports after it, one per seat and page); choose a lower port");
    }

    /// A lab's websocket server on loopback that echoes each message.
    async fn echo_server() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    use futures_util::{SinkExt, StreamExt};
                    let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else { return };
                    while let Some(Ok(message)) = socket.next().await {
                        if message.is_text() && socket.send(message).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        port
    }

    #[test]
    fn a_labs_websocket_passes_through_for_its_seats_cookie_only() {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::Message;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let host = echo_server().await;
            let sessions = Sessions::default();
            let token = sessions.open(1).unwrap();
            let other = sessions.open(2).unwrap();
            let listener =
                Listener { port: 0, seat: 1, label: "s01".into(), guest: 9000, node: "manager".into(), host };
            let router = Forwarded::new(listener, sessions).router();
            let front = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = front.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(front, router).await });
            let open = |cookie: String| {
                let mut request = format!("ws://{address}/live").into_client_request().unwrap();
                request.headers_mut().insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
                tokio_tungstenite::connect_async(request)
            };
            let (mut socket, answer) = open(format!("labctl_pages_s01={token}")).await.expect("the upgrade passes");
            assert_eq!(answer.status(), StatusCode::SWITCHING_PROTOCOLS);
            socket.send(Message::Text("hello-42".into())).await.unwrap();
            let echoed = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next()).await;
            assert!(
                matches!(echoed, Ok(Some(Ok(Message::Text(ref text)))) if text.as_str() == "hello-42"),
                "{echoed:?}"
            );
            let refused = open(format!("labctl_pages_s01={other}")).await;
            assert!(refused.is_err(), "seat 2's token does not open seat 1's websocket");
            let refused = open(format!("labctl_pages_s02={other}")).await;
            assert!(refused.is_err(), "nor seat 2's cookie");
        });
    }
}
