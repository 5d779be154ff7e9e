#!/usr/bin/env bash
# Build the guest-side network bench client: a static binary (the busybox image has no libc
# to link against) that bench/net_throughput.py mounts into the guest.
#
# usage: bench/net_client/build.sh OUTDIR
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
CC="${CC:-gcc}"
command -v "$CC" >/dev/null || { echo "net_client: error: $CC not found (apt-get install build-essential)" >&2; exit 1; }
mkdir -p "$1"
"$CC" -static -O2 -s -Wall -Wextra -o "$1/net_client" "$here/net_client.c"
echo "net_client: $1/net_client"
