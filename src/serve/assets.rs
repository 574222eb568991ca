//! The pages' files (`web/`: the seat page, the board, their scripts and
//! style, the vendored xterm.js), built into the binary.

use include_dir::{include_dir, Dir};

static WEB: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/web");

/// A file of `web/` and its content type; `None` for anything else.
pub fn file(path: &str) -> Option<(&'static [u8], &'static str)> {
    // Names only as they are in web/: no `..`, no absolute path.
    if path.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return None;
    }
    let file = WEB.get_file(path)?;
    let kind = match path.rsplit('.').next()? {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        _ => return None,
    };
    Some((file.contents(), kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_pages_files_are_served() {
        assert!(file("index.html").is_some());
        assert!(file("vendor/xterm/xterm.js").is_some());
        assert!(file("../Cargo.toml").is_none());
        assert!(file("vendor/../index.html").is_none());
        assert!(file("/etc/passwd").is_none());
        assert!(file("vendor/xterm/LICENSE.xterm").is_none(), "only pages, scripts and styles");
    }
}
