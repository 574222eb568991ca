//! Exit statuses with defined meanings, so that a grading script can tell a
//! wrong answer (1) from a cluster that is not there to be checked (3).

use std::fmt;
use std::process::ExitCode;

/// A command line that clap refuses.
pub const USAGE: u8 = 2;
/// The cluster could not be reached or is not up.
pub const UNREACHABLE: u8 = 3;

/// The error of a command that needs the cluster when the cluster is not
/// up or cannot be reached. Wherever it sits in an error's chain, labctl
/// exits with [`UNREACHABLE`].
#[derive(Debug)]
pub struct Unreachable {
    message: String,
}

impl Unreachable {
    /// `cluster swarm-lab is not up (no node is running): run labctl up`
    pub fn not_up(cluster: &str, why: &str) -> Unreachable {
        Unreachable { message: format!("cluster {cluster} is not up ({why}): run labctl up") }
    }

    /// The cluster's runtime itself cannot be asked (a Docker engine or
    /// Vagrant that does not answer); the cause follows in the chain.
    pub fn cannot_reach(cluster: &str) -> Unreachable {
        Unreachable { message: format!("cluster {cluster} cannot be reached") }
    }

    /// An unreachable cluster's error as it was already said in full (one
    /// seat of a read over seats, given back as that seat's error).
    pub fn said(message: &str) -> Unreachable {
        Unreachable { message: message.to_string() }
    }

    /// A seat's Docker engine does not answer (`engine "lab-server-2"
    /// (ssh://ubuntu@10.0.0.5) does not answer`); the cause follows in the
    /// chain. `engine` is the engine as [`crate::config::Engine::describe`] says it.
    pub fn engine_silent(engine: &str) -> Unreachable {
        Unreachable { message: format!("{engine} does not answer") }
    }
}

impl fmt::Display for Unreachable {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

impl std::error::Error for Unreachable {}

/// The exit status for a command that failed with `error`.
pub fn code_for(error: &anyhow::Error) -> ExitCode {
    if is_unreachable(error) {
        ExitCode::from(UNREACHABLE)
    } else {
        ExitCode::FAILURE
    }
}

/// Whether `error` is, or was caused by, an [`Unreachable`] cluster. Works
/// for the error itself and for `.context(Unreachable)` layers.
pub fn is_unreachable(error: &anyhow::Error) -> bool {
    error.downcast_ref::<Unreachable>().is_some()
}

#[cfg(test)]
mod tests {
    use anyhow::{anyhow, Context};

    use super::*;

    #[test]
    fn an_unreachable_cluster_anywhere_in_the_chain_exits_3() {
        let root: anyhow::Error = Unreachable::not_up("swarm-lab", "no node is running").into();
        assert!(is_unreachable(&root));
        let wrapped = Err::<(), _>(root).context("checking lab2").unwrap_err();
        assert!(is_unreachable(&wrapped));
        let as_context = Err::<(), _>(anyhow!("docker: connection refused"))
            .context(Unreachable::cannot_reach("swarm-lab"))
            .unwrap_err();
        assert!(is_unreachable(&as_context));
        assert_eq!(format!("{as_context:#}"), "cluster swarm-lab cannot be reached: docker: connection refused");
        assert!(!is_unreachable(&anyhow!("lab2: 3 of 7 checks fail")));
    }
}
