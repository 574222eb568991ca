//! VirtualBox's host-only network rule: since 6.1.28, on Linux and macOS,
//! host-only networks must lie inside 192.168.56.0/21 unless
//! `/etc/vbox/networks.conf` lists other ranges (and then only those).

use std::path::PathBuf;

use anyhow::{Context, Result};
use ipnet::Ipv4Net;

pub const DEFAULT_RANGE: &str = "192.168.56.0/21";
pub const NETWORKS_CONF: &str = "/etc/vbox/networks.conf";

/// The networks.conf to read; `LABCTL_VBOX_NETWORKS_CONF` points elsewhere
/// (tests, or hosts with an unusual layout).
pub fn networks_conf_path() -> PathBuf {
    crate::exec::env_var("LABCTL_VBOX_NETWORKS_CONF").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(NETWORKS_CONF))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedRanges {
    pub ranges: Vec<Ipv4Net>,
    /// The networks.conf the ranges came from; `None` means the built-in default.
    pub file: Option<PathBuf>,
}

/// Read the ranges this host allows.
pub fn allowed_ranges(conf: PathBuf) -> Result<AllowedRanges> {
    match std::fs::read_to_string(&conf) {
        Ok(text) => Ok(AllowedRanges { ranges: parse_networks_conf(&text), file: Some(conf) }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Ok(AllowedRanges { ranges: vec![DEFAULT_RANGE.parse().expect("valid constant")], file: None })
        }
        Err(error) => Err(error).with_context(|| format!("cannot read {}", conf.display())),
    }
}

/// IPv4 ranges from lines such as `* 10.0.0.0/8 192.168.0.0/16`.
fn parse_networks_conf(text: &str) -> Vec<Ipv4Net> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix('*'))
        .flat_map(str::split_whitespace)
        .filter_map(|word| word.parse().ok())
        .collect()
}

/// `Err(explanation and fix)` when VirtualBox would refuse `subnet`.
pub fn check_subnet(subnet: Ipv4Net, allowed: &AllowedRanges, conf: &std::path::Path) -> Result<(), String> {
    if cfg!(windows) || allowed.ranges.iter().any(|range| range.contains(&subnet)) {
        return Ok(());
    }
    let ranges: Vec<String> = allowed.ranges.iter().map(ToString::to_string).collect();
    let from = match &allowed.file {
        Some(file) => format!("as listed in {}", file.display()),
        None => format!("the default, since {} does not exist", conf.display()),
    };
    let keep_default = if allowed.file.is_none() {
        format!(" (creating it replaces the default, so add `* {DEFAULT_RANGE}` too)")
    } else {
        String::new()
    };
    Err(format!(
        "{subnet} is outside the host-only ranges VirtualBox allows here ({}, {from}); add the line `* {subnet}` to {}{keep_default}, or use a subnet inside {DEFAULT_RANGE}",
        ranges.join(", "),
        conf.display(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn net(text: &str) -> Ipv4Net {
        text.parse().unwrap()
    }

    #[test]
    fn default_range_allows_the_class_subnet_only() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("networks.conf");
        let allowed = allowed_ranges(conf.clone()).unwrap();
        assert_eq!(allowed.file, None);
        assert!(check_subnet(net("192.168.56.0/24"), &allowed, &conf).is_ok());
        assert!(check_subnet(net("192.168.60.0/24"), &allowed, &conf).is_ok());
        let error = check_subnet(net("10.10.0.0/24"), &allowed, &conf).unwrap_err();
        assert!(error.contains("add the line `* 10.10.0.0/24`"), "{error}");
        assert!(error.contains("`* 192.168.56.0/21` too"), "{error}");
    }

    #[test]
    fn networks_conf_replaces_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("networks.conf");
        std::fs::write(&conf, "# class\n* 10.0.0.0/8 fd00::/64\n*  172.16.0.0/12\n").unwrap();
        let allowed = allowed_ranges(conf.clone()).unwrap();
        assert_eq!(allowed.ranges, vec![net("10.0.0.0/8"), net("172.16.0.0/12")]);
        assert!(check_subnet(net("10.10.0.0/24"), &allowed, &conf).is_ok());
        let error = check_subnet(net("192.168.56.0/24"), &allowed, Path::new("/x")).unwrap_err();
        assert!(error.contains("add the line `* 192.168.56.0/24` to /x"), "{error}");
    }
}
