#!/usr/bin/env bash
# How late the tracker handles its timers (warning lights, 督办 levels, accept and verify
# deadlines) while intake runs at full speed. The demo city is copied with its stage limits
# made one minute of clock time, so the cases opened under load fall due under load too:
# reminders at 45 s, pressing at 60 s, yellow and red cards at 90 s and 120 s, then a repeat
# every 30 s. `gridd bench --scenario intake` runs for $SECONDS_LOAD seconds; the engine runs
# $SECONDS_AFTER seconds more; then the script prints the engine's whole-run histogram
# `gridd_timer_lateness_seconds` from /metrics: how many timers were handled within each bound.
#
#   GRIDD_BIN=target/release/gridd SECONDS_LOAD=60 SECONDS_AFTER=90 bash benches/escalation-lateness.sh
#
# Nothing else heavy should run meanwhile: the engine, the tool and this script share the
# machine.

set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

. benches/engine.sh
SECONDS_LOAD="${SECONDS_LOAD:-60}"
SECONDS_AFTER="${SECONDS_AFTER:-90}"
CLIENTS="${CLIENTS:-64}"
WORK=target/bench/lateness

rm -rf "$WORK"
mkdir -p "$WORK"
cp -r config/xinyi "$WORK/city"
# Every stage limit one clock minute (the urgent dispatch limit is clock time already).
sed -i -E 's/^(dispatch_normal|accept|check_urban|check_rural|verify) = ".*"/\1 = "1min"/' "$WORK/city/city.toml"
grep -E '^(dispatch_normal|accept|check_urban|check_rural|verify) = "1min"' "$WORK/city/city.toml" | wc -l | grep -qx 5 ||
    { echo "escalation-lateness.sh: the stage limits of config/xinyi/city.toml were not found" >&2; exit 1; }
sed -e 's#^city = .*#city = "city/city.toml"#' -e 's#^sqlite = .*#sqlite = "gridd.db"#' benches/gridd-bench.toml > "$WORK/gridd.toml"

start_engine "$WORK/gridd.toml" "$WORK/engine.log"
bench --scenario intake --clients "$CLIENTS" --seconds "$SECONDS_LOAD"
sleep "$SECONDS_AFTER"

curl -sf "$HTTP/metrics" | awk '
    /^gridd_timer_lateness_seconds_bucket/ { match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); bound[++n] = le; count[n] = $NF }
    /^gridd_timer_lateness_seconds_sum/ { sum = $NF }
    /^gridd_timer_lateness_seconds_count/ { total = $NF }
    /^gridd_escalations_total/ { escalations += $NF }
    END {
        if (total == 0) { print "no timer fired"; exit 1 }
        printf "timers handled: %d (escalations fired: %d); mean lateness %.1f ms\n", total, escalations, 1000 * sum / total
        for (i = 1; i <= n; i++) printf "  within %-5s s: %9d  (%.3f %%)\n", bound[i], count[i], 100 * count[i] / total
    }'
stop_engine
