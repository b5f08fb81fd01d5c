#!/usr/bin/env bash
# Install Prometheus 2.42 and promtool (Debian package `prometheus`) for the metrics test
# (controller/tests/e2e_metrics.rs), which runs its own prometheus process with its own
# config, port and data directory. Idempotent: does nothing when both are there.
#
# The package would also start a system-wide prometheus on :9090 where an init system runs
# services; the tests do not want it, so a service the install started is stopped and
# disabled again.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have prometheus && have promtool; then
    echo "setup-prometheus: prometheus present ($(command -v prometheus))"
    exit 0
fi

echo "setup-prometheus: installing prometheus (Debian package)"
if [ "$(id -u)" -ne 0 ] && have sudo; then SUDO=sudo; else SUDO=""; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if have systemctl && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
have promtool || { echo "setup-prometheus: error: promtool missing after the install" >&2; exit 1; }
