#!/bin/bash
# prepare.sh: the tododb image's ENTRYPOINT.
#
# At every container start it first sets this server's server-id
# (add-server-id.sh), then hands over to the stock mysql entrypoint, which
# initialises an empty data directory (running /docker-entrypoint-initdb.d)
# and starts mysqld. A task's address can change whenever swarm reschedules
# it, so the id is computed on every start, not once at build time.
set -eu

# Only when the container is going to run the server: `docker run ... tododb
# mysql -h ...` (a client) needs no server-id and may have no network.
case "${1:-}" in
    mysqld | -*) /usr/local/bin/add-server-id.sh ;;
esac

exec docker-entrypoint.sh "$@"
