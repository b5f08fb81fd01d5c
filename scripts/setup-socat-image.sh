#!/usr/bin/env bash
# Make the test image `aegis-test/socat:1`: Debian's socat in an otherwise empty image.
#
# The management-path tests reach a second engine only through a forwarder container (socat,
# host network, 127.0.0.1:PORT -> the engine's unix socket). No registry is reachable, so the
# image is built locally: socat from Debian (installed if missing), the shared libraries
# `ldd` lists and the dynamic loader, imported with `docker import`. Idempotent.
#
#   DOCKER_HOST=...           build on another engine
#   AEGIS_REBUILD_IMAGES=1    rebuild even if the image exists
set -euo pipefail

IMAGE=aegis-test/socat:1

log() { echo "setup-socat-image: $*"; }

if [ -z "${AEGIS_REBUILD_IMAGES:-}" ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    exit 0
fi

if ! command -v socat >/dev/null 2>&1; then
    log "installing Debian package socat"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q socat >/dev/null; then
        apt-get update -q >/dev/null
        apt-get install -y -q socat >/dev/null
    fi
fi
SOCAT=$(command -v socat)

rootfs=$(mktemp -d /tmp/aegis-socat-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
copy() { # copy FILE to the same path in the rootfs, following symlinks
    mkdir -p "$rootfs$(dirname "$1")"
    cp -L "$1" "$rootfs$1"
}
copy "$SOCAT"
# `ldd` lines: "libx.so => /path (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)".
ldd "$SOCAT" | awk '/=> \//{print $3} /^\t\//{print $1}' | while read -r lib; do copy "$lib"; done
mkdir -p "$rootfs/tmp" && chmod 1777 "$rootfs/tmp"

tar -C "$rootfs" -c . | docker import \
    --change "ENTRYPOINT [\"$SOCAT\"]" \
    --change 'LABEL org.opencontainers.image.title=aegis-test-socat' \
    - "$IMAGE" >/dev/null
log "built $IMAGE from $SOCAT ($(socat -V 2>/dev/null | awk '/socat version/{print $3; exit}'))"
