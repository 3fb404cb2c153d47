#!/usr/bin/env bash
# Scenario (b): 2,000 active conversations, 2,000 visitor messages/s in (agents answer each one),
# one node on PostgreSQL; 200 agents with 10 conversations each (AGENTS=… to change).  loadtest/scenarios/chat.sh [VISITORS] [RATE] [DURATION]
source "$(dirname "$0")/lib.sh"
VISITORS="${1:-2000}" RATE="${2:-2000}" DURATION="${3:-30}" AGENTS="${AGENTS:-200}"
build
db="$(fresh_db parley_load_chat)"
port="$(free_port)"
start_node "$port" "$db"
pid="$NODE_PID"
perf_profile "$pid" 20 chat
"$LOADTEST" run --label "parley chat" --target parley --mode chat \
    --visitor-servers "ws://127.0.0.1:$port" --server-pids "$pid" --db-pids "$(pgrep -d, -x postgres || true)" \
    --visitors "$VISITORS" --agents "$AGENTS" --rate "$RATE" --duration "$DURATION" --workers 2 \
    --go-file "$RUN_DIR/go" --out "$RESULTS/chat.json" --summary "$RESULTS/chat.md"
threads_cpu "$pid" > "$RESULTS/chat-threads.txt"
if [[ -n "$PERF_PID" ]]; then wait "$PERF_PID" || true; fi
echo "results in $RESULTS"
