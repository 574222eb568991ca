#!/bin/sh
# Reference solution of lab4 (ch04). Instructor only: never seeded.
#
# `labctl solve lab4` runs it on the manager as root, in the lab directory
# (/root/work/ch04), with LABCTL_REGISTRY set to the registry address
# (manager:5000). It needs lab 2's my-web image: it builds and pushes it
# again from lab 2's folder (/root/work/work3; the build cache makes this
# quick when lab 2 was done), or, without that folder, uses the image already
# in the registry. Then it deploys the reference stack file (the instructor's
# ch04-my-web.yml, uploaded with this script; the student's own file in the
# lab folder is left as it is) as the stack ch04. It does not wait for the
# tasks to start: `labctl check lab4` does. Running it twice is harmless.
set -eu

lab=lab4
registry=${LABCTL_REGISTRY:-manager:5000}
image=$registry/example/my-web

# say, fail, quietly, need_network and deploy come from labctl.
# shellcheck source=/dev/null
. "${LABCTL_SOLVE_LIB:?run this with labctl solve}"

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

solution=${LABCTL_SOLUTION_DIR:?run this with labctl solve}/solution/ch04-my-web.yml
[ -f "$solution" ] || fail "the reference stack file $solution was not uploaded"

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

deploy "$solution" ch04
say "done; \`labctl check $lab\` waits for 3 api and 3 nginx tasks on the workers"
