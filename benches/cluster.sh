#!/usr/bin/env bash
# The distributed mode under load: one ingest+gateway process, $ROUTERS routers and $TRACKERS
# trackers on PostgreSQL and a Kafka-protocol broker (tansu), driven by `gridd bench` over gRPC.
#
# Intake only acknowledges that a report reached the log; routing and filing happen later in
# other processes. So besides the tool's intake figures this script follows, once a second,
# how many accepted reports have been placed in a case (reports.ticket_id set by a tracker),
# and after the load how long the routers and trackers take to catch up.
#
# Everything runs on this one machine, so nothing else heavy (a compile, say) should run
# meanwhile: it would take the cores from the processes measured.
#
#   GRIDD_BIN=target/release/gridd ROUTERS=2 TRACKERS=2 CLIENTS=64 SECONDS_LOAD=20 bash benches/cluster.sh
#
# Settings (environment): GRIDD_BIN (default target/release/gridd), ROUTERS (2), TRACKERS (2),
# CLIENTS (64), SECONDS_LOAD (20), DRAIN_LIMIT (120 s of catching up at most), PARTITIONS
# (topic partitions; default the larger of 4, ROUTERS and TRACKERS), SETTLE (2 s more once
# every consumer has its partitions), SCENARIO (intake), RATE (operations started per second
# over all clients, `gridd bench --rate`; unset: as fast as the clients go).
#
# Faults: KILL (a process name, e.g. router-1) and KILL_AT (seconds into the load, default 10):
# kill that process with SIGKILL then, and report the longest stretches of once-a-second
# samples after it with nothing routed, and with nothing placed, while reports waited.
# FREEZE_BROKER_AT (seconds into the load) and FREEZE_FOR (default 5): stop the broker with
# SIGSTOP then, resume it with SIGCONT FREEZE_FOR seconds later, and report the same stretches
# from the resumption.
#
# PostgreSQL and the broker come from tests/services.sh and stay up afterwards; the next run
# finds them again through target/bench/cluster/services.env (or GRIDD_TEST_POSTGRES_URL /
# GRIDD_TEST_KAFKA_BROKERS when they are set).

set -euo pipefail
# Decimal points, not commas, in $EPOCHREALTIME and awk.
export LC_ALL=C

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

GRIDD_BIN="${GRIDD_BIN:-target/release/gridd}"
ROUTERS="${ROUTERS:-2}"
TRACKERS="${TRACKERS:-2}"
CLIENTS="${CLIENTS:-64}"
SECONDS_LOAD="${SECONDS_LOAD:-20}"
DRAIN_LIMIT="${DRAIN_LIMIT:-120}"
SETTLE="${SETTLE:-2}"
SCENARIO="${SCENARIO:-intake}"
KILL="${KILL:-}"
KILL_AT="${KILL_AT:-10}"
FREEZE_BROKER_AT="${FREEZE_BROKER_AT:-}"
FREEZE_FOR="${FREEZE_FOR:-5}"
# At most one consumer per partition does work: fewer partitions than processes would leave
# some routers or trackers idle.
PARTITIONS="${PARTITIONS:-$(printf '%s\n' 4 "$ROUTERS" "$TRACKERS" | sort -n | tail -n 1)}"

DIR="$ROOT/target/bench/cluster"
CITY="$ROOT/config/xinyi/city.toml" # the demo city, as benches/gridd-bench.toml
STATE="$DIR/services.env"

# Process ids of everything this script starts and must stop (never the services).
PIDS=()

log() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# Inherited descriptors would outlive this script in the services it starts: flock(1), for one,
# hands its lock to the command as an open descriptor, and a broker or PostgreSQL holding it
# would keep the lock taken long after the run. Keep only the standard streams and bash's own
# (255).
close_inherited_fds() {
    local fd
    for fd in $(ls /proc/$$/fd); do
        case "$fd" in
            0 | 1 | 2 | 255) ;;
            *) eval "exec $fd>&-" 2>/dev/null || true ;;
        esac
    done
}

now() { printf '%s\n' "$EPOCHREALTIME"; }
# Arithmetic on fractional seconds.
# (Parenthesised: a bare `>` after awk's printf would redirect into a file.)
calc() { awk "BEGIN { printf \"%.${2:-1}f\", ($1) }"; }

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# One SQL statement on the run's database; unaligned, no headers, fields separated by spaces.
sql() { psql "$DB_URL" -X -q -t -A -F ' ' -v ON_ERROR_STOP=1 -c "$1"; }
admin_sql() { psql "$GRIDD_TEST_POSTGRES_URL" -X -q -t -A -v ON_ERROR_STOP=1 -c "$1"; }

# PostgreSQL and the broker. tests/services.sh starts a fresh pair on every call, so the pair
# of an earlier run is reused when it still answers, and a new one started (and remembered)
# otherwise.
ensure_services() {
    # shellcheck source=tests/services.sh
    source tests/services.sh
    if [ -z "${GRIDD_TEST_POSTGRES_URL:-}${GRIDD_TEST_KAFKA_BROKERS:-}" ] && [ -f "$STATE" ]; then
        # shellcheck disable=SC1090
        source "$STATE"
    fi
    if [ -n "${GRIDD_TEST_POSTGRES_URL:-}" ] && psql "$GRIDD_TEST_POSTGRES_URL" -X -q -t -c 'SELECT 1' >/dev/null 2>&1; then
        log "PostgreSQL: reusing $GRIDD_TEST_POSTGRES_URL"
    else
        start_postgres
    fi
    local broker="${GRIDD_TEST_KAFKA_BROKERS:-}"
    if [ -n "$broker" ] && tcp_open "${broker%:*}" "${broker##*:}"; then
        log "broker: reusing $broker"
    else
        start_broker
    fi
    {
        echo "export GRIDD_TEST_POSTGRES_URL=$GRIDD_TEST_POSTGRES_URL"
        echo "export GRIDD_TEST_KAFKA_BROKERS=$GRIDD_TEST_KAFKA_BROKERS"
    } >"$STATE"
}

# A database and a topic prefix of this run's own, so no run sees another's reports. Databases
# of earlier runs are dropped (their processes are gone); the newest stays for inspection until
# the next run.
create_run_database() {
    RUN="gridd_bench_$(date +%Y%m%d_%H%M%S)_$$"
    local old
    for old in $(admin_sql "SELECT datname FROM pg_database WHERE datname LIKE 'gridd\_bench\_%'"); do
        admin_sql "DROP DATABASE IF EXISTS $old" >/dev/null 2>&1 || log "could not drop $old (still in use?)"
    done
    admin_sql "CREATE DATABASE $RUN" >/dev/null
    DB_URL="${GRIDD_TEST_POSTGRES_URL%/*}/$RUN"
    TOPIC_PREFIX="$RUN."
}

# The engine file of one process: everything shared but the listening ports, so every process
# gets ports of its own on this one host.
write_config() {
    local file="$1" grpc="$2" http="$3"
    cat >"$file" <<EOF
# Written by benches/cluster.sh for run $RUN; overwritten by the next run.
city = "$CITY"

[server]
grpc = "127.0.0.1:$grpc"
http = "127.0.0.1:$http"

[distributed]
postgres = "$DB_URL"
kafka = "$GRIDD_TEST_KAFKA_BROKERS"
topic_prefix = "$TOPIC_PREFIX"
partitions = $PARTITIONS
replication = 1

[reload]
# The city does not change during a run.
poll = "1h"

[auth]
open_reflection = true
open_metrics = true
# The load tool sends everything with one key: the per-key intake limit must not be what is
# measured.
intake_rate = 1000000
intake_burst = 1000000
EOF
}

# Starts `gridd run --role <roles>` as process <name>; its HTTP port is remembered for the
# readiness check.
declare -A HTTP_PORT PID_OF
start_process() {
    local name="$1" roles="$2" grpc http
    grpc="$(free_port)"
    http="$(free_port)"
    write_config "$DIR/$name.toml" "$grpc" "$http"
    "$GRIDD_BIN" --config "$DIR/$name.toml" --role "$roles" --node 0 run </dev/null >"$DIR/$name.log" 2>&1 &
    PIDS+=("$!")
    PID_OF[$name]="$!"
    HTTP_PORT[$name]="$http"
    if [ "$name" = gateway ]; then GRPC_PORT="$grpc"; fi
    log "started $name (roles $roles, pid $!, gRPC 127.0.0.1:$grpc, HTTP 127.0.0.1:$http)"
}

# Waits until every named process answers /health/readyz with 200: its database and broker
# answer (readiness drops whenever one does not).
wait_ready() {
    local name deadline=$((SECONDS + 60))
    for name in "$@"; do
        until curl -fsS -o /dev/null "http://127.0.0.1:${HTTP_PORT[$name]}/health/readyz" 2>/dev/null; do
            check_alive
            [ "$SECONDS" -lt "$deadline" ] || die "$name was not ready within 60 s; see $DIR/$name.log"
            sleep 0.2
        done
    done
}

# Readiness says the database and broker answer, not that the consumer groups have settled
# (that takes seconds more); a load started at once would first measure the rebalancing. So
# wait until every router and tracker has logged the partitions it was given.
wait_assigned() {
    local name deadline=$((SECONDS + 60))
    for name in "$@"; do
        until grep -q "partitions assigned" "$DIR/$name.log"; do
            check_alive
            if [ "$SECONDS" -ge "$deadline" ]; then
                log "$name has logged no partitions assigned within 60 s; starting the load anyway"
                return
            fi
            sleep 0.2
        done
    done
}

# A role process that has died makes every later figure meaningless.
check_alive() {
    local pid
    for pid in "${PIDS[@]}"; do
        [ "$pid" = "${BENCH_PID:-}" ] && continue
        kill -0 "$pid" 2>/dev/null || die "process $pid has exited; see the logs in $DIR"
    done
}

# On exit, whatever the reason: SIGTERM to what this script started, SIGKILL to what is left
# after 10 s. PostgreSQL and the broker stay.
cleanup() {
    local status=$? pid
    trap - EXIT
    set +e
    # A broker left frozen would hang the next run and the tests.
    [ -n "${BROKER_PID:-}" ] && kill -CONT "$BROKER_PID" 2>/dev/null
    if [ "${#PIDS[@]}" -gt 0 ]; then
        for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
        for _ in $(seq 1 50); do
            local alive=0
            for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
            [ "$alive" = 0 ] && break
            sleep 0.2
        done
        for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
        # Only these: a bare `wait` would also wait for a broker this shell started.
        wait "${PIDS[@]}" 2>/dev/null
    fi
    exit "$status"
}

# SIGKILL to process $1, which is then no longer one to check or stop.
kill_one() {
    local victim="${PID_OF[$1]:-}" pid kept=()
    [ -n "$victim" ] || die "KILL=$1: no such process (router-N, tracker-N or gateway)"
    kill -KILL "$victim"
    T_KILL="$(now)"
    for pid in "${PIDS[@]}"; do [ "$pid" = "$victim" ] || kept+=("$pid"); done
    PIDS=("${kept[@]}")
    printf -- '--- killed %s (pid %s) at t=%ss ---\n' "$1" "$victim" "$(calc "$T_KILL - $T0")"
}

# The broker's process: the one listening on its port.
broker_pid() {
    local port="${GRIDD_TEST_KAFKA_BROKERS##*:}"
    ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}

# SIGSTOP to the broker; `thaw_broker` resumes it and starts the stall count (T_KILL) there.
freeze_broker() {
    BROKER_PID="$(broker_pid)"
    [ -n "$BROKER_PID" ] || die "FREEZE_BROKER_AT: no process listens on $GRIDD_TEST_KAFKA_BROKERS"
    kill -STOP "$BROKER_PID"
    T_FROZEN="$(now)"
    printf -- '--- froze the broker (pid %s) at t=%ss ---\n' "$BROKER_PID" "$(calc "$T_FROZEN - $T0")"
}

thaw_broker() {
    kill -CONT "$BROKER_PID"
    T_KILL="$(now)"
    printf -- '--- resumed the broker at t=%ss ---\n' "$(calc "$T_KILL - $T0")"
}

# Seconds from the kill until another process logged partitions assigned to it (the killed
# one's, handed over); empty if none did.
handed_over_after_kill() {
    local ts epoch
    while read -r ts; do
        epoch="$(date -d "$ts" +%s.%N)"
        if [ "$(calc "$epoch > $T_KILL" 0)" = 1 ]; then
            calc "$epoch - $T_KILL" 1
            return
        fi
    done < <(sed 's/\x1b\[[0-9;]*m//g' "$DIR"/router-*.log "$DIR"/tracker-*.log | awk '/partitions assigned/ { print $1 }' | sort)
}

# One look at the reports table, into ACCEPTED, ROUTED (decided by a router), PLACED, OLDEST_AGE (how long the oldest report
# not yet in a case has waited) and SAMPLED_AT. A report has a row once intake has acknowledged
# it (or a router has decided it), and a ticket id once a tracker has filed or merged it.
take_sample() {
    local out oldest db_now
    out="$(sql "SELECT count(*), count(decision), count(ticket_id),
                       coalesce(min(received_at) FILTER (WHERE ticket_id IS NULL), 0),
                       (extract(epoch FROM clock_timestamp()) * 1000)::bigint
                FROM reports")"
    SAMPLED_AT="$(now)"
    read -r ACCEPTED ROUTED PLACED oldest db_now <<<"$out"
    OLDEST_AGE="-"
    if [ "$oldest" != 0 ]; then OLDEST_AGE="$(calc "($db_now - $oldest) / 1000")s"; fi
}

# Sleeps until the absolute time $1 in steps of 0.1 s, so that the end of the load is noticed
# within 0.1 s rather than at the next whole second.
sleep_until() {
    local left
    while :; do
        if [ -z "$T_END" ] && ! kill -0 "$BENCH_PID" 2>/dev/null; then load_ended; fi
        left="$(calc "$1 - $(now)" 3)"
        case "$left" in -* | 0.000) return ;; esac
        sleep "$(calc "($left < 0.1) ? $left : 0.1" 3)"
    done
}

# The load tool has exited: notes the time and what had been placed by then.
load_ended() {
    local status=0 pid kept=()
    wait "$BENCH_PID" || status=$?
    T_END="$(now)"
    # Reaped: its id may be reused by now, so it is no longer one to stop.
    for pid in "${PIDS[@]}"; do [ "$pid" = "$BENCH_PID" ] || kept+=("$pid"); done
    PIDS=("${kept[@]}")
    [ "$status" = 0 ] || die "gridd bench failed ($status): $(tr '\r' '\n' <"$DIR/bench.progress" | tail -n 5)"
    take_sample
    PLACED_AT_END="$PLACED"
    printf -- '--- load over at t=%ss: accepted=%d placed=%d backlog=%d; catching up ---\n' \
        "$(calc "$T_END - $T0")" "$ACCEPTED" "$PLACED" "$((ACCEPTED - PLACED))"
}

# Every process's /metrics, kept next to its log; then per role, the record driver's batches
# (how many records a batch held and how long applying it took, mean over the run) and the
# broker's send times, so the figures above can be traced to a role.
save_metrics() {
    local name
    for name in "${!HTTP_PORT[@]}"; do
        curl -fsS "http://127.0.0.1:${HTTP_PORT[$name]}/metrics" >"$DIR/$name.metrics" 2>/dev/null || true
    done
    echo
    echo "=== record driver and broker, per process (means over the run) ==="
    for name in $(printf '%s\n' "${!HTTP_PORT[@]}" | sort); do
        awk -v name="$name" '
            { part = ($1 ~ /_sum/) ? "sum" : "count" }
            /^gridd_driver_batch_records_(sum|count)/ { r[part] += $NF }
            /^gridd_driver_batch_seconds_(sum|count)/ { s[part] += $NF }
            /^gridd_log_send_seconds_(sum|count)/ { k[part] += $NF }
            END {
                line = ""
                if (r["count"] > 0) line = line sprintf("%d batches, %.1f records each, %.1f ms each; ", r["count"], r["sum"] / r["count"], 1000 * s["sum"] / s["count"])
                if (k["count"] > 0) line = line sprintf("%d broker sends, %.1f ms each", k["count"], 1000 * k["sum"] / k["count"])
                if (line != "") printf "%-12s %s\n", name, line
            }' "$DIR/$name.metrics"
    done
}

main() {
    close_inherited_fds
    [ -x "$GRIDD_BIN" ] || die "no gridd binary at $GRIDD_BIN (set GRIDD_BIN)"
    mkdir -p "$DIR"
    rm -f "$DIR"/*.log "$DIR"/*.toml "$DIR"/*.metrics "$DIR"/bench.out
    trap cleanup EXIT
    trap 'exit 130' INT TERM

    ensure_services
    create_run_database
    log "run $RUN: database $DB_URL, topics $TOPIC_PREFIX*, $PARTITIONS partitions, binary $GRIDD_BIN"

    # The gateway first: it migrates the database and creates the topics, which the routers
    # and trackers would otherwise race to do.
    start_process gateway ingest,gateway
    wait_ready gateway
    local names=() i
    for i in $(seq 1 "$ROUTERS"); do start_process "router-$i" router; names+=("router-$i"); done
    for i in $(seq 1 "$TRACKERS"); do start_process "tracker-$i" tracker; names+=("tracker-$i"); done
    wait_ready "${names[@]}"
    wait_assigned "${names[@]}"
    sleep "$SETTLE"

    local key
    key="$("$GRIDD_BIN" --config "$DIR/gateway.toml" key create administrator --name bench)"
    log "administrator key: $key"

    local bench_cmd=("$GRIDD_BIN" --config "$DIR/gateway.toml" bench --target "http://127.0.0.1:$GRPC_PORT"
        --scenario "$SCENARIO" --clients "$CLIENTS" --seconds "$SECONDS_LOAD" ${RATE:+--rate "$RATE"})
    log "load: GRIDD_BENCH_KEY=… ${bench_cmd[*]}"
    T0="$(now)"
    GRIDD_BENCH_KEY="$key" "${bench_cmd[@]}" </dev/null >"$DIR/bench.out" 2>"$DIR/bench.progress" &
    BENCH_PID=$!
    PIDS+=("$BENCH_PID")

    # Once a second, on the second counted from the start of the load (so sampling does not
    # drift), while the load runs and then until the backlog is gone or DRAIN_LIMIT has passed.
    local n=0 last_placed=0 last_routed=0 rate routed_rate backlog stalled=0 unrouted=0
    T_END="" T_ZERO="" PLACED_AT_END="" T_KILL="" T_FROZEN="" LONGEST_STALL=0 LONGEST_UNROUTED=0
    while :; do
        n=$((n + 1))
        sleep_until "$(calc "$T0 + $n" 6)"
        if [ -n "$KILL" ] && [ -z "$T_KILL" ] && [ "$n" -ge "$KILL_AT" ]; then kill_one "$KILL"; fi
        if [ -n "$FREEZE_BROKER_AT" ] && [ -z "$T_FROZEN" ] && [ "$n" -ge "$FREEZE_BROKER_AT" ]; then freeze_broker; fi
        if [ -n "$T_FROZEN" ] && [ -z "$T_KILL" ] && [ "$n" -ge "$((FREEZE_BROKER_AT + FREEZE_FOR))" ]; then thaw_broker; fi
        check_alive
        take_sample
        backlog=$((ACCEPTED - PLACED))
        rate=$((PLACED - last_placed))
        routed_rate=$((ROUTED - last_routed))
        last_placed=$PLACED
        last_routed=$ROUTED
        if [ -n "$T_KILL" ] && [ "$rate" = 0 ] && [ "$backlog" -gt 0 ]; then
            stalled=$((stalled + 1))
            [ "$stalled" -gt "$LONGEST_STALL" ] && LONGEST_STALL=$stalled
        else
            stalled=0
        fi
        if [ -n "$T_KILL" ] && [ "$routed_rate" = 0 ] && [ "$ACCEPTED" -gt "$ROUTED" ]; then
            unrouted=$((unrouted + 1))
            [ "$unrouted" -gt "$LONGEST_UNROUTED" ] && LONGEST_UNROUTED=$unrouted
        else
            unrouted=0
        fi
        printf 't=%ss accepted=%d routed=%d (%d/s) placed=%d rate=%d/s backlog=%d oldest_unplaced=%s\n' \
            "$(calc "$SAMPLED_AT - $T0")" "$ACCEPTED" "$ROUTED" "$routed_rate" "$PLACED" "$rate" "$backlog" "$OLDEST_AGE"
        if [ -n "$T_END" ] && [ "$backlog" -le 0 ] && [ "$ACCEPTED" -gt 0 ]; then
            T_ZERO="$SAMPLED_AT"
            break
        fi
        if [ -n "$T_END" ] && [ "$(calc "$(now) - $T_END > $DRAIN_LIMIT" 0)" = 1 ]; then
            break
        fi
    done

    summary
    save_metrics
}

summary() {
    local load_s bench_s intake_line intake_count intake_rate accepted placed filed merged dead lags p50 p90 p99 pmax
    load_s="$(calc "$T_END - $T0")"
    # The tool loads the city and connects before its clock starts: its own duration is the
    # window in which reports came in.
    bench_s="$(sed -n 's/.*, \([0-9.]*\) s of load .*/\1/p' "$DIR/bench.out")"
    bench_s="${bench_s:-$load_s}"
    intake_line="$(awk '$1 == "intake"' "$DIR/bench.out")"
    intake_count="$(awk '{print $2}' <<<"$intake_line")"
    intake_rate="$(awk '{print $3}' <<<"$intake_line")"
    read -r accepted placed filed merged dead <<<"$(sql "
        SELECT count(*), count(ticket_id), count(*) FILTER (WHERE disposition = 'filed'),
               count(*) FILTER (WHERE disposition = 'merged'), (SELECT count(*) FROM dead_letters)
        FROM reports")"
    # A filed report's case is created by the tracker as it files it, so created_at minus the
    # report's received_at (stamped by intake just before the log append its acknowledgement
    # waits for) is its lag from intake to placement. Merged reports leave no such time behind.
    lags="$(sql "
        SELECT round(percentile_disc(0.5) WITHIN GROUP (ORDER BY t.created_at - r.received_at) / 1000.0, 3),
               round(percentile_disc(0.9) WITHIN GROUP (ORDER BY t.created_at - r.received_at) / 1000.0, 3),
               round(percentile_disc(0.99) WITHIN GROUP (ORDER BY t.created_at - r.received_at) / 1000.0, 3),
               round(max(t.created_at - r.received_at) / 1000.0, 3)
        FROM reports r JOIN tickets t ON t.id = r.ticket_id WHERE r.disposition = 'filed'")"
    read -r p50 p90 p99 pmax <<<"$lags"

    echo
    echo "=== gridd bench output ==="
    cat "$DIR/bench.out"
    echo
    echo "=== summary: $ROUTERS routers, $TRACKERS trackers, $PARTITIONS partitions, $CLIENTS clients, ${SECONDS_LOAD} s $SCENARIO ==="
    echo "intake (gridd bench):        ${intake_rate:-?} reports/s (${intake_count:-?} acknowledged in ${bench_s} s)"
    echo "accepted (database):         $accepted reports; placed $placed (filed $filed, merged $merged), dead letters $dead"
    echo "placed during the load:      $(calc "$PLACED_AT_END / $bench_s") reports/s ($PLACED_AT_END by its end, t=${load_s}s)"
    if [ -n "$T_ZERO" ]; then
        local whole_s
        whole_s="$(calc "$T_ZERO - ($T_END - $bench_s)")"
        echo "placed over the whole run:   $(calc "$placed / $whole_s") reports/s ($placed in ${whole_s} s, first report to backlog 0)"
        echo "catch-up after the load:     $(calc "$T_ZERO - $T_END") s until backlog 0 (seen at the once-a-second samples)"
    else
        echo "placed over the whole run:   $(calc "$placed / ($(now) - ($T_END - $bench_s))") reports/s (backlog not 0)"
        echo "catch-up after the load:     backlog $((accepted - placed)) left after ${DRAIN_LIMIT} s"
    fi
    echo "intake→placed lag (filed):   p50 ${p50:-?} s, p90 ${p90:-?} s, p99 ${p99:-?} s, max ${pmax:-?} s"
    if [ -n "$T_FROZEN" ]; then
        echo "after the broker resumed:    ${LONGEST_UNROUTED} s at most with nothing routed, ${LONGEST_STALL} s with nothing placed, while reports waited (once-a-second samples; frozen ${FREEZE_FOR} s)"
    elif [ -n "$T_KILL" ]; then
        echo "after killing $KILL:  ${LONGEST_UNROUTED} s at most with nothing routed, ${LONGEST_STALL} s with nothing placed, while reports waited (once-a-second samples)"
        echo "its partitions:              assigned to another process $(handed_over_after_kill) s after the kill (from their logs)"
    fi
    echo "logs and configs:            $DIR (database $RUN kept until the next run)"
}

main "$@"
