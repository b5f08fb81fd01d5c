#!/usr/bin/env bash
# The image end to end: build it (scripts/build-image.sh), run `aegis controller` in it the
# way manifests/compose.yaml does (non-root, the Docker socket mounted with its group
# added, the token from a file, a state volume, the source mounted read-only) on
# examples/quickstart, and check that:
#   - the container's HEALTHCHECK (`aegis healthcheck` → /readyz) turns healthy,
#   - the quickstart converges (the web service answers), and aegisctl sees it Ready
#     through the published API port,
#   - a container removed by hand comes back (the events stream works through the socket).
# It prints the image size and the controller's RSS while it runs the quickstart.
#
# Usage: scripts/test-image.sh [--binary PATH]   (default: target/release/aegis; CI passes
# the debug binary its tests built). Everything it creates is named after its own id and
# removed at the end. The quickstart's names are fixed: do not run it beside
# scripts/quickstart.sh on the same engine.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=target/release/aegis
aegisctl=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary=$2; shift 2 ;;
        --aegisctl) aegisctl=$2; shift 2 ;;
        *) echo "test-image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$aegisctl" ] || aegisctl="$(dirname "$binary")/aegisctl"

id=imgtest-$$-$(date +%s)
tag=aegis-test:$id
name=aegis-$id
volume=aegis-$id-state
instance=$id
scratch=$(mktemp -d /tmp/aegis-$id.XXXXXX)
started=$(date +%s)

fail() {
    echo "test-image: FAIL: $*" >&2
    docker logs --tail 60 "$name" >&2 2>&1 || true
    exit 1
}

cleanup() {
    docker rm -f "$name" >/dev/null 2>&1 || true
    for c in $(docker ps -aq --filter "label=aegis.dev/instance=$instance"); do docker rm -f "$c" >/dev/null 2>&1 || true; done
    for n in $(docker network ls -q --filter "label=aegis.dev/instance=$instance"); do docker network rm "$n" >/dev/null 2>&1 || true; done
    for v in $(docker volume ls -q --filter "label=aegis.dev/instance=$instance"); do docker volume rm "$v" >/dev/null 2>&1 || true; done
    docker volume rm "$volume" >/dev/null 2>&1 || true
    docker image rm "$tag" >/dev/null 2>&1 || true
    rm -rf "$scratch"
}
trap cleanup EXIT

if docker ps -aq --filter name='^quickstart-' | grep -q .; then
    echo "test-image: quickstart-* containers already exist on this engine (scripts/quickstart.sh?); remove them first" >&2
    exit 1
fi

scripts/setup-images.sh >/dev/null
scripts/build-image.sh --binary "$binary" --tag "$tag"

head -c 32 /dev/urandom | base64 >"$scratch/token"
# Readable by the image's unprivileged user (uid 10001). In production prefer a file owned
# by that uid, mode 0400 (manifests/README.md).
chmod 0644 "$scratch/token"
sock_gid=$(stat -c %g /var/run/docker.sock)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

docker run -d --name "$name" \
    --label aegis.dev/test="$id" \
    --group-add "$sock_gid" \
    -v /var/run/docker.sock:/var/run/docker.sock \
    -v "$PWD/examples/quickstart:/source:ro" \
    -v "$scratch/token:/run/secrets/aegis-token:ro" \
    -v "$volume:/var/lib/aegis" \
    -e AEGIS_TOKEN_FILE=/run/secrets/aegis-token \
    -e AEGIS_INSTANCE="$instance" \
    -e AEGIS_API=0.0.0.0:7443 \
    -e AEGIS_INSECURE_API=true \
    -p "127.0.0.1:$port:7443" \
    "$tag" >/dev/null

echo "test-image: waiting for the container's health check"
health=""
for _ in $(seq 1 90); do
    health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$name" 2>/dev/null || true)
    state=$(docker inspect -f '{{.State.Status}}' "$name" 2>/dev/null || true)
    [ "$state" = running ] || fail "the controller container is $state"
    [ "$health" = healthy ] && break
    sleep 1
done
[ "$health" = healthy ] || fail "health is '$health' after 90 s"
user=$(docker inspect -f '{{.Config.User}}' "$name")
echo "test-image: healthy after $(($(date +%s) - started)) s (user $user, socket group $sock_gid)"

web=""
for _ in $(seq 1 60); do
    web=$(python3 -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:18080/", timeout=2).read().decode())' 2>/dev/null || true)
    [ -n "$web" ] && break
    sleep 1
done
[ -n "$web" ] || fail "the quickstart's web service does not answer on 127.0.0.1:18080"
echo "test-image: quickstart converged: web answers ($(echo "$web" | grep -o '<h1>.*</h1>' | head -1))"

if [ -x "$aegisctl" ]; then
    ready=""
    for _ in $(seq 1 60); do
        ready=$(AEGIS_SERVER=http://127.0.0.1:$port AEGIS_TOKEN=$(cat "$scratch/token") AEGIS_CONFIG=/nonexistent \
            "$aegisctl" get stacks -o json 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["name"] == "quickstart" and any(c["type"] == "Ready" and c["status"] == "True" for c in s.get("conditions", [])):
        print("ready")' || true)
        [ "$ready" = ready ] && break
        sleep 1
    done
    [ "$ready" = ready ] || fail "aegisctl does not see Stack/quickstart Ready"
    echo "test-image: aegisctl get stacks: quickstart Ready (through the published API port)"
fi

before=$(docker inspect -f '{{.Id}}' quickstart-web-1)
docker rm -f quickstart-web-1 >/dev/null
after=""
for _ in $(seq 1 50); do
    after=$(docker inspect -f '{{.Id}}' quickstart-web-1 2>/dev/null || true)
    [ -n "$after" ] && [ "$after" != "$before" ] && break
    sleep 0.2
done
[ -n "$after" ] && [ "$after" != "$before" ] || fail "quickstart-web-1 was not repaired"
echo "test-image: drift repaired from inside the container"

pid=$(docker inspect -f '{{.State.Pid}}' "$name")
rss_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
size=$(docker image inspect -f '{{.Size}}' "$tag")
echo "test-image: image $((size / 1024 / 1024)) MiB; controller RSS $((rss_kib / 1024)) MiB ($rss_kib KiB) running the quickstart"
echo "test-image: passed in $(($(date +%s) - started)) s"
