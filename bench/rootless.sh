#!/usr/bin/env bash
# Benchmark (not a test): one seat on a rootless engine against the same
# seat on this host's rootful engine, in the same run, round after round:
#   - cold `labctl up` of a 4-node seat (swarm Ready, registry, the
#     visualizer lab seeded), destroyed between rounds;
#   - `labctl images load` of one lab image into its 4 nodes;
#   - idle memory per node: the PSS of every process of the node (its
#     pid namespace), the same measure on both engines (a rootless engine
#     on cgroup v1 has no cgroup to read).
# The rootless engine is made by `labctl class engine` (user
# labctl-bench-rootless) and removed at the end.
#
# Usage (as root, Docker running, offline images built):
#   bash scripts/test-images && bash scripts/test-lab-images && bash bench/rootless.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-3}
node_image=${LABCTL_BENCH_NODE_IMAGE:-labctl-test/node:bookworm}
registry_image=${LABCTL_BENCH_REGISTRY_IMAGE:-labctl-test/registry:2}
lab_image=dockersamples/visualizer:latest
user="labctl-bench-rootless"

cargo build --release --quiet
labctl=$PWD/target/release/labctl
work=$(mktemp -d)
cleanup() {
  for side in rootful rootless; do
    if [ -f "$work/$side/labctl.toml" ]; then
      "$labctl" -q -C "$work/$side" destroy --yes >/dev/null 2>&1 || true
    fi
  done
  "$labctl" -q -C "$work" class engine --user "$user" --remove >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/rootful" "$work/rootless"

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

started=$(now)
host=$("$labctl" -C "$work" class engine --user "$user" 2>&1 | sed -n 's/.* answers at \(unix:[^ ]*\).*/\1/p')
[ -n "$host" ] || { echo "bench/rootless.sh: the rootless engine did not start" >&2; exit 1; }
echo "rootless engine at $host (made in $(elapsed "$started" "$(now)") s)"
for image in "$node_image" "$registry_image" "$lab_image"; do
  docker --host "$host" image inspect "$image" >/dev/null 2>&1 || docker save "$image" | docker --host "$host" load -q >/dev/null
done

config() {
  cat <<TOML
[cluster]
name = "labctl-bench-$1"
provider = "docker"
subnet = "$2"
manager_ip = "${2%.0/24}.10"
worker_ip_start = "${2%.0/24}.11"
[[forward]]
host = $3
guest = 9000
[registry]
image = "$registry_image"
[labs]
seed = ["visualizer"]
[docker]
node_image = "$node_image"
[cache]
enabled = false
TOML
  if [ "$1" = rootless ]; then
    printf '[[class.engines]]\nname = "rootless"\nhost = "%s"\nseats = 1\n' "$host"
  fi
}
config rootful 10.78.0.0/24 49210 >"$work/rootful/labctl.toml"
config rootless 10.78.1.0/24 49211 >"$work/rootless/labctl.toml"

# idle_pss_mb SIDE: the mean PSS of the seat's nodes, in MiB.
idle_pss_mb() {
  local side=$1 total=0 node pid ns kb
  for node in manager node1 node2 node3; do
    if [ "$side" = rootless ]; then
      pid=$(docker --host "$host" inspect --format '{{.State.Pid}}' "labctl-bench-$side-$node")
    else
      pid=$(docker inspect --format '{{.State.Pid}}' "labctl-bench-$side-$node")
    fi
    ns=$(readlink "/proc/$pid/ns/pid")
    for proc in /proc/[0-9]*; do
      [ "$(readlink "$proc/ns/pid" 2>/dev/null)" = "$ns" ] || continue
      kb=$(awk '/^Pss:/ { print $2 }' "$proc/smaps_rollup" 2>/dev/null || echo 0)
      total=$((total + ${kb:-0}))
    done
  done
  awk -v kb="$total" 'BEGIN { printf "%.0f", kb / 4 / 1024 }'
}

declare -A up load pss
for round in $(seq "$rounds"); do
  for side in rootful rootless; do
    "$labctl" -q -C "$work/$side" destroy --yes >/dev/null 2>&1 || true
    started=$(now)
    "$labctl" -q -C "$work/$side" up >/dev/null
    up[$side]+="$(elapsed "$started" "$(now)") "
    started=$(now)
    "$labctl" -q -C "$work/$side" images load "$lab_image" >/dev/null
    load[$side]+="$(elapsed "$started" "$(now)") "
    sleep 5
    pss[$side]+="$(idle_pss_mb "$side") "
  done
  last() { awk '{ print $NF }' <<<"$1"; }
  echo "round $round: cold up rootful $(last "${up[rootful]}") s, rootless $(last "${up[rootless]}") s"
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo
echo "rounds: $rounds (the same seat, 4 nodes, registry and the visualizer lab; medians)"
printf '%-36s %10s %10s %8s\n' "" rootful rootless ratio
for measure in up load; do
  declare -n values=$measure
  a=$(median <<<"${values[rootful]}")
  b=$(median <<<"${values[rootless]}")
  label=$([ "$measure" = up ] && echo "cold up of one seat (s)" || echo "images load, 1 image x 4 nodes (s)")
  printf '%-36s %10s %10s %7.2fx\n' "$label" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { print b / a }')"
done
a=$(median <<<"${pss[rootful]}")
b=$(median <<<"${pss[rootless]}")
printf '%-36s %10s %10s %7.2fx\n' "idle memory per node (PSS, MiB)" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN { print b / a }')"
