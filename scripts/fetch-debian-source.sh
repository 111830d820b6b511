#!/bin/sh
# fetch-debian-source.sh PACKAGE VERSION ORIG SHA256 CACHE_DIR [LOCAL_COPY]
#
# Downloads a pristine Debian source package (PACKAGE=VERSION) from the Debian archive
# into CACHE_DIR (once; later calls reuse it) and verifies the SHA-256 of its upstream
# tarball ORIG. LOCAL_COPY, if given and non-empty, is used instead of downloading.
#
# It uses a private apt configuration built from the machine's own `deb` entries (turned
# into `deb-src`), so the system's apt sources and package lists stay untouched and no
# root is needed.
set -eu
package=${1:?usage: fetch-debian-source.sh PACKAGE VERSION ORIG SHA256 CACHE_DIR [LOCAL_COPY]}
version=${2:?} orig_name=${3:?} sha256=${4:?} cache=${5:?} local_copy=${6:-}
me=$(basename "$0")
mkdir -p "$cache"
orig=$cache/$orig_name

verify() {
  echo "$sha256  $1" | sha256sum --check --status
}

if [ -n "$local_copy" ]; then
  verify "$local_copy" || {
    echo "$me: $local_copy does not have the expected SHA-256 ($sha256)" >&2
    exit 1
  }
  cp "$local_copy" "$orig"
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
  echo "$me: no apt sources found in /etc/apt; cannot locate the Debian archive." >&2
  echo "  Download $orig_name yourself and pass it as a local copy (see the calling script)." >&2
  exit 1
fi
apt_opts="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$apt_dir/sources
  -o Dir::State::Lists=$apt_dir/lists -o Dir::Cache=$apt_dir/cache -o Debug::NoLocking=1
  -o APT::Sandbox::User=$(id -un)"
echo "fetching $package=$version source from the Debian archive..." >&2
# shellcheck disable=SC2086
if ! apt-get -q $apt_opts update >"$apt_dir/update.log" 2>&1; then
  echo "$me: apt-get update failed (log: $apt_dir/update.log):" >&2
  tail -5 "$apt_dir/update.log" >&2
  exit 1
fi
# shellcheck disable=SC2086
if ! (cd "$cache" && apt-get -q $apt_opts source --download-only "$package=$version") \
     >"$apt_dir/source.log" 2>&1; then
  echo "$me: apt-get source failed (log: $apt_dir/source.log):" >&2
  tail -5 "$apt_dir/source.log" >&2
  exit 1
fi
if ! verify "$orig"; then
  echo "$me: $orig does not have the expected SHA-256 ($sha256); refusing to build it." >&2
  exit 1
fi
rm -rf "$apt_dir"
