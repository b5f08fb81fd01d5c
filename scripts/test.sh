#!/usr/bin/env bash
# The test suite: formatting, lints, unit + integration tests (against the real local Docker
# engine), and the check that the JSON Schemas in crds/ match the Rust types.
#
# Integration tests need a Docker engine and the busybox:1.36 test image; this script makes
# sure both exist first (scripts/ensure-docker.sh, scripts/setup-images.sh; both are no-ops
# when everything is in place). Set AEGIS_SKIP_SETUP=1 to skip that step.
#
# Plain `cargo test` on purpose: cargo-nextest is not installed on most user machines.
set -euo pipefail
cd "$(dirname "$0")/.."

step() {
    echo
    echo "==> $*"
}

# rustup installs into ~/.cargo/bin, which non-login shells (CI) may not have on PATH.
if [ -d "$HOME/.cargo/bin" ]; then PATH="$HOME/.cargo/bin:$PATH"; fi

scripts/ensure-build-deps.sh

for tool in cargo rustfmt cargo-clippy git; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "test.sh: error: '$tool' is not installed (install Rust with rustup: https://rustup.rs, components rustfmt and clippy)" >&2
        exit 1
    fi
done

if [ "${AEGIS_SKIP_SETUP:-0}" != 1 ]; then
    step "Docker engine and test images"
    scripts/ensure-docker.sh
    scripts/setup-images.sh
    scripts/setup-sops.sh
    scripts/setup-dnsmasq.sh
    scripts/setup-prometheus.sh
    scripts/setup-compose-v2.sh
fi

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "cargo test --workspace"
cargo test --workspace

# Schema staleness: `aegis schema --out-dir crds` regenerates the JSON Schemas of every
# manifest kinds from the Rust types (the subcommand is part of M1). The checked-in files must
# be exactly what the current types produce; otherwise regenerate and commit them.
step "schema staleness (crds/)"
cargo run -q --bin aegis -- schema --out-dir crds
if ! git diff --exit-code -- crds || [ -n "$(git status --porcelain -- crds)" ]; then
    git status --short -- crds
    echo "test.sh: error: crds/ is stale; run 'cargo run --bin aegis -- schema --out-dir crds' and commit the result" >&2
    exit 1
fi

echo
echo "test.sh: all checks passed"
