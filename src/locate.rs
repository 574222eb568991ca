//! Pointing at the line of a TOML file (labctl.toml, lab.toml) that an
//! error is about.

use std::fmt;
use std::path::Path;

/// A dotted key such as `cluster.manager_ip` or `forward[1].host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPath(Vec<Segment>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

impl KeyPath {
    pub fn parse(dotted: &str) -> Self {
        let mut segments = Vec::new();
        for part in dotted.split('.') {
            let (name, indexes) = part.split_once('[').unwrap_or((part, ""));
            segments.push(Segment::Key(name.to_string()));
            for index in indexes.split('[') {
                if let Ok(index) = index.trim_end_matches(']').parse() {
                    segments.push(Segment::Index(index));
                }
            }
        }
        KeyPath(segments)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if position == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// 1-based line and column of the value at `key`; of the closest enclosing
/// table when the key itself is not written in the file.
pub fn position(text: &str, key: &KeyPath) -> Option<(usize, usize)> {
    let document = toml_edit::ImDocument::parse(text).ok()?;
    let mut item = document.as_item();
    let mut best = None;
    for segment in &key.0 {
        let next = match segment {
            Segment::Key(name) => item.get(name.as_str()),
            Segment::Index(index) => item.get(*index),
        };
        match next {
            Some(found) => {
                item = found;
                best = found.span().or(best);
            }
            None => break,
        }
    }
    best.map(|span| line_column(text, span.start))
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |last| last.chars().count()) + 1;
    (line, column)
}

/// One line for a TOML syntax or schema error: `file:line:col: what; fix`.
pub fn describe_toml_error(file: &Path, text: &str, error: &toml::de::Error) -> String {
    let location = match error.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("{}:{line}:{column}", file.display())
        }
        None => file.display().to_string(),
    };
    let message = error.message().trim().replace('\n', " ");
    format!("{location}: {}", explain(&message))
}

/// Turn serde's wording into the user's: "unknown field `x`, expected one
/// of `a`, `b`" becomes a suggestion, Rust type names become TOML words.
fn explain(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((unknown, expected)) = rest.split_once('`') {
            return unknown_key(unknown, expected);
        }
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let key = rest.trim_end_matches('`');
        return format!("missing key `{key}`; add `{key} = ...` to this table");
    }
    let mut text = message.to_string();
    let words = [("u16", "a whole number from 0 to 65535"), ("u32", "a whole number of at least 0")];
    for (rust, toml) in words {
        if let Some(start) = text.find(&format!("expected {rust}")) {
            text.replace_range(start + "expected ".len()..start + "expected ".len() + rust.len(), toml);
        }
    }
    if let Some(start) = text.find("expected struct ") {
        text.replace_range(start.., "expected a table of keys");
    }
    text
}

fn unknown_key(unknown: &str, expected: &str) -> String {
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let mut text = format!("unknown key `{unknown}`");
    if let Some(suggestion) = crate::names::closest(unknown, known.iter().copied()) {
        text.push_str(&format!("; did you mean `{suggestion}`?"));
    }
    if !known.is_empty() {
        text.push_str(&format!(" (valid keys here: {})", known.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "[cluster]\nname = \"x\"\nmanager_ip = \"10.0.0.1\"\n\n[[forward]]\nhost = 1\n\n[[forward]]\nhost = 2\nguest = 3\n";

    #[test]
    fn key_paths_round_trip_through_display() {
        for dotted in ["cluster.manager_ip", "forward[1].host", "resources.node.manager.cpus"] {
            assert_eq!(KeyPath::parse(dotted).to_string(), dotted);
        }
    }

    #[test]
    fn finds_values_inside_tables_and_arrays_of_tables() {
        assert_eq!(position(SAMPLE, &KeyPath::parse("cluster.manager_ip")), Some((3, 14)));
        assert_eq!(position(SAMPLE, &KeyPath::parse("forward[1].guest")), Some((10, 9)));
    }

    #[test]
    fn falls_back_to_the_enclosing_table_for_missing_keys() {
        let (line, _) = position(SAMPLE, &KeyPath::parse("forward[0].guest")).unwrap();
        assert_eq!(line, 5);
        assert_eq!(position(SAMPLE, &KeyPath::parse("registry.port")), None);
    }

    #[test]
    fn rust_type_names_become_toml_words() {
        assert_eq!(
            explain("invalid type: integer `3`, expected struct RawCluster"),
            "invalid type: integer `3`, expected a table of keys"
        );
        assert_eq!(
            explain("invalid value: integer `-1`, expected u32"),
            "invalid value: integer `-1`, expected a whole number of at least 0"
        );
        assert_eq!(
            explain("invalid value: integer `70000`, expected u16"),
            "invalid value: integer `70000`, expected a whole number from 0 to 65535"
        );
        assert_eq!(explain("missing field `guest`"), "missing key `guest`; add `guest = ...` to this table");
    }

    #[test]
    fn unknown_keys_get_a_suggestion() {
        let text = explain("unknown field `wokers`, expected one of `name`, `workers`, `subnet`");
        assert_eq!(text, "unknown key `wokers`; did you mean `workers`? (valid keys here: name, workers, subnet)");
    }
}
