//! `labctl serve`: the class in a browser. One process for the class serves
//! each seat a page (a terminal on each of its nodes, the current lab's
//! handout beside it, a "check" button) and the instructor a live board of
//! every seat. It runs no cluster logic of its own: terminals run the
//! provider's own shell command for a node (the one `labctl ssh` runs) in a
//! pseudo-terminal, and checks and the board's state come from labctl's own
//! commands (`check --seat K --json`, `class status --json`), run as child
//! processes of this one.
//!
//! Who gets in: each seat's page opens with its link secret (see
//! [`crate::access::links`]), the board with its own. The browser keeps the
//! secret in the link's fragment (never sent in a URL, so never in a log or
//! a Referer) and sends it as `Authorization: Bearer …`, or as the first
//! message of a terminal's websocket. A wrong or missing secret gets a plain
//! refusal; no answer holds another seat's names, ports or grades.

pub mod app;
pub mod assets;
pub mod handout;
pub mod pages;
pub mod terminal;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::exec::CommandSpec;

/// What the server knows of one seat: fixed when it starts.
#[derive(Debug, Clone)]
pub struct SeatSite {
    pub number: u32,
    /// `s03`.
    pub label: String,
    /// The seat's link secret.
    pub secret: String,
    /// Each node's shell command (the manager first), as `labctl ssh` runs it.
    pub shells: Vec<(String, CommandSpec)>,
    /// The labs' pages it forwards: port on the node → port on this host's
    /// loopback (none when the seat's engine is another machine).
    pub forwards: BTreeMap<u16, u16>,
}

/// A lab as its handout page shows it.
#[derive(Debug, Clone)]
pub struct LabPage {
    pub id: String,
    pub title: String,
    pub title_ko: String,
    /// The handout as HTML, by language code (`ko`, `en`).
    pub handouts: BTreeMap<String, String>,
}

/// Everything the server serves, fixed when it starts.
#[derive(Debug, Clone)]
pub struct Site {
    pub class: String,
    pub seats: Vec<SeatSite>,
    pub board_secret: String,
    /// The labs' pages the class forwards, (port on the node, node), in the
    /// order of their listeners (`web_port + 1`, `+ 2`, …).
    pub pages: Vec<(u16, String)>,
    pub labs: Vec<LabPage>,
    /// The handouts' language (`ko` or `en`), for the page's first choice.
    pub language: String,
    /// The port the pages are served on (the labs' pages on the ones after).
    pub port: u16,
    /// labctl itself and the workspace, to run `check` and `class status`.
    pub labctl: PathBuf,
    pub workspace: PathBuf,
}

/// Whether `given` is `secret`, in time that does not depend on where they
/// differ.
pub fn same_secret(given: &str, secret: &str) -> bool {
    let (given, secret) = (given.as_bytes(), secret.as_bytes());
    if given.len() != secret.len() {
        return false;
    }
    given.iter().zip(secret).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}
