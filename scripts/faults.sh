#!/usr/bin/env bash
# The fault-injection suite: the real `aegis controller` against a Docker engine of its own
# (scripts/engine2.sh with its own state dir, port, bridge and subnet: never the machine's
# engine, never the shared engine 2), with faults injected: the daemon restarted during a
# reconcile of 30 containers, the controller SIGKILLed at random points of an apply, the
# host's socket removed, the git remote gone, a half-written revision, a bad secret, a full
# state directory, the events stream cut. Each case is asserted, and the end state checked
# after it; a table of the cases with their time to converge is printed.
#
#   scripts/faults.sh [--short|--full]   --short (default, CI): 4 kill points; --full: 20
#
#   AEGIS_FAULTS_CASES=a,b   only these cases (prefixes of the names in the table)
#   AEGIS_FAULTS_SEED=N      the kill points of an earlier run (printed at the start)
#   AEGIS_E2_DIR, AEGIS_E2_PORT, AEGIS_E2_BRIDGE, AEGIS_E2_BRIDGE_ADDR
#                            the suite's engine (default /tmp/aegis-faults-engine, 23790,
#                            aegis-f3, 10.202.250.1/24); it is stopped again at the end
#
# Needs root (a second dockerd, a tmpfs mount), docker, git, and for the bad-secret case the
# Go sops and age-keygen (scripts/setup-sops.sh). Under CI=true a missing one fails.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=short
case "${1:-}" in
--short | "") mode=short ;;
--full) mode=full ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac

export AEGIS_E2_DIR=${AEGIS_E2_DIR:-/tmp/aegis-faults-engine}
export AEGIS_E2_PORT=${AEGIS_E2_PORT:-23790}
export AEGIS_E2_BRIDGE=${AEGIS_E2_BRIDGE:-aegis-f3}
export AEGIS_E2_BRIDGE_ADDR=${AEGIS_E2_BRIDGE_ADDR:-10.202.250.1/24}

if [ -z "${AEGIS_SKIP_SETUP:-}" ]; then
    scripts/ensure-docker.sh
    scripts/setup-images.sh
fi

was_running=0
if scripts/engine2.sh status >/dev/null 2>&1; then was_running=1; fi
stop_engine() {
    # Only the suite's own engine, and only if this run started it.
    if [ "$was_running" = 0 ]; then scripts/engine2.sh stop || true; fi
}
trap stop_engine EXIT
rc=0
scripts/engine2.sh start || rc=$?
if [ "$rc" = 3 ] && [ "${CI:-}" != true ]; then
    echo "faults.sh: SKIP: this machine cannot run a second Docker engine (see above)" >&2
    exit 0
elif [ "$rc" != 0 ]; then
    exit "$rc"
fi

start=$(date +%s)
AEGIS_FAULTS=$mode cargo test -p aegis --test faults -- --ignored --nocapture --test-threads=1
echo "faults.sh: $mode suite passed in $(($(date +%s) - start)) s"
