#!/usr/bin/env bash
# Quick start: run aegis once against the local Docker engine on examples/quickstart.
#
# Makes sure Docker and the local busybox:1.36 image exist (no registry needed), builds the
# release binaries, applies the example and lists the containers aegis now owns.
# Running it again is a no-op apply (nothing changed, nothing recreated).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -d "$HOME/.cargo/bin" ]; then PATH="$HOME/.cargo/bin:$PATH"; fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "quickstart: error: cargo is not installed (install Rust with rustup: https://rustup.rs)" >&2
    exit 1
fi

scripts/ensure-docker.sh
scripts/setup-images.sh

echo "quickstart: cargo build --release --bins"
cargo build --release --bins
target_dir=${CARGO_TARGET_DIR:-target}

echo "quickstart: aegis apply --source examples/quickstart"
"$target_dir/release/aegis" apply --source examples/quickstart

echo
docker ps --filter label=aegis.dev/managed-by=aegis
echo
url=http://127.0.0.1:18080/
if ! command -v curl >/dev/null 2>&1; then
    echo "quickstart: the web service should answer on $url"
elif curl -fsS --max-time 5 -o /dev/null "$url"; then
    echo "quickstart: the web service answers on $url"
else
    echo "quickstart: warning: $url does not answer (see 'docker ps -a' and 'docker logs')" >&2
fi
