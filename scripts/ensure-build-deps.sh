#!/usr/bin/env bash
# Build dependencies beyond the Rust toolchain: git2's https and ssh transports link
# OpenSSL (libssl-dev, found through pkg-config); libgit2 and libssh2 themselves are
# vendored. The git CLI is used by the git-source tests, sshd and ssh-keygen by the
# git-over-ssh test (e2e_git_ssh). No-op when all are present.
set -euo pipefail

log() { echo "ensure-build-deps: $*"; }

missing=()
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v git >/dev/null 2>&1 || missing+=(git)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server openssh-client)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    log "error: missing ${missing[*]}; install them with apt-get (needs root)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
log "installing ${missing[*]}"
if ! apt-get install -y -q "${missing[@]}"; then
    apt-get update -q
    apt-get install -y -q "${missing[@]}"
fi
