#!/bin/bash
# mysql:5.7 stand-in entrypoint (tests only): MariaDB from Debian behind the
# docker-library mysql image's contract, written for labctl's tests.
#
# `mysqld [options]` (the default command; a first argument starting with '-'
# means mysqld too) prepares the server, drops to the mysql user and runs it;
# any other command runs as it is (`mysql -h host ...`, `sh -c ...`).
# On an empty data directory it first initialises it from the environment:
#   MYSQL_ROOT_PASSWORD, or MYSQL_ALLOW_EMPTY_PASSWORD, or
#   MYSQL_RANDOM_ROOT_PASSWORD (one of them is required)
#   MYSQL_ROOT_HOST     where root may connect from besides localhost ('%')
#   MYSQL_DATABASE      a database to create
#   MYSQL_USER, MYSQL_PASSWORD   a user with all rights on MYSQL_DATABASE
#   MYSQL_ONETIME_PASSWORD       root's password expires after the first login
#   each also as NAME_FILE: read from that file (Docker secrets)
# then runs /docker-entrypoint-initdb.d/* in name order against a temporary
# server that listens on the socket only: *.sh executed when executable, else
# sourced (with docker_process_sql and "${mysql[@]}" to run SQL), *.sql and
# *.sql.gz|.bz2|.xz|.zst run as root in MYSQL_DATABASE.
set -eo pipefail
shopt -s nullglob

mysql_log() {
  local type=$1
  shift
  local text="$*"
  if [ "$#" -eq 0 ]; then text=$(cat); fi
  printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$type" "$text"
}
mysql_note() { mysql_log Note "$@"; }
mysql_warn() { mysql_log Warn "$@" >&2; }
mysql_error() {
  mysql_log ERROR "$@" >&2
  exit 1
}

# file_env NAME [DEFAULT]: NAME from itself or from the file NAME_FILE names.
file_env() {
  local name=$1 file_name=${1}_FILE value=${2:-}
  if [ -n "${!name:-}" ] && [ -n "${!file_name:-}" ]; then
    mysql_error "both $name and $file_name are set: use one of them"
  fi
  if [ -n "${!name:-}" ]; then
    value=${!name}
  elif [ -n "${!file_name:-}" ]; then
    value=$(<"${!file_name}")
  fi
  export "$name=$value"
  unset "$file_name"
}

# An SQL string literal.
sql_string() {
  local text=${1//\\/\\\\}
  printf "'%s'" "${text//\'/\\\'}"
}
# An SQL identifier.
sql_name() {
  # shellcheck disable=SC2016 # backquotes, not an expansion
  printf '`%s`' "${1//\`/\`\`}"
}

# The server's options as "--verbose --help" prints them. A log-bin setting
# would otherwise make it look for a binary log index in the data directory.
server_help() {
  "$@" --verbose --help --log-bin-index="$(mktemp -u)"
}

# server_option NAME MYSQLD_COMMAND...: the option's effective value.
server_option() {
  local name=$1
  shift
  server_help "$@" 2>/dev/null |
    awk -v name="$name" '$1 == name && /^[^ \t]/ { sub(/^[^ \t]+[ \t]+/, ""); print; exit }'
}

check_config() {
  local errors
  if ! errors=$(server_help "$@" 2>&1 >/dev/null); then
    mysql_error $'mysqld refused its configuration\n\tcommand: '"$* --verbose --help"$'\n\t'"$errors"
  fi
}

_mysql_passfile() {
  if [ "$1" != --no-root-password ] && [ -n "$MYSQL_ROOT_PASSWORD" ]; then
    printf '[client]\npassword="%s"\n' "$MYSQL_ROOT_PASSWORD"
  fi
}

# docker_process_sql [--no-root-password] [mysql options]: SQL from stdin, as
# root over the socket, in MYSQL_DATABASE unless the options say otherwise.
docker_process_sql() {
  local passfile=()
  if [ "${1:-}" = --no-root-password ] || [ "${1:-}" = --dont-use-mysql-root-password ]; then
    passfile=(--no-root-password)
    shift
  fi
  if [ -n "$MYSQL_DATABASE" ]; then
    set -- --database="$MYSQL_DATABASE" "$@"
  fi
  mysql --defaults-extra-file=<(_mysql_passfile "${passfile[@]}") --protocol=socket -uroot \
    -hlocalhost --socket="$SOCKET" --comments "$@"
}

verify_minimum_env() {
  if [ -z "$MYSQL_ROOT_PASSWORD" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] &&
    [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    mysql_error <<-'TEXT'
	Database is uninitialized and password option is not specified
	    You need to specify one of the following as an environment variable:
	    - MYSQL_ROOT_PASSWORD
	    - MYSQL_ALLOW_EMPTY_PASSWORD
	    - MYSQL_RANDOM_ROOT_PASSWORD
	TEXT
  fi
  if [ "$MYSQL_USER" = root ]; then
    mysql_error 'MYSQL_USER="root": MYSQL_USER and MYSQL_PASSWORD are for another user; set root'"'"'s password with MYSQL_ROOT_PASSWORD'
  fi
  if [ -n "$MYSQL_USER" ] && [ -z "$MYSQL_PASSWORD" ]; then
    mysql_warn 'MYSQL_USER specified, but missing MYSQL_PASSWORD; MYSQL_USER will not be created'
  elif [ -z "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then
    mysql_warn 'MYSQL_PASSWORD specified, but missing MYSQL_USER; MYSQL_PASSWORD will be ignored'
  fi
}

temp_server_start() {
  "$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" &
  temp_server_pid=$!
  mysql_note "Waiting for server startup"
  for _ in {60..0}; do
    if docker_process_sql --no-root-password --database=mysql <<<'SELECT 1' &>/dev/null; then
      return 0
    fi
    kill -0 "$temp_server_pid" 2>/dev/null || mysql_error "Unable to start server."
    sleep 0.5
  done
  mysql_error "Unable to start server: no answer on $SOCKET within 30 s."
}

temp_server_stop() {
  docker_process_sql --database=mysql <<<'SHUTDOWN' || mysql_error "Unable to shut down server."
  wait "$temp_server_pid" || :
}

setup_db() {
  if [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    MYSQL_ROOT_PASSWORD=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 24 || :)
    export MYSQL_ROOT_PASSWORD
    mysql_note "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
  fi
  local password root_elsewhere=''
  password=$(sql_string "$MYSQL_ROOT_PASSWORD")
  if [ -n "$MYSQL_ROOT_HOST" ] && [ "$MYSQL_ROOT_HOST" != localhost ]; then
    root_elsewhere="CREATE USER 'root'@$(sql_string "$MYSQL_ROOT_HOST") IDENTIFIED BY $password;
      GRANT ALL ON *.* TO 'root'@$(sql_string "$MYSQL_ROOT_HOST") WITH GRANT OPTION;"
  fi
  # Not binary-logged: a slave starting from the master's first log must not
  # replay it. As MySQL 5.7 initialises it: root@localhost only (MariaDB adds
  # root at 127.0.0.1, ::1 and the build's hostname), no anonymous users, no
  # test database.
  docker_process_sql --no-root-password --database=mysql <<-SQL
	SET @@SESSION.SQL_LOG_BIN=0;
	DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost');
	DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';
	FLUSH PRIVILEGES;
	ALTER USER 'root'@'localhost' IDENTIFIED BY $password;
	GRANT ALL ON *.* TO 'root'@'localhost' WITH GRANT OPTION;
	$root_elsewhere
	DROP DATABASE IF EXISTS test;
	SQL
  if [ -n "$MYSQL_DATABASE" ]; then
    mysql_note "Creating database $MYSQL_DATABASE"
    docker_process_sql --database=mysql <<<"CREATE DATABASE IF NOT EXISTS $(sql_name "$MYSQL_DATABASE");"
  fi
  if [ -n "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then
    mysql_note "Creating user $MYSQL_USER"
    local user
    user="$(sql_string "$MYSQL_USER")@'%'"
    docker_process_sql --database=mysql <<<"CREATE USER $user IDENTIFIED BY $(sql_string "$MYSQL_PASSWORD");"
    if [ -n "$MYSQL_DATABASE" ]; then
      mysql_note "Giving user $MYSQL_USER access to schema $MYSQL_DATABASE"
      # In GRANT, _ in a database name is a wildcard: match it literally.
      docker_process_sql --database=mysql <<<"GRANT ALL ON $(sql_name "${MYSQL_DATABASE//_/\\_}").* TO $user;"
    fi
  fi
}

# docker_process_init_files FILE...: the initdb.d contract.
docker_process_init_files() {
  # For scripts written for the real image: "${mysql[@]}" runs SQL.
  # shellcheck disable=SC2034 # used by the sourced scripts
  mysql=(docker_process_sql)
  echo
  local f
  for f; do
    case $f in
      *.sh)
        if [ -x "$f" ]; then
          mysql_note "$0: running $f"
          "$f"
        else
          mysql_note "$0: sourcing $f"
          # shellcheck source=/dev/null
          . "$f"
        fi
        ;;
      *.sql) mysql_note "$0: running $f"; docker_process_sql <"$f"; echo ;;
      *.sql.gz) mysql_note "$0: running $f"; gunzip -c "$f" | docker_process_sql; echo ;;
      *.sql.bz2) mysql_note "$0: running $f"; bunzip2 -c "$f" | docker_process_sql; echo ;;
      *.sql.xz) mysql_note "$0: running $f"; xzcat "$f" | docker_process_sql; echo ;;
      *.sql.zst) mysql_note "$0: running $f"; zstd -dc "$f" | docker_process_sql; echo ;;
      *) mysql_warn "$0: ignoring $f" ;;
    esac
    echo
  done
}

wants_help() {
  local arg
  for arg; do
    case $arg in
      -'?' | --help | --print-defaults | -V | --version) return 0 ;;
    esac
  done
  return 1
}

main() {
  if [ "${1:0:1}" = - ]; then
    set -- mysqld "$@"
  fi
  if [ "$1" != mysqld ] || wants_help "$@"; then
    exec "$@"
  fi
  mysql_note "Entrypoint script for the mysql:5.7 stand-in ($("$1" --version)) started."
  check_config "$@"
  DATADIR=$(server_option datadir "$@")
  SOCKET=$(server_option socket "$@")
  file_env MYSQL_ROOT_HOST '%'
  file_env MYSQL_DATABASE
  file_env MYSQL_USER
  file_env MYSQL_PASSWORD
  file_env MYSQL_ROOT_PASSWORD
  local existing=''
  if [ -d "$DATADIR/mysql" ]; then
    existing=true
  fi

  if [ "$(id -u)" = 0 ]; then
    mkdir -p "$DATADIR" "$(dirname "$SOCKET")"
    find "$DATADIR" "$(dirname "$SOCKET")" \! -user mysql -exec chown --no-dereference mysql '{}' +
    mysql_note "Switching to dedicated user 'mysql'"
    exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
  fi

  if [ -z "$existing" ]; then
    verify_minimum_env
    # Fail now, not half-way, if the init scripts cannot be read.
    ls /docker-entrypoint-initdb.d/ >/dev/null
    mysql_note "Initializing database files"
    mariadb-install-db "${@:2}" --datadir="$DATADIR" --auth-root-authentication-method=normal \
      --skip-test-db --skip-name-resolve --skip-log-bin --default-time-zone=SYSTEM >/dev/null
    mysql_note "Database files initialized"
    mysql_note "Starting temporary server"
    temp_server_start "$@"
    mysql_note "Temporary server started."
    setup_db
    docker_process_init_files /docker-entrypoint-initdb.d/*
    if [ -n "${MYSQL_ONETIME_PASSWORD:-}" ]; then
      docker_process_sql --database=mysql <<<"ALTER USER 'root'@'%' PASSWORD EXPIRE;"
    fi
    mysql_note "Stopping temporary server"
    temp_server_stop
    mysql_note "Temporary server stopped"
    echo
    mysql_note "MySQL init process done. Ready for start up."
    echo
  fi
  exec "$@"
}

main "$@"
