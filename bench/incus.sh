#!/usr/bin/env bash
# Benchmark (not a test): the incus provider against the docker provider on
# this host, side by side in the same run, every seat the same (the node
# image labctl-test/node:bookworm, the class registry, the visualizer lab,
# its image preloaded from this host):
#   1. cold `labctl up` of one seat of the handout's size (a manager and
#      three workers), destroyed between rounds (medians of ROUNDS);
#   2. idle memory per node: the PSS of every process of the node (its pid
#      namespace), the same measure on both (as bench/rootless.sh);
#   3. cold `labctl up --seat all` of a class of 5 such seats (20 nodes);
#   4. the gradebook, `check visualizer --seat all`, at 10 seats of 2 nodes
#      with the lab deployed (solve first).
# Incus as scripts/test-incus leaves it (incusd running, pool `default`), or
# LABCTL_BENCH_INCUS_POOL=NAME for another pool.
#
# Usage (as root, Docker and Incus running, offline images built; shares
# Docker with the e2e tests, so it takes their lock):
#   bash scripts/test-images && bash scripts/test-lab-images && bash scripts/test-incus &&
#     flock /tmp/labctl-e2e.lock bash bench/incus.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-2}
node_image=${LABCTL_BENCH_NODE_IMAGE:-labctl-test/node:bookworm}
registry_image=${LABCTL_BENCH_REGISTRY_IMAGE:-labctl-test/registry:2}
# The Incus storage pool of the nodes' disks: `dir` copies the image for
# each node, btrfs or zfs snapshot it (`incus storage create NAME btrfs`).
pool=${LABCTL_BENCH_INCUS_POOL:-default}
sides=(docker incus)

cargo build --release --quiet --bin labctl
labctl=$PWD/target/release/labctl
work=$(mktemp -d)
cleanup() {
  local dir
  for dir in "$work"/*/; do
    [ -f "$dir/labctl.toml" ] && "$labctl" -q -C "$dir" destroy --seat all --yes >/dev/null 2>&1
  done
  rm -rf "$work"
}
trap cleanup EXIT

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", b / a }'; }

# config NAME PROVIDER OCTET WORKERS SEATS
config() {
  cat <<TOML
[cluster]
name = "labctl-bench-$1"
provider = "$2"
subnet = "10.$3.0.0/24"
manager_ip = "10.$3.0.10"
worker_ip_start = "10.$3.0.11"
workers = $4
[registry]
image = "$registry_image"
[labs]
seed = ["visualizer"]
[images]
preload = true
[docker]
node_image = "$node_image"
[incus]
storage_pool = "$pool"
[cache]
enabled = false
TOML
  if [ "$5" -gt 1 ]; then
    printf '[class]\nseats = %s\naccess = "none"\n' "$5"
  fi
}

# workspace NAME PROVIDER OCTET WORKERS SEATS: a folder with that labctl.toml.
workspace() {
  mkdir -p "$work/$1"
  config "$@" >"$work/$1/labctl.toml"
  echo "$work/$1"
}

# node_pid SIDE CLUSTER NODE
node_pid() {
  case $1 in
    docker) docker inspect --format '{{.State.Pid}}' "$2-$3" ;;
    incus) incus query "/1.0/instances/$2-$3/state?project=labctl-$2" | awk -F'[:,]' '/"pid"/ { gsub(/ /, "", $2); print $2; exit }' ;;
  esac
}

# idle_pss_mb SIDE CLUSTER: the mean PSS of the cluster's 4 nodes, in MiB.
idle_pss_mb() {
  local side=$1 cluster=$2 total=0 node pid ns kb proc
  for node in manager node1 node2 node3; do
    pid=$(node_pid "$side" "$cluster" "$node")
    ns=$(readlink "/proc/$pid/ns/pid")
    for proc in /proc/[0-9]*; do
      [ "$(readlink "$proc/ns/pid" 2>/dev/null)" = "$ns" ] || continue
      kb=$(awk '/^Pss:/ { print $2 }' "$proc/smaps_rollup" 2>/dev/null || echo 0)
      total=$((total + ${kb:-0}))
    done
  done
  awk -v kb="$total" 'BEGIN { printf "%.0f", kb / 4 / 1024 }'
}

echo "cores: $(nproc), node image $node_image, Incus $(incus version | sed -n 's/^Server version: //p'), pool $pool ($(incus storage list -f csv | awk -F, -v p="$pool" '$1 == p { print $2 }')), rounds: $rounds"
declare -A one pss octet
octet=(["docker"]=84 ["incus"]=85)
for round in $(seq "$rounds"); do
  for side in "${sides[@]}"; do
    dir=$(workspace "one-$side" "$side" "${octet[$side]}" 3 1)
    "$labctl" -q -C "$dir" destroy --yes >/dev/null 2>&1 || true
    started=$(now)
    "$labctl" -q -C "$dir" up >/dev/null
    one[$side]+="$(elapsed "$started" "$(now)") "
    sleep 10
    pss[$side]+="$(idle_pss_mb "$side" "labctl-bench-one-$side") "
    "$labctl" -q -C "$dir" destroy --yes >/dev/null
  done
  echo "round $round: cold up of one seat: docker $(awk '{ print $NF }' <<<"${one[docker]}") s, incus $(awk '{ print $NF }' <<<"${one[incus]}") s"
done

declare -A class grade
octet=(["docker"]=86 ["incus"]=87)
for side in "${sides[@]}"; do
  dir=$(workspace "class-$side" "$side" "${octet[$side]}" 3 5)
  started=$(now)
  "$labctl" -q -C "$dir" up --seat all >/dev/null
  class[$side]=$(elapsed "$started" "$(now)")
  "$labctl" -q -C "$dir" destroy --seat all --yes >/dev/null
  echo "cold up of 5 seats (20 nodes) on $side: ${class[$side]} s"
done

octet=(["docker"]=88 ["incus"]=89)
for side in "${sides[@]}"; do
  dir=$(workspace "grade-$side" "$side" "${octet[$side]}" 1 10)
  "$labctl" -q -C "$dir" up --seat all >/dev/null
  "$labctl" -q -C "$dir" solve visualizer --seat all >/dev/null
  sleep 15
  "$labctl" -q -C "$dir" check visualizer --seat all >/dev/null || true
  started=$(now)
  "$labctl" -q -C "$dir" check visualizer --seat all >/dev/null || true
  grade[$side]=$(elapsed "$started" "$(now)")
  "$labctl" -q -C "$dir" destroy --seat all --yes >/dev/null
  echo "gradebook at 10 seats (20 nodes) on $side: ${grade[$side]} s"
done

echo
printf '%-44s %10s %10s %8s\n' "" docker incus "incus/docker"
a=$(median <<<"${one[docker]}"); b=$(median <<<"${one[incus]}")
printf '%-44s %10s %10s %8s\n' "cold up, one seat of 4 nodes (s)" "$a" "$b" "$(ratio "$a" "$b")"
printf '%-44s %10s %10s %8s\n' "cold up, 5 seats of 4 nodes (s)" "${class[docker]}" "${class[incus]}" "$(ratio "${class[docker]}" "${class[incus]}")"
a=$(median <<<"${pss[docker]}"); b=$(median <<<"${pss[incus]}")
printf '%-44s %10s %10s %8s\n' "idle memory per node (PSS, MiB)" "$a" "$b" "$(ratio "$a" "$b")"
printf '%-44s %10s %10s %8s\n' "gradebook, 10 seats of 2 nodes (s)" "${grade[docker]}" "${grade[incus]}" "$(ratio "${grade[docker]}" "${grade[incus]}")"
