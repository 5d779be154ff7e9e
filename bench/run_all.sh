#!/usr/bin/env bash
# Runs every matchlock benchmark. Builds nothing: needs build/release (scripts/build.sh
# build/release) or MATCHLOCK_BIN pointing at a matchlock binary with bundle/ and
# images/matchlock-busybox.tar next to it. Uses a private MATCHLOCK_HOME that it creates,
# fills (image import) and removes. Benchmarks print figures; they never fail on timing.
#
# usage: bench/run_all.sh [--runs N]   (N: boot runs of each kind, default 5)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
runs=5
[ "${1:-}" = "--runs" ] && { runs="$2"; shift 2; }
[ $# -eq 0 ] || { echo "usage: $0 [--runs N]" >&2; exit 2; }

bin="$(realpath "${MATCHLOCK_BIN:-$repo/build/release/matchlock}")"
[ -x "$bin" ] || { echo "run_all: $bin not found; build with scripts/build.sh build/release or set MATCHLOCK_BIN" >&2; exit 1; }
archive="$(dirname "$bin")/images/matchlock-busybox.tar"
[ -s "$archive" ] || { echo "run_all: image archive $archive missing" >&2; exit 1; }
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3

home="$(mktemp -d /tmp/matchlock-bench-home.XXXXXX)"
cleanup() {
  # stray QEMUs of this home (the engine kills its QEMU when it dies; this is belt and braces)
  "$PY" -B -c 'import sys; sys.path.insert(0, sys.argv[1]); import benchlib; benchlib.kill_strays(sys.argv[2])' "$here" "$home" || true
  rm -rf "$home"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export MATCHLOCK_HOME="$home" MATCHLOCK_BIN="$bin"

echo "################################################################"
echo "# matchlock benchmarks  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "# binary:  $bin"
echo "# commit:  $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$repo" diff --quiet 2>/dev/null || echo ' (dirty tree)')"
echo "# host:    $(nproc) cpus, $(uname -r), qemu: $(qemu-system-x86_64 --version | head -1)"
echo "# home:    $home (private, removed at exit)"
echo "################################################################"
timeout 120 "$bin" image import matchlock/busybox:latest < "$archive"
echo
timeout 1800 "$PY" "$here/boot.py" --bin "$bin" --runs "$runs"
echo
timeout 1800 "$PY" "$here/rpc_exec.py" --bin "$bin"
echo
timeout 1800 "$PY" "$here/exec_roundtrip.py" --bin "$bin"
echo
timeout 1800 "$PY" "$here/port_forward.py" --bin "$bin"
echo
# SDKs: what each SDK adds to an exec (and to an engine-only call) over a raw JSON-lines client.
timeout 1800 "$PY" "$here/sdk.py" --bin "$bin"
echo
# Files: the workspace mount against QEMU's virtio-9p (builds a 9p-capable bundle on first use).
timeout 3600 "$PY" "$here/vfs.py" --bin "$bin"
echo
# Density: idle sandboxes started one after another; 8 here (64, the issue's figure, takes
# several minutes under TCG: bench/density.py --count 64).
timeout 1800 "$PY" "$here/density.py" --bin "$bin" --count 8
echo
# Dockerfile builds, cold and cached, against buildah bud when it is installed.
timeout 3600 "$PY" "$here/build.py" --bin "$bin"
echo
echo "# image pull: (to be measured)   network: (to be measured)"
