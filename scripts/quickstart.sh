#!/usr/bin/env bash
# Quick start: run aegis against the local Docker engine on examples/quickstart.
#
# Makes sure Docker and the local busybox:1.36 image exist (no registry needed), builds the
# release binaries, applies the example once (printing what it did) and then runs the
# controller on it in the foreground: drift is repaired, edits under examples/quickstart
# are applied within seconds, and `aegisctl` talks to it. Ctrl-C stops it cleanly.
#
#   AEGIS_QUICKSTART_ONCE=1   apply once and exit (no controller)
#   AEGIS_API=ADDR            the controller's API address (default 127.0.0.1:7443)
#
# State (status, the API token) lives in .aegis-quickstart/ at the repository's root.
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

if [ "${AEGIS_QUICKSTART_ONCE:-0}" = 1 ]; then
    exit 0
fi

state=.aegis-quickstart
api=${AEGIS_API:-127.0.0.1:7443}
mkdir -p "$state"
if [ ! -s "$state/token" ]; then
    (umask 077 && head -c 32 /dev/urandom | base64 >"$state/token")
fi
cat <<EOF

quickstart: starting the controller on examples/quickstart (Ctrl-C stops it).
In another shell, from $(pwd):

    export AEGIS_SERVER=http://$api AEGIS_TOKEN=\$(cat $state/token)
    $target_dir/release/aegisctl get stacks
    docker rm -f quickstart-web-1        # repaired within a second or two
    $target_dir/release/aegisctl describe stack quickstart

EOF
exec "$target_dir/release/aegis" controller --source examples/quickstart \
    --state-dir "$state/state" --token-file "$state/token" --api "$api"
