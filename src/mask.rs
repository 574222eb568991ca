//! Swarm join tokens never shown: the one masking rule, used by `exec` for
//! what commands print and by `ui` for the run log. Depends on nothing.

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
