#!/usr/bin/env bash
# Benchmark of `labctl images load` over a class (not a test): one image
# (~360 MB, the offline node image under another name) into every node of 2
# seats (8 nodes), in the same run:
#   - one node alone (`docker save | docker exec -i NODE docker load`): the
#     unit of the unpack floor, floor = one node × nodes ÷ cores;
#   - the naive loop, `for node: docker save | docker exec -i node docker load`,
#     one node after the other;
#   - the naive loop with every node at once (`&`, then `wait`);
#   - `labctl images load --seat all` (saved once, cores-many nodes at once);
#   - the same with `[images] parallel = 8` (every node at once).
# Before each measurement the image is removed from every node.
#
# Usage (as root, Docker running, offline images built; shares Docker with
# the e2e tests, so it takes their lock):
#   bash scripts/test-images && flock /tmp/labctl-e2e.lock bash bench/images.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-2}
node_image=${LABCTL_BENCH_NODE_IMAGE:-labctl-test/node:bookworm}
payload="labctl-bench/payload:1"
class="labctl-bench-images"
cores=$(nproc)

cargo build --release --quiet
labctl=$PWD/target/release/labctl
work=$(mktemp -d)
cleanup() {
  "$labctl" -q -C "$work/bounded" destroy --seat all --yes 2>/dev/null || true
  docker image rm "$payload" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bounded" "$work/unbounded"

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

config() {
  cat <<TOML
[cluster]
name = "$class"
provider = "docker"
subnet = "10.69.0.0/24"
manager_ip = "10.69.0.10"
worker_ip_start = "10.69.0.11"
[[forward]]
host = 49160
guest = 9000
[registry]
enabled = false
[labs]
seed = []
[docker]
node_image = "$node_image"
[class]
seats = 2
access = "none"
[cache]
enabled = false
$1
TOML
}
config "" > "$work/bounded/labctl.toml"
config $'[images]\nparallel = 8' > "$work/unbounded/labctl.toml"

docker tag "$node_image" "$payload"
"$labctl" -q -C "$work/bounded" up --seat all
containers=()
for seat in s01 s02; do
  for node in manager node1 node2 node3; do containers+=("$class-$seat-$node"); done
done
nodes=${#containers[@]}

clear_nodes() {
  for container in "${containers[@]}"; do
    docker exec "$container" docker image rm "$payload" >/dev/null 2>&1 || true
  done
}
naive_one() { docker save "$payload" | docker exec -i "$1" docker load --quiet >/dev/null; }

results=()
for round in $(seq "$rounds"); do
  clear_nodes
  start=$(now); naive_one "${containers[0]}"; one=$(elapsed "$start" "$(now)")

  clear_nodes
  start=$(now)
  for container in "${containers[@]}"; do naive_one "$container"; done
  loop=$(elapsed "$start" "$(now)")

  clear_nodes
  start=$(now)
  for container in "${containers[@]}"; do naive_one "$container" & done
  wait
  at_once=$(elapsed "$start" "$(now)")

  clear_nodes
  start=$(now); "$labctl" -q -C "$work/bounded" images load --seat all "$payload"; bounded=$(elapsed "$start" "$(now)")

  clear_nodes
  start=$(now); "$labctl" -q -C "$work/unbounded" images load --seat all "$payload"; unbounded=$(elapsed "$start" "$(now)")

  floor=$(awk -v one="$one" -v n="$nodes" -v c="$cores" 'BEGIN { printf "%.1f", one * n / c }')
  ratio=$(awk -v a="$bounded" -v f="$floor" 'BEGIN { printf "%.2f", a / f }')
  results+=("$round $one $floor $loop $at_once $bounded $unbounded $ratio")
done

size=$(docker image inspect --format '{{.Size}}' "$payload" | awk '{ printf "%d MB", $1 / 1000000 }')
echo "$payload ($size) into $nodes nodes of 2 seats, $cores cores; seconds"
printf '%-6s %-9s %-7s %-11s %-14s %-15s %-17s %-12s\n' round one-node floor naive-loop naive-at-once "labctl(${cores})" "labctl(all ${nodes})" labctl/floor
for line in "${results[@]}"; do
  # shellcheck disable=SC2086 # word splitting is the point
  printf '%-6s %-9s %-7s %-11s %-14s %-15s %-17s %-12s\n' $line
done
