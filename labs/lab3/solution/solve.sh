#!/bin/sh
# Reference solution of lab3 (db, the todoapp database). Instructor only:
# never seeded.
#
# `labctl solve lab3` runs it on the manager as root, in the lab directory
# (/root/work/db), with LABCTL_REGISTRY set to the registry address
# (manager:5000). It builds tododb, tags and pushes it, and deploys the stack
# todo_mysql (one master, two slaves). It does not wait for the tasks, and so
# leaves the last handout step (loading sql/02_dml.sql into the master once
# the slaves replicate) to the class: it prints the command. Running it twice
# is harmless; a redeploy of an unchanged stack restarts no task.
set -eu

lab=lab3
registry=${LABCTL_REGISTRY:-manager:5000}
image=$registry/example/tododb

# say, fail, quietly, need_network and deploy come from labctl.
# shellcheck source=/dev/null
. "${LABCTL_SOLVE_LIB:?run this with labctl solve}"

for file in Dockerfile add-server-id.sh prepare.sh init-data.sh \
    etc/mysql/conf.d/mysql.cnf etc/mysql/mysql.conf.d/mysqld.cnf \
    sql/01_ddl.sql sql/02_dml.sql todo-mysql.yml; do
    [ -f "$file" ] || fail "$PWD/$file is missing; \`labctl reset $lab\` restores the lab files"
done

need_network todoapp

say "building the image tododb"
quietly docker build -t tododb .
docker tag tododb "$image"
say "pushing $image"
quietly docker push "$image"

deploy todo-mysql.yml todo_mysql
say "done; \`labctl check $lab\` waits for the master, 2 slaves and replication"
say "then load the sample rows into the master (handout step 6):"
say "  docker run --rm --network todoapp -e MYSQL_HOST=todo_mysql_master -e MYSQL_ROOT_PASSWORD=gihyo $image init-data.sh"
