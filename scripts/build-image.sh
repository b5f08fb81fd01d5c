#!/usr/bin/env bash
# Build the aegis image from the Dockerfile with no registry:
#
#   1. the Debian base (`aegis-base:bookworm`): `debootstrap --variant=minbase` piped into
#      `docker import`, made only when the engine does not have it. The rootfs tarball is
#      kept in $AEGIS_IMAGE_CACHE (default /var/cache/aegis) so that a fresh engine
#      imports it in seconds instead of bootstrapping again;
#   2. the binary: --binary PATH, or target/release/aegis (built with cargo if missing);
#      stripped into a build context of its own (the repo's target/ never goes to the daemon);
#   3. `docker build`, then the image size is printed.
#
# Usage: scripts/build-image.sh [--tag aegis:dev] [--binary PATH]
# CI passes the debug binary its tests already built (a release build would not fit the
# time budget); the Dockerfile is the same.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=aegis:dev
binary=""
while [ $# -gt 0 ]; do
    case "$1" in
        --tag) tag=$2; shift 2 ;;
        --binary) binary=$2; shift 2 ;;
        *) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

base=aegis-base:bookworm
suite=bookworm
mirror=${AEGIS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${AEGIS_IMAGE_CACHE:-/var/cache/aegis}
tarball=$cache/debootstrap-$suite-minbase.tar

if docker image inspect "$base" >/dev/null 2>&1; then
    echo "build-image: base $base present"
else
    if [ ! -s "$tarball" ]; then
        command -v debootstrap >/dev/null 2>&1 || {
            echo "build-image: installing debootstrap"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
        }
        root=$(mktemp -d /tmp/aegis-debootstrap.XXXXXX)
        trap 'rm -rf "$root"' EXIT
        echo "build-image: debootstrap --variant=minbase $suite from $mirror (a few minutes, once)"
        started=$(date +%s)
        # libssl3: git2 links OpenSSL; ca-certificates: the roots for https git and OTLP.
        debootstrap --variant=minbase --include=libssl3,ca-certificates "$suite" "$root" "$mirror" \
            >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
        rm -f "$root.log"
        rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
        mkdir -p "$cache"
        tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
        rm -rf "$root"
        trap - EXIT
        echo "build-image: rootfs made in $(($(date +%s) - started)) s, cached at $tarball"
    fi
    echo "build-image: docker import $tarball -> $base"
    docker import "$tarball" "$base" >/dev/null
fi

if [ -z "$binary" ]; then
    binary=target/release/aegis
    if [ ! -x "$binary" ]; then
        echo "build-image: cargo build --release --bin aegis"
        cargo build --release --bin aegis
    fi
fi
[ -x "$binary" ] || { echo "build-image: no executable at $binary" >&2; exit 1; }

ctx=$(mktemp -d /tmp/aegis-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp Dockerfile "$ctx/Dockerfile"
# Debug info is for debuggers, not for the image.
strip -o "$ctx/aegis" "$binary" 2>/dev/null || cp "$binary" "$ctx/aegis"
echo "build-image: docker build -t $tag (binary $binary, $(du -h "$ctx/aegis" | cut -f1) stripped)"
docker build -q --build-arg "BASE=$base" -t "$tag" "$ctx" >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$tag")
echo "build-image: $tag is $((size / 1024 / 1024)) MiB ($size bytes)"
