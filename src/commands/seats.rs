//! Reading several seats at once (`status`, `check`, `exec` over a class):
//! every seat reached on its own engine, a bounded number at a time, and
//! one seat that cannot be reached never stopping the others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::Result;

use crate::config::Cluster;
use crate::exec::Runner;
use crate::exit;
use crate::provider::Provider;

/// How many seats are read at once. Each seat's reads are a handful of
/// `docker` commands that mostly wait on its engine, so 16 keep a class of
/// 10-16 in one round (`class status` at 10 seats well under 3 s on a
/// 2-core host) without starting hundreds of processes for a class of 40.
pub const READ_AT_ONCE: usize = 16;

/// Opens a seat's provider, as `Context::reach_cluster` does (tests: on
/// the recording runner).
pub trait Reach: Sync {
    /// The seat's provider; an [`exit::Unreachable`] error when its
    /// runtime cannot be asked.
    fn reach<'a>(&self, cluster: &'a Cluster<'a>, runner: &'a dyn Runner) -> Result<Box<dyn Provider + 'a>>;
}

/// Seats reached on the recording runner, with the docker provider.
#[cfg(test)]
pub struct Recorded;

#[cfg(test)]
impl Reach for Recorded {
    fn reach<'a>(&self, cluster: &'a Cluster<'a>, runner: &'a dyn Runner) -> Result<Box<dyn Provider + 'a>> {
        Ok(Box::new(crate::provider::docker::DockerProvider::new(cluster, runner)))
    }
}

/// What became of one seat.
#[derive(Debug)]
pub enum Seated<R> {
    Done(R),
    /// The seat is not up or cannot be reached (why, in one line).
    Unreachable(String),
    /// Something else went wrong on this seat (why, in one line).
    Failed(String),
}

impl<R> Seated<R> {
    fn from_result(result: Result<R>) -> Seated<R> {
        match result {
            Ok(value) => Seated::Done(value),
            Err(error) if exit::is_unreachable(&error) => Seated::Unreachable(format!("{error:#}")),
            Err(error) => Seated::Failed(format!("{error:#}")),
        }
    }

    pub fn done(&self) -> Option<&R> {
        match self {
            Seated::Done(value) => Some(value),
            _ => None,
        }
    }

    /// Why the seat has no result.
    pub fn problem(&self) -> Option<&str> {
        match self {
            Seated::Done(_) => None,
            Seated::Unreachable(why) | Seated::Failed(why) => Some(why),
        }
    }
}

/// Run `work` for every seat, [`READ_AT_ONCE`] at a time; the results come
/// back in the seats' order, each seat's error its own.
pub fn each_seat<'c, R: Send>(
    seats: &[Cluster<'c>],
    work: impl Fn(&Cluster<'c>) -> Result<R> + Sync,
) -> Vec<Seated<R>> {
    in_parallel_bounded(seats, READ_AT_ONCE, |seat| Seated::from_result(work(seat)))
}

/// Run `work` for every item, at most `bound` at once, results in the
/// items' order. (A private one until `parallel::in_parallel_bounded`
/// of the class-up work is merged.)
fn in_parallel_bounded<T: Sync, R: Send>(items: &[T], bound: usize, work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..bound.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(index) else { break };
                let result = work(item);
                *results[index].lock().expect("no worker panicked holding it") = Some(result);
            });
        }
    });
    results
        .into_iter()
        .map(|slot| slot.into_inner().expect("no worker panicked holding it").expect("every item ran"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use anyhow::anyhow;

    use super::*;
    use crate::exit::Unreachable;

    #[test]
    fn at_most_bound_items_run_at_once_and_results_keep_their_order() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let items: Vec<u64> = (0..12).collect();
        let results = in_parallel_bounded(&items, 3, |item| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            // Later items finish first.
            std::thread::sleep(Duration::from_millis(2 * (12 - item)));
            running.fetch_sub(1, Ordering::SeqCst);
            item * 10
        });
        assert_eq!(results, (0..12).map(|item| item * 10).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 3, "three at once, never more");
    }

    #[test]
    fn an_unreachable_seat_is_told_apart_from_a_failed_one() {
        let unreachable: Seated<()> =
            Seated::from_result(Err(Unreachable::not_up("lab-s02", "no node is running").into()));
        assert!(
            matches!(&unreachable, Seated::Unreachable(why) if why == "cluster lab-s02 is not up (no node is running): run labctl up")
        );
        let failed: Seated<()> = Seated::from_result(Err(anyhow!("could not run a check on manager")));
        assert_eq!(failed.problem(), Some("could not run a check on manager"));
        assert!(matches!(failed, Seated::Failed(_)));
        assert_eq!(Seated::from_result(Ok(7)).done(), Some(&7));
    }
}
