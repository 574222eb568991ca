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
pub mod sockets;
pub mod terminal;
pub mod watch;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::provider::TaggedShell;

/// What the server knows of one seat: fixed when it starts.
#[derive(Debug, Clone)]
pub struct SeatSite {
    pub number: u32,
    /// `s03`.
    pub label: String,
    /// The seat's link secret.
    pub secret: String,
    /// Each node's shell (the manager first), as `labctl ssh` runs it,
    /// marked with [`SeatSite::tag`].
    pub shells: Vec<(String, TaggedShell)>,
    /// The mark in `shells`, replaced by each terminal's own (see
    /// [`TaggedShell::retagged`]).
    pub tag: String,
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

impl Site {
    /// The seat `given` opens: the seat whose secret it is, or, for the
    /// board's secret, the seat the instructor names.
    pub fn seat_for(&self, given: &str, named: Option<u32>) -> Option<&SeatSite> {
        match named {
            Some(number) if self.is_board(given) => self.seats.iter().find(|seat| seat.number == number),
            _ => self.seat_by_secret(given),
        }
    }

    pub fn is_board(&self, given: &str) -> bool {
        same_secret(given, &self.board_secret)
    }

    fn seat_by_secret(&self, given: &str) -> Option<&SeatSite> {
        // Every secret compared, each in constant time.
        let mut found = None;
        for seat in &self.seats {
            if same_secret(given, &seat.secret) {
                found = Some(seat);
            }
        }
        found
    }
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A class of two seats, with secrets `1…1` and `2…2`, and board `b…b`.
    pub fn site() -> Site {
        let seat = |number: u32, secret: &str| SeatSite {
            number,
            label: format!("s{number:02}"),
            secret: secret.to_string(),
            shells: Vec::new(),
            tag: "0".repeat(32),
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
        let site = site();
        let (one, two, board) = ("1".repeat(32), "2".repeat(32), "b".repeat(32));
        assert_eq!(site.seat_for(&one, None).map(|seat| seat.number), Some(1));
        assert_eq!(
            site.seat_for(&one, Some(2)).map(|seat| seat.number),
            Some(1),
            "naming another seat changes nothing"
        );
        assert_eq!(site.seat_for(&two, None).map(|seat| seat.number), Some(2));
        assert_eq!(site.seat_for(&board, Some(2)).map(|seat| seat.number), Some(2));
        assert!(site.seat_for(&board, None).is_none(), "the board's secret is no seat's");
        assert!(site.seat_for(&board, Some(9)).is_none());
        assert!(site.seat_for(&"1".repeat(31), None).is_none());
        assert!(site.seat_for("", None).is_none());
    }
}
