#!/bin/sh
# node:slim stand-in (tests only): the real image's entrypoint contract. The
# command runs under node when its first word is an option (`-e '...'`), names
# no program on PATH (`app.js`), or is a file that is not executable.
set -e
if [ "${1#-}" != "$1" ] || [ -z "$(command -v "$1" || :)" ] || { [ -f "$1" ] && ! [ -x "$1" ]; }; then
  set -- node "$@"
fi
exec "$@"
