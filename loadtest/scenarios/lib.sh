# Shared by the load scenarios (sourced): builds, fresh databases, starting and stopping nodes.
# PostgreSQL and Redis come from PARLEY_TEST_POSTGRES_URL / PARLEY_TEST_REDIS_URL (a role that
# may CREATE DATABASE), e.g. `source /tmp/dev.env`, or `eval "$(scripts/services.sh start)"`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [[ -z "${PARLEY_TEST_POSTGRES_URL:-}" && -f /tmp/dev.env ]]; then
    # shellcheck disable=SC1091
    source /tmp/dev.env
fi
: "${PARLEY_TEST_POSTGRES_URL:?set PARLEY_TEST_POSTGRES_URL (see scripts/services.sh)}"

# PARLEY_BIN: another parley binary to measure (e.g. a patched build); SKIP_BUILD=1: no cargo.
PARLEY="${PARLEY_BIN:-$ROOT/target/release/parley}"
LOADTEST="$ROOT/target/release/loadtest"
RELAY="$ROOT/target/release/relay"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="${RESULTS:-$ROOT/loadtest/results/$STAMP}"
mkdir -p "$RESULTS"
RUN_DIR="$(mktemp -d /tmp/parley-load.XXXXXX)"
PIDS=()

# Two builds, not one: built together, the crates' tokio features would unify and parley
# would be rebuilt for a feature set of its own (minutes on two cores).
build() {
    if [[ -n "${SKIP_BUILD:-}" ]]; then return 0; fi
    cargo build --release --bin parley >&2
    cargo build --release -p loadtest --bins >&2
}

# fresh_db NAME: drops and creates database NAME; prints its URL.
fresh_db() {
    local name="$1"
    psql -q "$PARLEY_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" \
        -c "CREATE DATABASE $name" >&2
    echo "${PARLEY_TEST_POSTGRES_URL%/*}/$name"
}

# wait_http URL: waits up to 60 s for URL to answer.
wait_http() {
    for _ in $(seq 600); do
        if curl -fs -o /dev/null "$1"; then return 0; fi
        sleep 0.1
    done
    echo "no answer from $1" >&2
    return 1
}

# start_node PORT STORE_URL [REDIS_URL]: starts a Parley node in the background; sets NODE_PID.
start_node() {
    local port="$1" store="$2" redis="${3:-}"
    local config="$RUN_DIR/config"
    mkdir -p "$config"
    cp "$ROOT/config/default.toml" "$config/default.toml"
    cp "$ROOT/loadtest/parley-load.toml" "$config/load.toml"
    (
        ulimit -n 20000
        PARLEY_ENV=load PARLEY_CONFIG_DIR="$config" PARLEY__STORE__URL="$store" \
            PARLEY__HTTP__PORT="$port" PARLEY__BUS__REDIS_URL="$redis" \
            exec "$PARLEY" serve
    ) >"$RESULTS/node-$port.log" 2>&1 &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    wait_http "http://127.0.0.1:$port/healthz"
}

# stop_all: stops what this script started, by pid.
stop_all() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}

cleanup() {
    stop_all
    rm -rf "$RUN_DIR"
}
trap cleanup EXIT

# ports: N free TCP ports on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# perf_profile PID SECONDS NAME: once the generator creates $RUN_DIR/go (its --go-file, the
# start of the measured window), a CPU profile of PID for SECONDS, when perf is usable; the
# top of it goes to $RESULTS/NAME.perf.txt. Runs in the background (PERF_PID).
perf_profile() {
    PERF_PID=""
    if ! command -v perf >/dev/null || ! perf record -o /dev/null -p "$1" -- sleep 0.1 >/dev/null 2>&1; then
        return 0
    fi
    (
        while [[ ! -f "$RUN_DIR/go" ]]; do sleep 0.2; done
        perf record -F 499 -g -o "$RUN_DIR/$3.perf.data" -p "$1" -- sleep "$2" >/dev/null 2>&1
        perf report -i "$RUN_DIR/$3.perf.data" --no-children --sort symbol --stdio -g none \
            2>/dev/null | grep -v '^#' | grep -v '^$' | head -60 >"$RESULTS/$3.perf.txt"
    ) &
    PERF_PID=$!
}

# threads_cpu PID: per-thread CPU seconds (utime + stime), by thread name.
threads_cpu() {
    for t in /proc/"$1"/task/*; do
        awk -v name="$(cat "$t/comm")" '{ split($0, a, ") "); split(a[2], f, " "); printf "%s %.2f\n", name, (f[12] + f[13]) / 100 }' "$t/stat"
    done | sort | awk '{ s[$1] += $2 } END { for (k in s) printf "%s %.2f s\n", k, s[k] }'
}
