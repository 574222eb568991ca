#!/usr/bin/env bash
# Benchmark of a class on the docker provider (not a test), every figure side
# by side with a naive shell script doing the same work in the same run:
#   1. cold up to all-Ready of 5 and 10 seats (20 and 40 nodes): `labctl up
#      --seat all` (bounded concurrency) against a script that starts every
#      node at once, waits for every dockerd, inits and joins each seat;
#   2. memory of an idle node and of a seat;
#   3. `labctl status` (class status) and `check LAB --seat all` at the last
#      seat count.
# Images into every node of a class: bench/images.sh.
#
# Usage (as root, Docker running, offline images built; shares Docker with
# the e2e tests, so it takes their lock):
#   bash scripts/test-images && flock /tmp/labctl-e2e.lock bash bench/class.sh [SEATS...]
set -euo pipefail
cd "$(dirname "$0")/.."

seat_counts=("${@:-5 10}")
# shellcheck disable=SC2206 # the counts are words
seat_counts=(${seat_counts[*]})
node_image=${LABCTL_BENCH_NODE_IMAGE:-labctl-test/node:bookworm}
class="labctl-bench-class"
cores=$(nproc)

cargo build --release --quiet
labctl=$PWD/target/release/labctl
work=$(mktemp -d)
cleanup() {
  cleanup_naive
  "$labctl" -q -C "$work" destroy --seat all --yes 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now() { echo "$EPOCHREALTIME"; }
# CPU seconds this host's cores spent busy so far (user, nice, system, irq, softirq).
busy() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.1f", ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat; }
spent() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

nodes=(manager node1 node2 node3)
caps=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined
  --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' -v /sys/fs/cgroup:/sys/fs/cgroup:rw)

# --- the naive script: every node of every seat at once --------------------
naive_seats=0
cleanup_naive() {
  local seat
  for seat in $(seq 1 "$naive_seats"); do
    docker rm -f -v "${nodes[@]/#/naive$seat-}" >/dev/null 2>&1 || true
    docker network rm "naive$seat" >/dev/null 2>&1 || true
  done
}

naive_up() {
  local seats=$1 seat i
  naive_seats=$seats
  for seat in $(seq 1 "$seats"); do
    docker network create --subnet "10.81.$seat.0/24" "naive$seat" >/dev/null
    for i in 0 1 2 3; do
      docker run -d --name "naive$seat-${nodes[$i]}" --hostname "${nodes[$i]}" --network "naive$seat" \
        --ip "10.81.$seat.1$i" "${caps[@]}" "$node_image" dockerd >/dev/null &
    done
  done
  wait
  for seat in $(seq 1 "$seats"); do
    for node in "${nodes[@]}"; do
      docker exec "naive$seat-$node" sh -c 'until docker info >/dev/null 2>&1; do sleep 0.2; done' &
    done
  done
  wait
  for seat in $(seq 1 "$seats"); do
    (
      docker exec "naive$seat-manager" docker swarm init --advertise-addr "10.81.$seat.10" >/dev/null
      token=$(docker exec "naive$seat-manager" docker swarm join-token -q worker)
      for i in 1 2 3; do
        docker exec "naive$seat-${nodes[$i]}" docker swarm join --token "$token" "10.81.$seat.10:2377" >/dev/null &
      done
      wait
      until [ "$(docker exec "naive$seat-manager" docker node ls --format '{{.Status}}' | grep -c Ready)" = 4 ]; do
        sleep 0.2
      done
    ) &
  done
  wait
}

config() {
  cat <<TOML
[cluster]
name = "$class"
provider = "docker"
subnet = "10.80.0.0/24"
manager_ip = "10.80.0.10"
worker_ip_start = "10.80.0.11"
[registry]
enabled = false
[labs]
seed = []
[docker]
node_image = "$node_image"
[class]
seats = $1
access = "none"
[cache]
enabled = false
TOML
}

printf '%s\n' "cores: $cores, node image: $node_image"
echo
echo "1. cold up to all-Ready"
echo "(cpu: seconds the host's $cores cores were busy meanwhile; both saturate them)"
printf '%-6s %-6s %-10s %-10s %-6s %-10s %-10s\n' seats nodes naive labctl ratio "naive cpu" "labctl cpu"
for seats in "${seat_counts[@]}"; do
  cpu=$(busy); start=$(now); naive_up "$seats"; naive_time=$(elapsed "$start" "$(now)"); naive_cpu=$(spent "$cpu" "$(busy)")
  cleanup_naive
  # A cold up each time: the previous count's seats go first.
  [ -f "$work/labctl.toml" ] && "$labctl" -q -C "$work" destroy --seat all --yes
  config "$seats" > "$work/labctl.toml"
  cpu=$(busy); start=$(now); "$labctl" -q -C "$work" up --seat all; labctl_time=$(elapsed "$start" "$(now)")
  labctl_cpu=$(spent "$cpu" "$(busy)")
  printf '%-6s %-6s %-10s %-10s %-6s %-10s %-10s\n' "$seats" $((seats * 4)) "${naive_time}s" "${labctl_time}s" \
    "$(ratio "$labctl_time" "$naive_time")" "${naive_cpu}s" "${labctl_cpu}s"
  last_seats=$seats
done

echo
echo "2. memory when idle (after 20 s)"
sleep 20
docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' | awk -v class="$class-s" '
  index($1, class) == 1 {
    split($2, used, /[A-Za-z]+/); unit = $2; gsub(/[0-9.]/, "", unit)
    mib = used[1] * (unit == "GiB" ? 1024 : (unit == "KiB" ? 1 / 1024 : 1))
    total += mib; count++
  }
  END { if (count) printf "%d nodes: %.0f MiB per node, %.0f MiB per seat of 4 nodes\n", count, total / count, 4 * total / count }'

echo
echo "3. reading the class at $last_seats seats"
start=$(now); "$labctl" -q -C "$work" status >/dev/null || true; status_time=$(elapsed "$start" "$(now)")
start=$(now); "$labctl" -q -C "$work" check lab4 --seat all >/dev/null || true; check_time=$(elapsed "$start" "$(now)")
echo "class status: ${status_time}s, check lab4 --seat all: ${check_time}s"

