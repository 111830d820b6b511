#!/bin/sh
# regen-patches.sh DIR — writes the commits of DIR (made by edit-tree.sh) after the
# `pristine` tag back into patches/, one patch per commit, and rewrites patches/series.
# The commit message is the patch header: what the patch does and why.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: regen-patches.sh DIR}
git -C "$dir" diff --quiet HEAD || { echo "regen-patches.sh: $dir has uncommitted changes" >&2; exit 1; }
tmp=$(mktemp -d)
git -C "$dir" format-patch -q --no-signature --zero-commit --no-stat -N -o "$tmp" pristine..HEAD
rm -f "$here"/patches/*.patch
: > "$here/patches/series"
for f in "$tmp"/*.patch; do
  # No dates: regenerating an unchanged series must not change a byte.
  sed '/^Date: /d' "$f" > "$here/patches/$(basename "$f")"
  basename "$f" >> "$here/patches/series"
done
rm -rf "$tmp"
echo "wrote $(wc -l < "$here/patches/series") patches to $here/patches" >&2
