#!/bin/bash
# add-server-id.sh: give this MySQL server a server-id derived from its IPv4
# address (3rd octet * 256 + 4th octet) and write it into mysqld.cnf.
#
# Replication needs a different server-id on every server. Swarm gives each
# task its own address on the overlay network, so the address is a cheap
# source of a unique id (unique within a /16, and the overlay is smaller).
# It is the image's ENTRYPOINT, in the place of the book's entrykit prehook
# (`prehook add-server-id.sh -- docker-entrypoint.sh`):
#   add-server-id.sh -- docker-entrypoint.sh mysqld
# sets the id, then runs the stock mysql entrypoint. So the id is set at every
# container start and always follows the task's current address. Commands
# other than the server (`docker run ... tododb init-data.sh`) run without
# it: they need no server-id and may have no network. Without arguments it
# only sets the id. Running it twice is harmless.
#
# Environment:
#   MYSQL_SERVER_ID  use this id instead of deriving one from the address
#   MYSQLD_CNF       file to edit (default /etc/mysql/mysql.conf.d/mysqld.cnf)
set -eu

cnf=${MYSQLD_CNF:-/etc/mysql/mysql.conf.d/mysqld.cnf}

log() {
    echo "add-server-id.sh: $*" >&2
}

# Docker writes the container's address on its own networks, next to its
# hostname, into /etc/hosts. It leaves out ingress and docker_gwbridge; the
# latter is a per-node bridge whose addresses repeat from node to node and
# would give two tasks the same id.
address_from_hosts() {
    local name fields address alias
    name=$(cat /proc/sys/kernel/hostname)
    [ -r /etc/hosts ] || return 1
    while read -r -a fields; do
        [ "${#fields[@]}" -ge 2 ] || continue
        address=${fields[0]}
        case $address in
            '#'* | 127.* | *:*) continue ;;
            *.*.*.*) ;;
            *) continue ;;
        esac
        for alias in "${fields[@]:1}"; do
            if [ "$alias" = "$name" ]; then
                echo "$address"
                return 0
            fi
        done
    done </etc/hosts
    return 1
}

# Fallback: the first local, non-loopback IPv4 address the kernel lists in
# /proc/net/fib_trie (a "|-- a.b.c.d" line followed by "/32 host LOCAL").
address_from_fib_trie() {
    local line candidate=""
    [ -r /proc/net/fib_trie ] || return 1
    while IFS= read -r line; do
        case $line in
            *'|-- '*) candidate=${line##*|-- } ;;
            *'/32 host LOCAL'*)
                case $candidate in
                    '' | 127.*) ;;
                    *)
                        echo "$candidate"
                        return 0
                        ;;
                esac
                ;;
        esac
    done </proc/net/fib_trie
    return 1
}

# Prints the server-id for a dotted IPv4 address, or fails if it is not one.
server_id_from_address() {
    local a b c d octet
    IFS=. read -r a b c d <<<"$1"
    for octet in "$a" "$b" "$c" "$d"; do
        case $octet in
            '' | *[!0-9]*) return 1 ;;
        esac
        [ "$((10#$octet))" -le 255 ] || return 1
    done
    echo "$((10#$c * 256 + 10#$d))"
}

# Derive the id, check it, and write it into $cnf.
set_server_id() {
    local server_id address found_in tmp
    if [ -n "${MYSQL_SERVER_ID:-}" ]; then
        server_id=$MYSQL_SERVER_ID
        case $server_id in
            '' | *[!0-9]*)
                log "MYSQL_SERVER_ID must be a number, got '$server_id'"
                exit 1
                ;;
        esac
        log "using MYSQL_SERVER_ID=$server_id"
    else
        if address=$(address_from_hosts); then
            found_in="/etc/hosts"
        elif address=$(address_from_fib_trie); then
            found_in="/proc/net/fib_trie"
            log "warning: no address for $(cat /proc/sys/kernel/hostname) in /etc/hosts, using the first address in /proc/net/fib_trie (it may not be unique across nodes)"
        else
            log "error: this container has no non-loopback IPv4 address (is it attached to a network?)"
            log "set MYSQL_SERVER_ID to choose a server-id by hand"
            exit 1
        fi
        if ! server_id=$(server_id_from_address "$address"); then
            log "error: '$address' (from $found_in) is not an IPv4 address"
            exit 1
        fi
        log "address $address (from $found_in) -> server-id $server_id"
    fi

    if [ "$server_id" -lt 1 ] || [ "$server_id" -gt 4294967295 ]; then
        log "error: server-id $server_id is outside 1..4294967295"
        exit 1
    fi

    if [ ! -f "$cnf" ]; then
        log "error: $cnf does not exist"
        exit 1
    fi

    # Rewrite the [mysqld] section(s): the first server-id/server_id line gets
    # the new value in place, later ones are dropped. Without such a line, one is
    # added right under the first [mysqld] header (or a [mysqld] section is
    # appended). The file is read twice: the first pass only looks for the line.
    tmp="$cnf.new"
    awk -v id="$server_id" '
        /^[ \t]*\[/ {
            in_mysqld = ($0 ~ /^[ \t]*\[mysqld\][ \t]*$/)
            if (NR != FNR) {
                print
                if (in_mysqld && !has_line && !written) {
                    print "server-id = " id
                    written = 1
                }
            }
            next
        }
        NR == FNR {
            if (in_mysqld && $0 ~ /^[ \t]*server[-_]id[ \t]*=/) has_line = 1
            next
        }
        FNR == 1 { in_mysqld = 0 }
        in_mysqld && /^[ \t]*server[-_]id[ \t]*=/ {
            if (!written) {
                print "server-id = " id
                written = 1
            }
            next
        }
        { print }
        END {
            if (!written) {
                print ""
                print "[mysqld]"
                print "server-id = " id
            }
        }
    ' "$cnf" "$cnf" >"$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$cnf"
}

if [ "${1:-}" = "--" ]; then
    shift
    # $1 is docker-entrypoint.sh; the server starts for `mysqld` or options.
    case "${2:-}" in
        mysqld | -*) set_server_id ;;
    esac
    exec "$@"
fi
set_server_id
