#!/usr/bin/env bash
# Runs mediasoup's own compiled Node test suite (node/lib/test in the npm package,
# jest) against our worker binary, to prove that a worker built by
# scripts/build-worker.sh (system libraries, libsrtp3 shim, DTLS fix) behaves like
# upstream's.
#
# How: copies the installed package to a scratch dir under the cache, installs there
# the package's runtime dependencies plus only the devDependencies the tests import
# (and jest), cached across runs, generates the DTLS cert/key the tests expect (the
# package does not ship them), and runs jest with MEDIASOUP_WORKER_BIN set.
#
# Usage: scripts/test-mediasoup-suite.sh [extra jest args, e.g. -t 'createWorker']
# Env:   MEDIASOUP_WORKER_BIN (default: the binary build-worker.sh installed),
#        MEDIASOUP_DIR (default: <repo>/node_modules/mediasoup), GHOSTTALK_CACHE_DIR,
#        SUITE_TIMEOUT (seconds, default 900: a hung jest fails instead of blocking CI).
# Uses the first `node` and `npm` on PATH (npm scripts put the repo's Node 24 first).
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
MEDIASOUP_DIR="${MEDIASOUP_DIR:-$REPO_ROOT/node_modules/mediasoup}"
CACHE_ROOT="${GHOSTTALK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ghosttalk}"
SUITE_TIMEOUT="${SUITE_TIMEOUT:-900}"

log() { printf '[mediasoup-suite] %s\n' "$*" >&2; }
die() { printf '[mediasoup-suite] ERROR: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || die "node not found on PATH"
command -v npm >/dev/null || die "npm not found on PATH"
command -v openssl >/dev/null || die "openssl not found on PATH"
[[ -f "$MEDIASOUP_DIR/package.json" && -d "$MEDIASOUP_DIR/node/lib/test" ]] ||
  die "mediasoup package with node/lib/test not found in $MEDIASOUP_DIR"

WORKER_BIN="${MEDIASOUP_WORKER_BIN:-$MEDIASOUP_DIR/worker/out/Release/mediasoup-worker}"
[[ -x "$WORKER_BIN" ]] || die "worker binary not found: $WORKER_BIN (run scripts/build-worker.sh first)"
WORKER_BIN=$(cd -- "$(dirname -- "$WORKER_BIN")" && pwd)/$(basename -- "$WORKER_BIN")

MS_VERSION=$(node -p 'require(process.argv[1]).version' "$MEDIASOUP_DIR/package.json")
SUITE="$CACHE_ROOT/mediasoup-suite/$MS_VERSION"
mkdir -p "$SUITE"
log "node $(node --version), npm $(npm --version), mediasoup $MS_VERSION"
log "worker: $WORKER_BIN"

# One run at a time per suite dir (the copy is refreshed in place).
exec 9>"$SUITE/.lock"
flock 9

# package.json for the scratch copy: runtime dependencies + jest + the devDependencies
# the compiled tests require(); no scripts (the real postinstall would fetch a worker).
# Fails loudly if a test imports something the package does not declare.
node - "$MEDIASOUP_DIR" "$SUITE/package.json.new" <<'EOF'
const fs = require('node:fs');
const path = require('node:path');
const { isBuiltin } = require('node:module');
const [src, out] = process.argv.slice(2);
const pkg = JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8'));
const deps = pkg.dependencies || {};
const devDeps = pkg.devDependencies || {};
const testDir = path.join(src, 'node', 'lib', 'test');
const wanted = new Set(['jest']);
for (const file of fs.readdirSync(testDir).filter((f) => f.endsWith('.js'))) {
	const code = fs.readFileSync(path.join(testDir, file), 'utf8');
	for (const m of code.matchAll(/require\(\s*["']([^"']+)["']\s*\)|\bfrom\s+["']([^"']+)["']/g)) {
		const spec = m[1] || m[2];
		if (spec.startsWith('.') || isBuiltin(spec)) continue;
		const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
		if (name in deps) continue;
		if (!(name in devDeps)) {
			console.error(`[mediasoup-suite] ERROR: ${file} imports "${name}", which package.json does not list`);
			process.exit(1);
		}
		wanted.add(name);
	}
}
const devDependencies = {};
for (const name of [...wanted].sort()) {
	if (!(name in devDeps)) {
		console.error(`[mediasoup-suite] ERROR: devDependencies lack "${name}"`);
		process.exit(1);
	}
	devDependencies[name] = devDeps[name];
}
const suitePkg = {
	name: 'mediasoup-suite',
	version: pkg.version, // test-mediasoup.js compares it with mediasoup.version
	private: true,
	dependencies: deps,
	devDependencies,
};
fs.writeFileSync(out, JSON.stringify(suitePkg, null, '\t') + '\n');
EOF

# The install is reused while the generated package.json and Node's major version stay the same.
stamp="$(sha256sum <"$SUITE/package.json.new" | cut -c1-16) node$(node -p 'process.versions.node.split(".")[0]')"
if [[ -x "$SUITE/node_modules/.bin/jest" && -f "$SUITE/.install-stamp" && "$(cat "$SUITE/.install-stamp")" == "$stamp" ]]; then
  mv -f "$SUITE/package.json.new" "$SUITE/package.json"
  log "dependencies: cached ($SUITE/node_modules)"
else
  mv -f "$SUITE/package.json.new" "$SUITE/package.json"
  rm -rf "$SUITE/node_modules" "$SUITE/package-lock.json" "$SUITE/.install-stamp"
  log "npm install: $(node -p 'Object.keys(require(process.argv[1]).devDependencies).join(", ")' "$SUITE/package.json") + runtime dependencies"
  (cd "$SUITE" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error) >&2 ||
    die "npm install failed in $SUITE"
  printf '%s\n' "$stamp" >"$SUITE/.install-stamp"
fi

# Fresh copy of the compiled library and its tests each run (cheap; follows the installed package).
rm -rf "$SUITE/node"
mkdir -p "$SUITE/node"
cp -a "$MEDIASOUP_DIR/node/lib" "$SUITE/node/lib"

# DTLS certificate + key used by test-Worker.js (not shipped in the package).
mkdir -p "$SUITE/node/lib/test/data"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
  -subj '/CN=mediasoup-test' \
  -keyout "$SUITE/node/lib/test/data/dtls-key.pem" \
  -out "$SUITE/node/lib/test/data/dtls-cert.pem" 2>/dev/null ||
  die "openssl could not generate the DTLS certificate"

cat >"$SUITE/jest.config.cjs" <<'EOF'
// Runs the package's compiled tests as they are (upstream's config runs the TypeScript sources).
module.exports = {
	rootDir: __dirname,
	testEnvironment: 'node',
	testMatch: ['<rootDir>/node/lib/test/test-*.js'],
	cacheDirectory: '<rootDir>/.jest-cache',
};
EOF

log "running jest (timeout ${SUITE_TIMEOUT}s)"
rc=0
(
  cd "$SUITE"
  MEDIASOUP_WORKER_BIN="$WORKER_BIN" timeout --kill-after=30 "$SUITE_TIMEOUT" \
    node node_modules/jest/bin/jest.js --config jest.config.cjs --ci "$@"
) || rc=$?
if ((rc == 124)); then
  die "jest did not finish within ${SUITE_TIMEOUT}s"
elif ((rc != 0)); then
  die "mediasoup test suite FAILED (jest exit $rc)"
fi
log "mediasoup test suite passed"
