# shellcheck shell=bash
# Shared by scripts/test-images and scripts/test-lab-images (sourced, not run):
# Docker up, the host's Debian archive, the build lock and temporary
# directory, and images rebuilt only when their recipe changes.
# The sourcing script sets IMAGES_TOOL (its name in messages) first, and
# calls images_start "$@" to take --force, the lock and a temporary directory.

CACHE=/var/cache/labctl-test-images
DOCKERD_LOG=/var/log/labctl-dockerd.log

say() { echo "$IMAGES_TOOL: $*"; }
die() { echo "$IMAGES_TOOL: $*" >&2; exit 1; }

# --- the host's Debian archive -------------------------------------------------

# Prints "URI SUITE": the first enabled `deb` source in this host's apt
# configuration (/etc/apt/sources.list, sources.list.d/*.list one-line and
# sources.list.d/*.sources deb822 files, in apt's order) for this host's own
# release (VERSION_CODENAME) with the main component, over http or https.
# Prints nothing when there is none. Arguments (for trying it on other
# files): the apt directory (/etc/apt) and the os-release file; a third one
# asks for another suite (e.g. bookworm-backports) instead of the release.
host_debian_source() {
  local apt_dir=${1:-/etc/apt} os_release=${2:-/etc/os-release} codename files=() file
  # shellcheck source=/dev/null
  codename=$(. "$os_release" 2>/dev/null && [ "${ID:-}" = debian ] && echo "${VERSION_CODENAME:-}") || codename=''
  [ -n "$codename" ] || return 0
  codename=${3:-$codename}
  [ -f "$apt_dir/sources.list" ] && files+=("$apt_dir/sources.list")
  for file in "$apt_dir"/sources.list.d/*; do
    case $file in
      *.list | *.sources) [ -f "$file" ] && files+=("$file") ;;
    esac
  done
  [ ${#files[@]} -gt 0 ] || return 0
  awk -v want="$codename" '
    function has(list, word,    n, i, parts) {
      n = split(list, parts, /[ \t]+/)
      for (i = 1; i <= n; i++) if (parts[i] == word) return 1
      return 0
    }
    function usable(uri) { return uri ~ /^https?:\/\// }
    function found(uri) { sub(/\/+$/, "", uri); print uri " " want; done = 1; exit }
    # deb822 stanza: fields collected in f[], judged at its end.
    function stanza_end(    n, i, uris) {
      if (tolower(f["enabled"]) != "no" && has(f["types"], "deb") && has(f["suites"], want) &&
          has(f["components"], "main")) {
        n = split(f["uris"], uris, /[ \t]+/)
        for (i = 1; i <= n; i++) if (usable(uris[i])) found(uris[i])
      }
      delete f
      key = ""
    }
    FNR == 1 && NR > 1 && deb822 { stanza_end() }
    FNR == 1 { deb822 = (FILENAME ~ /\.sources$/); key = "" }
    deb822 {
      line = $0
      if (line ~ /^#/) next
      if (line ~ /^[ \t]*$/) { stanza_end(); next }
      if (line ~ /^[ \t]/ && key != "") { f[key] = f[key] " " line; next }
      key = tolower(substr(line, 1, index(line, ":") - 1))
      f[key] = substr(line, index(line, ":") + 1)
      gsub(/^[ \t]+|[ \t]+$/, "", f[key])
      next
    }
    {
      sub(/#.*/, "")
      if ($1 != "deb") next
      i = 2
      if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      uri = $i; suite = $(i + 1)
      comps = ""
      for (j = i + 2; j <= NF; j++) comps = comps " " $j
      if (suite == want && has(comps, "main") && usable(uri)) found(uri)
    }
    END { if (!done && deb822) stanza_end() }
  ' "${files[@]}"
}

# Sets MIRROR and HOST_SUITE: LABCTL_DEBIAN_MIRROR (with LABCTL_DEBIAN_SUITE,
# else this host's release) or the host's apt configuration. Nothing of it
# is written into the project: each machine uses its own mirror.
# shellcheck disable=SC2034 # MIRROR and HOST_SUITE are for the caller
debian_source() {
  local source codename
  # shellcheck source=/dev/null
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || codename=''
  if [ -n "${LABCTL_DEBIAN_MIRROR:-}" ]; then
    MIRROR=$LABCTL_DEBIAN_MIRROR
    HOST_SUITE=${LABCTL_DEBIAN_SUITE:-$codename}
    [ -n "$HOST_SUITE" ] || die "LABCTL_DEBIAN_MIRROR is set but not the suite: set LABCTL_DEBIAN_SUITE (e.g. bookworm)"
    return 0
  fi
  source=$(host_debian_source /etc/apt /etc/os-release)
  [ -n "$source" ] || die "no Debian archive in this host's apt configuration (a \`deb\` source for release '${codename:-unknown}' with component main, over http(s), in /etc/apt/sources.list or /etc/apt/sources.list.d/*.list|*.sources); set LABCTL_DEBIAN_MIRROR (and LABCTL_DEBIAN_SUITE) to a Debian mirror"
  MIRROR=${source% *}
  HOST_SUITE=${source#* }
}

# --- backports -----------------------------------------------------------------

BACKPORTS_SOURCES=/etc/apt/sources.list.d/labctl-backports.sources

package_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = 'ii ' ]
}

# The backports suite of this host's release, from the mirror its apt
# configuration has the release from (not LABCTL_DEBIAN_MIRROR: that one is
# for the box), unless the configuration has backports already.
ensure_backports_source() {
  local suite=$1 source text
  source=$(host_debian_source /etc/apt /etc/os-release)
  [ -n "$source" ] || return 0
  text=$(printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
    "${source% *}" "$suite" /usr/share/keyrings/debian-archive-keyring.gpg)
  if [ -f "$BACKPORTS_SOURCES" ]; then
    [ "$(cat "$BACKPORTS_SOURCES")" = "$text" ] && return 0
  elif [ -n "$(host_debian_source /etc/apt /etc/os-release "$suite")" ]; then
    return 0
  fi
  printf '%s\n' "$text" >"$BACKPORTS_SOURCES"
}

# --- tools and Docker ----------------------------------------------------------

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt_updated=1
  fi
  # Waits up to 10 minutes for another apt-get/dpkg to finish. needrestart's
  # hook (on some hosts) would only talk about services to restart.
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}

# ensure_tools COMMAND:PACKAGE...: installs the packages of missing commands.
ensure_tools() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    say "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

host_dockerd_running() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]
}

# Closes every open file but stdin, stdout and stderr in this (sub)shell,
# before it starts a daemon: a daemon that kept one (a CI pipe) would keep
# the pipe's reader waiting.
close_inherited_fds() {
  local fd
  for fd in /proc/self/fd/*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ]; then
      eval "exec $fd>&-"
    fi
  done
}

start_dockerd() {
  close_inherited_fds
  # A pid file left by a dockerd that died would stop the new one.
  rm -f /var/run/docker.pid
  exec setsid dockerd </dev/null >>"$DOCKERD_LOG" 2>&1
}

ensure_docker() {
  docker info >/dev/null 2>&1 && return 0
  # (pgrep would also see the dockerd inside node containers.)
  if ! host_dockerd_running; then
    say "starting dockerd (log: $DOCKERD_LOG)"
    start_dockerd &
  fi
  for _ in $(seq 300); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || :
  die "dockerd did not answer within 30 s (see $DOCKERD_LOG)"
}

# --- building ------------------------------------------------------------------

force=0
tmp=''
# Containers a build started; removed however the script ends.
build_containers=()

# unmount_below DIR: unmounts everything mounted under DIR, deepest first (a
# failed debootstrap can leave /proc or /sys mounted in its target).
unmount_below() {
  local m
  while read -r m; do
    umount -l "$m" 2>/dev/null || :
  done < <(awk -v t="$1/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r)
}

cleanup() {
  local name
  for name in "${build_containers[@]}"; do
    docker rm --force --volumes "$name" >/dev/null 2>&1 || :
  done
  if [ -n "$tmp" ] && [ -d "$tmp" ]; then
    unmount_below "$tmp"
    rm -rf --one-file-system "$tmp"
  fi
}

# images_start "$@": root, --force, one build at a time on this machine, a
# temporary directory removed at exit.
images_start() {
  case "${1:-}" in
    --force) force=1 ;;
    '') ;;
    *) echo "usage: $0 [--force]" >&2; exit 2 ;;
  esac
  [ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages, starts dockerd and runs debootstrap)"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$CACHE"
  exec 9>"$CACHE/lock"
  flock 9
  tmp=$(mktemp -d /tmp/labctl-test-images.XXXXXX)
}

recipe_hash() { sha256sum | cut -c1-16; }

image_recipe() {
  docker image inspect --format '{{ index .Config.Labels "labctl.recipe" }}' "$1" 2>/dev/null || :
}

image_id() {
  docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || :
}

# Drops the image PREVIOUS_ID when IMAGE no longer is it (kept while a
# container or another tag still uses it).
drop_replaced() {
  local previous=$1 image=$2
  if [ -n "$previous" ] && [ "$previous" != "$(image_id "$image")" ]; then
    docker image rm "$previous" >/dev/null 2>&1 || :
  fi
}

# import_dir DIR IMAGE HASH CHANGE...: the directory's tree as a one-layer image.
import_dir() {
  local dir=$1 image=$2 hash=$3 change
  shift 3
  local args=(-c "LABEL labctl.recipe=$hash")
  for change in "$@"; do
    args+=(-c "$change")
  done
  local previous
  previous=$(image_id "$image")
  tar --numeric-owner -C "$dir" -c . | docker import "${args[@]}" - "$image" >/dev/null
  drop_replaced "$previous" "$image"
}

# ensure_image IMAGE RECIPE_FUNCTION BUILD_FUNCTION: builds IMAGE with
# `BUILD_FUNCTION HASH` unless it exists with the recipe's hash.
ensure_image() {
  local image=$1 hash start
  hash=$("$2" | recipe_hash)
  if [ "$force" -eq 0 ] && [ "$(image_recipe "$image")" = "$hash" ]; then
    say "$image reused"
    return 0
  fi
  start=$(date +%s)
  "$3" "$hash"
  say "$image built in $(($(date +%s) - start)) s ($(docker image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}
