#!/usr/bin/env bash
# Installs the Debian packages palloc needs to build, test and benchmark. Installs only
# what is missing, so it is quick when everything is there. Debian bookworm.
set -euo pipefail

packages=(
  build-essential cmake pkg-config   # toolchain
  libxxhash-dev                      # page and record checksums
  libgtest-dev                       # unit tests
  nlohmann-json3-dev                 # `palloc info --json`
  python3                            # test drivers
  util-linux                         # mount/unshare for disk-full tests
  apt patch xz-utils ca-certificates # fetching and patching the mimalloc source package
  valgrind                           # allocator tests under valgrind
  time                               # GNU time: benchmark wall time and peak RSS
  libmimalloc2.0 libjemalloc2        # benchmark baselines (stock mimalloc, jemalloc)
  lua5.4                             # a real program for the allocator benchmarks
  liblua5.4-dev libreadline-dev      # lua-persist: Debian's liblua5.4, the REPL's line editor
  lua-socket lua-cjson curl          # the Lua web example and its test
  lua-sql-sqlite3                    # the web example's SQLite baseline (benchmark)
  python3.11 libpython3.11-dev       # py-persist: Debian's libpython3.11 and its internal headers
  libpython3.11-testsuite            # CPython's regression tests, run under py-persist
  redis-server python3-redis         # the Python web example's Redis baseline (benchmark)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "palloc: installing missing packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo "$0" "$@"
  fi
  echo "palloc: these packages are missing and installing them needs root. Run:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
