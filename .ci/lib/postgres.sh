# Starts a private, throw-away PostgreSQL cluster on a free loopback port and exports
# FERRY_TEST_POSTGRES_URL for the Rust tests; stops and deletes it when the shell exits.
# Sourced, not run. Needs common.sh.

start_test_postgres() {
  local pg_bin
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$pg_bin" ] || die "PostgreSQL is not installed (run .ci/setup)"
  FERRY_PG_DIR="$(mktemp -d /tmp/ferry-pg.XXXXXX)"
  local port
  port="$(free_port)"
  # initdb refuses to run as root: the cluster belongs to the postgres user then.
  local run=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$FERRY_PG_DIR"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$pg_bin/initdb" -D "$FERRY_PG_DIR/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
  "${run[@]}" "$pg_bin/pg_ctl" -D "$FERRY_PG_DIR/data" -l "$FERRY_PG_DIR/server.log" -w -s \
    -o "-p $port -k $FERRY_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start || { cat "$FERRY_PG_DIR/server.log" >&2; die "PostgreSQL did not start"; }
  FERRY_PG_STOP=("${run[@]}" "$pg_bin/pg_ctl" -D "$FERRY_PG_DIR/data" -m immediate -s stop)
  on_exit stop_test_postgres
  export FERRY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  note "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
}

stop_test_postgres() {
  if [ -n "${FERRY_PG_DIR:-}" ]; then
    "${FERRY_PG_STOP[@]}" 2>/dev/null || true
    rm -rf "$FERRY_PG_DIR"
    FERRY_PG_DIR=""
  fi
}
