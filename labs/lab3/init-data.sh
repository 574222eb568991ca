#!/bin/bash
# init-data.sh: load the SQL files of /sql (the schema, then the sample rows)
# into the master, by hand, once the slaves replicate: the slaves receive the
# rows through replication. (Loaded before a slave started, rows would never
# reach it: a slave replicates from the master's position at its start.)
#
# Inside the master's container, on the node that runs it:
#   docker exec -i <master container> init-data.sh
# From the manager, in a throwaway container of the same image on todoapp:
#   docker run --rm --network todoapp -e MYSQL_HOST=todo_mysql_master \
#     -e MYSQL_ROOT_PASSWORD=gihyo manager:5000/example/tododb init-data.sh
#
# Environment:
#   MYSQL_ROOT_PASSWORD   the master's root password (required)
#   MYSQL_HOST            the master's address; unset: this container's server
#   MYSQL_DATABASE        default tododb
set -eu

log() {
    echo "init-data.sh: $*"
}

database=${MYSQL_DATABASE:-tododb}
client=(mysql --user=root --default-character-set=utf8mb4)
if [ -n "${MYSQL_HOST:-}" ]; then
    client+=(--protocol=tcp --host="$MYSQL_HOST" --connect-timeout=5)
fi
# Through the environment, so the password is neither in ps nor warned about.
export MYSQL_PWD=${MYSQL_ROOT_PASSWORD:?set MYSQL_ROOT_PASSWORD to the master\'s root password}

# The schema may be there already: 01_ddl.sql also runs when the server first
# starts (docker-entrypoint-initdb.d), and a DDL copied from the book has no
# IF NOT EXISTS ("Table 'todo' already exists" would stop this script before
# the rows). A schema file (its name has "ddl") is loaded only into a
# database without tables.
tables=$("${client[@]}" --skip-column-names --execute \
    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '$database'")
for sql in /sql/*.sql; do
    case ${sql##*/} in
        *ddl*)
            if [ "${tables:-0}" -gt 0 ]; then
                log "skipping $sql: $database has its tables already (made when the server first started)"
                continue
            fi
            ;;
    esac
    log "loading $sql into $database on ${MYSQL_HOST:-this server}"
    "${client[@]}" "$database" <"$sql"
done
log "done; the slaves receive the rows through replication"
