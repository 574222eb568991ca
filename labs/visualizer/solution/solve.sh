#!/bin/sh
# Reference solution of the visualizer lab. Instructor only: never seeded.
#
# `labctl solve visualizer` runs it on the manager as root, in the lab
# directory (/root/work/visualizer). It deploys visualizer.yml as the stack
# visualizer and does not wait for the task: `labctl check visualizer` does.
# Running it twice is harmless.
set -eu

lab=visualizer

# say, fail, quietly, need_network and deploy come from labctl.
# shellcheck source=/dev/null
. "${LABCTL_SOLVE_LIB:?run this with labctl solve}"

[ -f visualizer.yml ] || fail "$PWD/visualizer.yml is missing; \`labctl reset $lab\` restores it"

deploy visualizer.yml visualizer
say "done; \`labctl check $lab\` waits for the page on the manager's port 9000 (host localhost:49000)"
