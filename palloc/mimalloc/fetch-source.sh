#!/bin/sh
# fetch-source.sh CACHE_DIR — downloads and verifies the pristine mimalloc source package
# (see source.conf and scripts/fetch-debian-source.sh). Set
# PALLOC_MIMALLOC_ORIG=/path/to/orig.tar.xz to use a local copy.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/source.conf"
exec "$here/../../scripts/fetch-debian-source.sh" "$MIMALLOC_PACKAGE" "$MIMALLOC_VERSION" "$MIMALLOC_ORIG" \
  "$MIMALLOC_ORIG_SHA256" "${1:?usage: fetch-source.sh CACHE_DIR}" "${PALLOC_MIMALLOC_ORIG:-}"
