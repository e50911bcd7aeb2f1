#!/bin/sh
# Installs what Tally needs to build and test, and nothing that is already
# there: Debian packages with apt-get, the Node.js test clients with npm.
# Safe to run again; run as root (or with sudo available).
set -eu
cd "$(dirname "$0")/.."

PACKAGES="gcc make pkg-config clang libclang-rt-14-dev
  libbson-dev libmongoc-dev liblmdb-dev lmdb-utils libuv1-dev libssl-dev libzstd-dev libyaml-dev libpcre2-dev
  libhiredis-dev redis-server iproute2 iptables
  python3 python3-pymongo python3-pytest nodejs npm procps"

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# A node that did not come from Debian (e.g. a newer one already on PATH) is fine.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    missing=$(echo "$missing" | tr ' ' '\n' | grep -v -x -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo "$missing" | xargs)

if [ -n "$missing" ]; then
    echo "install-deps: installing Debian packages: $missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# npm packages (the Node.js driver and mongosh), pinned by package-lock.json.
if [ -f package.json ]; then
    stamp=node_modules/.tally-lock-stamp
    if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
        echo "install-deps: installing npm packages"
        npm ci --no-audit --no-fund --loglevel=error
        cp package-lock.json "$stamp"
    fi
fi
echo "install-deps: everything is installed"
