#!/usr/bin/env bash
# Scenario (a): as many idle visitor sockets as one node can hold (target ≥ 19,000), RSS each.
#   loadtest/scenarios/idle.sh [VISITORS]   (default 19000)
source "$(dirname "$0")/lib.sh"
VISITORS="${1:-19000}"
build
db="$(fresh_db parley_load_idle)"
port="$(free_port)"
start_node "$port" "$db"
pid="$NODE_PID"
"$LOADTEST" run --label "idle $VISITORS" --target parley --mode idle \
    --visitor-servers "ws://127.0.0.1:$port" --server-pids "$pid" \
    --visitors "$VISITORS" --agents 1 --rate 0 --duration 20 --drain 1 --workers 2 \
    --source-ips 8 --connect-concurrency 300 \
    --out "$RESULTS/idle.json" --summary "$RESULTS/idle.md"
echo "results in $RESULTS"
