#!/usr/bin/env bash
# Make the local test images exist: busybox:1.36 and aegis-test/busybox:latest.
#
# Idempotent. No registry is needed: if `docker pull` fails (as it does on an offline
# machine), the image is built from Debian's busybox-static package as a FROM-scratch
# style image (`docker import` of a tiny rootfs).
#
#   AEGIS_REBUILD_IMAGES=1  rebuild from busybox-static even if the image exists.
set -euo pipefail

IMAGE=busybox:1.36
ALIAS=aegis-test/busybox:latest

log() { echo "setup-images: $*"; }

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

tag_alias() {
    if [ "$(docker image inspect -f '{{.Id}}' "$IMAGE")" != "$(docker image inspect -f '{{.Id}}' "$ALIAS" 2>/dev/null || true)" ]; then
        docker tag "$IMAGE" "$ALIAS"
        log "tagged $IMAGE as $ALIAS"
    fi
}

find_static_busybox() {
    # busybox-static installs /bin/busybox (usrmerge: /usr/bin/busybox).
    local p
    p=$(dpkg -L busybox-static 2>/dev/null | grep -E '/bin/busybox$' | head -n1 || true)
    if [ -n "$p" ] && [ -x "$p" ]; then
        echo "$p"
    fi
}

install_busybox_static() {
    export DEBIAN_FRONTEND=noninteractive
    log "installing Debian package busybox-static"
    if ! apt-get install -y -q busybox-static >/dev/null; then
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update -q >/dev/null
        apt-get install -y -q busybox-static >/dev/null
    fi
}

build_from_busybox_static() {
    local bb rootfs applet n=0
    bb=$(find_static_busybox)
    if [ -z "$bb" ]; then
        install_busybox_static
        bb=$(find_static_busybox)
    fi
    if [ -z "$bb" ]; then
        log "error: busybox-static is installed but its /bin/busybox was not found" >&2
        exit 1
    fi
    local version
    version=$({ "$bb" 2>&1 || true; } | head -n1)
    log "building $IMAGE from $bb (${version:-unknown version})"

    rootfs=$(mktemp -d /tmp/aegis-busybox-rootfs.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '$rootfs'" EXIT
    mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/root" "$rootfs/tmp" "$rootfs/www"
    chmod 1777 "$rootfs/tmp"
    chmod 0700 "$rootfs/root"
    cp "$bb" "$rootfs/bin/busybox"
    chmod 0755 "$rootfs/bin/busybox"
    for applet in $("$bb" --list); do
        if [ ! -e "$rootfs/bin/$applet" ]; then
            ln -s busybox "$rootfs/bin/$applet"
            n=$((n + 1))
        fi
    done
    # `sh` is an applet, but make sure it exists even if the applet list changes.
    [ -e "$rootfs/bin/sh" ] || ln -s busybox "$rootfs/bin/sh"
    cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
    cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
nogroup:x:65534:
GROUP

    tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf - . |
        docker import \
            --change 'CMD ["sh"]' \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --message "aegis test image: Debian busybox-static" \
            - "$IMAGE" >/dev/null
    rm -rf "$rootfs"
    trap - EXIT
    log "imported $IMAGE ($n applet symlinks)"
}

if ! docker info >/dev/null 2>&1; then
    log "error: the Docker engine is not reachable (run scripts/ensure-docker.sh)" >&2
    exit 1
fi

if [ "${AEGIS_REBUILD_IMAGES:-0}" = 1 ]; then
    log "AEGIS_REBUILD_IMAGES=1: rebuilding $IMAGE"
    build_from_busybox_static
elif have_image "$IMAGE"; then
    log "$IMAGE is present"
else
    log "$IMAGE is missing; trying docker pull (20 s timeout)"
    if timeout 20 docker pull -q "$IMAGE" >/dev/null 2>&1; then
        log "pulled $IMAGE"
    else
        log "pull failed (no registry?); building from busybox-static"
        build_from_busybox_static
    fi
fi

tag_alias

# Smoke test: the applets the tests and examples use must run.
if ! out=$(docker run --rm --network none "$IMAGE" sh -c 'for a in httpd nc wget sleep nslookup; do command -v "$a" >/dev/null || { echo "missing applet $a"; exit 1; }; done; echo ok' 2>&1) || [ "$out" != ok ]; then
    log "error: $IMAGE failed its smoke test: $out" >&2
    exit 1
fi
log "ok: $IMAGE and $ALIAS are ready ($(docker image inspect -f '{{.Id}}' "$IMAGE" | cut -c1-19))"
