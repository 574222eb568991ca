#!/usr/bin/env bash
# Benchmark of the Vagrant provider on real VMs (not a test): cold
# `labctl up` of a manager and one worker to both nodes Ready, against the
# all-serial way public Vagrant swarm repositories do it, in the same run on
# the same box: one Vagrantfile whose inline provisioning installs Docker
# (and the same handout tools labctl installs), `vagrant up --no-parallel`,
# then `swarm init` and a join with the token pasted on the command line.
# Then a no-op `labctl up` on the healthy cluster, and destroy.
#
# Both use vagrant-libvirt with QEMU emulating the CPU (LABCTL_BENCH_DRIVER=kvm
# where /dev/kvm works), 1 vCPU and 1 GiB per VM, on subnets of their own.
#
# Usage (as root): bash scripts/test-images && bash scripts/test-vms && bash bench/vagrant.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-1}
driver=${LABCTL_BENCH_DRIVER:-qemu}
box=$(bash scripts/test-vms --box-name)
registry_image=${LABCTL_BENCH_REGISTRY_IMAGE:-labctl-test/registry:2}

cargo build --release --quiet
labctl=$PWD/target/release/labctl
work=$(mktemp -d)
cleanup() {
  (cd "$work/serial" 2>/dev/null && vagrant destroy --force >/dev/null 2>&1) || true
  virsh -c qemu:///system net-destroy labctl-bench-serial >/dev/null 2>&1 || true
  virsh -c qemu:///system net-undefine labctl-bench-serial >/dev/null 2>&1 || true
  "$labctl" -q -C "$work/labctl" destroy --yes 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/labctl" "$work/serial"

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

cat > "$work/labctl/labctl.toml" <<TOML
[cluster]
name = "vbench"
provider = "vagrant"
subnet = "192.168.74.0/24"
manager_ip = "192.168.74.10"
worker_ip_start = "192.168.74.11"
workers = 1
[resources]
memory_mb = 1024
cpus = 1
[vagrant]
box = "$box"
provider = "libvirt"
libvirt_driver = "$driver"
boot_timeout = 900
[registry]
enabled = false
image = "$registry_image"
[images]
preload = false
[labs]
seed = []
TOML

# The same packages labctl's provisioning installs, read from its own script.
"$labctl" -q -C "$work/labctl" render
tools=$(sed -n 's/.*apt-get install -y -q --no-install-recommends //p' "$work/labctl/.labctl/vagrant/provision/50-tools.sh")
[ -n "$tools" ] || { echo "bench/vagrant.sh: cannot read the handout tools from 50-tools.sh" >&2; exit 1; }

# --- the baseline: a public repository's Vagrantfile, all serial --------------
cat > "$work/serial/Vagrantfile" <<RUBY
NODES = { "manager" => "192.168.75.10", "node1" => "192.168.75.11" }
Vagrant.configure("2") do |config|
  config.vm.box = "$box"
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.vm.provider "libvirt" do |lv|
    lv.driver = "$driver"
    lv.memory = 1024
    lv.cpus = 1
    lv.graphics_type = "none"
    lv.video_type = "none"
  end
  NODES.each do |name, ip|
    config.vm.define name do |node|
      node.vm.hostname = name
      node.vm.network "private_network", ip: ip, libvirt__network_name: "labctl-bench-serial", libvirt__forward_mode: "none", libvirt__dhcp_enabled: false
      node.vm.provision "shell", inline: "export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q docker.io && apt-get install -y -q --no-install-recommends $tools"
    end
  end
end
RUBY

serial() {
  (
    cd "$work/serial"
    vagrant up --no-parallel >"$work/serial.log" 2>&1
    vagrant ssh manager -c 'sudo docker swarm init --advertise-addr 192.168.75.10' >>"$work/serial.log" 2>&1
    token=$(vagrant ssh manager -c 'sudo docker swarm join-token -q worker' 2>/dev/null | tr -d '\r')
    # On stdin, so that not even the baseline puts the token in a host argv.
    # shellcheck disable=SC2016 # expanded on node1
    vagrant ssh node1 -c 'read -r token; sudo docker swarm join --token "$token" --advertise-addr 192.168.75.11 192.168.75.10:2377' \
      <<<"$token" >>"$work/serial.log" 2>&1
    until [ "$(vagrant ssh manager -c "sudo docker node ls --format '{{.Status}}'" 2>/dev/null | grep -c Ready)" = 2 ]; do sleep 1; done
  )
}

results=()
for round in $(seq "$rounds"); do
  start=$(now); serial; serial_time=$(elapsed "$start" "$(now)")
  (cd "$work/serial" && vagrant destroy --force >/dev/null 2>&1)

  start=$(now); "$labctl" -q -C "$work/labctl" up; labctl_time=$(elapsed "$start" "$(now)")
  start=$(now); "$labctl" -q -C "$work/labctl" up; noop_time=$(elapsed "$start" "$(now)")
  start=$(now); "$labctl" -q -C "$work/labctl" destroy --yes; destroy_time=$(elapsed "$start" "$(now)")

  ratio=$(awk -v a="$labctl_time" -v b="$serial_time" 'BEGIN { printf "%.2f", a / b }')
  results+=("$round $serial_time $labctl_time $ratio $noop_time $destroy_time")
done

echo "seconds; 2 VMs ($driver), 1 vCPU and 1 GiB each, box $box"
printf '%-6s %-14s %-12s %-6s %-10s %-8s\n' round serial-vagrant labctl-up ratio no-op-up destroy
for line in "${results[@]}"; do
  # shellcheck disable=SC2086 # word splitting is the point
  printf '%-6s %-14s %-12s %-6s %-10s %-8s\n' $line
done
