//! What a Docker engine says of itself (`docker info`): whether it runs
//! rootless, its cgroup version, which resource limits it can apply, its
//! CPUs. The docker provider decides from them, for the seats' own engine
//! (never from this host's /proc when the seats run elsewhere), how nodes
//! start: the inner dockerd's flags, the limits it passes, and what
//! isolation the seat's students get.

use serde::Deserialize;

use super::docker_cli::DockerCli;
use super::Isolation;
use crate::exec::Runner;

/// The fields of `docker info --format '{{json .}}'` labctl reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Info {
    security_options: Vec<String>,
    cgroup_driver: String,
    cgroup_version: String,
    memory_limit: bool,
    swap_limit: bool,
    cpu_cfs_quota: bool,
    pids_limit: bool,
    #[serde(rename = "NCPU")]
    ncpu: u32,
}

/// What one engine can do for its nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineFacts {
    /// The engine's dockerd runs as an unprivileged user
    /// (`SecurityOptions` has `name=rootless`).
    pub rootless: bool,
    /// cgroup v2 (`CgroupVersion` "2"); v1 otherwise.
    pub cgroup_v2: bool,
    /// The engine runs its containers without cgroups (`CgroupDriver`
    /// "none": rootless on cgroup v1, or on v2 without systemd): a node's
    /// dockerd cannot make cgroups either, and must run `--rootless`.
    pub no_cgroups: bool,
    pub memory_limit: bool,
    /// It can keep a node's memory out of swap too (`--memory-swap`).
    pub swap_limit: bool,
    pub cpu_limit: bool,
    pub pids_limit: bool,
    /// The CPUs the engine's host has (0 when it did not say).
    pub cpus: u32,
}

impl EngineFacts {
    /// What a rootful engine that said nothing usable is taken to be: one
    /// that applies every limit (a refused limit then fails the node's
    /// start, with Docker's own words).
    pub fn assumed() -> EngineFacts {
        EngineFacts {
            rootless: false,
            cgroup_v2: false,
            no_cgroups: false,
            memory_limit: true,
            swap_limit: false,
            cpu_limit: true,
            pids_limit: true,
            cpus: 0,
        }
    }

    /// Ask the engine; what it does not say is [`EngineFacts::assumed`].
    pub fn read(docker: &DockerCli, runner: &dyn Runner) -> EngineFacts {
        let spec = docker.read(&["info", "--format", "{{json .}}"], "ask the engine what it can do for its nodes");
        let answered = runner.run(&spec).ok().filter(|output| output.success());
        answered.and_then(|output| EngineFacts::parse(&output.stdout)).unwrap_or_else(EngineFacts::assumed)
    }

    /// From `docker info --format '{{json .}}'`; `None` when it is not that.
    pub fn parse(json: &str) -> Option<EngineFacts> {
        let info: Info = serde_json::from_str(json.trim()).ok()?;
        Some(EngineFacts {
            rootless: info.security_options.iter().any(|option| option.split(',').any(|part| part == "name=rootless")),
            cgroup_v2: info.cgroup_version.trim() == "2",
            no_cgroups: info.cgroup_driver.trim() == "none",
            memory_limit: info.memory_limit,
            swap_limit: info.swap_limit,
            cpu_limit: info.cpu_cfs_quota,
            pids_limit: info.pids_limit,
            cpus: info.ncpu,
        })
    }

    pub fn isolation(&self) -> Isolation {
        match self.rootless {
            true => Isolation::Rootless,
            false => Isolation::Rootful,
        }
    }

    /// The limits this engine cannot apply, by name, for the note that says so.
    pub fn missing_limits(&self) -> Vec<&'static str> {
        [("memory", self.memory_limit), ("CPU", self.cpu_limit), ("process (pids)", self.pids_limit)]
            .into_iter()
            .filter(|(_, applies)| !applies)
            .map(|(name, _)| name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rootless_engine_on_cgroup_v1_says_so_and_applies_no_limit() {
        let info = r#"{"ID":"x","SecurityOptions":["name=seccomp,profile=default","name=rootless"],"CgroupDriver":"none","CgroupVersion":"1","MemoryLimit":false,"SwapLimit":false,"CpuCfsQuota":false,"PidsLimit":false,"NCPU":2}"#;
        let facts = EngineFacts::parse(info).unwrap();
        assert!(facts.rootless && !facts.cgroup_v2 && facts.no_cgroups);
        assert_eq!(facts.isolation(), Isolation::Rootless);
        assert_eq!(facts.missing_limits(), ["memory", "CPU", "process (pids)"]);
        assert_eq!(facts.cpus, 2);
    }

    #[test]
    fn a_rootful_engine_applies_what_its_cgroups_allow() {
        let info = r#"{"SecurityOptions":["name=apparmor","name=seccomp,profile=default"],"CgroupDriver":"systemd","CgroupVersion":"2","MemoryLimit":true,"CpuCfsQuota":true,"PidsLimit":true,"NCPU":16}"#;
        let facts = EngineFacts::parse(info).unwrap();
        assert_eq!(facts.isolation(), Isolation::Rootful);
        assert!(facts.cgroup_v2 && !facts.no_cgroups && facts.missing_limits().is_empty());
        assert!(EngineFacts::parse("Cannot connect to the Docker daemon").is_none());
    }
}
