#!/bin/sh
# prepare.sh CACHE_DIR OUT_DIR — unpacks the verified pristine mimalloc source into
# OUT_DIR and applies the patch series (patches/series, in order). Does nothing when
# OUT_DIR already holds exactly this source with exactly these patches.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/source.conf"
cache=${1:?usage: prepare.sh CACHE_DIR OUT_DIR}
out=${2:?usage: prepare.sh CACHE_DIR OUT_DIR}

stamp_of() {
  { echo "$MIMALLOC_ORIG_SHA256"; cat "$here/patches/series"
    while read -r p; do [ -n "$p" ] && sha256sum < "$here/patches/$p"; done < "$here/patches/series"
  } | sha256sum | cut -d' ' -f1
}
want=$(stamp_of)
if [ -f "$out/.palloc-stamp" ] && [ "$(cat "$out/.palloc-stamp")" = "$want" ]; then
  exit 0
fi

"$here/fetch-source.sh" "$cache"
rm -rf "$out"
mkdir -p "$out"
tar -xJf "$cache/$MIMALLOC_ORIG" -C "$out" --strip-components=1
while read -r p; do
  [ -n "$p" ] || continue
  if ! patch -d "$out" -p1 --batch --forward --quiet < "$here/patches/$p"; then
    echo "prepare.sh: patch $p does not apply to $MIMALLOC_ORIG" >&2
    exit 1
  fi
done < "$here/patches/series"
echo "$want" > "$out/.palloc-stamp"
echo "mimalloc $MIMALLOC_VERSION unpacked and patched in $out" >&2
