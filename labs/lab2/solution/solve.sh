#!/bin/sh
# Reference solution of lab2 (the work3 quiz). Instructor only: never seeded.
#
# `labctl solve lab2` runs it on the manager as root, in the lab directory
# (/root/work/work3), with LABCTL_REGISTRY set to the registry address
# (manager:5000) and LABCTL_SOLUTION_DIR set to a copy of this lab's
# instructor-only files. It builds my-web, tags and pushes it, and deploys
# the reference stack file solution/ch03-my-web.yml as the stack my-web,
# straight from LABCTL_SOLUTION_DIR: the answer is not written into the
# student's folder. It does not wait for the tasks to start: `labctl check
# lab2` does. Running it twice is harmless.
set -eu

lab=lab2
registry=${LABCTL_REGISTRY:-manager:5000}
image=$registry/example/my-web
solution_dir=${LABCTL_SOLUTION_DIR:?set LABCTL_SOLUTION_DIR to the folder holding solution/ch03-my-web.yml}
stack_file=$solution_dir/solution/ch03-my-web.yml

say() { printf 'solve %s: %s\n' "$lab" "$*"; }
fail() {
    printf 'solve %s: error: %s\n' "$lab" "$*" >&2
    exit 1
}

# Runs a chatty command; prints its output only when it fails.
quietly() {
    quiet_log=$(mktemp)
    if "$@" >"$quiet_log" 2>&1; then
        rm -f "$quiet_log"
    else
        quiet_status=$?
        cat "$quiet_log" >&2
        rm -f "$quiet_log"
        fail "\`$*\` failed with exit status $quiet_status"
    fi
}

# The stack declares the network external: create it only when it is missing.
need_network() {
    if ! docker network inspect "$1" >/dev/null 2>&1; then
        say "creating the overlay network $1"
        docker network create --driver=overlay --attachable "$1" >/dev/null
        return
    fi
    network_kind=$(docker network inspect --format '{{.Driver}} {{.Attachable}}' "$1")
    if [ "$network_kind" != "overlay true" ]; then
        fail "network $1 is \"$network_kind\", not an attachable overlay: remove its stacks, \`docker network rm $1\`, and run this again"
    fi
    say "network $1 is ready"
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

for file in Dockerfile index.html; do
    [ -f "$file" ] || fail "$PWD/$file is missing; \`labctl reset $lab\` restores the lab files"
done
[ -f "$stack_file" ] || fail "$stack_file is missing"

need_network ch03

say "building the image my-web"
quietly docker build -t my-web .
docker tag my-web "$image"
say "pushing $image"
quietly docker push "$image"

deploy "$stack_file" my-web
say "done; \`labctl check $lab\` waits for 4 api and 2 nginx tasks on the workers"
