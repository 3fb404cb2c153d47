#!/usr/bin/env bash
# Routing under a burst: RUNS times (default 8), 200 agents connect and set `available`, then
# 2,000 visitors start conversations at once (`chat.sh 2000 250 10`); /metrics is polled during
# each run. A run in which every visitor is connected but no routing decision of any outcome has
# been made for 12 s is a stall: the node's threads are dumped with gdb (when installed) to
# $RESULTS/run-N/bt.txt and the script stops. See docs/performance.md "Load tests".
#   loadtest/scenarios/routing-burst.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${1:-8}"
RESULTS="${RESULTS:-loadtest/results/routing-burst-$(date -u +%Y%m%dT%H%M%SZ)}"
stalls=0
for i in $(seq 1 "$RUNS"); do
  dir="$RESULTS/run-$i"; mkdir -p "$dir"
  RESULTS="$dir" loadtest/scenarios/chat.sh 2000 250 10 > "$dir/run.log" 2>&1 &
  runner=$!
  quiet=0
  while kill -0 "$runner" 2>/dev/null; do
    log=$(ls "$dir"/node-*.log 2>/dev/null | head -1 || true)
    if [[ -n "$log" ]]; then
      port=${log##*node-}; port=${port%.log}
      m=$(curl -s --max-time 2 "http://127.0.0.1:$port/metrics" || true)
      v=$(echo "$m" | awk '/^parley_sockets_open\{kind="visitor"\}/ {print $2}')
      r=$(echo "$m" | awk '/^parley_routing_decisions_total/ {s+=$2} END {print s+0}')
      echo "$(date -u +%T) visitors=${v:-0} routing_decisions=$r" >> "$dir/metrics.txt"
      if [[ "${v:-0}" == "2000" && "$r" == "0" ]]; then quiet=$((quiet + 1)); fi
      if (( quiet >= 4 )) && [[ ! -f "$dir/bt.txt" ]]; then
        stalls=$((stalls + 1))
        pid=$(pgrep -f "release/parley serve" | head -1 || true)
        if [[ -n "$pid" ]] && command -v gdb > /dev/null; then
          gdb -p "$pid" -batch -ex "thread apply all bt 30" > "$dir/bt.txt" 2>&1 || true
        fi
      fi
    fi
    sleep 3
  done
  echo "run $i: $(grep -h 'agents follow' "$dir/run.log" || echo 'no result')"
  # After the first run the binaries are built.
  export SKIP_BUILD=1
  if [[ -f "$dir/bt.txt" ]]; then break; fi
done
echo "stalls: $stalls of the runs above; results in $RESULTS"
(( stalls == 0 ))
