#!/usr/bin/env bash
# device-deps.sh — dependencies for building latte on the GPU machine, which has no package registry.
#   here:  scripts/device-deps.sh fetch    downloads the Debian packages into .deps/debs (git-ignored)
#   there: scripts/device-deps.sh unpack   unpacks them with dpkg -x into .deps/root and prints the
#          CMake flag (-DLATTE_DEPS_PREFIX=...) and LD_LIBRARY_PATH to use.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 libutf8proc-dev libutf8proc2 libmicrohttpd-dev libmicrohttpd12 libcurl4-openssl-dev libcurl4"
case "${1:-}" in
  fetch)
    mkdir -p .deps/debs
    grep -qx '/.deps/' .git/info/exclude 2>/dev/null || echo '/.deps/' >> .git/info/exclude
    (cd .deps/debs && apt-get download $PKGS)
    ls -la .deps/debs ;;
  unpack)
    mkdir -p .deps/root
    for f in .deps/debs/*.deb; do dpkg -x "$f" .deps/root; done
    # Debian's libcurl needs libssh2/ldap builds the GPU machine lacks: link its own libcurl.so.4 (ABI 4)
    # when it has one, with Debian's headers
    sys=/usr/lib/x86_64-linux-gnu/libcurl.so.4
    if [ -e "$sys" ]; then
      rm -f .deps/root/usr/lib/x86_64-linux-gnu/libcurl.so*
      ln -s "$sys" .deps/root/usr/lib/x86_64-linux-gnu/libcurl.so
    fi
    echo "-DLATTE_DEPS_PREFIX=$PWD/.deps/root"
    echo "export LD_LIBRARY_PATH=$PWD/.deps/root/usr/lib/x86_64-linux-gnu:\${LD_LIBRARY_PATH:-}" ;;
  *) echo "usage: $0 fetch|unpack" >&2; exit 2 ;;
esac
