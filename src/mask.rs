//! What is shown of text from elsewhere: swarm join tokens never (the one
//! masking rule, used by `exec` for what commands print and by `ui` for the
//! run log), and control characters a node sends back made visible, so that
//! a student's node cannot move the instructor's cursor, recolour the
//! terminal or reorder a line. Depends on nothing.

/// Replace every Docker swarm join token (`SWMTKN-…`) in `text` with a mask.
pub fn mask_tokens(text: &str) -> String {
    const PREFIX: &str = "SWMTKN-";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(PREFIX) {
        out.push_str(&rest[..start]);
        out.push_str("SWMTKN-****");
        let token = &rest[start + PREFIX.len()..];
        let end = token.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).unwrap_or(token.len());
        rest = &token[end..];
    }
    out.push_str(rest);
    out
}

/// `text` with every control character but newline and tab written out
/// (`\u{1b}`), and the bidirectional overrides that reorder what a line
/// shows: the escape sequences in a check's detail or an error a node
/// printed reach the terminal as text, not as commands.
pub fn visible(text: &str) -> String {
    let hidden = |c: char| {
        (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.contains(hidden) {
        return text.to_string();
    }
    text.chars().map(|c| if hidden(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_a_node_are_shown_not_obeyed() {
        assert_eq!(visible("ok\n\tnext"), "ok\n\tnext");
        assert_eq!(visible("\u{1b}[2J\u{1b}]0;pwned\u{7}done"), "\\u{1b}[2J\\u{1b}]0;pwned\\u{7}done");
        assert_eq!(visible("a\rb\u{9b}c"), "a\\u{d}b\\u{9b}c");
        assert_eq!(visible("user\u{202e}gpj.exe"), "user\\u{202e}gpj.exe");
        assert_eq!(visible("한국어 ✓"), "한국어 ✓");
    }
}
