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

/// Why `name` cannot name a Docker network, stack or service, or `None`:
/// Docker's own rule (a letter or digit, then letters, digits, `_`, `.`,
/// `-`), which also keeps it from reading as an option.
pub fn object_name_problem(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => Some("is empty"),
        Some(first) if !first.is_ascii_alphanumeric() => Some("must start with a letter or digit"),
        _ if name.len() > 63 => Some("is longer than 63 characters"),
        _ if !chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) => {
            Some("may only contain letters, digits, '_', '.' and '-'")
        }
        _ => None,
    }
}

/// Why `reference` is not a Docker image reference (`[host[:port]/]path[:tag][@digest]`,
/// path components in lower case), or `None`.
pub fn image_problem(reference: &str) -> Option<&'static str> {
    if reference.is_empty() {
        return Some("is empty");
    }
    if reference.len() > 255 {
        return Some("is longer than 255 characters");
    }
    if reference.starts_with('-') {
        return Some("starts with '-', which docker would read as an option");
    }
    let (rest, digest) = match reference.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (reference, None),
    };
    if let Some(digest) = digest {
        let valid = digest.split_once(':').is_some_and(|(algorithm, hex)| {
            !algorithm.is_empty()
                && algorithm.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+._-".contains(c))
                && hex.len() >= 32
                && hex.chars().all(|c| c.is_ascii_hexdigit())
        });
        if !valid {
            return Some("has a malformed @digest (e.g. @sha256:<64 hex digits>)");
        }
    }
    // A ':' after the last '/' starts the tag; one before it is a registry port.
    let (name, tag) = match rest.rfind(':') {
        Some(colon) if !rest[colon..].contains('/') => (&rest[..colon], Some(&rest[colon + 1..])),
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        let valid = tag.len() <= 128
            && tag.chars().next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid {
            return Some("has a tag that is not 1-128 letters, digits, '_', '.' or '-' (not starting with '.' or '-')");
        }
    }
    let mut components: Vec<&str> = name.split('/').collect();
    let has_registry = components.len() > 1
        && (components[0].contains(['.', ':'])
            || components[0] == "localhost"
            || components[0].chars().any(|c| c.is_ascii_uppercase()));
    if has_registry {
        let host = components.remove(0);
        let (host_name, port) = host.split_once(':').map_or((host, None), |(name, port)| (name, Some(port)));
        let host_ok = host_name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && host_name.chars().all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
        if !host_ok || port.is_some_and(|port| port.parse::<u16>().is_err()) {
            return Some("has a malformed registry host (e.g. manager:5000/example/my-web)");
        }
    }
    if !components.iter().all(|component| path_component_ok(component)) {
        return Some(
            "must be lower-case letters and digits, separated by '/', '.', '_' or '-' (e.g. example/my-web:1.0)",
        );
    }
    None
}

/// A repository path component: runs of lower-case letters and digits,
/// joined by one `.`, one `_`, `__` or any number of `-`.
fn path_component_ok(component: &str) -> bool {
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let separators_ok = component
        .split(alphanumeric)
        .all(|separator| matches!(separator, "" | "." | "_" | "__") || separator.chars().all(|c| c == '-'));
    let edges_ok = component.starts_with(alphanumeric) && component.ends_with(alphanumeric);
    edges_ok && separators_ok
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
    fn image_references_follow_docker_grammar() {
        for good in [
            "mysql:5.7",
            "registry:2",
            "gihyodocker/nginx-proxy",
            "manager:5000/example/my-web",
            "localhost/x:latest",
            "ghcr.io/owner/app_name:v1.2-rc_3",
            "docker.io/library/ubuntu:16.04",
            "dockersamples/visualizer@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(image_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "-v",
            "--privileged",
            "Mysql:5.7",
            "mysql:5.7; rm -rf /",
            "mysql :5.7",
            "mysql:-x",
            "example//web",
            "example/-web",
            "example/my.-web",
            "a...b",
            "web@sha256:xyz",
            "bad host:5000/x",
            "manager:port/x",
        ] {
            assert!(image_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn object_names_follow_docker_rules() {
        for good in ["ch03", "todo_mysql", "my-web_api", "a.b"] {
            assert_eq!(object_name_problem(good), None, "{good}");
        }
        for bad in ["", "-d", "_x", "ch 03", "x;y", "net$(id)", &"a".repeat(64)] {
            assert!(object_name_problem(bad).is_some(), "{bad}");
        }
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
