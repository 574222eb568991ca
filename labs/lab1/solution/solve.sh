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

# say, fail, quietly, need_network and deploy come from labctl.
# shellcheck source=/dev/null
. "${LABCTL_SOLVE_LIB:?run this with labctl solve}"

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
