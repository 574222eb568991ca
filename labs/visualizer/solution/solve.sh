#!/bin/sh
# Reference solution of the visualizer lab. Instructor only: never seeded.
#
# `labctl solve visualizer` runs it on the manager as root, in the lab
# directory (/root/work/visualizer). It deploys visualizer.yml as the stack
# visualizer and does not wait for the task: `labctl check visualizer` does.
# Running it twice is harmless.
set -eu

lab=visualizer

say() { printf 'solve %s: %s\n' "$lab" "$*"; }
fail() {
    printf 'solve %s: error: %s\n' "$lab" "$*" >&2
    exit 1
}

# Deploys without waiting for convergence (newer CLIs can wait; be explicit).
deploy() {
    say "deploying $1 as the stack $2"
    if docker stack deploy --help 2>/dev/null | grep -q -e '--detach'; then
        docker stack deploy --detach=true -c "$1" "$2"
    else
        docker stack deploy -c "$1" "$2"
    fi
}

[ -f visualizer.yml ] || fail "$PWD/visualizer.yml is missing; \`labctl reset $lab\` restores it"

deploy visualizer.yml visualizer
say "done; \`labctl check $lab\` waits for the page on the manager's port 9000 (host localhost:49000)"
