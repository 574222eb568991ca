//! Name checks shared by the config and the lab catalog.

/// The candidate closest to `typed`, if it is close enough to be a likely typo.
pub fn closest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(typed, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// Why `name` cannot be a node's hostname (RFC 1123 label, lower case so it
/// is also a valid container name and DNS alias), or `None` when it can.
pub fn hostname_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if name.len() > 63 {
        return Some("is longer than 63 characters");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Some("may only contain lower-case letters, digits and '-'");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("may not start or end with '-'");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_only_close_names() {
        assert_eq!(closest("lab33", ["lab1", "lab3", "visualizer"]), Some("lab3"));
        assert_eq!(closest("ingres", ["ingress", "db"]), Some("ingress"));
        assert_eq!(closest("zzz", ["lab1", "db"]), None);
    }

    #[test]
    fn hostnames_follow_rfc_1123_in_lower_case() {
        for good in ["manager", "node1", "a", "web-01"] {
            assert_eq!(hostname_problem(good), None, "{good}");
        }
        for bad in ["", "Node1", "node_1", "-x", "x-", "a.b", &"a".repeat(64)] {
            assert!(hostname_problem(bad).is_some(), "{bad}");
        }
    }
}
