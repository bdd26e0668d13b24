#!/usr/bin/env bash
# Streams a PostgreSQL table through change data capture into a topic, and from the topic back
# out into another table and a JSON-lines file — on `fjord dev`, with three connectors created
# through the Kafka Connect REST API (`fjord connect create`).
#
#   ./examples/postgres-cdc-roundtrip/run.sh
#
# Needs: `fjord` on PATH (or FJORD_BIN), PostgreSQL with wal_level=logical and a user that may
# replicate (FJORD_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/test; the example
# creates and drops its own database), and free ports (KAFKA_LISTEN, default 127.0.0.1:9092;
# CONNECT_LISTEN, default 127.0.0.1:8083).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fjord=${FJORD_BIN:-fjord}
server=${FJORD_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
kafka=${KAFKA_LISTEN:-127.0.0.1:9092}
connect=${CONNECT_LISTEN:-127.0.0.1:8083}
metrics=${METRICS_LISTEN:-127.0.0.1:9644}

work=$(mktemp -d)
db="fjord_example_$$"
export EXAMPLE_DB_URL="${server%/*}/$db"
# Replication slots are named across the whole server: one per run, so that a slot an earlier
# run could not drop does not stop this one.
export EXAMPLE_SLOT="fjord_orders_cdc_$$"
export EXAMPLE_OUT="$work/orders.jsonl"
export FJORD_CONNECT_URL="http://$connect"
dev_pid=""
cleanup() {
    [[ -n "$dev_pid" ]] && kill -INT "$dev_pid" 2>/dev/null && wait "$dev_pid" 2>/dev/null || true
    # The slot's walsender can outlive fjord dev by a moment; a slot still in use cannot be
    # dropped, and a database with a slot cannot be either.
    for _ in $(seq 1 50); do
        psql "$server" -XAtqc "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = '$db' AND active_pid IS NOT NULL" >/dev/null 2>&1 || true
        psql "$server" -XAtqc "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$db' AND NOT active" >/dev/null 2>&1 || true
        [[ "$(psql "$server" -XAtqc "SELECT count(*) FROM pg_replication_slots WHERE database = '$db'" 2>/dev/null)" == 0 ]] && break
        sleep 0.2
    done
    psql "$server" -XAtqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
say() { printf '==> %s\n' "$*"; }
wait_for() { # wait_for DESCRIPTION SECONDS COMMAND...
    local what=$1 seconds=$2; shift 2
    for _ in $(seq 1 $((seconds * 5))); do "$@" && return 0; sleep 0.2; done
    echo "timed out waiting for $what" >&2
    echo "--- fjord dev log ---" >&2; tail -40 "$work/dev.log" >&2
    exit 1
}

[[ "$(psql "$server" -XAtqc 'show wal_level')" == logical ]] \
    || { echo "PostgreSQL at $server has wal_level=$(psql "$server" -XAtqc 'show wal_level'); CDC needs logical (ALTER SYSTEM SET wal_level = logical; then restart it)" >&2; exit 1; }
say "database $db with table orders (20 rows)"
psql "$server" -XAtqc "CREATE DATABASE $db" >/dev/null
psql "$EXAMPLE_DB_URL" -Xq -v ON_ERROR_STOP=1 -f "$here/setup.sql" >/dev/null

say "fjord dev: Kafka on $kafka, Connect REST API on $connect"
"$fjord" dev --data-dir "$work/data" --listen "$kafka" --metrics-listen "$metrics" --connect-listen "$connect" >"$work/dev.log" 2>&1 &
dev_pid=$!
wait_for "fjord dev to be ready" 60 grep -q "Ready" "$work/dev.log"

for config in cdc.yaml to-table.yaml to-file.yaml; do
    "$fjord" connect create "$here/$config"
done
say "snapshot: the 20 rows reach orders_copy"
copy_has() { [[ "$(psql "$EXAMPLE_DB_URL" -XAtqc "SELECT count(*) FROM orders_copy" 2>/dev/null)" == "$1" ]]; }
wait_for "the snapshot in orders_copy" 60 copy_has 20

say "changes: inserts, updates, a delete, a transaction"
psql "$EXAMPLE_DB_URL" -Xq -v ON_ERROR_STOP=1 -f "$here/changes.sql" >/dev/null
same() {
    [[ "$(psql "$EXAMPLE_DB_URL" -XAtqc "SELECT * FROM orders ORDER BY id")" == "$(psql "$EXAMPLE_DB_URL" -XAtqc "SELECT * FROM orders_copy ORDER BY id" 2>/dev/null)" ]]
}
wait_for "orders_copy to equal orders" 60 same
lines_at_least() { [[ -f "$EXAMPLE_OUT" && $(wc -l <"$EXAMPLE_OUT") -ge $1 ]]; }
# 20 snapshot rows + 1 insert + 3 + 1 updates + 1 insert + 1 update = 27 row states.
wait_for "the JSON-lines file" 60 lines_at_least 27

"$fjord" connect list
say "orders_copy equals orders: $(psql "$EXAMPLE_DB_URL" -XAtqc 'SELECT count(*) FROM orders_copy') rows, column types:"
psql "$EXAMPLE_DB_URL" -XAtqc "SELECT column_name || ' ' || data_type FROM information_schema.columns WHERE table_name = 'orders_copy' ORDER BY ordinal_position" | sed 's/^/      /'
say "$EXAMPLE_OUT holds $(wc -l <"$EXAMPLE_OUT") row states; the last three:"
tail -3 "$EXAMPLE_OUT" | sed 's/^/      /'
say "done"
