//! `docker` run from this host on one engine: every docker command labctl
//! builds here (not the ones a node runs inside itself) starts from a
//! [`DockerCli`], which adds the global options that select the engine (none
//! for the engine `docker` talks to here), the time limit of what the
//! command does, and whether it only reads (a dry run runs reads too).

use crate::config::Engine;
use crate::exec::CommandSpec;
use crate::timeouts::{Timeouts, Wait};

#[derive(Debug, Clone)]
pub struct DockerCli {
    /// `--host H` or `--context C`; nothing for this host's own engine.
    options: Vec<String>,
    timeouts: Timeouts,
}

impl DockerCli {
    /// `docker` on `engine`.
    pub fn on(engine: &Engine, timeouts: Timeouts) -> DockerCli {
        DockerCli { options: engine.docker_options(), timeouts }
    }

    /// `docker` on the engine it talks to here (`DOCKER_HOST`, the current context).
    pub fn here(timeouts: Timeouts) -> DockerCli {
        DockerCli { options: Vec::new(), timeouts }
    }

    /// `docker` with these engine-selecting options, as an engine listed them.
    pub fn with_options(options: &[String], timeouts: Timeouts) -> DockerCli {
        DockerCli { options: options.to_vec(), timeouts }
    }

    /// `docker ARGS` that only reads, within the read limit.
    pub fn read(&self, args: &[&str], purpose: &str) -> CommandSpec {
        self.command(args, purpose).timeout(self.timeouts.limit(Wait::Read)).probe()
    }

    /// `docker ARGS` that changes something, within the limit of `wait`.
    pub fn change(&self, wait: Wait, args: &[&str], purpose: &str) -> CommandSpec {
        self.command(args, purpose).timeout(self.timeouts.limit(wait))
    }

    /// `docker ARGS` of `wait`'s kind: a read is a probe.
    pub fn of_kind(&self, wait: Wait, args: &[&str], purpose: &str) -> CommandSpec {
        match wait {
            Wait::Read => self.read(args, purpose),
            _ => self.change(wait, args, purpose),
        }
    }

    /// `docker ARGS` with no limit yet: for a node command, whose limit
    /// [`super::bounded`] sets with the node's own.
    pub fn unbounded(&self, args: &[&str], purpose: &str) -> CommandSpec {
        self.command(args, purpose)
    }

    fn command(&self, args: &[&str], purpose: &str) -> CommandSpec {
        CommandSpec::new("docker", &[], purpose).args(self.options.iter().cloned()).args(args.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{test_cluster, test_settings};
    use crate::exec::Effect;

    #[test]
    fn a_command_names_its_engine_and_has_the_limit_of_what_it_does() {
        let settings = test_settings(
            "[class]\nseats = 2\naccess = \"none\"\n[[class.engines]]\nname = \"big\"\ncontext = \"big\"\nseats = 2\n",
        );
        let cluster = crate::config::Cluster::seat(&settings, crate::config::test_catalog(), 1).unwrap();
        let docker = DockerCli::on(cluster.engine(), cluster.timeouts());
        let read = docker.read(&["ps", "--all"], "list");
        assert_eq!(read.to_string(), "docker --context big ps --all");
        assert_eq!((read.effect, read.timeout), (Effect::Probe, Some(cluster.timeouts().limit(Wait::Read))));
        let change = docker.change(Wait::Long, &["build", "-"], "build");
        assert_eq!((change.effect, change.timeout), (Effect::Change, Some(cluster.timeouts().limit(Wait::Long))));
        let here = DockerCli::here(test_cluster(&test_settings("")).timeouts()).read(&["info"], "ask");
        assert_eq!(here.to_string(), "docker info");
    }
}
