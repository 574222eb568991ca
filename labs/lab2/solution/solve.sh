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

# say, fail, quietly, need_network and deploy come from labctl.
# shellcheck source=/dev/null
. "${LABCTL_SOLVE_LIB:?run this with labctl solve}"

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
