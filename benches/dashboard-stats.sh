#!/usr/bin/env bash
# What the dashboard's indicators cost the embedded engine: starts `gridd run` on
# benches/gridd-bench.toml with a fresh database (or on a copy of $SEEDED, an existing one),
# then asks `GetStats` $CALLS times for each of the dashboard's two ranges, today and this
# month (proto3 JSON over HTTP, as the page asks), and prints for each range the slowest and
# the median answer, the engine's CPU per answer and its peak resident memory.
#
#   SEEDED=target/bench/seeded.db GRIDD_BIN=target/release/gridd CALLS=5 bash benches/dashboard-stats.sh
#
# Nothing else heavy should run meanwhile: the engine and this script share the machine.

set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

. benches/engine.sh
CALLS="${CALLS:-5}"
DB=target/bench/gridd.db

fresh_database "$DB" "${SEEDED:-}"
start_engine benches/gridd-bench.toml target/bench/dashboard-stats-engine.log

# Times $CALLS GetStats calls with body $2; prints "<range>: median …, slowest …, CPU … per call".
ask() {
    local label=$1 body=$2 times=() ticks_before ticks_after cpu
    ticks_before=$(engine_cpu_ticks)
    for _ in $(seq 1 "$CALLS"); do
        times+=("$(curl -sf -o /dev/null -w '%{time_total}' -X POST -H "authorization: Bearer $KEY" \
            -H 'content-type: application/json' "$HTTP/v1/rpc/gridd.v1.DispatchService/GetStats" -d "$body")")
    done
    ticks_after=$(engine_cpu_ticks)
    cpu=$(awk -v a="$ticks_before" -v b="$ticks_after" -v hz="$(getconf CLK_TCK)" -v n="$CALLS" 'BEGIN { print (b - a) / hz / n }')
    printf '%s\n' "${times[@]}" | sort -n | awk -v label="$label" -v cpu="$cpu" '
        { t[NR] = $1 }
        END { printf "%-11s median %.3f s, slowest %.3f s, engine CPU %.3f s per call\n", label ":", t[int((NR + 1) / 2)], t[NR], cpu }'
}

# The city's day and month (China Standard Time), as the page counts them.
today=$(date -u -d "$(TZ=Asia/Shanghai date +%F) 00:00 +0800" +%FT%TZ)
month=$(date -u -d "$(TZ=Asia/Shanghai date +%Y-%m-01) 00:00 +0800" +%FT%TZ)
ask today "{\"from\":\"$today\"}"
ask "this month" "{\"from\":\"$month\"}"
echo "engine peak resident: $(awk '/^VmHWM/ { print $2, $3 }' "/proc/$ENGINE/status")"
stop_engine
