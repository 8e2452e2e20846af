#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what is missing, builds, runs every test.
# Needs only a Rust toolchain (rustup); protoc comes from the protoc-bin-vendored crate and
# SQLite is compiled in (rusqlite "bundled").
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

# The crash tests start and kill -9 the real `gridd` binary, so build it first.
cargo build --locked --workspace --bins
cargo nextest run --locked --workspace --no-fail-fast "$@"
