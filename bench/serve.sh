#!/usr/bin/env bash
# Benchmark of `labctl serve` (not a test): TERMINALS terminals (30 by
# default) open at once on a class of docker-provider seats (6 a seat, the
# most a seat may hold), each typing one key at a time at a person's pace
# (about 7 keys a second), side by side with the hand-rolled floor in the
# same run: the same number of `docker exec -it NODE bash` in pseudo-terminals
# of one process, with no server between. For each: every key's echo time
# (median, p99, max), and the memory each terminal costs: the server's own
# (its resident memory with the terminals open, less before) and its shells'
# clients' (`docker exec`), which the hand-rolled way has too. The load is
# `examples/serve_load.rs`.
#
# Usage (as root, Docker running, offline images built; shares Docker with
# the e2e tests, so it takes their lock):
#   bash scripts/test-images && flock /tmp/labctl-e2e.lock bash bench/serve.sh [TERMINALS]
set -euo pipefail
cd "$(dirname "$0")/.."

terminals=${1:-30}
keys=${LABCTL_BENCH_KEYS:-100}
seats=$(( (terminals + 5) / 6 ))
node_image=${LABCTL_BENCH_NODE_IMAGE:-labctl-test/node:bookworm}
class="labctl-bench-serve"
port=28830

cargo build --release --quiet --bin labctl --example serve_load
labctl=$PWD/target/release/labctl
load=$PWD/target/release/examples/serve_load
work=$(mktemp -d)
server=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  "$labctl" -q -C "$work" destroy --seat all --yes >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/labctl.toml" <<TOML
[cluster]
name = "$class"
provider = "docker"
subnet = "10.82.0.0/24"
manager_ip = "10.82.0.10"
worker_ip_start = "10.82.0.11"
workers = 1
[registry]
enabled = false
[labs]
seed = []
[docker]
node_image = "$node_image"
[class]
seats = $seats
ssh_port_base = 2480
ssh_bind = "127.0.0.1"
web_port = $port
access = "key"
[cache]
enabled = false
TOML

echo "cores: $(nproc), $terminals terminals on $seats seats, $keys keys each"
"$labctl" -q -C "$work" up --seat all
"$labctl" -C "$work" serve >/dev/null 2>&1 &
server=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done
secrets=()
containers=()
for seat in $(seq 1 "$seats"); do
  label=$(printf 's%02d' "$seat")
  secrets+=(--secret-file "$work/.labctl/access/$label/link")
  containers+=(--container "$class-$label-manager")
done

ws=$("$load" --terminals "$terminals" --keys "$keys" ws --url "ws://127.0.0.1:$port/ws/terminal" --pid "$server" "${secrets[@]}")
pty=$("$load" --terminals "$terminals" --keys "$keys" pty "${containers[@]}")
echo "$ws"
echo "$pty"
figure() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
awk -v a="$(figure echo_median_ms "$ws")" -v b="$(figure echo_median_ms "$pty")" \
  -v c="$(figure echo_p99_ms "$ws")" -v d="$(figure echo_p99_ms "$pty")" \
  'BEGIN { printf "echo median: labctl serve %.1f ms, hand-rolled %.1f ms; p99: %.1f ms against %.1f ms\n", a, b, c, d }'
echo "memory per terminal: labctl serve $(figure server_kib_per_terminal "$ws") KiB in the server + $(figure clients_kib_per_terminal "$ws") KiB of docker exec; hand-rolled $(figure clients_kib_per_terminal "$pty") KiB of docker exec"
