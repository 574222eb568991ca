#!/bin/bash
# prepare.sh: replication setup, run once per fresh data directory.
#
# The Dockerfile installs this into /docker-entrypoint-initdb.d (as the book's
# gihyodocker/tododb does), so the stock mysql entrypoint runs it (after the
# schema in 01_ddl.sql) while the temporary, socket-only server is up, and
# only when the data directory is empty. It must stay executable: the entrypoint *sources* .sh files without
# the x bit, and then the `exit` below would end the entrypoint itself.
#
#   MYSQL_MASTER=true        master: nothing to do here.
#   MYSQL_MASTER_HOST=host   slave: wait for the master, create the
#                            replication user there, and start replicating
#                            from the master's current binary log position.
#
# Slave environment:
#   MYSQL_MASTER_HOST            master's address (required)
#   MYSQL_MASTER_PORT            default 3306
#   MYSQL_MASTER_ROOT_PASSWORD   master's root password, to create the
#                                replication user (default MYSQL_ROOT_PASSWORD)
#   MYSQL_REPL_USER, MYSQL_REPL_PASSWORD   the replication account (required)
#   MYSQL_ROOT_PASSWORD          this server's own root password
#   MYSQL_MASTER_WAIT_SECONDS    how long to wait for the master (default 300)
set -eu

log() {
    echo "prepare.sh: $*"
}

fail() {
    echo "prepare.sh: error: $*" >&2
    exit 1
}

if [ "${MYSQL_MASTER:-false}" = "true" ]; then
    log "MYSQL_MASTER=true: this is the master, no replication setup needed"
    exit 0
fi

if [ -z "${MYSQL_MASTER_HOST:-}" ]; then
    log "neither MYSQL_MASTER=true nor MYSQL_MASTER_HOST set: standalone server, no replication"
    exit 0
fi

master_host=$MYSQL_MASTER_HOST
master_port=${MYSQL_MASTER_PORT:-3306}
master_root_password=${MYSQL_MASTER_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}
repl_user=${MYSQL_REPL_USER:-}
repl_password=${MYSQL_REPL_PASSWORD:-}
wait_seconds=${MYSQL_MASTER_WAIT_SECONDS:-300}

[ -n "$repl_user" ] || fail "MYSQL_REPL_USER is not set"
[ -n "$repl_password" ] || fail "MYSQL_REPL_PASSWORD is not set"
[ -n "$master_root_password" ] || fail "set MYSQL_MASTER_ROOT_PASSWORD (or MYSQL_ROOT_PASSWORD) to the master's root password"
case $wait_seconds in
    '' | *[!0-9]*) fail "MYSQL_MASTER_WAIT_SECONDS must be a number of seconds, got '$wait_seconds'" ;;
esac
case $master_port in
    '' | *[!0-9]*) fail "MYSQL_MASTER_PORT must be a port number, got '$master_port'" ;;
esac

# A value as an SQL string literal: backslashes and quotes escaped.
sql_string() {
    local value=${1//\\/\\\\}
    value=${value//\'/\\\'}
    printf "'%s'" "$value"
}

# SQL on the master as root, over TCP. The password goes through MYSQL_PWD so
# it is neither on the command line nor warned about.
on_master() {
    MYSQL_PWD=$master_root_password mysql --protocol=tcp \
        --host="$master_host" --port="$master_port" --user=root \
        --connect-timeout=5 --batch --skip-column-names "$@"
}

# SQL on this server (the entrypoint's temporary server, socket only).
on_local() {
    MYSQL_PWD=${MYSQL_ROOT_PASSWORD:-} mysql --protocol=socket --user=root \
        --batch --skip-column-names "$@"
}

# The master only listens on TCP once its own initialisation has finished,
# so an answer here also means its schema is in place.
log "waiting up to ${wait_seconds}s for the master at $master_host:$master_port"
deadline=$((SECONDS + wait_seconds))
until last_error=$(on_master --execute="SELECT 1" 2>&1 >/dev/null); do
    if [ "$SECONDS" -ge "$deadline" ]; then
        fail "the master $master_host:$master_port did not answer within ${wait_seconds}s; last error: ${last_error:-none}"
    fi
    sleep 3
done
log "master $master_host is up"

# IF NOT EXISTS: every slave runs this; the first one creates the account.
repl_account="$(sql_string "$repl_user")@'%'"
on_master --execute="
    CREATE USER IF NOT EXISTS $repl_account IDENTIFIED BY $(sql_string "$repl_password");
    GRANT REPLICATION SLAVE ON *.* TO $repl_account;"
log "replication user $repl_user ready on the master"

# SHOW MASTER STATUS: File, Position, ... (tab separated, one row).
status=$(on_master --execute="SHOW MASTER STATUS")
read -r log_file log_position _ <<<"$status"
if [ -z "${log_file:-}" ] || [ -z "${log_position:-}" ]; then
    fail "SHOW MASTER STATUS on $master_host returned nothing: is log-bin enabled on the master?"
fi
log "master binary log position: $log_file $log_position"

on_local --execute="
    CHANGE MASTER TO
        MASTER_HOST = $(sql_string "$master_host"),
        MASTER_PORT = $master_port,
        MASTER_USER = $(sql_string "$repl_user"),
        MASTER_PASSWORD = $(sql_string "$repl_password"),
        MASTER_LOG_FILE = $(sql_string "$log_file"),
        MASTER_LOG_POS = $log_position;
    START SLAVE;"
log "replication from $master_host configured and started (it resumes on every server start)"
