#!/bin/sh
# prepare-headers.sh CACHE_DIR OUT_DIR — fetches the pristine Lua source package (see
# source.conf) and copies its C headers into OUT_DIR, once per checksum. Set
# LUA_PERSIST_LUA_ORIG=/path/to/lua5.4_5.4.4.orig.tar.gz to use a local copy.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/source.conf"
cache=${1:?usage: prepare-headers.sh CACHE_DIR OUT_DIR}
out=${2:?usage: prepare-headers.sh CACHE_DIR OUT_DIR}
stamp=$out/.prepared
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$LUA_ORIG_SHA256" ]; then
  exit 0
fi
"$here/../scripts/fetch-debian-source.sh" "$LUA_PACKAGE" "$LUA_VERSION" "$LUA_ORIG" "$LUA_ORIG_SHA256" \
  "$cache" "${LUA_PERSIST_LUA_ORIG:-}"
rm -rf "$out"
mkdir -p "$out"
tmp=$out/.unpack
mkdir -p "$tmp"
tar -xzf "$cache/$LUA_ORIG" -C "$tmp" --wildcards '*/src/*.h'
cp "$tmp"/*/src/*.h "$out/"
rm -rf "$tmp"
echo "$LUA_ORIG_SHA256" > "$stamp"
