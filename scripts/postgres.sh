#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the tests: `scripts/postgres.sh start DIR` makes
# a new cluster in DIR (initdb), starts it on a free port and prints its URL; `stop DIR` ends it.
# Installs the Debian package postgresql when its binaries are missing. initdb refuses root, so
# as root the cluster belongs to the `postgres` user the package creates.
set -euo pipefail
cmd="${1:-}"
dir="${2:-}"
if [ -z "$cmd" ] || [ -z "$dir" ]; then
    echo "usage: scripts/postgres.sh start|stop DIR" >&2
    exit 2
fi
if [ "$(id -u)" -eq 0 ]; then as_owner=(runuser -u postgres --); sudo=""; else as_owner=(); sudo="sudo"; fi
bin_dir() {
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [ -n "$found" ] && [ -x "$found/initdb" ]; then
        echo "$found"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}
bin="$(bin_dir)"
case "$cmd" in
start)
    if [ -z "$bin" ]; then
        echo "installing postgresql (Debian package) for the PostgreSQL store tests" >&2
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
        bin="$(bin_dir)"
    fi
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U concord -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; exit 1; }
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=300" start >/dev/null ||
        { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://concord@127.0.0.1:$port/postgres"
    ;;
stop)
    if [ -n "$bin" ] && [ -d "$dir/data" ]; then
        "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: scripts/postgres.sh start|stop DIR" >&2
    exit 2
    ;;
esac
