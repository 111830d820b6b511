#!/bin/sh
# fetch-source.sh CACHE_DIR — downloads the pristine mimalloc source package from the
# Debian archive into CACHE_DIR (once; later calls reuse it) and verifies its checksum.
#
# It uses a private apt configuration built from the machine's own `deb` entries (turned
# into `deb-src`), so the system's apt sources and package lists stay untouched and no
# root is needed. Set PALLOC_MIMALLOC_ORIG=/path/to/orig.tar.xz to use a local copy.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/source.conf"
cache=${1:?usage: fetch-source.sh CACHE_DIR}
mkdir -p "$cache"
orig=$cache/$MIMALLOC_ORIG

verify() {
  echo "$MIMALLOC_ORIG_SHA256  $1" | sha256sum --check --status
}

if [ -n "${PALLOC_MIMALLOC_ORIG:-}" ]; then
  verify "$PALLOC_MIMALLOC_ORIG" || {
    echo "fetch-source.sh: $PALLOC_MIMALLOC_ORIG does not have the expected SHA-256 ($MIMALLOC_ORIG_SHA256)" >&2
    exit 1
  }
  cp "$PALLOC_MIMALLOC_ORIG" "$orig"
fi
if [ -f "$orig" ] && verify "$orig"; then
  exit 0
fi

apt_dir=$cache/apt
rm -rf "$apt_dir"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources"
# The machine's mirrors, as source entries: deb822 files and one-line lists both.
found=0
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  sed 's/^Types:.*/Types: deb-src/' "$f" > "$apt_dir/sources/$(basename "$f")"
  found=1
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  grep -E '^[[:space:]]*deb[[:space:]]' "$f" | sed 's/^[[:space:]]*deb[[:space:]]/deb-src /' \
    > "$apt_dir/sources/$(basename "$f" .list)-src.list" || true
  found=1
done
if [ $found = 0 ]; then
  echo "fetch-source.sh: no apt sources found in /etc/apt; cannot locate the Debian archive." >&2
  echo "  Download $MIMALLOC_ORIG yourself and set PALLOC_MIMALLOC_ORIG=/path/to/it." >&2
  exit 1
fi
apt_opts="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$apt_dir/sources
  -o Dir::State::Lists=$apt_dir/lists -o Dir::Cache=$apt_dir/cache -o Debug::NoLocking=1
  -o APT::Sandbox::User=$(id -un)"
echo "fetching $MIMALLOC_PACKAGE=$MIMALLOC_VERSION source from the Debian archive..." >&2
# shellcheck disable=SC2086
if ! apt-get -q $apt_opts update >"$apt_dir/update.log" 2>&1; then
  echo "fetch-source.sh: apt-get update failed (log: $apt_dir/update.log):" >&2
  tail -5 "$apt_dir/update.log" >&2
  exit 1
fi
# shellcheck disable=SC2086
if ! (cd "$cache" && apt-get -q $apt_opts source --download-only "$MIMALLOC_PACKAGE=$MIMALLOC_VERSION") \
     >"$apt_dir/source.log" 2>&1; then
  echo "fetch-source.sh: apt-get source failed (log: $apt_dir/source.log):" >&2
  tail -5 "$apt_dir/source.log" >&2
  exit 1
fi
if ! verify "$orig"; then
  echo "fetch-source.sh: $orig does not have the expected SHA-256 ($MIMALLOC_ORIG_SHA256); refusing to build it." >&2
  exit 1
fi
rm -rf "$apt_dir"
