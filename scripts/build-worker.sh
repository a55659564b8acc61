#!/usr/bin/env bash
# Builds mediasoup-worker from the C++ sources shipped in node_modules/mediasoup/worker
# against the distribution's libraries (Debian 12), fully offline, and installs it
# where mediasoup looks by default (node_modules/mediasoup/worker/out/Release/).
#
# WHY: mediasoup's postinstall downloads a prebuilt worker or, failing that, meson
# wraps (libuv, openssl, libsrtp3, ...) from the internet. On an offline host both
# fail. Here every wrap is replaced by a small local meson project from
# scripts/worker-build/subprojects/<wrap name>/ that points at the system library.
#
# The result is cached outside the clone, keyed by mediasoup version + a hash of
# this script, scripts/worker-build/, the system -dev package versions and g++:
#   ${GHOSTTALK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ghosttalk}/mediasoup-worker/<version>-<hash>/mediasoup-worker
#
# Usage: scripts/build-worker.sh            build (if not cached) and install
#        scripts/build-worker.sh --print-path  only print the cached binary's path
# Env:   MEDIASOUP_DIR (default: <repo>/node_modules/mediasoup), GHOSTTALK_CACHE_DIR.
# Needs: apt-get install build-essential pkg-config libuv1-dev libssl-dev libsrtp2-dev
#        libabsl-dev flatbuffers-compiler libflatbuffers-dev; python3 with venv; pip
#        access to meson and ninja (a local mirror is enough).
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
WORKER_BUILD_DIR="$SCRIPT_DIR/worker-build"
MEDIASOUP_DIR="${MEDIASOUP_DIR:-$REPO_ROOT/node_modules/mediasoup}"
CACHE_ROOT="${GHOSTTALK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ghosttalk}"
WORKER_CACHE="$CACHE_ROOT/mediasoup-worker"

# mediasoup 3.27 requires meson >= 1.1 (Debian 12 ships 1.0.1).
MESON_VERSION=1.12.1
MESON_MIN_VERSION=1.1
# Their versions go into the cache key: a security update of one of them rebuilds the worker.
DEV_PACKAGES=(pkg-config libuv1-dev libssl-dev libsrtp2-dev libabsl-dev flatbuffers-compiler libflatbuffers-dev)

log() { printf '[build-worker] %s\n' "$*" >&2; }
die() { printf '[build-worker] ERROR: %s\n' "$*" >&2; exit 1; }

print_only=0
case "${1:-}" in
  '') ;;
  --print-path) print_only=1 ;;
  -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument: $1 (try --help)" ;;
esac

# --- inputs ------------------------------------------------------------------

[[ -f "$MEDIASOUP_DIR/package.json" && -d "$MEDIASOUP_DIR/worker/src" ]] ||
  die "mediasoup sources not found in $MEDIASOUP_DIR (run npm install first, with MEDIASOUP_WORKER_BIN set to skip its postinstall)"

MS_VERSION=$(sed -n 's/^[[:space:]]*"version"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$MEDIASOUP_DIR/package.json" | head -n1)
[[ -n "$MS_VERSION" ]] || die "cannot read the version from $MEDIASOUP_DIR/package.json"

command -v dpkg-query >/dev/null || die "dpkg-query not found: this script builds against Debian/Ubuntu packages"
command -v g++ >/dev/null || die "g++ not found: apt-get install build-essential"
missing=()
for pkg in "${DEV_PACKAGES[@]}"; do
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" == installed ]] || missing+=("$pkg")
done
((${#missing[@]} == 0)) || die "missing packages: ${missing[*]} (apt-get install ${missing[*]})"

# Fix for a worker crash on the first DTLS handshake with a KTLS-enabled OpenSSL (Debian's),
# applied to the scratch copy below: onSslBioOut() answers 1 to every BIO control query
# because it compares the operation with == instead of testing the BIO_CB_RETURN bit, so
# BIO_get_ktls_send() says yes, libssl never allocates its DTLS write buffer and writes
# through NULL. Checked up front so a mediasoup upgrade that changes this code is noticed.
DTLS_FILE=src/RTC/DtlsTransport.cpp
DTLS_BAD='(operationType == BIO_CB_RETURN)'
DTLS_GOOD='((operationType \& BIO_CB_RETURN) != 0)'
bad_count=$(grep -cF "$DTLS_BAD" "$MEDIASOUP_DIR/worker/$DTLS_FILE" || true)
[[ "$bad_count" == 1 ]] ||
  die "DTLS fix: expected exactly 1 occurrence of '$DTLS_BAD' in worker/$DTLS_FILE of mediasoup $MS_VERSION, found $bad_count. Check whether upstream fixed onSslBioOut and update this script."

# The cache key: everything that can change the binary besides the mediasoup version.
hash_inputs() {
  printf 'mediasoup %s\n' "$MS_VERSION"
  sha256sum "$SCRIPT_DIR/build-worker.sh" | cut -d' ' -f1
  (cd "$WORKER_BUILD_DIR" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  dpkg-query -W "${DEV_PACKAGES[@]}"
  g++ --version | head -n1
}
BUILD_KEY=$(hash_inputs | sha256sum | cut -c1-16)
OUT_DIR="$WORKER_CACHE/$MS_VERSION-$BUILD_KEY"
OUT_BIN="$OUT_DIR/mediasoup-worker"

if ((print_only)); then
  printf '%s\n' "$OUT_BIN"
  exit 0
fi

INSTALL_BIN="$MEDIASOUP_DIR/worker/out/Release/mediasoup-worker"

install_binary() {
  if [[ -f "$INSTALL_BIN" ]] && cmp -s "$OUT_BIN" "$INSTALL_BIN"; then
    log "already installed: $INSTALL_BIN"
  else
    mkdir -p "$(dirname "$INSTALL_BIN")"
    # Copy next to the target, then rename: a running worker or a concurrent reader never sees half a file.
    cp "$OUT_BIN" "$INSTALL_BIN.tmp.$$"
    chmod 755 "$INSTALL_BIN.tmp.$$"
    mv -f "$INSTALL_BIN.tmp.$$" "$INSTALL_BIN"
    log "installed: $INSTALL_BIN"
  fi
  printf '%s\n' "$INSTALL_BIN"
}

if [[ -x "$OUT_BIN" ]]; then
  log "cache hit: $OUT_BIN"
  install_binary
  exit 0
fi

# --- build -------------------------------------------------------------------

mkdir -p "$WORKER_CACHE"
# One build at a time per cache (two CI jobs on one machine would otherwise race).
exec 9>"$WORKER_CACHE/.lock"
if ! flock -n 9; then
  log "another build holds $WORKER_CACHE/.lock; waiting"
  flock 9
fi
if [[ -x "$OUT_BIN" ]]; then
  log "cache hit (built meanwhile by another process): $OUT_BIN"
  install_binary
  exit 0
fi
# Leftovers of interrupted or failed runs (we hold the lock, so nobody is using them).
rm -rf "$WORKER_CACHE"/build.* "$WORKER_CACHE"/*.partial.*
[[ ! -e "$OUT_DIR" ]] || rm -rf "$OUT_DIR" # a directory without its binary is not a valid entry

start_time=$(date +%s)
log "building mediasoup-worker $MS_VERSION (key $BUILD_KEY)"

# meson + ninja from pip in a venv under the cache, created once (the stamp marks a complete one).
VENV="$WORKER_CACHE/venv"
if [[ ! -f "$VENV/.ghosttalk-complete" ]] || ! "$VENV/bin/meson" --version >/dev/null 2>&1; then
  log "creating python venv with meson $MESON_VERSION and ninja: $VENV"
  command -v python3 >/dev/null || die "python3 not found"
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  if ! "$VENV/bin/pip" install --quiet "meson==$MESON_VERSION" ninja; then
    log "meson $MESON_VERSION not available; trying any meson >= $MESON_MIN_VERSION"
    "$VENV/bin/pip" install --quiet "meson>=$MESON_MIN_VERSION" ninja || die "pip could not install meson and ninja"
  fi
  touch "$VENV/.ghosttalk-complete"
fi
export PATH="$VENV/bin:$PATH"
log "meson $(meson --version), ninja $(ninja --version)"

SCRATCH=$(mktemp -d "$WORKER_CACHE/build.XXXXXX")
on_exit() {
  local rc=$?
  if ((rc == 0)); then
    rm -rf "$SCRATCH"
  else
    log "FAILED (exit $rc); build directory kept for inspection: $SCRATCH (removed by the next run)"
  fi
}
trap on_exit EXIT

SRC="$SCRATCH/worker"
BUILD="$SCRATCH/build"
log "copying worker sources to $SRC"
cp -a "$MEDIASOUP_DIR/worker" "$SRC"
rm -rf "$SRC/out" # a previously installed binary is not a source

# The DTLS onSslBioOut fix (see the check near the top).
sed -i "s/(operationType == BIO_CB_RETURN)/$DTLS_GOOD/" "$SRC/$DTLS_FILE"
grep -qF '((operationType & BIO_CB_RETURN) != 0)' "$SRC/$DTLS_FILE" || die "DTLS fix: sed did not apply"
log "applied DTLS onSslBioOut fix"

# Replace each wrap by our local project: meson uses an existing subprojects/<directory>
# as it is and never downloads. The .wrap files stay: they map names like
# dependency('unordered_dense') to a subproject. Wraps without a replacement
# (catch2: tests only; wingetopt: Windows only) are never used by this build.
for local_dir in "$WORKER_BUILD_DIR"/subprojects/*/; do
  name=$(basename "$local_dir")
  wrap="$SRC/subprojects/$name.wrap"
  [[ -f "$wrap" ]] || die "mediasoup $MS_VERSION has no subprojects/$name.wrap; update scripts/worker-build/subprojects"
  dir=$(sed -n 's/^[[:space:]]*directory[[:space:]]*=[[:space:]]*\([^[:space:]]*\).*/\1/p' "$wrap" | head -n1)
  [[ -n "$dir" ]] || die "no 'directory =' in $wrap"
  rm -rf "$SRC/subprojects/$dir"
  cp -a "$local_dir" "$SRC/subprojects/$dir"
  log "subproject $name -> subprojects/$dir (local)"
done

# libsrtp2 with OpenSSL crypto, linked statically. Debian's libsrtp2 does AES through
# NSS, which costs the worker 2-4 µs more per SRTP packet (measured: bench/workerBuilds.ts).
# Its source comes from Debian's own source package (apt, no other download), through a
# private apt list so the host's apt configuration is untouched. If that fails (no
# deb822 source list, no source mirror), the worker links Debian's libsrtp2 as before.
build_openssl_libsrtp2() {
  local prefix="$SCRATCH/libsrtp2-openssl" apt_dir="$SCRATCH/apt" sources=/etc/apt/sources.list.d/debian.sources
  [[ -f "$sources" ]] || return 1
  mkdir -p "$apt_dir/parts" "$apt_dir/lists/partial" "$SCRATCH/srtp-src"
  sed 's/^Types: deb$/Types: deb-src/' "$sources" >"$apt_dir/parts/src.sources"
  local apt_opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$apt_dir/parts" -o "Dir::State::Lists=$apt_dir/lists")
  apt-get "${apt_opts[@]}" update >"$SCRATCH/apt.log" 2>&1 || return 1
  (cd "$SCRATCH/srtp-src" &&
    apt-get "${apt_opts[@]}" source --download-only "libsrtp2=$(dpkg-query -W -f='${source:Version}' libsrtp2-dev)" &&
    tar xzf libsrtp2_*.orig.tar.gz) >>"$SCRATCH/apt.log" 2>&1 || return 1
  (cd "$SCRATCH"/srtp-src/libsrtp-*/ &&
    ./configure --enable-openssl --disable-pcap --prefix="$prefix" CFLAGS='-O2 -fPIC' &&
    make -j"$(nproc)" libsrtp2.a && make install) >"$SCRATCH/libsrtp2.log" 2>&1 || return 1
  export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
}
if build_openssl_libsrtp2; then
  SRTP_CRYPTO="OpenSSL (libsrtp2 $(dpkg-query -W -f='${source:Version}' libsrtp2-dev), static)"
else
  SRTP_CRYPTO="NSS (Debian's libsrtp2; building it with OpenSSL failed, see $SCRATCH/apt.log)"
fi
log "SRTP crypto: $SRTP_CRYPTO"

log "meson setup"
meson setup --wrap-mode=nodownload --buildtype release -Db_ndebug=true "$BUILD" "$SRC" >"$SCRATCH/meson-setup.log" 2>&1 || {
  tail -n 40 "$SCRATCH/meson-setup.log" >&2
  die "meson setup failed (full log: $SCRATCH/meson-setup.log)"
}

jobs=$(nproc)
log "ninja -j $jobs mediasoup-worker (a few minutes on 2 cores; log: $SCRATCH/ninja.log)"
# Progress: one line per 25 finished steps; the full output goes to the log.
ninja -C "$BUILD" -j "$jobs" mediasoup-worker 2>&1 | tee "$SCRATCH/ninja.log" |
  awk 'match($0, /^\[[0-9]+\/[0-9]+\]/) { split(substr($0, 2, RLENGTH - 2), a, "/"); if (a[1] % 25 == 0 || a[1] == a[2]) { printf "[build-worker]   %s/%s steps\n", a[1], a[2]; fflush() } }' >&2 || {
  grep -v '^\[[0-9]*/[0-9]*\]' "$SCRATCH/ninja.log" | tail -n 60 >&2
  die "ninja failed (full log: $SCRATCH/ninja.log)"
}

BUILT="$BUILD/mediasoup-worker"
[[ -x "$BUILT" ]] || die "ninja succeeded but $BUILT is missing"
# Sanity check: every shared library the binary needs resolves on this host.
if ldd "$BUILT" | grep -q 'not found'; then
  ldd "$BUILT" >&2
  die "the built worker has unresolved shared libraries"
fi

# Publish atomically: stage the whole entry, then rename the directory into place.
STAGE="$WORKER_CACHE/$MS_VERSION-$BUILD_KEY.partial.$$"
mkdir -p "$STAGE"
cp "$BUILT" "$STAGE/mediasoup-worker"
chmod 755 "$STAGE/mediasoup-worker"
{
  echo "# inputs of key $BUILD_KEY"
  hash_inputs
  echo "# SRTP crypto: $SRTP_CRYPTO"
  echo "# meson $(meson --version), built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(($(date +%s) - start_time)) s"
} >"$STAGE/build-info.txt"
mv -T "$STAGE" "$OUT_DIR"
log "built in $(($(date +%s) - start_time)) s: $OUT_BIN"

install_binary
