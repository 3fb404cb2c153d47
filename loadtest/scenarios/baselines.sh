#!/usr/bin/env bash
# Parley against its baselines at the chat scenario's shape, all in one run:
#   (b)   Parley, one node, PostgreSQL (chat.sh);
#   (i)   the relay (src/bin/relay.rs): WebSockets and rooms, nothing stored — the transport ceiling;
#   (iii) Socket.IO 4 on Node with its Redis adapter (loadtest/socketio);
#   (ii)  PostgreSQL's ceiling for the same timeline write (pgbench, items.pgbench.sql);
# then a comparison table.  loadtest/scenarios/baselines.sh [VISITORS] [RATE] [DURATION]
source "$(dirname "$0")/lib.sh"
VISITORS="${1:-2000}" RATE="${2:-2000}" DURATION="${3:-30}" AGENTS="${AGENTS:-200}"
: "${PARLEY_TEST_REDIS_URL:?set PARLEY_TEST_REDIS_URL}"
build
shape=(--visitors "$VISITORS" --agents "$AGENTS" --rate "$RATE" --duration "$DURATION" --workers 2)

# (b) Parley: its own script, results in the same directory.
RESULTS="$RESULTS" AGENTS="$AGENTS" "$ROOT/loadtest/scenarios/chat.sh" "$VISITORS" "$RATE" "$DURATION"

# (i) relay
port="$(free_port)"
(ulimit -n 20000; exec "$RELAY" --port "$port" --threads 2) >"$RESULTS/relay.log" 2>&1 &
PIDS+=("$!")
relay_pid=$!
sleep 0.5
"$LOADTEST" run --label "relay (no storage)" --target relay --mode chat \
    --visitor-servers "ws://127.0.0.1:$port" --server-pids "$relay_pid" "${shape[@]}" \
    --out "$RESULTS/relay.json" --summary "$RESULTS/relay.md"
stop_all

# (iii) Socket.IO + Redis adapter
if ! command -v node >/dev/null; then sudo apt-get install -y nodejs npm; fi
(cd "$ROOT/loadtest/socketio" && npm install --no-audit --no-fund >&2)
port="$(free_port)"
(
    ulimit -n 20000
    cd "$ROOT/loadtest/socketio"
    PORT="$port" REDIS_URL="$PARLEY_TEST_REDIS_URL" ADAPTER_KEY="loadtest-$STAMP" exec node server.js
) >"$RESULTS/socketio.log" 2>&1 &
PIDS+=("$!")
io_pid=$!
wait_http "http://127.0.0.1:$port/socket.io/?EIO=4&transport=polling" || true
"$LOADTEST" run --label "Socket.IO + Redis adapter" --target socketio --mode chat \
    --visitor-servers "ws://127.0.0.1:$port" --server-pids "$io_pid" \
    --db-pids "$(pgrep -d, -x redis-server || true)" "${shape[@]}" \
    --out "$RESULTS/socketio.json" --summary "$RESULTS/socketio.md"
stop_all

# (ii) pgbench on the chat run's database: same rows, same indexes, same statements.
db="${PARLEY_TEST_POSTGRES_URL%/*}/parley_load_chat"
psql -q "$db" -c "DROP TABLE IF EXISTS load_convs" \
    -c "CREATE TABLE load_convs AS SELECT row_number() OVER (ORDER BY id) AS n, id, account_id, inbox_id, contact_id FROM conversations" \
    -c "CREATE UNIQUE INDEX ON load_convs (n)"
nconv="$(psql -Atq "$db" -c "SELECT count(*) FROM load_convs")"
{
    echo "synchronous_commit: $(psql -Atq "$db" -c 'SHOW synchronous_commit'), fsync: $(psql -Atq "$db" -c 'SHOW fsync')"
    for clients in 8 32; do
        echo "== pgbench -M prepared -n -c $clients -j 2 -T 20 ($nconv conversations)"
        pgbench -M prepared -n -f "$ROOT/loadtest/scenarios/items.pgbench.sql" -D nconv="$nconv" \
            -c "$clients" -j 2 -T 20 "$db" 2>&1 | grep -E "tps|latency|transactions"
    done
} | tee "$RESULTS/pgbench.txt"

"$LOADTEST" compare --out "$RESULTS/compare.md" "$RESULTS/chat.json" "$RESULTS/relay.json" "$RESULTS/socketio.json"
echo "results in $RESULTS"
