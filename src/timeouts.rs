//! How long labctl lets an external command run, by kind, and how long its
//! waits (nodes Ready, dockerd answering, stacks gone) last.
//!
//! Three kinds, the same for node and host commands:
//! - a read (a probe: `docker info`, `docker node ls`, `vagrant status`): 30 s;
//! - a change (`swarm init`/`join`, `docker network create`, `docker stop`): 2 min;
//! - a long job whose length grows with data or downloads (seeding, image
//!   loads, `vagrant up`/`provision`, the registry's first `docker run`, a
//!   reference solution): 30 min.
//!
//! One knob raises them all for a slow host: `LABCTL_TIMEOUT_SCALE=2`
//! doubles every limit and every wait. An environment variable rather than a
//! labctl.toml key because slowness belongs to the machine, not to the class
//! (the same workspace may move to a faster host), and because it also
//! reaches commands that read no configuration.

use std::time::Duration;

use anyhow::{bail, Result};

pub const SCALE_VARIABLE: &str = "LABCTL_TIMEOUT_SCALE";

/// What the user can do when a limit was too short.
pub const RAISE_HINT: &str = "on a slow host, LABCTL_TIMEOUT_SCALE=2 doubles every time limit";

/// The kind of a command, which decides its time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Read,
    Change,
    Long,
}

impl Wait {
    fn base(self) -> Duration {
        match self {
            Wait::Read => Duration::from_secs(30),
            Wait::Change => Duration::from_secs(120),
            Wait::Long => Duration::from_secs(30 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    scale: f64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { scale: 1.0 }
    }
}

impl Timeouts {
    /// The limits for this run, from `LABCTL_TIMEOUT_SCALE` (unset or empty: 1).
    pub fn from_env() -> Result<Timeouts> {
        match std::env::var_os(SCALE_VARIABLE) {
            None => Ok(Timeouts::default()),
            Some(value) => Timeouts::parse(&value.to_string_lossy()),
        }
    }

    fn parse(text: &str) -> Result<Timeouts> {
        if text.trim().is_empty() {
            return Ok(Timeouts::default());
        }
        match text.trim().parse::<f64>() {
            Ok(scale) if scale.is_finite() && (0.01..=100.0).contains(&scale) => Ok(Timeouts { scale }),
            _ => bail!(
                "{SCALE_VARIABLE}={text:?} is not a factor between 0.01 and 100; set it to e.g. 2 (every time limit twice as long) or unset it"
            ),
        }
    }

    /// The time limit of a command of this kind.
    pub fn limit(&self, wait: Wait) -> Duration {
        self.scaled(wait.base())
    }

    /// A wait of `base` on a normal host, scaled for this one.
    pub fn scaled(&self, base: Duration) -> Duration {
        base.mul_f64(self.scale)
    }
}

/// The limit a node enforces itself (`timeout -s KILL SECS` there), a little
/// shorter than `limit`, labctl's own, so that the node ends the command
/// before labctl gives up on the connection to it: whole seconds (busybox's
/// `timeout` takes no fractions), at least 1.
pub fn node_side(limit: Duration) -> u64 {
    let grace = (limit / 10).clamp(Duration::from_secs(1), Duration::from_secs(5));
    limit.saturating_sub(grace).as_secs().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_multiplies_every_limit() {
        let slow = Timeouts::parse("2.5").unwrap();
        assert_eq!(slow.limit(Wait::Read), Duration::from_secs(75));
        assert_eq!(slow.limit(Wait::Long), Duration::from_secs(75 * 60));
        assert_eq!(slow.scaled(Duration::from_secs(90)), Duration::from_secs(225));
        assert_eq!(Timeouts::parse("").unwrap(), Timeouts::default());
    }

    #[test]
    fn a_bad_scale_is_one_line_naming_the_variable_and_the_fix() {
        for bad in ["abc", "-1", "0", "inf", "NaN", "1000"] {
            let error = Timeouts::parse(bad).unwrap_err().to_string();
            assert!(error.starts_with(&format!("LABCTL_TIMEOUT_SCALE=\"{bad}\" is not a factor")), "{error}");
            assert!(error.contains("set it to e.g. 2"), "{error}");
            assert_eq!(error.lines().count(), 1);
        }
    }

    #[test]
    fn the_node_ends_a_command_a_little_before_labctl_does() {
        assert_eq!(node_side(Duration::from_secs(30)), 27);
        assert_eq!(node_side(Duration::from_secs(120)), 115);
        assert_eq!(node_side(Duration::from_secs(1800)), 1795);
        assert_eq!(node_side(Duration::from_secs(5)), 4);
        assert_eq!(node_side(Duration::from_millis(1500)), 1, "never 0: that would mean no limit");
    }
}
