#!/usr/bin/env bash
# Where the embedded engine's time goes under one `gridd bench` scenario: starts `gridd run` on
# benches/gridd-bench.toml with a fresh database (or on a copy of $SEEDED, an existing
# database), runs the scenario, and prints beside the tool's figures
# - the engine's CPU time (user + system, from /proc) over the run's wall time;
# - the one SQLite writer: groups committed, writes per group, and the time it spent running
#   and committing them (`gridd_store_commit_seconds`, `gridd_store_group_writes` on /metrics),
#   as a share of the wall time: near 100 %, the writer is what bounds the engine;
# - the tool's own CPU time, since the tool shares the machine;
# - the engine's resident memory at the end, and its peak;
# - the database's size after the engine stopped.
# DESCRIPTION_CHARS sets the reports' description length (`gridd bench --description-chars`),
# RATE the operations started per second over all clients (`gridd bench --rate`; unset: as
# fast as the clients go), BATCH the alerts per camera stream (`gridd bench --batch`).
#
#   GRIDD_BIN=target/release/gridd SCENARIO=intake CLIENTS=64 SECONDS_LOAD=15 bash benches/writer-load.sh
#
# Nothing else heavy should run meanwhile: the engine, the tool and this script share the
# machine.

set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

. benches/engine.sh
SCENARIO="${SCENARIO:-intake}"
CLIENTS="${CLIENTS:-64}"
SECONDS_LOAD="${SECONDS_LOAD:-15}"
DB=target/bench/gridd.db

fresh_database "$DB" "${SEEDED:-}"
start_engine benches/gridd-bench.toml target/bench/writer-load-engine.log

# Sum and count of the writer's histograms, as "name value" lines.
writer_metrics() {
    curl -sf "$HTTP/metrics" | grep -E '^gridd_store_(commit_seconds|group_writes)_(sum|count) ' || true
}

before=$(writer_metrics)
cpu_before=$(engine_cpu_ticks)
started=$EPOCHREALTIME
# bash's own `time`: the user and system CPU of the tool (and of the two filters after it).
TIMEFORMAT='%U %S'
{ time bench --scenario "$SCENARIO" --clients "$CLIENTS" --seconds "$SECONDS_LOAD" \
    --description-chars "${DESCRIPTION_CHARS:-0}" ${RATE:+--rate "$RATE"} ${BATCH:+--batch "$BATCH"}; } 2> target/bench/writer-load-tool.time
ended=$EPOCHREALTIME
cpu_after=$(engine_cpu_ticks)
after=$(writer_metrics)

awk -v t0="$started" -v t1="$ended" -v c0="$cpu_before" -v c1="$cpu_after" -v hz="$(getconf CLK_TCK)" \
    -v tool="$(cat target/bench/writer-load-tool.time)" -v before="$before" -v after="$after" '
    function parse(text, into,    lines, i, f) {
        split(text, lines, "\n")
        for (i in lines) { split(lines[i], f, " "); if (f[1] != "") into[f[1]] = f[2] }
    }
    BEGIN {
        parse(before, was); parse(after, now)
        wall = t1 - t0
        groups = now["gridd_store_commit_seconds_count"] - was["gridd_store_commit_seconds_count"]
        busy = now["gridd_store_commit_seconds_sum"] - was["gridd_store_commit_seconds_sum"]
        writes = now["gridd_store_group_writes_sum"] - was["gridd_store_group_writes_sum"]
        split(tool, cpu, " ")
        printf "wall time                %.1f s\n", wall
        printf "engine CPU               %.2f s (%.2f cores)\n", (c1 - c0) / hz, (c1 - c0) / hz / wall
        printf "tool CPU                 %.2f s (%.2f cores)\n", cpu[1] + cpu[2], (cpu[1] + cpu[2]) / wall
        if (groups > 0)
            printf "writer                   %d groups, %.1f writes each, %.2f ms each, busy %.1f s (%.0f %% of the wall time)\n",
                groups, writes / groups, busy / groups * 1000, busy, busy / wall * 100
    }'
echo "engine resident          $(awk '/^VmRSS/ { print $2, $3 }' "/proc/$ENGINE/status") (peak $(awk '/^VmHWM/ { print $2, $3 }' "/proc/$ENGINE/status"))"
stop_engine
echo "database after stop      $(du -cb "$DB"* | tail -1 | cut -f1) bytes"
