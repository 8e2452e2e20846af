#!/usr/bin/env bash
# One camera repeating one detection, every alert merging into its one open case: what that
# costs the embedded engine. Starts `gridd run` on benches/gridd-bench.toml with a fresh
# database, streams $ALERTS alerts of one camera in streams of 500 with `gridd bench`, waits
# until the case holds them all, then prints how long that took after the load, the size of
# the case view (GetTicket with its history, proto3 JSON over HTTP, as the dashboard asks for
# it) and the database's, while running (with its WAL) and after the engine stopped.
#
#   GRIDD_BIN=target/release/gridd ALERTS=10000 bash benches/camera-storm.sh
#
# Nothing else heavy should run meanwhile: the engine, the tool and this script share the
# machine.

set -euo pipefail
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

. benches/engine.sh
ALERTS="${ALERTS:-10000}"
DB=target/bench/gridd.db
STREAMS=$(( (ALERTS + 499) / 500 ))
WANT=$(( STREAMS * 500 ))

fresh_database "$DB"
start_engine benches/gridd-bench.toml target/bench/storm-engine.log
bench --scenario camera --clients 1 --cameras 1 --batch 500 --requests "$STREAMS" --seconds 3600

rpc() {
    curl -sf -X POST -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
        "$HTTP/v1/rpc/gridd.v1.DispatchService/$1" -d "$2"
}
# Sums report_count over the listed cases; prints "<reports> <cases> <first case id>".
counts() {
    rpc ListTickets '{}' | python3 -c 'import json, sys
t = json.load(sys.stdin).get("tickets", [])
print(sum(x.get("reportCount", 0) for x in t), len(t), t[0]["id"] if t else "-")'
}

started=$EPOCHREALTIME
while :; do
    read -r reports cases case < <(counts)
    [ "$reports" -ge "$WANT" ] && break
    sleep 0.2
done
echo "all $WANT alerts in $cases case(s), $(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s after the load ended"
echo "case view with history (its first page): $(rpc GetTicket "{\"id\":\"$case\",\"includeHistory\":true}" | wc -c) bytes"
echo "database with its WAL, running: $(du -cb "$DB"* | tail -1 | cut -f1) bytes"
stop_engine
echo "database after the engine stopped: $(du -cb "$DB"* | tail -1 | cut -f1) bytes"
