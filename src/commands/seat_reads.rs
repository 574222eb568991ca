//! Reading several seats at once (`status`, `check`, `exec` over a class):
//! every seat reached on its own engine, a bounded number at a time, and
//! one seat that cannot be reached never stopping the others.

use anyhow::Result;

use crate::config::Cluster;
use crate::exec::Runner;
use crate::exit;
use crate::parallel::in_parallel_bounded;
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

/// Reaches a seat as a command on one cluster does: saying its provider
/// (a read over several seats says it only with -v).
pub struct SayingProvider<'c>(pub &'c super::Context);

impl Reach for SayingProvider<'_> {
    fn reach<'a>(&self, cluster: &'a Cluster<'a>, runner: &'a dyn Runner) -> Result<Box<dyn Provider + 'a>> {
        self.0.reach_cluster(cluster, runner).map(|(_, provider)| provider)
    }
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

    /// The seat's result, or its error as it was said (exit status 3 for an
    /// unreachable seat, as when the seat was asked on its own).
    pub fn into_result(self) -> Result<R> {
        match self {
            Seated::Done(value) => Ok(value),
            Seated::Unreachable(why) => Err(exit::Unreachable::said(&why).into()),
            Seated::Failed(why) => Err(anyhow::Error::msg(why)),
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

#[cfg(test)]
mod tests {
    use anyhow::anyhow;

    use super::*;
    use crate::exit::Unreachable;

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

    #[test]
    fn one_seat_of_a_read_gives_back_its_error_with_its_exit_status() {
        let unreachable: Seated<()> = Seated::from_result(Err(Unreachable::not_up("lab", "no node is running").into()));
        let error = unreachable.into_result().unwrap_err();
        assert!(exit::is_unreachable(&error), "exit 3, as when the seat is asked on its own");
        assert_eq!(error.to_string(), "cluster lab is not up (no node is running): run labctl up");
        let failed: Seated<()> = Seated::from_result(Err(anyhow!("could not run a check on manager")));
        let error = failed.into_result().unwrap_err();
        assert!(!exit::is_unreachable(&error));
        assert_eq!(Seated::from_result(Ok(7)).into_result().unwrap(), 7);
    }
}
