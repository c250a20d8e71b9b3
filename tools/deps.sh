#!/bin/sh
# Install whatever llmtap needs that this Debian machine lacks: apt-get as
# root, sudo otherwise; then the npm packages of the test clients.
# Usage: deps.sh [extra-debian-package...]
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
pkgs="build-essential pkg-config libcivetweb-dev libsqlite3-dev libzstd-dev \
libcurl4-openssl-dev libcjson-dev check zlib1g-dev curl ca-certificates $*"

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"

if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    echo "deps: installing$missing" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
fi

# npm packages for the real-client tests (tests/clients), from the lock file.
cd "$here/tests/clients"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.installed ]; then
    echo "deps: npm ci in tests/clients" >&2
    npm ci --no-audit --no-fund --loglevel=error >&2
    touch node_modules/.installed
fi
