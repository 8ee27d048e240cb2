#!/usr/bin/env bash
# install-deps.sh — installs latte's build and test dependencies from Debian packages (idempotent:
# does nothing when everything is already there). Run as root or with sudo available.
set -euo pipefail
PKGS="build-essential cmake pkg-config libopenblas-dev libpcre2-dev libutf8proc-dev libmicrohttpd-dev libcurl4-openssl-dev python3"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "install-deps: all dependencies present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
