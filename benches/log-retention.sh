#!/usr/bin/env bash
# What log retention costs and saves in the embedded mode. Runs `gridd bench --scenario
# $SCENARIO` (intake unless set) twice on a fresh database each, the same binary and load: once
# with the shipped retention (72 h, finished cases' histories kept: nothing is trimmed during
# the run) and once with `[retention]` at $KEEP, and finished cases' histories at $FINISHED
# when set. Every 10 s it prints the database's size with its WAL and the records on the
# intake, dispatch and ticket-event logs; at the end, each run's figures as the tool printed
# them.
#
#   GRIDD_BIN=target/release/gridd SECONDS_LOAD=120 KEEP=20s bash benches/log-retention.sh
#   GRIDD_BIN=target/release/gridd SCENARIO=lifecycle SECONDS_LOAD=60 KEEP=20s FINISHED=20s bash benches/log-retention.sh
#
# Nothing else heavy should run meanwhile: the engine, the tool and this script share the
# machine.

set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

. benches/engine.sh
SECONDS_LOAD="${SECONDS_LOAD:-120}"
KEEP="${KEEP:-20s}"
FINISHED="${FINISHED:-}"
SCENARIO="${SCENARIO:-intake}"
CLIENTS="${CLIENTS:-64}"
DB=target/bench/gridd.db

mkdir -p target/bench
# The bench configuration, moved next to its database (paths are relative to the file).
SHIPPED=target/bench/retention-shipped.toml
TRIMMED=target/bench/retention-trimmed.toml
sed 's#"\.\./#"../../#' benches/gridd-bench.toml > "$SHIPPED"
{
    cat "$SHIPPED"
    printf '\n[retention]\nintake = "%s"\ndispatch = "%s"\n' "$KEEP" "$KEEP"
    if [ -n "$FINISHED" ]; then printf 'finished_cases = "%s"\n' "$FINISHED"; fi
} > "$TRIMMED"

records() {
    sqlite3 "file:$DB?mode=ro" "SELECT 'intake', COUNT(*) FROM log_intake UNION ALL SELECT 'dispatch', COUNT(*) FROM log_dispatch \
        UNION ALL SELECT 'ticket-events', COUNT(*) FROM log_ticket_events" 2>/dev/null |
        tr '\n' ' '
}

run() {
    local name=$1 config=$2
    fresh_database "$DB"
    start_engine "$config" "target/bench/retention-$name.log"
    bench --scenario "$SCENARIO" --clients "$CLIENTS" --seconds "$SECONDS_LOAD" > "target/bench/retention-$name.out" &
    local tool=$!
    local t=0
    while kill -0 "$tool" 2>/dev/null; do
        sleep 10
        t=$((t + 10))
        echo "$name t=${t}s: database with WAL $(du -cb "$DB"* | tail -1 | cut -f1) bytes; records $(records)"
    done
    wait "$tool" || true
    sed "s/^/$name: /" "target/bench/retention-$name.out"
    stop_engine
    echo "$name after stop: database $(du -cb "$DB"* | tail -1 | cut -f1) bytes; records $(records)"
}

run shipped "$SHIPPED"
run "keep-$KEEP" "$TRIMMED"
