#!/usr/bin/env bash
# Scenario (c): three nodes on one PostgreSQL and Redis; visitors on nodes 1 and 2, agents on
# node 3, so every message crosses nodes through Redis. Cross-node added latency = this run's
# p99 minus chat.sh's at the same shape.  loadtest/scenarios/cluster.sh [VISITORS] [RATE] [DURATION]
source "$(dirname "$0")/lib.sh"
VISITORS="${1:-2000}" RATE="${2:-2000}" DURATION="${3:-30}" AGENTS="${AGENTS:-200}"
: "${PARLEY_TEST_REDIS_URL:?set PARLEY_TEST_REDIS_URL}"
build
db="$(fresh_db parley_load_cluster)"
ports=() pids=()
for _ in 1 2 3; do
    # One after the other: the first creates the schema and the admin.
    port="$(free_port)"
    start_node "$port" "$db" "$PARLEY_TEST_REDIS_URL"
    ports+=("$port") pids+=("$NODE_PID")
done
pid_list="$(IFS=,; echo "${pids[*]}")"
"$LOADTEST" run --label "parley cluster (3 nodes)" --target parley --mode chat \
    --visitor-servers "ws://127.0.0.1:${ports[0]},ws://127.0.0.1:${ports[1]}" \
    --agent-servers "ws://127.0.0.1:${ports[2]}" \
    --server-pids "$pid_list" --db-pids "$(pgrep -d, -x 'postgres|redis-server' || true)" \
    --visitors "$VISITORS" --agents "$AGENTS" --rate "$RATE" --duration "$DURATION" --workers 2 \
    --out "$RESULTS/cluster.json" --summary "$RESULTS/cluster.md"
echo "results in $RESULTS"
