#!/usr/bin/env bash
# Install dnsmasq, the real DNS server the DnsGuard agent tests run on loopback (127.x
# addresses, ports they pick). Debian's `dnsmasq-base` is the binary alone: no service is
# installed or started, so nothing listens until a test starts its own server. Idempotent.
# Without it the DnsGuard tests print SKIP; under CI=true they fail instead.
set -euo pipefail

if [ -x /usr/sbin/dnsmasq ] || command -v dnsmasq >/dev/null 2>&1; then
    echo "setup-dnsmasq: dnsmasq present"
    exit 0
fi
echo "setup-dnsmasq: installing dnsmasq-base (Debian package)"
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; else SUDO=""; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dnsmasq-base >/dev/null
