#!/usr/bin/env bash
# A throwaway PostgreSQL server with pgvector for the tests, bound to 127.0.0.1.
#
#   scripts/postgres.sh start DIR   # prints the URL (postgresql://USER:PASSWORD@127.0.0.1:PORT/islands)
#   scripts/postgres.sh stop DIR    # stops the server and removes DIR
#
# The server comes from Debian's packages when they have pgvector (postgresql-NN-pgvector,
# installed here with apt-get when we are root), else from the PyPI package pgserver in the
# project's .venv (PostgreSQL 16 with pgvector; Debian 12 has no pgvector package).
# Exit status 3 with a reason on stderr: no PostgreSQL with pgvector can be had here; 1: it
# is here but did not start (the reason on stderr). DIR's parents must be traversable by
# the server's user when we run as root (so not pytest's private tmp dirs).
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)

unavailable() { echo "$*" >&2; exit 3; }

debian_bin() {  # a Debian server whose share dir has pgvector's control file
  local bin v
  for bin in /usr/lib/postgresql/*/bin; do
    [ -x "$bin/postgres" ] || continue
    v=$(basename "$(dirname "$bin")")
    if [ -f "/usr/share/postgresql/$v/extension/vector.control" ]; then echo "$bin"; return 0; fi
  done
  return 1
}

find_bin() {
  local bin v
  if bin=$(debian_bin); then echo "$bin"; return 0; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    for bin in /usr/lib/postgresql/*/bin; do
      v=$(basename "$(dirname "$bin")")
      if apt-cache show "postgresql-$v-pgvector" >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "postgresql-$v-pgvector" >/dev/null 2>&1 || true
      fi
    done
    if bin=$(debian_bin); then echo "$bin"; return 0; fi
  fi
  for bin in "$root"/.venv/lib/python3*/site-packages/pgserver/pginstall/bin; do
    if [ -x "$bin/postgres" ] && [ -f "$bin/../lib/postgresql/vector.so" ]; then echo "$bin"; return 0; fi
  done
  return 1
}

case "$cmd" in
start)
  bin=$(find_bin) || unavailable "no PostgreSQL with pgvector: Debian has no postgresql-NN-pgvector here and pgserver is not in .venv (pip install -e '.[test]')"
  mkdir -p "$dir"
  user=$(id -un)
  run=()
  if [ "$(id -u)" = 0 ]; then  # initdb refuses root: the server runs as an unprivileged user
    user=postgres
    id -u "$user" >/dev/null 2>&1 || { user=islands-pg; id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home "$user"; }
    chown "$user" "$dir"
    run=(runuser -u "$user" --)
    if ! runuser -u "$user" -- test -x "$bin/postgres"; then
      # the project lies where that user cannot reach (a clone under /root): a copy it can
      # (pgserver's layout: its binaries find their libraries at $ORIGIN/../../../pgserver.libs)
      site=$(cd "$bin/../../.." && pwd)
      mkdir -p "$dir/pg/pgserver"
      cp -a "$site/pgserver/pginstall" "$dir/pg/pgserver/"
      if [ -d "$site/pgserver.libs" ]; then cp -a "$site/pgserver.libs" "$dir/pg/"; fi
      chmod -R go+rX "$dir/pg"
      bin=$dir/pg/pgserver/pginstall/bin
    fi
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  umask 077
  printf '%s\n' "$password" >"$dir/pwfile"
  [ "${#run[@]}" -eq 0 ] || chown "$user" "$dir/pwfile"
  echo "$bin" >"$dir/bin"  # written first: stop finds the server even if start times out
  # password (scram) on TCP, no Unix socket: other local users cannot walk in as superuser
  "${run[@]}" "$bin/initdb" -D "$dir/data" -U "$user" --auth=scram-sha-256 --pwfile="$dir/pwfile" -E UTF8 --no-locale \
    >"$dir/initdb.log" 2>&1 || { echo "initdb failed: $(tail -1 "$dir/initdb.log")" >&2; exit 1; }
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c fsync=off" start >/dev/null ||
    { echo "the server did not start: $(tail -1 "$dir/server.log" 2>/dev/null)" >&2; exit 1; }
  PGPASSWORD=$password "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$user" islands
  echo "postgresql://$user:$password@127.0.0.1:$port/islands"
  ;;
stop)
  [ -d "$dir" ] || exit 0
  [ -f "$dir/bin" ] || { echo "$dir was not made by $0 start; left alone" >&2; exit 2; }
  bin=$(cat "$dir/bin")
  if [ -f "$dir/data/PG_VERSION" ]; then
    run=()
    [ "$(id -u)" = 0 ] && run=(runuser -u "$(stat -c %U "$dir/data")" --)
    "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
