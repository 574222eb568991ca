//! How many seats of a class come up at once when `[class] parallel` does
//! not say: what this host's cores and free memory fit. Measured on a
//! 2-core host, 10 seats of 4 nodes: all at once, 2 or 4 at a time all
//! took 49-51 s in total, but all at once each seat took 40-48 s (its
//! dockerds starting among 40, near their 60 s limit), 2 at a time about
//! 10 s. So the bound costs no time and keeps every seat's steps far from
//! their limits; more seats at once only queue for the same cores.

use std::fmt;

/// What one docker-in-docker node may take, in MiB: idle, a worker takes
/// about 40 and a manager with the registry about 70 (`docker stats` after
/// `up`, see docs/class.md); the rest is room for the
/// first containers of a lab.
pub const NODE_MB: u64 = 256;

/// What the host has for the seats that start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostResources {
    /// CPUs this process may use.
    pub cores: usize,
    /// `MemAvailable` of /proc/meminfo, in MiB; `None` where it cannot be read.
    pub available_mb: Option<u64>,
}

impl HostResources {
    /// This host, now.
    pub fn here() -> HostResources {
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        HostResources { cores, available_mb: available_mb(&meminfo) }
    }
}

/// How many seats at once, and why (said to the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub seats: usize,
    pub why: String,
}

impl fmt::Display for Bound {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{} at a time ({})", self.seats, self.why)
    }
}

/// The seats of `seats` (each of `nodes_per_seat` nodes) that start at
/// once: `[class] parallel` when set; else one seat per core, and no more
/// than the free memory holds at [`NODE_MB`] a node. Never more than the
/// seats selected, never fewer than one.
pub fn seats_at_once(configured: Option<u32>, seats: usize, nodes_per_seat: usize, host: HostResources) -> Bound {
    let seats = seats.max(1);
    if let Some(parallel) = configured {
        let at_once = (parallel as usize).clamp(1, seats);
        return Bound { seats: at_once, why: format!("[class] parallel = {parallel}") };
    }
    let cores = host.cores.max(1);
    let (by_memory, memory) = match host.available_mb {
        Some(available) => {
            let seat_mb = NODE_MB * nodes_per_seat.max(1) as u64;
            let fit = usize::try_from(available / seat_mb).unwrap_or(usize::MAX);
            (fit, format!(", {available} MiB free holds {fit} seats of {nodes_per_seat} nodes at {NODE_MB} MiB a node"))
        }
        None => (usize::MAX, String::new()),
    };
    let at_once = cores.min(by_memory).clamp(1, seats);
    let cores_said = if cores == 1 { "1 core".to_string() } else { format!("{cores} cores") };
    Bound { seats: at_once, why: format!("this host: {cores_said}{memory}; set [class] parallel to change it") }
}

/// `MemAvailable` from the text of /proc/meminfo, in MiB.
fn available_mb(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|line| line.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(cores: usize, available_mb: u64) -> HostResources {
        HostResources { cores, available_mb: Some(available_mb) }
    }

    #[test]
    fn a_small_host_starts_one_seat_per_core() {
        // This machine: 2 cores, 22 GiB free. Never 40 dockerds at once.
        let bound = seats_at_once(None, 10, 4, host(2, 22_000));
        assert_eq!(bound.seats, 2);
        assert_eq!(
            bound.why,
            "this host: 2 cores, 22000 MiB free holds 21 seats of 4 nodes at 256 MiB a node; set [class] parallel to change it"
        );
        assert_eq!(seats_at_once(None, 40, 4, host(1, 64_000)).seats, 1);
    }

    #[test]
    fn free_memory_caps_a_host_with_many_cores() {
        // 3 GiB free holds 3 seats of 4 nodes at 256 MiB, whatever the cores.
        assert_eq!(seats_at_once(None, 30, 4, host(32, 3 * 1024)).seats, 3);
        // Too little for even one seat still starts one.
        assert_eq!(seats_at_once(None, 30, 4, host(32, 100)).seats, 1);
        // Memory that cannot be read leaves the cores to decide.
        let unknown = HostResources { cores: 4, available_mb: None };
        assert_eq!(
            seats_at_once(None, 30, 4, unknown),
            Bound { seats: 4, why: "this host: 4 cores; set [class] parallel to change it".into() }
        );
    }

    #[test]
    fn the_configured_bound_wins_within_the_seats_selected() {
        assert_eq!(
            seats_at_once(Some(6), 10, 4, host(2, 1000)),
            Bound { seats: 6, why: "[class] parallel = 6".into() }
        );
        assert_eq!(seats_at_once(Some(6), 3, 4, host(2, 1000)).seats, 3);
        assert_eq!(seats_at_once(None, 3, 4, host(64, 1_000_000)).seats, 3);
    }

    #[test]
    fn meminfo_gives_the_available_memory() {
        let meminfo = "MemTotal:       24683080 kB\nMemFree:          863936 kB\nMemAvailable:   23351368 kB\n";
        assert_eq!(available_mb(meminfo), Some(22804));
        assert_eq!(available_mb("MemTotal: 1 kB\n"), None);
    }
}
