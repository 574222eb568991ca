//! The secrets of the class's web pages (`labctl serve`): one a seat, in
//! its handout's link only (`.labctl/access/sNN/link`, 0600), and one for
//! the instructor's board (`.labctl/access/board-link`). Each is 128 bits
//! from the kernel's random generator, written in hex, made when missing and
//! made anew on request (which revokes the old link). labctl never prints
//! them: the link is in the seat's handout, the board's in a private file.

use std::path::Path;

use anyhow::{Context, Result};

use super::{SeatFiles, Secret};
use crate::files;

/// The file of the board's secret, beside the seats' folders.
const BOARD_FILE: &str = "board-link";
const SEAT_FILE: &str = "link";

/// The seat's link secret: read, or made when missing (or when `anew`).
pub fn seat_secret(files: &SeatFiles, anew: bool) -> Result<Secret> {
    files.create()?;
    secret_in(&files.dir.join(SEAT_FILE), anew)
}

/// The board's secret under the access root (`.labctl/access`).
pub fn board_secret(access_root: &Path, anew: bool) -> Result<Secret> {
    files::create_private_dir(access_root)?;
    secret_in(&access_root.join(BOARD_FILE), anew)
}

fn secret_in(path: &Path, anew: bool) -> Result<Secret> {
    if !anew {
        if let Ok(text) = std::fs::read_to_string(path) {
            let text = text.trim();
            if is_secret(text) {
                return Ok(Secret(text.to_string()));
            }
        }
    }
    let secret = random_secret()?;
    files::write_private(path, format!("{}\n", secret.expose()).as_bytes())?;
    Ok(secret)
}

/// 32 lower-case hex digits: what a link secret looks like.
pub fn is_secret(text: &str) -> bool {
    text.len() == 32 && text.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

fn random_secret() -> Result<Secret> {
    random_hex().map(Secret)
}

/// 128 bits from the kernel's random generator, in 32 hex digits: a link
/// secret, or a token of `labctl serve`'s run.
pub fn random_hex() -> Result<String> {
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    while filled < bytes.len() {
        filled += rustix::rand::getrandom(&mut bytes[filled..], rustix::rand::GetRandomFlags::empty())
            .context("cannot read the kernel's random generator (getrandom)")?;
    }
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_kept_private_read_back_and_made_anew_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let files = SeatFiles { dir: dir.path().join("access/s02") };
        let first = seat_secret(&files, false).unwrap();
        assert!(is_secret(first.expose()), "{}", first.expose());
        let path = files.dir.join(SEAT_FILE);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(seat_secret(&files, false).unwrap(), first, "read back");
        let again = seat_secret(&files, true).unwrap();
        assert_ne!(again, first, "anew revokes the old one");
        let board = board_secret(&dir.path().join("access"), false).unwrap();
        assert_ne!(board, again);
        assert!(!is_secret("0123"), "too short");
    }
}
