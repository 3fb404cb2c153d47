#!/usr/bin/env bash
# Scenario (d): reconnect storm. Visitors chat; between 10 s and 20 s into the window every
# visitor drops its socket, reconnects, subscribes with `after_seq` = the last seq it saw and
# resends what was not acked (same client ids). Nothing may be lost or doubled.
#   loadtest/scenarios/reconnect.sh [VISITORS] [RATE] [DURATION]
source "$(dirname "$0")/lib.sh"
VISITORS="${1:-2000}" RATE="${2:-1000}" DURATION="${3:-40}" AGENTS="${AGENTS:-200}"
build
db="$(fresh_db parley_load_reconnect)"
port="$(free_port)"
start_node "$port" "$db"
pid="$NODE_PID"
"$LOADTEST" run --label "parley reconnect storm" --target parley --mode reconnect \
    --reconnect-at 10 --reconnect-window 10 --drain 10 \
    --visitor-servers "ws://127.0.0.1:$port" --server-pids "$pid" \
    --db-pids "$(pgrep -d, -x postgres || true)" \
    --visitors "$VISITORS" --agents "$AGENTS" --rate "$RATE" --duration "$DURATION" --workers 2 \
    --out "$RESULTS/reconnect.json" --summary "$RESULTS/reconnect.md"
echo "results in $RESULTS"
