#!/bin/sh
# edit-tree.sh DIR — makes DIR a git repository holding the pristine source (tagged
# `pristine`) with every patch of the series applied as one commit. Edit there
# (`git commit --amend`, `git rebase -i pristine`, new commits for new concerns), then
# run regen-patches.sh DIR to write the series back.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/source.conf"
dir=${1:?usage: edit-tree.sh DIR}
[ -e "$dir" ] && { echo "edit-tree.sh: $dir exists; choose a new directory" >&2; exit 1; }
cache=${PALLOC_MIMALLOC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/palloc/mimalloc}
"$here/fetch-source.sh" "$cache"
mkdir -p "$dir"
tar -xJf "$cache/$MIMALLOC_ORIG" -C "$dir" --strip-components=1
cd "$dir"
git init -q
git add -A
git -c user.name=palloc -c user.email=palloc@localhost commit -qm "$MIMALLOC_PACKAGE $MIMALLOC_VERSION pristine"
git tag pristine
while read -r p; do
  [ -n "$p" ] || continue
  git -c user.name=palloc -c user.email=palloc@localhost am -q --keep-cr "$here/patches/$p"
done < "$here/patches/series"
echo "edit in $dir, then: $here/regen-patches.sh $dir" >&2
