#!/usr/bin/env bash
# Make sure a Docker engine is reachable. On a fresh Debian machine (as root, e.g. CI) this
# installs docker.io (and docker-compose, used by the comparison benchmarks and example
# checks) and starts dockerd in the background, logging to /tmp/dockerd.log.
set -euo pipefail

log() { echo "ensure-docker: $*"; }

if docker info >/dev/null 2>&1; then
    log "Docker engine is reachable ($(docker version -f '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || echo '?'))"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "error: docker is not reachable and installing it needs root" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    if ! apt-get install -y -q "$@"; then
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update -q
        apt-get install -y -q "$@"
    fi
}

pkgs=()
command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || pkgs+=(docker-compose)
if [ "${#pkgs[@]}" -gt 0 ]; then
    log "installing ${pkgs[*]}"
    apt_install "${pkgs[@]}"
fi

if docker info >/dev/null 2>&1; then
    # The package's service may have started the engine for us.
    log "Docker engine is reachable"
    exit 0
fi

if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd is already running; waiting for it"
else
    log "starting dockerd (log: /tmp/dockerd.log)"
    nohup dockerd >/tmp/dockerd.log 2>&1 &
fi

for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        log "Docker engine is up ($(docker version -f '{{.Server.Version}}' 2>/dev/null || echo '?'))"
        exit 0
    fi
    sleep 1
done

log "error: the Docker engine did not come up within 60 s; last lines of /tmp/dockerd.log:" >&2
tail -n 30 /tmp/dockerd.log >&2 || true
exit 1
