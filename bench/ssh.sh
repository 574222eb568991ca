#!/usr/bin/env bash
# Benchmark of the ssh provider (not a test): `labctl up` on 4 existing
# machines that already have Docker (containers of labctl-test/ssh-host:
# sshd and dockerd), how long it takes and how many ssh logins it opens
# (sshd's log), then a no-op up, against the same number of ssh commands
# run the naive way: one fresh login each (no multiplexing), machines in
# parallel, each machine's commands one after the other as up runs them.
#
# Usage (as root, Docker running, offline images built):
#   bash scripts/test-images && flock /tmp/labctl-e2e.lock bash bench/ssh.sh
set -euo pipefail
cd "$(dirname "$0")/.."

image=${LABCTL_BENCH_SSH_IMAGE:-labctl-test/ssh-host:bookworm}
registry_image=${LABCTL_BENCH_REGISTRY_IMAGE:-labctl-test/registry:2}
network="labctl-bench-ssh"
nodes=(manager node1 node2 node3)
ips=(10.71.0.10 10.71.0.11 10.71.0.12 10.71.0.13)
caps=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined
  --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' -v /sys/fs/cgroup:/sys/fs/cgroup:rw)

cargo build --release --quiet
labctl=$PWD/target/release/labctl
work=$(mktemp -d)
export XDG_RUNTIME_DIR=$work/run
mkdir -p "$XDG_RUNTIME_DIR"

cleanup() {
  for socket in "$XDG_RUNTIME_DIR"/labctl/ssh/*; do
    if [ -S "$socket" ]; then
      ssh -o ControlPath="$socket" -O exit bench >/dev/null 2>&1 || :
    fi
  done
  docker rm -f -v "${nodes[@]/#/bench-ssh-}" >/dev/null 2>&1 || :
  docker network rm "$network" >/dev/null 2>&1 || :
  rm -rf "$work"
}
trap cleanup EXIT
cleanup_start() { docker rm -f -v "${nodes[@]/#/bench-ssh-}" >/dev/null 2>&1 || :; docker network rm "$network" >/dev/null 2>&1 || :; }

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
logins() {
  local total=0 machine
  for machine in "${nodes[@]}"; do
    total=$((total + $(docker exec "bench-ssh-$machine" grep -c 'Accepted publickey' /var/log/sshd.log || :)))
  done
  echo "$total"
}

# --- the machines --------------------------------------------------------------
cleanup_start
docker network create --subnet 10.71.0.0/24 "$network" >/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$work/id_ed25519"
public=$(cat "$work/id_ed25519.pub")
for i in 0 1 2 3; do
  docker run -d --name "bench-ssh-${nodes[$i]}" --hostname "pc-$i" --network "$network" --ip "${ips[$i]}" \
    "${caps[@]}" "$image" >/dev/null
done
for machine in "${nodes[@]}"; do
  until docker exec "bench-ssh-$machine" sh -c 'docker info >/dev/null 2>&1 && [ -s /etc/ssh/ssh_host_ed25519_key.pub ]'; do
    sleep 0.2
  done
  docker exec "bench-ssh-$machine" sh -c "useradd --create-home labctl && mkdir -p ~labctl/.ssh &&
    echo '$public' > ~labctl/.ssh/authorized_keys && chown -R labctl: ~labctl/.ssh &&
    echo 'labctl ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/labctl"
done
: >"$work/known_hosts"
for i in 0 1 2 3; do
  echo "${ips[$i]} $(docker exec "bench-ssh-${nodes[$i]}" cat /etc/ssh/ssh_host_ed25519_key.pub)" >>"$work/known_hosts"
done
docker save "$registry_image" | docker exec -i bench-ssh-manager docker load -q >/dev/null

{
  printf '[cluster]\nname = "bench-ssh"\nprovider = "ssh"\n\n[registry]\nimage = "%s"\n\n' "$registry_image"
  printf '[ssh]\nknown_hosts_file = "known_hosts"\n'
  for i in 0 1 2 3; do
    printf '\n[[ssh.hosts]]\nnode = "%s"\naddress = "%s"\nuser = "labctl"\nidentity_file = "id_ed25519"\n' \
      "${nodes[$i]}" "${ips[$i]}"
  done
} >"$work/labctl.toml"

# A wrapper that counts labctl's ssh commands per machine.
mkdir -p "$work/bin"
cat >"$work/bin/ssh" <<EOF
#!/bin/sh
for word; do case \$word in 10.71.0.*) echo "\$word" >> "$work/ssh-commands" ;; esac; done
exec /usr/bin/ssh "\$@"
EOF
chmod +x "$work/bin/ssh"

# --- labctl up -------------------------------------------------------------------
start=$(now)
PATH=$work/bin:$PATH "$labctl" -q -C "$work" up
up_time=$(elapsed "$start" "$(now)")
up_logins=$(logins)
commands=$(wc -l <"$work/ssh-commands")
cp "$work/ssh-commands" "$work/up-commands"

start=$(now)
PATH=$work/bin:$PATH "$labctl" -q -C "$work" up
again_time=$(elapsed "$start" "$(now)")
again_logins=$(($(logins) - up_logins))
again_commands=$(($(wc -l <"$work/ssh-commands") - commands))

# --- the naive way: the same commands, each a fresh login ------------------------------
start=$(now)
for ip in "${ips[@]}"; do
  (
    for _ in $(seq "$(grep -cx "$ip" "$work/up-commands")"); do
      ssh -o BatchMode=yes -o UserKnownHostsFile="$work/known_hosts" -o ControlPath=none -i "$work/id_ed25519" \
        -l labctl "$ip" 'sudo -n true'
    done
  ) &
done
wait
naive_time=$(elapsed "$start" "$(now)")

echo "labctl up on 4 machines with Docker:  ${up_time}s, $commands ssh commands, $up_logins ssh logins"
echo "labctl up again (no changes):         ${again_time}s, $again_commands ssh commands, $again_logins new logins"
echo "the first up's commands as fresh logins (logins only, no work): ${naive_time}s"
