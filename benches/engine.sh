# Sourced by the bench scripts that drive one embedded engine (camera-storm.sh, writer-load.sh,
# log-retention.sh, escalation-lateness.sh, dashboard-stats.sh): the engine on a configuration
# whose HTTP port is benches/gridd-bench.toml's, a fresh administrator key, and the tool pointed
# at it.
#
#   fresh_database <file> [<store>]    removes the database and its WAL, or puts a copy of <store> there
#   start_engine <config> <log file>   sets KEY and ENGINE, returns once /metrics answers
#   bench <gridd bench options…>       runs the tool against it with KEY, its progress lines dropped
#   engine_cpu_ticks                   the engine's CPU time so far (user + system), in clock ticks
#   stop_engine                        stops it and waits for it to exit

GRIDD_BIN="${GRIDD_BIN:-target/release/gridd}"
HTTP=http://127.0.0.1:9474
GRPC=http://127.0.0.1:50061

fresh_database() {
    rm -f "$1" "$1"-wal "$1"-shm
    mkdir -p "$(dirname "$1")"
    if [ -n "${2:-}" ]; then
        cp "$2" "$1"
    fi
}

start_engine() {
    ENGINE_CONFIG=$1
    KEY=$("$GRIDD_BIN" --config "$ENGINE_CONFIG" key create administrator --name bench 2>/dev/null | grep -o 'gk_[0-9a-f_]*' | head -1)
    [ -n "$KEY" ] || { echo "no key could be created with $ENGINE_CONFIG" >&2; return 1; }
    "$GRIDD_BIN" --config "$ENGINE_CONFIG" run > "$2" 2>&1 &
    ENGINE=$!
    trap 'kill $ENGINE 2>/dev/null || true' EXIT
    for _ in $(seq 1 60); do curl -sf -o /dev/null "$HTTP/metrics" && return 0; sleep 0.5; done
    echo "the engine did not answer on $HTTP; see $2" >&2
    return 1
}

bench() {
    GRIDD_BENCH_KEY="$KEY" "$GRIDD_BIN" --config "$ENGINE_CONFIG" bench --target "$GRPC" "$@" 2>&1 |
        tr '\r' '\n' | grep -v -e '^\[' -e '^$'
}

engine_cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$ENGINE/stat"
}

stop_engine() {
    kill "$ENGINE"
    wait "$ENGINE" 2>/dev/null || true
    trap - EXIT
}
