#!/usr/bin/env bash
# Builds the TypeScript SDK (sdk-typescript/), packs it with `npm pack`, installs the tarball
# into a fresh node project under build/sdk-typescript/ and runs, from that install, the unit
# tests (fake engine, package/type checks) and then the end-to-end tests against the real
# engine. Called by tests/sdk/run.sh, which exports the variables below.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

missing=()
for var in MATCHLOCK_BIN MATCHLOCK_HOME MATCHLOCK_TEST_IMAGE MATCHLOCK_TEST_LAUNCH; do
  [ -n "${!var:-}" ] || missing+=("$var")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/sdk/typescript.sh: missing environment: ${missing[*]} (run it through tests/sdk/run.sh)" >&2
  exit 2
fi
command -v node >/dev/null || { echo "tests/sdk/typescript.sh: node (>= 18) is required" >&2; exit 2; }
command -v npm >/dev/null || { echo "tests/sdk/typescript.sh: npm is required" >&2; exit 2; }

sdk="$root/sdk-typescript"
out="$root/build/sdk-typescript"
project="$out/project"
rm -rf "$out"
mkdir -p "$project"

echo "sdk-typescript: npm ci + build"
(cd "$sdk" && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)

echo "sdk-typescript: npm pack"
tarball=$(cd "$sdk" && npm pack --silent --pack-destination "$out" | tail -n 1)

echo "sdk-typescript: fresh project $project"
cat >"$project/package.json" <<'JSON'
{ "name": "matchlock-sdk-tests", "private": true, "type": "module" }
JSON
(cd "$project" && npm install --no-audit --no-fund --loglevel=error "$out/$tarball")
cp -R "$sdk/test" "$project/test"

# The type check of the installed package uses the SDK's pinned TypeScript and @types/node.
cat >"$project/test/consumer/tsconfig.json" <<JSON
{
  "compilerOptions": {
    "module": "NodeNext", "moduleResolution": "NodeNext", "target": "ES2022", "strict": true,
    "noEmit": true, "types": ["node"], "typeRoots": ["$sdk/node_modules/@types"]
  },
  "files": ["esm.mts", "cjs.cts"]
}
JSON

export MATCHLOCK_SDK_REPO="$root"
export MATCHLOCK_SDK_TSC="$sdk/node_modules/.bin/tsc"
cd "$project"
# The timeouts only end a hung run; a normal run ends well within them.
echo "sdk-typescript: unit tests"
timeout 600 node --test test/unit/
echo "sdk-typescript: end-to-end tests"
timeout 900 node --test --test-concurrency=1 test/e2e/
