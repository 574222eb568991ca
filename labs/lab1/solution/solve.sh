#!/bin/sh
# Reference solution of lab1 (ingress). Instructor only: never seeded.
#
# `labctl solve lab1` runs it on the manager as root, in the lab directory
# (/root/work/ingress), with LABCTL_REGISTRY set to the registry address
# (manager:5000). It does what the handout asks: build simple-web, tag it,
# push it, deploy the stack simple-web. It does not wait for the tasks to
# start: `labctl check lab1` does. Running it twice is harmless.
set -eu

lab=lab1
registry=${LABCTL_REGISTRY:-manager:5000}
image=$registry/example/simple-web

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

for file in simple-web/Dockerfile simple-web/hello.js ch03-webapi.yml; do
    [ -f "$file" ] || fail "$PWD/$file is missing; \`labctl reset $lab\` restores the lab files"
done

need_network ch03

say "building the image simple-web"
quietly docker build -t simple-web simple-web
docker tag simple-web "$image"
say "pushing $image"
quietly docker push "$image"

deploy ch03-webapi.yml simple-web
say "done; \`labctl check $lab\` waits for 3 api and 3 nginx tasks on the workers"
