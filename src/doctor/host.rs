//! What this host offers the nodes, read from /proc, /sys and /dev: free
//! memory and disk against what the configured nodes need, CPU
//! virtualisation for VirtualBox, /dev/kvm for libvirt, and IPVS for
//! Docker's routing mesh.

use std::path::{Path, PathBuf};

use super::{missing, Check};
use crate::hostfs::{self, Route};
use crate::ui::Mark;

const MIB: u64 = 1024 * 1024;
/// A docker-in-docker node: its dockerd and containerd idle in a swarm, plus
/// a lab's few small tasks (measured idle: see docs/performance.md).
pub const DOCKER_NODE_MEMORY_MB: u64 = 300;
/// A docker node's disk: the lab images loaded into its own Docker.
pub const DOCKER_NODE_DISK_MB: u64 = 1536;
/// labctl's node image, once per engine.
pub const NODE_IMAGE_DISK_MB: u64 = 400;
/// A Vagrant box, once (download and unpacked copy).
pub const BOX_DISK_MB: u64 = 3072;
/// A VM's disk once Docker and the lab images are in it (a linked clone).
pub const VM_DISK_MB: u64 = 3072;

/// The facts, each `None` when it cannot be read here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// `MemAvailable` of /proc/meminfo, in MiB.
    pub memory_available_mb: Option<u64>,
    /// Whether any CPU flag is `vmx` (Intel VT-x) or `svm` (AMD-V); `None`
    /// when /proc/cpuinfo has no flags (not x86).
    pub virtualisation: Option<bool>,
    /// IPVS is in the kernel, loaded or loadable.
    pub ipvs: Option<bool>,
    /// Whether this user can open /dev/kvm for reading and writing.
    pub kvm: Option<Kvm>,
    /// A CPU flag says this host is itself a virtual machine (`hypervisor`).
    pub guest: bool,
    /// The IPv4 routes (/proc/net/route).
    pub routes: Option<Vec<Route>>,
}

/// /dev/kvm, as this user finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kvm {
    Usable,
    Missing,
    /// There, but opening it read-write failed with this error.
    Unusable(String),
}

impl Kvm {
    fn open(path: &Path) -> Kvm {
        match std::fs::OpenOptions::new().read(true).write(true).open(path) {
            Ok(_) => Kvm::Usable,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Kvm::Missing,
            Err(error) => Kvm::Unusable(error.to_string()),
        }
    }
}

impl HostFacts {
    /// Read from `root`: `/`, or `LABCTL_HOST_ROOT` (the host's file system
    /// mounted elsewhere, e.g. when labctl runs in a container; tests).
    pub fn read(root: &Path) -> HostFacts {
        let read = |path: &str| std::fs::read_to_string(root.join(path)).ok();
        let kernel_release = read("proc/sys/kernel/osrelease").map(|release| release.trim().to_string());
        let memory_available_mb = read("proc/meminfo").and_then(|meminfo| {
            let line = meminfo.lines().find(|line| line.starts_with("MemAvailable:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib / 1024)
        });
        let cpuinfo = read("proc/cpuinfo").unwrap_or_default();
        let flags: Vec<&str> = cpuinfo
            .lines()
            .filter(|line| line.starts_with("flags"))
            .filter_map(|line| line.split_once(':').map(|(_, flags)| flags))
            .collect();
        let has_flag =
            |wanted: &[&str]| flags.iter().any(|flags| flags.split_whitespace().any(|flag| wanted.contains(&flag)));
        let virtualisation = (!flags.is_empty()).then(|| has_flag(&["vmx", "svm"]));
        let loaded = root.join("proc/net/ip_vs").exists()
            || root.join("sys/module/ip_vs").exists()
            || read("proc/modules").is_some_and(|modules| modules.lines().any(|line| line.starts_with("ip_vs ")));
        let loadable = kernel_release.is_some_and(|release| {
            let dir = root.join("lib/modules").join(release).join("kernel/net/netfilter/ipvs");
            std::fs::read_dir(dir).is_ok_and(|entries| {
                entries.flatten().any(|entry| entry.file_name().to_string_lossy().starts_with("ip_vs.ko"))
            })
        });
        let ipvs = Some(loaded || loadable);
        HostFacts {
            memory_available_mb,
            virtualisation,
            ipvs,
            kvm: Some(Kvm::open(&root.join("dev/kvm"))),
            guest: has_flag(&["hypervisor"]),
            routes: hostfs::routes(root).ok(),
        }
    }
}

/// What the configured nodes ask of this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub memory_mb: u64,
    pub disk_mb: u64,
    /// What the figures stand for, e.g. "4 docker nodes".
    pub nodes: usize,
}

impl Needs {
    /// `nodes` docker-in-docker nodes on this host's engine.
    pub fn docker(nodes: usize) -> Needs {
        let count = nodes as u64;
        Needs {
            memory_mb: count * DOCKER_NODE_MEMORY_MB,
            disk_mb: NODE_IMAGE_DISK_MB + count * DOCKER_NODE_DISK_MB,
            nodes,
        }
    }

    /// VMs of these memory sizes (MiB): VirtualBox reserves each VM's memory.
    pub fn vagrant(memory_mb: &[u32]) -> Needs {
        Needs {
            memory_mb: memory_mb.iter().map(|memory| u64::from(*memory)).sum(),
            disk_mb: BOX_DISK_MB + memory_mb.len() as u64 * VM_DISK_MB,
            nodes: memory_mb.len(),
        }
    }
}

pub fn check_memory(facts: &HostFacts, needs: Needs, what: &str, blocking: bool) -> Option<Check> {
    let available = facts.memory_available_mb?;
    let detail = format!("{} available; {} {what} need about {}", gib(available), needs.nodes, gib(needs.memory_mb));
    Some(if available >= needs.memory_mb {
        Check::new("memory", Mark::Ok, detail)
    } else {
        let mark = if blocking { Mark::Fail } else { Mark::Warn };
        Check::new("memory", mark, detail)
            .fix("close other programs, lower [resources] memory_mb or [cluster] workers, or spread the class over [[class.engines]]")
    })
}

/// Free space where the nodes' disks go: `folder` or its nearest existing parent.
pub fn check_disk(folder: &Path, needs: Needs, what: &str) -> Option<Check> {
    let existing: PathBuf = folder.ancestors().find(|dir| dir.exists())?.to_path_buf();
    let stats = rustix::fs::statvfs(&existing).ok()?;
    let free_mb = stats.f_bavail.saturating_mul(stats.f_frsize) / MIB;
    Some(disk_check(&existing, free_mb, needs, what))
}

fn disk_check(folder: &Path, free_mb: u64, needs: Needs, what: &str) -> Check {
    let detail = format!(
        "{} free in {}; {} {what} need about {}",
        gib(free_mb),
        folder.display(),
        needs.nodes,
        gib(needs.disk_mb)
    );
    if free_mb >= needs.disk_mb {
        Check::new("disk", Mark::Ok, detail)
    } else {
        Check::new("disk", Mark::Warn, detail)
            .fix(format!("free space in {} (e.g. `docker system prune` for unused images)", folder.display()))
    }
}

/// VirtualBox runs 64-bit VMs only with VT-x or AMD-V.
pub fn check_virtualisation(facts: &HostFacts, needed: bool) -> Option<Check> {
    let found = facts.virtualisation?;
    let name = "CPU virtualisation";
    Some(if found {
        Check::new(name, Mark::Ok, "VT-x/AMD-V available (VirtualBox can run 64-bit VMs)")
    } else {
        Check::new(name, missing(needed), "no VT-x/AMD-V flag in /proc/cpuinfo: VirtualBox cannot start 64-bit VMs")
            .fix("enable virtualisation (Intel VT-x / AMD-V / SVM) in the BIOS/UEFI setup; inside a VM, enable nested virtualisation; or use --provider docker")
    })
}

/// Docker's ingress routing mesh and service VIPs need IPVS in the kernel
/// the nodes share.
pub fn check_ipvs(facts: &HostFacts) -> Option<Check> {
    let found = facts.ipvs?;
    let name = "IPVS (routing mesh)";
    Some(if found {
        Check::new(name, Mark::Ok, "ip_vs is in this kernel: published ports answer on every node")
    } else {
        Check::new(
            name,
            Mark::Warn,
            "this kernel has no ip_vs: the ingress routing mesh and service VIPs do not work; labctl's checks marked ingress ask the service directly instead",
        )
        .fix("`sudo modprobe ip_vs` (package linux-modules-extra on some distributions), or teach with `mode: host` ports and DNS round-robin")
    })
}

/// 1536 MiB → "1.5 GiB".
fn gib(mb: u64) -> String {
    format!("{:.1} GiB", mb as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn facts_come_from_meminfo_cpuinfo_the_kernels_modules_routes_and_dev_kvm() {
        let dir = root(&[
            ("proc/meminfo", "MemTotal:       16384000 kB\nMemAvailable:    2097152 kB\n"),
            (
                "proc/cpuinfo",
                "processor\t: 0\nflags\t\t: fpu vme sse2 vmx\n\nprocessor\t: 1\nflags\t\t: fpu vme sse2 vmx\n",
            ),
            ("proc/sys/kernel/osrelease", "6.1.0-13-amd64\n"),
            ("lib/modules/6.1.0-13-amd64/kernel/net/netfilter/ipvs/ip_vs.ko.xz", ""),
            ("proc/net/route", "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\n"),
            ("dev/kvm", ""),
        ]);
        let facts = HostFacts::read(dir.path());
        let eth0 = Route { interface: "eth0".into(), network: "192.0.2.0/24".parse().unwrap() };
        assert_eq!(
            facts,
            HostFacts {
                memory_available_mb: Some(2048),
                virtualisation: Some(true),
                ipvs: Some(true),
                kvm: Some(Kvm::Usable),
                guest: false,
                routes: Some(vec![eth0]),
            }
        );

        let bare = root(&[
            ("proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu sse2 hypervisor\n"),
            ("proc/modules", "overlay 151552 0 - Live\n"),
        ]);
        let facts = HostFacts::read(bare.path());
        assert_eq!(
            facts,
            HostFacts {
                memory_available_mb: None,
                virtualisation: Some(false),
                ipvs: Some(false),
                kvm: Some(Kvm::Missing),
                guest: true,
                routes: None,
            }
        );
        let loaded = root(&[("proc/modules", "ip_vs 184320 0 - Live 0x0\n")]);
        assert_eq!(HostFacts::read(loaded.path()).ipvs, Some(true));
        // Something at /dev/kvm that cannot be opened read-write (a folder
        // here: the tests may run as root, who opens any device).
        std::fs::create_dir_all(loaded.path().join("dev/kvm")).unwrap();
        assert!(matches!(HostFacts::read(loaded.path()).kvm, Some(Kvm::Unusable(_))));
    }

    #[test]
    fn too_little_memory_warns_for_docker_and_fails_for_vms() {
        let facts = HostFacts { memory_available_mb: Some(2048), ..HostFacts::default() };
        let docker = check_memory(&facts, Needs::docker(4), "docker nodes", false).unwrap();
        assert_eq!(
            (docker.mark, docker.detail.as_str()),
            (Mark::Ok, "2.0 GiB available; 4 docker nodes need about 1.2 GiB")
        );
        let vms = check_memory(&facts, Needs::vagrant(&[1536; 4]), "VMs", true).unwrap();
        assert_eq!((vms.mark, vms.detail.as_str()), (Mark::Fail, "2.0 GiB available; 4 VMs need about 6.0 GiB"));
        assert!(vms.fix.unwrap().contains("memory_mb"));
        let class = check_memory(&facts, Needs::docker(40), "docker nodes", false).unwrap();
        assert_eq!(class.mark, Mark::Warn, "a class too big for this host is said, not refused");
        assert_eq!(check_memory(&HostFacts::default(), Needs::docker(4), "docker nodes", false), None);
    }

    #[test]
    fn disk_space_is_compared_with_what_the_nodes_need() {
        let needs = Needs::docker(4);
        assert_eq!(needs.disk_mb, 400 + 4 * 1536);
        let short = disk_check(Path::new("/var/lib/docker"), 1024, needs, "docker nodes");
        assert_eq!(short.mark, Mark::Warn);
        assert_eq!(short.detail, "1.0 GiB free in /var/lib/docker; 4 docker nodes need about 6.4 GiB");
        assert_eq!(disk_check(Path::new("/"), 100_000, needs, "docker nodes").mark, Mark::Ok);
        // The real call reads the nearest existing folder.
        let dir = tempfile::tempdir().unwrap();
        let check = check_disk(&dir.path().join("not/yet"), Needs::docker(1), "docker nodes").unwrap();
        assert!(check.detail.contains(&format!("free in {}", dir.path().display())), "{}", check.detail);
    }

    #[test]
    fn virtualisation_blocks_only_virtualbox_and_ipvs_only_warns() {
        let without = HostFacts { virtualisation: Some(false), ipvs: Some(false), ..HostFacts::default() };
        assert_eq!(check_virtualisation(&without, true).unwrap().mark, Mark::Fail);
        assert_eq!(check_virtualisation(&without, false).unwrap().mark, Mark::Skip);
        assert_eq!(check_virtualisation(&HostFacts::default(), true), None, "not x86: nothing to say");
        let ipvs = check_ipvs(&without).unwrap();
        assert_eq!(ipvs.mark, Mark::Warn);
        assert!(ipvs.detail.contains("routing mesh"), "{}", ipvs.detail);
        let with = HostFacts { ipvs: Some(true), ..HostFacts::default() };
        assert_eq!(check_ipvs(&with).unwrap().mark, Mark::Ok);
    }
}
