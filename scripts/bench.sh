#!/usr/bin/env bash
# Benchmarks against Docker Compose v2 (v2.40.3, the reference: scripts/setup-compose-v2.sh),
# on the same engine, in the same run (MISSION.md, "Performance targets"). Prints each
# figure's median and the ratio against Compose v2:
#
#   1. cold converge of 50 services: `aegis apply` vs `docker compose up -d`, from nothing
#      (target: aegis/compose <= 1.0);
#   2. no-op pass over 100 converged containers: `aegis apply` vs `docker compose up -d`
#      (target: compose/aegis >= 20);
#   3. Docker API calls per pass, for both tools, counted the same way: one extra pass of
#      each goes through scripts/docker-api-count.py, a counting proxy on a unix socket
#      (DOCKER_HOST points both tools at it); aegis's own count is printed beside it as a
#      cross-check, and so is the engine's floor, the calls the work needs at the least;
#   4. the controller's memory while it manages 5 hosts with 200 containers (target:
#      RSS < 40 MiB). The 5 `Host`s all point at the local engine: each has its own
#      connection, events stream, work queue keys and status, as 5 machines would.
#
#   scripts/bench.sh [RUNS]     RUNS pairs per figure (default 5; 3 for the cold converge)
#   AEGIS_BIN=PATH scripts/bench.sh   use that aegis binary instead of building the release one
#
# Runs A and B in turn (A B A B ...) so a drift in the machine's speed hits both; the timed
# runs talk to the engine directly, never through the proxy. Uses the release binaries and
# the local busybox:1.36 image; everything it creates carries a unique name and is removed
# at the end, nothing else on the engine is touched.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d "$HOME/.cargo/bin" ]; then PATH="$HOME/.cargo/bin:$PATH"; fi

RUNS=${1:-5}
COLD_RUNS=$((RUNS < 3 ? RUNS : 3))

scripts/ensure-docker.sh >/dev/null
scripts/setup-images.sh >/dev/null
scripts/setup-compose-v2.sh >/dev/null
if [ -n "${AEGIS_BIN:-}" ]; then
    # A given binary (e.g. a debug build, to try this script quickly); figures are not comparable.
    AEGIS=$AEGIS_BIN
else
    echo "bench: cargo build --release --bins"
    cargo build --release --bins -q
    target_dir=${CARGO_TARGET_DIR:-target}
    AEGIS=$(pwd)/$target_dir/release/aegis
fi

id=$$
instance=bench-$id
work=$(mktemp -d /tmp/aegis-bench.XXXXXX)
controller_pid=
proxy_pid=

# Removes exactly what this run made: its aegis instance's objects and its compose projects.
cleanup() {
    if [ -n "$controller_pid" ]; then kill -TERM "$controller_pid" 2>/dev/null || true; wait "$controller_pid" 2>/dev/null || true; fi
    if [ -n "$proxy_pid" ]; then kill -TERM "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; fi
    remove_aegis
    remove_aegis "h1 h2 h3 h4 h5"
    for d in "$work"/compose-*; do
        [ -d "$d" ] && compose_down "${d##*/compose-}" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

# Removes this run's aegis objects the way a user would: apply a source that declares no
# Stack for each host (`Host`s only), and aegis prunes what its instance owns there.
remove_aegis() {
    local src=$work/empty-${1:-local}
    mkdir -p "$src"
    if [ -n "${1:-}" ]; then
        for h in $1; do
            printf 'apiVersion: aegis.dev/v1alpha1\nkind: Host\nmetadata: {name: %s}\nspec: {endpoint: "unix:///var/run/docker.sock"}\n---\n' "$h"
        done >"$src/hosts.yaml"
    fi
    "$AEGIS" apply --source "$src" --instance "$instance" >"$work/prune.log" 2>&1 ||
        { echo "bench: warning: pruning the benchmark's objects failed:" >&2; cat "$work/prune.log" >&2; }
}

# compose_file N: N independent services that sleep.
compose_file() {
    echo "services:"
    for i in $(seq -w 1 "$1"); do
        printf '  s%s:\n    image: busybox:1.36\n    command: ["sleep", "86400"]\n    stop_signal: SIGKILL\n' "$i"
    done
}

# setup NAME N: $work/aegis-NAME (a Stack named NAME$id) and $work/compose-NAME.
setup() {
    local name=$1 n=$2
    mkdir -p "$work/aegis-$name/app" "$work/compose-$name"
    compose_file "$n" >"$work/compose-$name/compose.yaml"
    cp "$work/compose-$name/compose.yaml" "$work/aegis-$name/app/compose.yaml"
    printf 'apiVersion: aegis.dev/v1alpha1\nkind: Stack\nmetadata: {name: %s%s}\nspec: {compose: app/compose.yaml}\n' \
        "$name" "$id" >"$work/aegis-$name/stack.yaml"
}

# A failed `down` is a warning, not the end of the run: Docker Engine 20.10 sometimes keeps
# counting an endpoint on a network after many containers on it stop at once ("has active
# endpoints" until dockerd restarts), for Compose as for aegis (README, "Benchmarks").
down_or_warn() {
    if ! compose_down "$1" >"$work/down.log" 2>&1; then
        echo "bench: warning: docker compose down of c$1$id failed: $(tail -1 "$work/down.log")" >&2
    fi
}

aegis_apply() { "$AEGIS" apply --source "$work/aegis-$1" --instance "$instance"; }
compose_up() { docker compose -p "c$1$id" -f "$work/compose-$1/compose.yaml" up -d "${@:2}"; }
compose_down() { docker compose -p "c$1$id" -f "$work/compose-$1/compose.yaml" down -t 0; }

# The counting proxy: every call through $work/api.sock is one line of $work/api.log.
python3 scripts/docker-api-count.py "$work/api.sock" "$work/api.log" &
proxy_pid=$!
for _ in $(seq 1 100); do [ -S "$work/api.sock" ] && break; sleep 0.05; done
[ -S "$work/api.sock" ] || { echo "bench: error: the counting proxy did not start" >&2; exit 1; }

# calls CMD...: runs CMD once through the counting proxy, prints the number of API calls it
# made (its output to $work/counted.log).
calls() {
    local before after
    before=$(wc -l <"$work/api.log" 2>/dev/null || echo 0)
    if ! DOCKER_HOST="unix://$work/api.sock" "$@" >"$work/counted.log" 2>&1; then
        echo "bench: error: $* (through the counting proxy) failed:" >&2
        cat "$work/counted.log" >&2
        exit 1
    fi
    after=$(wc -l <"$work/api.log")
    echo $((after - before))
}

# aegis's own count of its calls, from its last output.
aegis_count() { grep -o '[0-9]* Docker API calls' "$1" | awk '{ n += $1 } END { print n + 0 }'; }

# ms CMD...: the wall time of CMD in milliseconds (its output to $work/last.log).
ms() {
    local s e
    s=$(date +%s%N)
    if ! "$@" >"$work/last.log" 2>&1; then
        echo "bench: error: $* failed:" >&2
        cat "$work/last.log" >&2
        exit 1
    fi
    e=$(date +%s%N)
    echo $(((e - s) / 1000000))
}

# floor_report WHAT "A ms..." "B ms..." "FLOOR ms...": the engine floor's median, and aegis's and
# Compose v2's medians against it.
floor_report() {
    python3 - "$@" <<'PY'
import statistics, sys
what, a, b, f = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()], [float(x) for x in sys.argv[4].split()]
fm = statistics.median(f)
print(f"  engine floor ({what}): median {fm/1000:.3f} s (min {min(f)/1000:.3f}, max {max(f)/1000:.3f}, n={len(f)}); "
      f"aegis/floor {statistics.median(a)/fm:.2f}, compose/floor {statistics.median(b)/fm:.2f}")
PY
}

# report TITLE "A ms..." "B ms..." INVERT: medians and the per-pair ratio's median.
report() {
    python3 - "$@" <<'PY'
import statistics, sys
title, a, b, invert = sys.argv[1], [int(x) for x in sys.argv[2].split()], [int(x) for x in sys.argv[3].split()], sys.argv[4] == "1"
ratios = [(y / x if invert else x / y) for x, y in zip(a, b)]
name = "compose/aegis" if invert else "aegis/compose"
print(f"{title}")
print(f"  aegis apply             median {statistics.median(a)/1000:7.3f} s  (min {min(a)/1000:.3f}, max {max(a)/1000:.3f}, n={len(a)})")
print(f"  docker compose up -d    median {statistics.median(b)/1000:7.3f} s  (min {min(b)/1000:.3f}, max {max(b)/1000:.3f}, n={len(b)})")
print(f"  ratio {name}: median {statistics.median(ratios):.2f}  (min {min(ratios):.2f}, max {max(ratios):.2f})")
PY
}

echo "bench: $(nproc) CPUs, $(docker version -f 'Docker {{.Server.Version}} (API {{.Server.APIVersion}})'), Docker Compose $(docker compose version --short)"
echo

# 1. Cold converge of 50 services.
setup cold 50
a=() b=()
for _ in $(seq 1 "$COLD_RUNS"); do
    a+=("$(ms aegis_apply cold)")
    remove_aegis
    b+=("$(ms compose_up cold)")
    down_or_warn cold
done
report "cold converge, 50 services (from nothing to all running):" "${a[*]}" "${b[*]}" 0
# The floor: the same list, network create and 50 creates and starts, 8 at a time (aegis's
# default parallelism), issued directly (scripts/engine-floor.py; its interpreter's start is
# not counted).
f=()
for r in $(seq 1 "$COLD_RUNS"); do
    f+=("$(python3 scripts/engine-floor.py cold "floor$r$id" 50 8)")
done
floor_report "the raw calls, 8 at a time" "${a[*]}" "${b[*]}" "${f[*]}"
ca=$(calls aegis_apply cold)
ca_own=$(aegis_count "$work/counted.log")
remove_aegis
cb=$(calls compose_up cold)
compose_down cold >/dev/null 2>&1 || true
# The floor: one list of the project's containers, one network create, and a create and a
# start per service (the image is local; the create itself fails if it is not).
echo "  Docker API calls: aegis $ca (its own count: $ca_own), docker compose $cb, engine floor $((2 * 50 + 2))"
echo

# 2. No-op pass over 100 converged containers.
setup noop 100
aegis_apply noop >/dev/null
compose_up noop >/dev/null 2>&1
a=() b=()
for _ in $(seq 1 "$RUNS"); do
    a+=("$(ms aegis_apply noop)")
    b+=("$(ms compose_up noop)")
done
report "no-op pass, 100 converged containers:" "${a[*]}" "${b[*]}" 1
f=()
for _ in $(seq 1 "$RUNS"); do
    f+=("$(python3 scripts/engine-floor.py noop "aegis.dev/instance=$instance")")
done
floor_report "one list of the 100 containers" "${a[*]}" "${b[*]}" "${f[*]}"
na=$(calls aegis_apply noop)
na_own=$(aegis_count "$work/counted.log")
nb=$(calls compose_up noop)
# The floor: one list of the project's containers (their labels carry each one's config hash).
echo "  Docker API calls per pass: aegis $na (its own count: $na_own), docker compose $nb, engine floor 1"
remove_aegis
compose_down noop >/dev/null 2>&1 || true
echo

# 4. Controller memory: 5 hosts, 40 containers each.
mem=$work/aegis-mem
mkdir -p "$mem/app"
compose_file 40 >"$mem/app/compose.yaml"
for h in 1 2 3 4 5; do
    printf 'apiVersion: aegis.dev/v1alpha1\nkind: Host\nmetadata: {name: h%s}\nspec: {endpoint: "unix:///var/run/docker.sock"}\n---\n' "$h"
    printf 'apiVersion: aegis.dev/v1alpha1\nkind: Stack\nmetadata: {name: mem%s%s}\nspec: {host: h%s, compose: app/compose.yaml}\n---\n' "$h" "$id" "$h"
done >"$mem/aegis.yaml"
head -c 24 /dev/urandom | base64 >"$work/token"
"$AEGIS" controller --source "$mem" --instance "$instance" --state-dir "$work/state" \
    --token-file "$work/token" --api 127.0.0.1:0 >"$work/controller.log" 2>&1 &
controller_pid=$!
start=$(date +%s)
while [ "$(docker ps -q --filter "label=aegis.dev/instance=$instance" --filter status=running | wc -l)" -lt 200 ]; do
    if ! kill -0 "$controller_pid" 2>/dev/null; then
        echo "bench: error: the controller exited:" >&2
        cat "$work/controller.log" >&2
        exit 1
    fi
    if [ $(($(date +%s) - start)) -gt 300 ]; then
        echo "bench: error: 200 containers were not running after 300 s" >&2
        exit 1
    fi
    sleep 1
done
converged=$(($(date +%s) - start))
sleep 15 # a few resyncs of idle steady state
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$controller_pid/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$controller_pid/status")
echo "controller memory, 5 hosts x 40 containers = 200 (converged in ${converged} s, then 15 s idle):"
echo "  RSS $((rss / 1024)) MiB now, peak $((hwm / 1024)) MiB (target: < 40 MiB)"
kill -TERM "$controller_pid"
wait "$controller_pid" 2>/dev/null || true
controller_pid=
remove_aegis "h1 h2 h3 h4 h5"
