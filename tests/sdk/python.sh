#!/usr/bin/env bash
# Builds the Python SDK (wheel + sdist), installs the wheel into a fresh venv with the pinned
# test tools, then runs mypy --strict, the unit tests and the end-to-end tests (real engine).
#
# needs: MATCHLOCK_BIN, MATCHLOCK_HOME, MATCHLOCK_TEST_IMAGE, MATCHLOCK_TEST_LAUNCH
#        (exported by tests/sdk/run.sh); /usr/bin/python3 with the venv module; PyPI access.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

missing=()
for var in MATCHLOCK_BIN MATCHLOCK_HOME MATCHLOCK_TEST_IMAGE MATCHLOCK_TEST_LAUNCH; do
  [ -n "${!var:-}" ] || missing+=("$var")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/sdk/python.sh: missing environment: ${missing[*]} (run it through tests/sdk/run.sh)" >&2
  exit 2
fi

work="$root/build/sdk-python"
rm -rf "$work/tools" "$work/venv" "$work/dist" "$work/src"
mkdir -p "$work"
requirements="$root/tests/sdk/python-requirements.txt"

echo "sdk-python: build tools venv"
/usr/bin/python3 -m venv "$work/tools"
"$work/tools/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"

echo "sdk-python: build wheel + sdist"
# Build from a copy so no build residue (egg-info, build/) lands in the source tree.
cp -r "$root/sdk-python" "$work/src"
rm -rf "$work/src/build" "$work/src/dist" "$work/src"/src/*.egg-info
"$work/tools/bin/python" -m build --no-isolation --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1 \
  || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/matchlock-*.whl)
ls "$work"/dist/matchlock-*.tar.gz >/dev/null

echo "sdk-python: fresh venv with the wheel"
/usr/bin/python3 -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check -r "$requirements"
"$py" -m pip install --quiet --disable-pip-version-check --no-deps "$wheel"

echo "sdk-python: mypy --strict"
(cd "$work" && "$py" -m mypy --strict -p matchlock)

# Run the tests from outside the source tree so they import the installed wheel.
echo "sdk-python: unit tests"
(cd "$work" && "$py" -m pytest -q -p no:cacheprovider --rootdir "$root/sdk-python/tests" "$root/sdk-python/tests/unit")

echo "sdk-python: end-to-end tests"
(cd "$work" && "$py" -m pytest -q -p no:cacheprovider --rootdir "$root/sdk-python/tests" "$root/sdk-python/tests/e2e")
