//! Vagrant on libvirt: the vagrant-libvirt plugin, libvirt's daemon
//! answering, /dev/kvm against `vagrant.libvirt_driver`, and a subnet no
//! other interface of this host routes.

use super::host::Kvm;
use super::{missing, Check, HostFacts};
use crate::config::{Cluster, LibvirtDriver};
use crate::exec::{CommandSpec, Output};
use crate::provider::vagrant::libvirt::{self, SubnetUse, URI};
use crate::provider::Host;
use crate::timeouts::Wait;
use crate::ui::Mark;

const PLUGIN: &str = "vagrant-libvirt";
const USE_QEMU: &str = "set vagrant.libvirt_driver = \"qemu\" in labctl.toml (slow: the CPU is emulated)";

/// Every check; `needed` when the vagrant provider is the one labctl uses
/// (otherwise a problem is reported, not blocking).
pub fn checks(cluster: &Cluster, host: &Host, facts: &HostFacts, needed: bool) -> Vec<Check> {
    let mut checks = Vec::new();
    if host.has("vagrant") {
        checks.push(check_plugin(cluster, host, needed));
    }
    if host.has("virsh") {
        checks.push(check_daemon(cluster, host, needed));
    }
    checks.extend(check_kvm(cluster.vagrant().libvirt_driver, facts, needed));
    checks.push(check_network(cluster, host, facts, needed));
    checks
}

/// A probe on this host within the read limit.
fn ask(cluster: &Cluster, host: &Host, program: &str, args: &[&str], purpose: &str) -> Result<Output, String> {
    let spec = CommandSpec::new(program, args, purpose).probe().timeout(cluster.timeouts().limit(Wait::Read));
    host.runner().run(&spec).map_err(|error| format!("{error:#}"))
}

fn check_plugin(cluster: &Cluster, host: &Host, needed: bool) -> Check {
    let fix = "vagrant plugin install vagrant-libvirt (Debian/Ubuntu: apt install vagrant-libvirt)";
    let output = match ask(cluster, host, "vagrant", &["plugin", "list"], "list Vagrant's plugins") {
        Ok(output) if output.success() => output,
        Ok(output) => {
            return Check::new(PLUGIN, missing(needed), format!("`vagrant plugin list` failed: {}", output.tail(1)))
                .fix("vagrant plugin repair")
        }
        Err(why) => return Check::new(PLUGIN, missing(needed), why).fix("vagrant plugin repair"),
    };
    // `vagrant-libvirt (0.11.2, system)`
    let listed = output.stdout.lines().find_map(|line| line.trim().strip_prefix(PLUGIN)?.trim().strip_prefix('('));
    match listed {
        Some(details) => {
            let details = details.trim_end_matches(')');
            let (version, scope) = details.split_once(", ").unwrap_or((details, ""));
            let scope = if scope.is_empty() { String::new() } else { format!(" ({scope})") };
            Check::new(PLUGIN, Mark::Ok, format!("{version}{scope}"))
        }
        None => Check::new(PLUGIN, missing(needed), "not installed: Vagrant cannot drive libvirt").fix(fix),
    }
}

/// libvirt's daemon answers on the connection vagrant-libvirt uses.
fn check_daemon(cluster: &Cluster, host: &Host, needed: bool) -> Check {
    let name = "libvirtd";
    let start = "start libvirtd (sudo systemctl start libvirtd; without systemd: sudo virtlogd -d; sudo libvirtd -d)";
    let output = match ask(cluster, host, "virsh", &["-c", URI, "version"], "ask libvirt for its version") {
        Ok(output) => output,
        Err(why) => return Check::new(name, missing(needed), format!("{URI} does not answer: {why}")).fix(start),
    };
    if !output.success() {
        let why = output.tail(1);
        let fix = if why.contains("Permission denied") {
            "add yourself to group libvirt (sudo usermod -aG libvirt $USER), then log in again"
        } else {
            start
        };
        return Check::new(name, missing(needed), format!("{URI} does not answer: {why}")).fix(fix);
    }
    // `Using library: libvirt 11.3.0` and `Running hypervisor: QEMU 10.0.2`
    let field = |label: &str| {
        output.stdout.lines().find_map(|line| line.strip_prefix(label)).map(|value| value.trim().to_string())
    };
    let versions: Vec<String> = [field("Using library:"), field("Running hypervisor:")].into_iter().flatten().collect();
    let versions = if versions.is_empty() { String::new() } else { format!(": {}", versions.join(", ")) };
    Check::new(name, Mark::Ok, format!("{URI} answers{versions}"))
}

/// `kvm` needs /dev/kvm; `qemu` runs anywhere, slowly.
fn check_kvm(driver: LibvirtDriver, facts: &HostFacts, needed: bool) -> Option<Check> {
    let kvm = facts.kvm.as_ref()?;
    let name = "KVM";
    let nested = "this host is itself a VM: if the machines hang after \"Booting from ROM\" (nested KVM), ";
    Some(match (driver, kvm) {
        (LibvirtDriver::Kvm, Kvm::Usable) if facts.guest => {
            Check::new(name, Mark::Ok, format!("/dev/kvm is usable (libvirt_driver = \"kvm\"); {nested}{USE_QEMU}"))
        }
        (LibvirtDriver::Kvm, Kvm::Usable) => {
            Check::new(name, Mark::Ok, "/dev/kvm is usable (libvirt_driver = \"kvm\")")
        }
        (LibvirtDriver::Kvm, Kvm::Missing) => Check::new(
            name,
            missing(needed),
            "/dev/kvm is missing: libvirt_driver = \"kvm\" cannot start the machines",
        )
        .fix(format!(
            "{USE_QEMU}, or enable virtualisation (VT-x/AMD-V; nested virtualisation in a VM) and load the kvm_intel or kvm_amd module"
        )),
        // libvirt's QEMU runs as its own user, usually in group kvm: this
        // user's access is a hint, not a verdict.
        (LibvirtDriver::Kvm, Kvm::Unusable(why)) => Check::new(
            name,
            Mark::Warn,
            format!("/dev/kvm is there but this user cannot open it ({why}); libvirt_driver = \"kvm\" works only if libvirt's QEMU can"),
        )
        .fix(format!(
            "if the machines fail with \"KVM is not available\": sudo usermod -aG kvm $USER (and libvirt's QEMU user), then log in again; or {USE_QEMU}"
        )),
        (LibvirtDriver::Qemu, Kvm::Usable) if facts.guest => Check::new(
            name,
            Mark::Ok,
            "libvirt_driver = \"qemu\": the CPU is emulated (slow); /dev/kvm is usable, so \"kvm\" may be faster, unless nested KVM hangs here (this host is a VM)",
        ),
        (LibvirtDriver::Qemu, Kvm::Usable) => Check::new(
            name,
            Mark::Ok,
            "libvirt_driver = \"qemu\": the CPU is emulated (slow); /dev/kvm is usable, so vagrant.libvirt_driver = \"kvm\" would be faster",
        ),
        (LibvirtDriver::Qemu, _) => Check::new(
            name,
            Mark::Ok,
            "libvirt_driver = \"qemu\": the CPU is emulated (slow, but works without a usable /dev/kvm)",
        ),
    })
}

/// libvirt refuses the cluster's network when another interface routes its subnet.
fn check_network(cluster: &Cluster, host: &Host, facts: &HostFacts, needed: bool) -> Check {
    let name = "libvirt network";
    let subnet = cluster.subnet();
    let Some(routes) = &facts.routes else {
        return Check::new(
            name,
            Mark::Warn,
            format!("cannot read /proc/net/route: whether {subnet} is free is not known"),
        );
    };
    match libvirt::subnet_use(cluster, routes, host.runner()) {
        SubnetUse::Free => {
            Check::new(name, Mark::Ok, format!("{subnet} is free (no interface of this host routes it)"))
        }
        SubnetUse::Own { bridge } => Check::new(
            name,
            Mark::Ok,
            format!("{subnet} is the cluster's own network ({} on {bridge})", libvirt::network_name(cluster)),
        ),
        SubnetUse::Taken(conflict) => {
            let mark = if needed { Mark::Fail } else { Mark::Warn };
            Check::new(name, mark, conflict.problem()).fix(conflict.fix())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::fake::RecordingRunner;
    use crate::hostfs::Route;

    fn libvirt_settings(driver: &str) -> crate::config::Settings {
        crate::config::test_settings(&format!(
            "[cluster]\nname = \"lab-b\"\nprovider = \"vagrant\"\n[vagrant]\nprovider = \"libvirt\"\nlibvirt_driver = \"{driver}\"\n"
        ))
    }

    fn named<'c>(checks: &'c [Check], name: &str) -> &'c Check {
        checks.iter().find(|check| check.name == name).unwrap_or_else(|| panic!("no {name} in {checks:#?}"))
    }

    fn usable_host() -> HostFacts {
        HostFacts { kvm: Some(Kvm::Usable), routes: Some(Vec::new()), ..HostFacts::default() }
    }

    #[test]
    fn a_working_libvirt_host_is_ok_with_each_version() {
        let settings = libvirt_settings("kvm");
        let cluster = crate::config::test_cluster(&settings);
        let runner = RecordingRunner::default();
        runner.answer("vagrant plugin list", 0, "vagrant-libvirt (0.11.2, system)\n", "");
        let version = "Compiled against library: libvirt 11.3.0\nUsing library: libvirt 11.3.0\nUsing API: QEMU 11.3.0\nRunning hypervisor: QEMU 10.0.2\n";
        runner.answer("virsh -c qemu:///system version", 0, version, "");
        let host = Host::with_programs(&runner, &["vagrant", "virsh"]);
        let found = checks(&cluster, &host, &usable_host(), true);
        let shown: Vec<(&str, Mark, &str)> =
            found.iter().map(|check| (check.name.as_str(), check.mark, check.detail.as_str())).collect();
        assert_eq!(
            shown,
            [
                ("vagrant-libvirt", Mark::Ok, "0.11.2 (system)"),
                ("libvirtd", Mark::Ok, "qemu:///system answers: libvirt 11.3.0, QEMU 10.0.2"),
                ("KVM", Mark::Ok, "/dev/kvm is usable (libvirt_driver = \"kvm\")"),
                ("libvirt network", Mark::Ok, "192.168.56.0/24 is free (no interface of this host routes it)"),
            ]
        );
        assert!(runner.calls().iter().all(|spec| spec.effect == crate::exec::Effect::Probe));
    }

    #[test]
    fn a_missing_plugin_and_a_silent_daemon_fail_with_their_fixes() {
        let settings = libvirt_settings("kvm");
        let cluster = crate::config::test_cluster(&settings);
        let runner = RecordingRunner::default();
        runner.answer("vagrant plugin list", 0, "No plugins installed.\n", "");
        runner.answer(
            "virsh -c qemu:///system version",
            1,
            "",
            "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied\n",
        );
        let host = Host::with_programs(&runner, &["vagrant", "virsh"]);
        let found = checks(&cluster, &host, &usable_host(), true);
        let plugin = named(&found, "vagrant-libvirt");
        assert_eq!((plugin.mark, plugin.detail.as_str()), (Mark::Fail, "not installed: Vagrant cannot drive libvirt"));
        assert_eq!(
            plugin.fix.as_deref(),
            Some("vagrant plugin install vagrant-libvirt (Debian/Ubuntu: apt install vagrant-libvirt)")
        );
        let daemon = named(&found, "libvirtd");
        assert_eq!(daemon.mark, Mark::Fail);
        assert_eq!(
            daemon.detail,
            "qemu:///system does not answer: error: Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied"
        );
        assert!(daemon.fix.as_deref().unwrap().starts_with("add yourself to group libvirt"), "{daemon:?}");

        // Only reported while another provider is used.
        let runner = RecordingRunner::default();
        runner.answer(
            "virsh -c qemu:///system version",
            1,
            "",
            "error: Failed to connect socket: No such file or directory\n",
        );
        let host = Host::with_programs(&runner, &["virsh"]);
        let reported = checks(&cluster, &host, &usable_host(), false);
        let daemon = named(&reported, "libvirtd");
        assert_eq!(daemon.mark, Mark::Skip);
        assert!(daemon.fix.as_deref().unwrap().starts_with("start libvirtd"), "{daemon:?}");
        assert!(reported.iter().all(|check| check.name != "vagrant-libvirt"), "no vagrant, no plugin to ask about");
    }

    #[test]
    fn dev_kvm_is_weighed_against_the_driver() {
        let kvm = |driver: LibvirtDriver, kvm: Kvm, guest: bool| {
            check_kvm(driver, &HostFacts { kvm: Some(kvm), guest, ..HostFacts::default() }, true).unwrap()
        };
        let missing = kvm(LibvirtDriver::Kvm, Kvm::Missing, false);
        assert_eq!(missing.mark, Mark::Fail);
        assert_eq!(missing.detail, "/dev/kvm is missing: libvirt_driver = \"kvm\" cannot start the machines");
        assert!(missing
            .fix
            .unwrap()
            .starts_with("set vagrant.libvirt_driver = \"qemu\" in labctl.toml (slow: the CPU is emulated)"));
        let denied = kvm(LibvirtDriver::Kvm, Kvm::Unusable("Permission denied (os error 13)".into()), false);
        assert_eq!(denied.mark, Mark::Warn);
        assert!(denied.detail.contains("cannot open it (Permission denied (os error 13))"), "{}", denied.detail);
        assert!(denied.fix.unwrap().contains("sudo usermod -aG kvm $USER"));
        let nested = kvm(LibvirtDriver::Kvm, Kvm::Usable, true);
        assert_eq!(nested.mark, Mark::Ok);
        assert!(nested.detail.contains("hang after \"Booting from ROM\""), "{}", nested.detail);
        let faster = kvm(LibvirtDriver::Qemu, Kvm::Usable, false);
        assert_eq!(faster.mark, Mark::Ok);
        assert!(faster.detail.ends_with("vagrant.libvirt_driver = \"kvm\" would be faster"), "{}", faster.detail);
        assert_eq!(kvm(LibvirtDriver::Qemu, Kvm::Missing, false).mark, Mark::Ok);
        assert_eq!(check_kvm(LibvirtDriver::Kvm, &HostFacts::default(), true), None, "not read: nothing to say");
    }

    #[test]
    fn a_docker_bridge_on_the_subnet_fails_naming_its_network() {
        let settings = libvirt_settings("qemu");
        let cluster = crate::config::test_cluster(&settings);
        let runner = RecordingRunner::lenient();
        runner.answer("docker network ls", 0, "labctl-lab-a\t\tlab-a\n", "");
        let host = Host::with_programs(&runner, &["vagrant", "virsh"]);
        let bridge = Route { interface: "br-0123456789ab".into(), network: "192.168.56.0/24".parse().unwrap() };
        let facts = HostFacts { routes: Some(vec![bridge]), ..usable_host() };
        let network = check_network(&cluster, &host, &facts, true);
        assert_eq!(network.mark, Mark::Fail);
        assert!(
            network.detail.starts_with(
                "192.168.56.0/24 is already used by interface br-0123456789ab (the Docker network labctl-lab-a"
            ),
            "{}",
            network.detail
        );
        assert!(network.fix.unwrap().contains("`docker network rm labctl-lab-a`"));
        assert_eq!(check_network(&cluster, &host, &HostFacts::default(), true).mark, Mark::Warn);
    }
}
