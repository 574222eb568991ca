#!/usr/bin/env bash
# Benchmark of the docker provider (not a test): cold `labctl up` to all
# nodes Ready against a minimal shell script doing the same work (start 4
# nodes in parallel, wait for dockerd, init, join in parallel, wait until
# Ready), in the same run; then a full cold up (registry and labs too), a
# no-op up on the healthy cluster, and destroy.
#
# Usage (as root, Docker running, offline images built):
#   bash scripts/test-images && bash bench/up.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-3}
node_image=${LABCTL_BENCH_NODE_IMAGE:-labctl-test/node:bookworm}
registry_image=${LABCTL_BENCH_REGISTRY_IMAGE:-labctl-test/registry:2}
cluster="labctl-bench"
subnet=192.168.56.0/24

cargo build --release --quiet
labctl=$PWD/target/release/labctl
work=$(mktemp -d)
trap 'rm -rf "$work"; cleanup_floor; "$labctl" -q -C "$work" destroy --yes 2>/dev/null || true' EXIT
mkdir -p "$work/ready" "$work/full"

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# --- the floor: the same work as a minimal script ----------------------------
nodes=(manager node1 node2 node3)
ips=(192.168.56.10 192.168.56.11 192.168.56.12 192.168.56.13)
caps=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined
  --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' -v /sys/fs/cgroup:/sys/fs/cgroup:rw)

cleanup_floor() {
  docker rm -f -v "${nodes[@]/#/floor-}" >/dev/null 2>&1 || true
  docker network rm floor >/dev/null 2>&1 || true
}

floor() {
  docker network create --subnet "$subnet" floor >/dev/null
  for i in 0 1 2 3; do
    docker run -d --name "floor-${nodes[$i]}" --hostname "${nodes[$i]}" --network floor --ip "${ips[$i]}" \
      --network-alias "${nodes[$i]}" "${caps[@]}" "$node_image" dockerd --insecure-registry manager:5000 >/dev/null &
  done
  wait
  for node in "${nodes[@]}"; do
    docker exec "floor-$node" sh -c 'until docker info >/dev/null 2>&1; do sleep 0.1; done' &
  done
  wait
  docker exec floor-manager docker swarm init --advertise-addr 192.168.56.10 --listen-addr 192.168.56.10:2377 >/dev/null
  token=$(docker exec floor-manager docker swarm join-token -q worker)
  for i in 1 2 3; do
    docker exec "floor-${nodes[$i]}" docker swarm join --token "$token" --advertise-addr "${ips[$i]}" \
      --listen-addr "${ips[$i]}:2377" 192.168.56.10:2377 >/dev/null &
  done
  wait
  until [ "$(docker exec floor-manager docker node ls --format '{{.Status}}' | grep -c Ready)" = 4 ]; do sleep 0.1; done
}

config() {
  cat <<TOML
[cluster]
name = "$cluster"
provider = "docker"
[[forward]]
host = 49200
guest = 9000
[registry]
enabled = $1
image = "$registry_image"
[labs]
seed = $2
[docker]
node_image = "$node_image"
TOML
}
config false '[]' > "$work/ready/labctl.toml"
config true '["lab1", "lab2", "lab3", "lab4", "visualizer"]' > "$work/full/labctl.toml"

results=()
for round in $(seq "$rounds"); do
  cleanup_floor
  start=$(now); floor; floor_time=$(elapsed "$start" "$(now)")
  cleanup_floor

  start=$(now); "$labctl" -q -C "$work/ready" up; ready_time=$(elapsed "$start" "$(now)")
  "$labctl" -q -C "$work/ready" destroy --yes

  start=$(now); "$labctl" -q -C "$work/full" up; full_time=$(elapsed "$start" "$(now)")
  start=$(now); "$labctl" -q -C "$work/full" up; noop_time=$(elapsed "$start" "$(now)")
  start=$(now); "$labctl" -q -C "$work/full" destroy --yes; destroy_time=$(elapsed "$start" "$(now)")

  ratio=$(awk -v a="$ready_time" -v b="$floor_time" 'BEGIN { printf "%.2f", a / b }')
  results+=("$round $floor_time $ready_time $ratio $full_time $noop_time $destroy_time")
done

printf '%-6s %-9s %-14s %-6s %-14s %-9s %-9s\n' round floor "labctl-ready" ratio "full-up" "no-op-up" destroy
for line in "${results[@]}"; do
  # shellcheck disable=SC2086 # word splitting is the point
  printf '%-6s %-9s %-14s %-6s %-14s %-9s %-9s\n' $line
done
# One round is noisy on a busy host: the whole run's ratio (every round's
# labctl time over every round's floor) and the median round's.
median=$(printf '%s\n' "${results[@]}" | awk '{ print $4 }' | sort -n |
  awk '{ r[NR] = $1 } END { print (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }')
printf '%s\n' "${results[@]}" | awk -v median="$median" '
  { floor += $2; ready += $3 }
  END { printf "all rounds: floor %.2f s, labctl %.2f s, ratio %.2f; median round ratio %.2f\n", floor, ready, ready / floor, median }'
