#!/usr/bin/env bash
# Runs a command beside a private PostgreSQL server: installs Debian's
# postgresql package if it is missing, starts a server in a temporary
# folder on a free loopback port (as a non-root user: PostgreSQL refuses
# root), exports its URL as NASC_TEST_POSTGRES_URL, runs the command, and
# stops the server whatever the command did. Exits with the command's status.
#
#   Tests/with-postgres.sh swift test --filter PostgresStoreTests
set -euo pipefail
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "with-postgres: installing postgresql"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
  # The package starts a cluster of its own; this script needs none of it.
  $SUDO pg_ctlcluster --mode fast "$(ls /usr/lib/postgresql | sort -V | tail -1)" main stop 2>/dev/null || true
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
DIR=$(mktemp -d /tmp/nasc-postgres.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PASSWORD=nasc-test
# As root, the server runs as the package's postgres user.
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); chown postgres "$DIR"; else AS=(); fi
echo "$PASSWORD" > "$DIR/pw" && chmod 644 "$DIR/pw"
"${AS[@]}" "$BIN/initdb" -D "$DIR/data" -U nasc --auth=scram-sha-256 --pwfile="$DIR/pw" -E UTF8 >"$DIR/initdb.log" 2>&1 \
  || { cat "$DIR/initdb.log"; exit 1; }
"${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR -c max_connections=200 -c fsync=off" start >/dev/null \
  || { cat "$DIR/server.log"; exit 1; }
stop() { "${AS[@]}" "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap stop EXIT
export NASC_TEST_POSTGRES_URL="postgresql://nasc:$PASSWORD@127.0.0.1:$PORT/postgres"
# For the tests of a server going away and coming back: `$NASC_TEST_POSTGRES_CONTROL
# stop|start|restart` (pg_ctl's fast mode: every session is ended, as in a failover).
cat > "$DIR/control.sh" <<CONTROL
#!/usr/bin/env bash
exec ${AS[*]} "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 -m fast \
  -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$DIR -c max_connections=200 -c fsync=off" "\$1" >>"$DIR/control.log" 2>&1
CONTROL
chmod 755 "$DIR/control.sh"
export NASC_TEST_POSTGRES_CONTROL="$DIR/control.sh"
echo "with-postgres: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT"
set +e
"$@"
status=$?
exit $status
