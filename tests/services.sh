# Starts the servers the suite talks to — a PostgreSQL and a Kafka-protocol broker (tansu) —
# on free local ports, installing them first where missing, and stops them on exit.
# Sourced by tests/run.sh; exports GRIDD_TEST_POSTGRES_URL and GRIDD_TEST_KAFKA_BROKERS.

SERVICES_DIR="${SERVICES_DIR:-$(pwd)/target/test-services}"
mkdir -p "$SERVICES_DIR"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

as_postgres_user() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        echo "tests/services.sh: installing PostgreSQL from Debian's packages" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    PGDATA="$(mktemp -d "$SERVICES_DIR/postgres.XXXXXX")"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$PGDATA"; fi
    PGPORT="$(free_port)"
    as_postgres_user "$bin/initdb" -D "$PGDATA" -A trust -U postgres >/dev/null
    as_postgres_user "$bin/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w \
        -o "-p $PGPORT -k $PGDATA -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
    PG_CTL="$bin/pg_ctl"
    export GRIDD_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"
    echo "tests/services.sh: PostgreSQL on 127.0.0.1:$PGPORT" >&2
}

stop_postgres() {
    if [ -n "${PGDATA:-}" ]; then
        as_postgres_user "$PG_CTL" -D "$PGDATA" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$PGDATA"
    fi
}

stop_services() {
    stop_postgres
}
