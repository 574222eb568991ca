#!/bin/sh
# Reference solution of lab5 (heal). Instructor only: never seeded.
#
# `labctl solve lab5` runs it on the manager as root, in the lab directory
# (/root/work/heal), with LABCTL_REGISTRY set to the registry address. It
# needs lab 1's simple-web image: it uses the one in the registry, else builds
# and pushes it from lab 1's folder. It deploys heal.yml as the stack heal,
# waits (bounded) for its 3 tasks, drains the last worker so that the swarm
# starts that worker's task elsewhere, waits again, and makes the worker
# active. Running it twice is harmless.
set -eu

lab=lab5
registry=${LABCTL_REGISTRY:-manager:5000}
image=$registry/example/simple-web

# say, fail, quietly, need_network and deploy come from labctl.
# shellcheck source=/dev/null
. "${LABCTL_SOLVE_LIB:?run this with labctl solve}"

[ -f heal.yml ] || fail "$PWD/heal.yml is missing; \`labctl reset $lab\` restores it"

if docker pull "$image" >/dev/null 2>&1; then
    say "using $image from the registry (lab 1)"
else
    lab1=$(dirname "$PWD")/ingress/simple-web
    [ -f "$lab1/Dockerfile" ] || fail "this lab runs lab 1's image simple-web, but there is neither $image in the registry nor lab 1's folder ($lab1): run lab 1 first (\`labctl solve lab1\`)"
    say "building simple-web from $lab1 (lab 1)"
    quietly docker build -t simple-web "$lab1"
    docker tag simple-web "$image"
    quietly docker push "$image"
fi

need_network ch05
deploy heal.yml heal

# All 3 tasks running (the Replicas column of `docker service ls` says 3/3).
wait_for_three() {
    i=0
    while [ "$(docker service ls --filter name=heal_web --format '{{.Replicas}}')" != "3/3" ]; do
        i=$((i + 1))
        [ "$i" -le 90 ] || fail "heal_web did not reach 3/3 in 180 s: see \`docker service ps --no-trunc heal_web\`"
        sleep 2
    done
}

wait_for_three
worker=$(docker node ls --filter role=worker --format '{{.Hostname}}' | sort | tail -n 1)
[ -n "$worker" ] || fail "the swarm has no worker to drain"
say "draining $worker: the swarm moves its task to another worker"
docker node update --availability drain "$worker" >/dev/null
# The drained worker's task is shut down and replaced.
i=0
until [ -n "$(docker service ps --quiet --filter desired-state=shutdown heal_web)" ]; do
    i=$((i + 1))
    [ "$i" -le 30 ] || break
    sleep 1
done
wait_for_three
docker node update --availability active "$worker" >/dev/null
say "done; $worker is active again"
