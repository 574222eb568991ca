#!/bin/sh
# gihyodocker/nginx-proxy stand-in (tests only): writes nginx's configuration
# from the environment, as the real image renders its templates, then runs the
# command (nginx -g 'daemon off;').
#
#   BACKEND_HOST        host[:port] every request goes to (required), e.g.
#                       simple-web_api:8000
#   SERVER_PORT (80)  SERVER_NAME (localhost)  WORKER_PROCESSES (1)
#   WORKER_CONNECTIONS (1024)  KEEPALIVE_TIMEOUT (65)  GZIP (on)
#   LOG_STDOUT          set: the proxy's access log goes to stdout as JSON
#
# Unlike the real image, the backend's name is resolved again for each request
# (through the container's DNS server, cached 5 s): a swarm service name that
# resolves to several tasks is answered by each of them in turn, and a
# backend that starts after the proxy is found without a restart.
#
# A kernel without IPVS (the CI host of labctl's tests) cannot route a swarm
# service's virtual IP, which is what the service's name resolves to. There
# the stand-in asks for `tasks.<name>` first (the swarm DNS name of every
# task's own address) and falls back to the plain name when that does not
# resolve (no swarm: a plain user network), so the labs' stack files run
# unchanged. With IPVS it proxies to the name as given, like the real image.
set -eu

fail() {
  echo "nginx-proxy: $*" >&2
  exit 1
}

# value NAME DEFAULT PATTERN: the variable's value (or DEFAULT), refused unless
# it matches the extended regular expression PATTERN (no nginx syntax).
value() {
  eval "v=\${$1:-$2}"
  # shellcheck disable=SC2154 # v is set by the eval above
  printf '%s\n' "$v" | grep -Eqx -- "$3" || fail "$1='$v' is not valid here (expected $3)"
  printf '%s' "$v"
}

[ -n "${BACKEND_HOST:-}" ] || fail "set BACKEND_HOST to the backend's host:port, e.g. simple-web_api:8000"
backend=$(value BACKEND_HOST '' '[][A-Za-z0-9_.:-]+')
port=$(value SERVER_PORT 80 '[0-9]+')
name=$(value SERVER_NAME localhost '[A-Za-z0-9_.*-]+')
workers=$(value WORKER_PROCESSES 1 '[0-9]+|auto')
connections=$(value WORKER_CONNECTIONS 1024 '[0-9]+')
keepalive=$(value KEEPALIVE_TIMEOUT 65 '[0-9]+[a-z]*')
gzip=$(value GZIP on 'on|off')

# The container's DNS server (Docker's 127.0.0.11 on user networks and in a
# swarm); IPv6 addresses need brackets in nginx.
resolvers=$(awk '$1 == "nameserver" { print ($2 ~ /:/ ? "[" $2 "]" : $2) }' /etc/resolv.conf | tr '\n' ' ')
[ -n "$resolvers" ] || fail "no nameserver in /etc/resolv.conf to resolve $backend with"

if [ -n "${LOG_STDOUT:-}" ]; then
  logs='access_log /dev/stdout json;
        error_log /dev/stderr;'
else
  logs='access_log /var/log/nginx/backend_access.log json;
        error_log /var/log/nginx/backend_error.log;'
fi

cat >/etc/nginx/nginx.conf <<CONF
# Written by nginx-proxy-entrypoint.sh at container start.
user www-data;
worker_processes $workers;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log warn;

events {
    worker_connections $connections;
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format main '\$remote_addr - \$remote_user [\$time_local] "\$request" '
                    '\$status \$body_bytes_sent "\$http_referer" '
                    '"\$http_user_agent" "\$http_x_forwarded_for"';
    log_format json escape=json '{"time":"\$time_iso8601","remote_addr":"\$remote_addr",'
                    '"request":"\$request","status":"\$status","upstream_addr":"\$upstream_addr",'
                    '"request_time":"\$request_time"}';
    access_log /var/log/nginx/access.log main;
    sendfile on;
    keepalive_timeout $keepalive;
    gzip $gzip;
    include /etc/nginx/conf.d/*.conf;
}
CONF

host=${backend%:*}
case $backend in
  *:*) suffix=:${backend##*:} ;;
  *) suffix='' ;;
esac
fallback=''
if [ -e /proc/net/ip_vs ] || [ -e /sys/module/ip_vs ]; then
  first=$backend
else
  first=tasks.$host$suffix
  fallback="error_page 502 = @backend;"
fi

cat >/etc/nginx/conf.d/public.conf <<CONF
# Written by nginx-proxy-entrypoint.sh at container start.
resolver $resolvers valid=5s ipv6=off;
resolver_timeout 5s;

server {
    listen $port default_server;
    server_name $name;
    charset utf-8;

    location / {
        # A variable makes nginx resolve the name per request (from a cache
        # valid 5 s), starting with another of its addresses each time.
        # Without IPVS, a tasks. name that does not resolve is nginx's own
        # 502, which goes on to the plain name.
        set \$backend "$first";
        proxy_pass http://\$backend;
        proxy_pass_request_headers on;
        proxy_set_header Host \$host;
        $fallback
        $logs
    }

    location @backend {
        set \$backend "$backend";
        proxy_pass http://\$backend;
        proxy_pass_request_headers on;
        proxy_set_header Host \$host;
        $logs
    }
}
CONF

exec "$@"
