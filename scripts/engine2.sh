#!/usr/bin/env bash
# A second Docker engine beside the first, reachable over TLS on loopback: a real remote
# `Host` for end-to-end tests.
#
#   scripts/engine2.sh start          start it (idempotent; quick when already running)
#   scripts/engine2.sh stop           stop it, keep its data (a later start is quick)
#   scripts/engine2.sh stop --purge   stop it, delete its state dir and its bridge
#   scripts/engine2.sh status         exit 0 when running, 1 when not
#   scripts/engine2.sh env            print AEGIS_E2_* variables (KEY=VALUE, one per line)
#
#   AEGIS_E2_DIR             state dir (default /tmp/aegis-engine2): certificates, data,
#                            dockerd.log, docker.sock, docker.pid
#   AEGIS_E2_PORT            TLS port on 127.0.0.1 (default 23760)
#   AEGIS_E2_STORAGE_DRIVER  storage driver (default: the first engine's, else vfs)
#   AEGIS_E2_BRIDGE          its own bridge's name (default aegis-e2); another instance
#                            (other AEGIS_E2_DIR/PORT) needs another bridge
#   AEGIS_E2_BRIDGE_ADDR     that bridge's address (default 172.31.250.1/24)
#
# State dir layout: tls/ca.pem (the CA that signed server.pem and cert.pem), tls/cert.pem +
# tls/key.pem (client, extendedKeyUsage clientAuth), tls/server.pem + tls/server-key.pem
# (SAN IP:127.0.0.1, DNS:localhost), tls/wrong-ca.pem (an unrelated CA, for negative tests)
# and tls/wrong-cert.pem + tls/wrong-key.pem (a client certificate signed by that wrong CA).
#
# Safety, because the first engine must never notice this one:
#   * never `--bridge none` (dockerd would delete the first engine's docker0): it gets its
#     own bridge (`aegis-e2`, 172.31.250.1/24, unless overridden), made here and removed
#     only by `stop --purge`;
#   * `--iptables=false --ip-forward=false`: no iptables or sysctl changes;
#   * its own --data-root, --exec-root (hence its own containerd), --pidfile, containerd
#     namespace, and `--config-file` (else /etc/docker/daemon.json, meant for the first
#     engine, would be read too);
#   * NO --default-address-pool(s): when a daemon restarts with one set, moby's
#     "clear stale bridge network" step deletes the interface named docker0, whatever -b
#     says (daemon_unix.go, removeDefaultBridgeInterface). That is the first engine's bridge.
#     Networks made on this engine come from Docker's default pools, which skip subnets
#     already routed on the machine;
#   * after every start and stop, a check that docker0 still exists if it did before;
#   * stop kills only the pid in its pidfile, after checking that it is this dockerd.
#
# Exit status 3 from `start` means this machine cannot run a second engine (not root, no
# dockerd/openssl/ip); tests skip on it. Any other failure is a real error.
set -euo pipefail

DIR=${AEGIS_E2_DIR:-/tmp/aegis-engine2}
PORT=${AEGIS_E2_PORT:-23760}
BRIDGE=${AEGIS_E2_BRIDGE:-aegis-e2}
BRIDGE_ADDR=${AEGIS_E2_BRIDGE_ADDR:-172.31.250.1/24}
IMAGE=busybox:1.36
START_TIMEOUT=60

SOCK=$DIR/docker.sock
PIDFILE=$DIR/docker.pid
LOG=$DIR/dockerd.log
TLS=$DIR/tls
REPO=$(cd "$(dirname "$0")/.." && pwd)

log() { echo "engine2: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}
unfit() {
    log "cannot run a second engine here: $*"
    exit 3
}

d2() { docker -H "unix://$SOCK" "$@"; }
d2_tls() {
    docker -H "tcp://127.0.0.1:$PORT" --tlsverify --tlscacert "$TLS/ca.pem" \
        --tlscert "$TLS/cert.pem" --tlskey "$TLS/key.pem" "$@"
}

# The pid of our dockerd, if it is alive and really is the dockerd of this state dir.
running_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/cmdline" ] || return 1
    local cmd
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    [[ "$cmd" == *dockerd* && "$cmd" == *"--data-root $DIR/data"* ]] || return 1
    echo "$pid"
}

lock() {
    mkdir -p "$(dirname "$DIR")"
    exec 9>"$DIR.lock"
    flock -w 180 9 || die "another engine2.sh holds $DIR.lock"
}

check_fit() {
    [ "$(id -u)" -eq 0 ] || unfit "dockerd needs root (uid is $(id -u))"
    local t
    for t in dockerd docker openssl ip flock setsid; do
        command -v "$t" >/dev/null 2>&1 || unfit "'$t' is not installed"
    done
}

# ---------------------------------------------------------------------------------------
# Certificates

# issue NAME CA_NAME EXT: key NAME-key.pem and certificate NAME.pem signed by CA_NAME.
issue() {
    local name=$1 ca=$2 subj=$3 ext=$4
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TLS/$name-key.pem" 2>/dev/null
    openssl req -new -key "$TLS/$name-key.pem" -subj "$subj" -out "$TLS/$name.csr" 2>/dev/null
    printf '%s\n' "$ext" >"$TLS/$name.ext"
    openssl x509 -req -in "$TLS/$name.csr" -CA "$TLS/$ca.pem" -CAkey "$TLS/$ca-key.pem" \
        -CAcreateserial -days 825 -sha256 -extfile "$TLS/$name.ext" -out "$TLS/$name.pem" 2>/dev/null
    rm -f "$TLS/$name.csr" "$TLS/$name.ext"
}

make_ca() {
    local name=$1 cn=$2
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TLS/$name-key.pem" 2>/dev/null
    openssl req -x509 -new -key "$TLS/$name-key.pem" -sha256 -days 825 -subj "/CN=$cn" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$TLS/$name.pem" 2>/dev/null
}

certs_valid() {
    local f
    for f in ca server cert wrong-ca wrong-cert; do
        [ -s "$TLS/$f.pem" ] || return 1
        # Still valid for at least a day.
        openssl x509 -checkend 86400 -noout -in "$TLS/$f.pem" >/dev/null 2>&1 || return 1
    done
    [ -s "$TLS/key.pem" ] && [ -s "$TLS/server-key.pem" ] && [ -s "$TLS/wrong-key.pem" ]
}

make_certs() {
    certs_valid && return 0
    log "creating a throwaway CA and certificates in $TLS"
    rm -rf "$TLS"
    mkdir -p "$TLS"
    chmod 700 "$TLS"
    make_ca ca "aegis engine2 test CA"
    issue server ca "/CN=127.0.0.1" \
        "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
    issue client ca "/CN=aegis-e2e-client" \
        "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
    mv "$TLS/client.pem" "$TLS/cert.pem"
    mv "$TLS/client-key.pem" "$TLS/key.pem"
    make_ca wrong-ca "aegis engine2 WRONG test CA"
    issue wrong-client wrong-ca "/CN=aegis-e2e-wrong-client" \
        "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
    mv "$TLS/wrong-client.pem" "$TLS/wrong-cert.pem"
    mv "$TLS/wrong-client-key.pem" "$TLS/wrong-key.pem"
    rm -f "$TLS"/*.srl
    chmod 600 "$TLS"/*-key.pem "$TLS/key.pem"
}

# ---------------------------------------------------------------------------------------
# Bridge and storage driver

make_bridge() {
    if ip link show "$BRIDGE" >/dev/null 2>&1; then
        return 0
    fi
    if ip -4 addr show | grep -q "inet ${BRIDGE_ADDR%/*}/"; then
        die "${BRIDGE_ADDR%/*} is already used by another interface; not creating $BRIDGE"
    fi
    log "creating bridge $BRIDGE ($BRIDGE_ADDR)"
    ip link add name "$BRIDGE" type bridge
    ip addr add "$BRIDGE_ADDR" dev "$BRIDGE"
    ip link set "$BRIDGE" up
}

# The storage driver: remembered from the first start (the data dir is tied to it), else
# AEGIS_E2_STORAGE_DRIVER, else the first engine's (fuse-overlayfs on some machines, where
# overlay2 does not work), else vfs.
storage_driver() {
    if [ -s "$DIR/storage-driver" ]; then
        cat "$DIR/storage-driver"
    elif [ -n "${AEGIS_E2_STORAGE_DRIVER:-}" ]; then
        echo "$AEGIS_E2_STORAGE_DRIVER"
    else
        local d
        d=$(docker info -f '{{.Driver}}' 2>/dev/null || true)
        echo "${d:-vfs}"
    fi
}

# The first engine's bridge. Nothing here may remove it; if it vanished across one of our
# starts or stops, say so loudly (and fail) rather than let its containers break silently.
docker0_before=
note_docker0() {
    if ip link show docker0 >/dev/null 2>&1; then docker0_before=1; fi
}
check_docker0() {
    if [ -n "$docker0_before" ] && ! ip link show docker0 >/dev/null 2>&1; then
        die "the first engine's bridge docker0 disappeared while $1 engine 2; this must never happen (see the safety notes at the top of $0)"
    fi
}

# ---------------------------------------------------------------------------------------
# Commands

launch() {
    local driver=$1
    printf '{"storage-driver": "%s", "log-driver": "json-file"}\n' "$driver" >"$DIR/daemon.json"
    log "starting dockerd (storage driver $driver, log: $LOG)"
    : >"$LOG"
    # setsid + all fds redirected, lock fd closed: the daemon outlives this script and never
    # holds the caller's pipes (or our lock) open.
    setsid dockerd \
        --config-file "$DIR/daemon.json" \
        -H "unix://$SOCK" -H "tcp://127.0.0.1:$PORT" \
        --tlsverify --tlscacert "$TLS/ca.pem" --tlscert "$TLS/server.pem" --tlskey "$TLS/server-key.pem" \
        --data-root "$DIR/data" --exec-root "$DIR/exec" --pidfile "$PIDFILE" \
        --containerd-namespace "$BRIDGE" --containerd-plugins-namespace "$BRIDGE-plugins" \
        -b "$BRIDGE" --iptables=false --ip-forward=false \
        </dev/null >>"$LOG" 2>&1 9>&- &
}

# Waits for the engine to answer on its socket; fails early when dockerd exits.
wait_up() {
    local i
    for i in $(seq 1 $((START_TIMEOUT * 4))); do
        if d2 info >/dev/null 2>&1; then
            return 0
        fi
        if [ "$i" -gt 8 ] && ! running_pid >/dev/null; then
            # Give a just-forked dockerd a moment to write its pidfile before judging.
            return 1
        fi
        sleep 0.25
    done
    return 1
}

load_image() {
    if d2 image inspect "$IMAGE" >/dev/null 2>&1; then
        return 0
    fi
    if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
        "$REPO/scripts/setup-images.sh" >&2
    fi
    log "loading $IMAGE from the first engine"
    docker save "$IMAGE" | d2 load >/dev/null
}

cmd_start() {
    check_fit
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    lock
    make_certs
    make_bridge
    note_docker0
    local t0=$SECONDS
    if running_pid >/dev/null; then
        wait_up || die "dockerd (pid $(running_pid)) runs but does not answer on $SOCK; see $LOG"
    else
        rm -f "$PIDFILE"
        local driver
        driver=$(storage_driver)
        launch "$driver"
        if ! wait_up; then
            if [ "$driver" != vfs ] && [ ! -s "$DIR/storage-driver" ] && ! running_pid >/dev/null &&
                grep -qiE 'storage|graphdriver|driver not supported' "$LOG"; then
                log "storage driver $driver failed; falling back to vfs:"
                tail -n 5 "$LOG" >&2
                driver=vfs
                launch "$driver"
                wait_up || { tail -n 30 "$LOG" >&2; die "dockerd did not come up; see $LOG"; }
            else
                tail -n 30 "$LOG" >&2
                die "dockerd did not come up within ${START_TIMEOUT}s; see $LOG"
            fi
        fi
        echo "$driver" >"$DIR/storage-driver"
        log "dockerd up in $((SECONDS - t0))s (pid $(running_pid))"
    fi
    check_docker0 starting
    load_image
    # The TLS endpoint with the client certificate: what aegis will use.
    d2_tls version -f '{{.Server.Version}}' >/dev/null ||
        die "the TLS endpoint tcp://127.0.0.1:$PORT does not accept the client certificate; see $LOG"
    log "running: tcp://127.0.0.1:$PORT (TLS), unix://$SOCK"
}

cmd_stop() {
    local purge=0
    case "${1:-}" in
    --purge) purge=1 ;;
    "") ;;
    *) die "stop: unknown option $1 (only --purge)" ;;
    esac
    [ -d "$DIR" ] || { [ "$purge" = 1 ] && drop_bridge; return 0; }
    lock
    note_docker0
    local pid
    if pid=$(running_pid); then
        log "stopping dockerd (pid $pid)"
        kill -TERM "$pid"
        local i
        for i in $(seq 1 240); do
            [ -d "/proc/$pid" ] || break
            sleep 0.25
        done
        if [ -d "/proc/$pid" ]; then
            log "dockerd (pid $pid) did not exit in 60s; killing it"
            kill -KILL "$pid" || true
            sleep 1
        fi
    fi
    rm -f "$PIDFILE"
    check_docker0 stopping
    if [ "$purge" = 1 ]; then
        # Anything dockerd left mounted under the state dir (it unmounts on a clean exit).
        local m
        { grep -F " $DIR/" /proc/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done
        rm -rf "$DIR"
        rm -f "$DIR.lock"
        drop_bridge
        log "purged $DIR"
    fi
}

drop_bridge() {
    # Only our own bridge, never docker0 or anything else.
    if ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link del "$BRIDGE"
        log "removed bridge $BRIDGE"
    fi
}

cmd_status() {
    local pid
    if pid=$(running_pid) && d2 info >/dev/null 2>&1; then
        echo "running (pid $pid): tcp://127.0.0.1:$PORT (TLS), unix://$SOCK"
    else
        echo "stopped"
        return 1
    fi
}

cmd_env() {
    cat <<EOF
AEGIS_E2_ENDPOINT=tcp://127.0.0.1:$PORT
AEGIS_E2_CA=$TLS/ca.pem
AEGIS_E2_CERT=$TLS/cert.pem
AEGIS_E2_KEY=$TLS/key.pem
AEGIS_E2_SOCK=unix://$SOCK
AEGIS_E2_WRONG_CA=$TLS/wrong-ca.pem
AEGIS_E2_WRONG_CERT=$TLS/wrong-cert.pem
AEGIS_E2_WRONG_KEY=$TLS/wrong-key.pem
AEGIS_E2_DIR=$DIR
EOF
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop "${2:-}" ;;
status) cmd_status ;;
env) cmd_env ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
