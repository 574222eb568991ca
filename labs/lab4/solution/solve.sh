#!/bin/sh
# Reference solution of lab4 (ch04). Instructor only: never seeded.
#
# `labctl solve lab4` runs it on the manager as root, in the lab directory
# (/root/work/ch04), with LABCTL_REGISTRY set to the registry address
# (manager:5000). It needs lab 2's my-web image: it builds and pushes it
# again from lab 2's folder (/root/work/work3; the build cache makes this
# quick when lab 2 was done), or, without that folder, uses the image already
# in the registry. Then it deploys ch04-my-web.yml as the stack ch04. It does
# not wait for the tasks to start: `labctl check lab4` does. Running it twice
# is harmless.
set -eu

lab=lab4
registry=${LABCTL_REGISTRY:-manager:5000}
image=$registry/example/my-web

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

# Lab 2's folder on this node, one candidate a line: where labctl seeded it
# (its record of the seed names the target), else next to this lab, else the
# default location.
lab2_folders() {
    record=/var/lib/labctl/labs/lab2.json
    if [ -f "$record" ]; then
        sed -n 's/^[[:space:]]*"target":[[:space:]]*"\([^"]*\)".*/\1/p' "$record"
    fi
    echo "$(dirname "$PWD")/work3"
    echo /root/work/work3
}

[ -f ch04-my-web.yml ] || fail "$PWD/ch04-my-web.yml is missing; \`labctl reset $lab\` restores it"

work3=
candidates=$(lab2_folders)
set -f
saved_ifs=$IFS
IFS='
'
for candidate in $candidates; do
    if [ -f "$candidate/Dockerfile" ] && [ -f "$candidate/index.html" ]; then
        work3=$candidate
        break
    fi
done
IFS=$saved_ifs
set +f

if [ -n "$work3" ]; then
    say "building the image my-web from $work3 (lab 2)"
    quietly docker build -t my-web "$work3"
    docker tag my-web "$image"
    say "pushing $image"
    quietly docker push "$image"
elif docker pull "$image" >/dev/null 2>&1; then
    say "lab 2's folder is missing; using $image from the registry"
else
    fail "this lab deploys lab 2's image my-web, but there is neither lab 2's folder ($(dirname "$PWD")/work3) nor $image in the registry: run lab 2 first (\`labctl solve lab2\` builds and pushes my-web), then run this again"
fi

need_network ch04

deploy ch04-my-web.yml ch04
say "done; \`labctl check $lab\` waits for 3 api and 3 nginx tasks on the workers"
