#!/usr/bin/env bash
# Runs the libFuzzer harnesses of fuzz/ (docs/security.md, "Fuzzing"), each over a scratch copy
# of its seed corpus (fuzz/corpus/<name>/ stays as committed), with its dictionary if it has one.
# Prints the executions and the result of each; exits non-zero if any harness found a crash, a
# leak, a timeout or an out-of-memory input, and names the input it kept.
#
# usage: scripts/fuzz.sh [--seconds N | --runs N] [--jobs N] [--build-dir DIR] [--no-build]
#                        [harness...] [-- libFuzzer flags...]
#   --seconds N     fuzz each harness for N seconds (default 10)
#   --runs N        or run each exactly N inputs
#   --jobs N        harnesses run at once (default: the number of CPUs; each uses one)
#   --build-dir DIR where the harnesses are built (default build/asan: the asan preset)
#   --no-build      use the harnesses already built in DIR
#   harness         names as in fuzz/<name>_fuzzer.cpp (default: all)
#   -- flags        passed to every harness as they are (e.g. -- -entropic=0)
set -euo pipefail
cd "$(dirname "$0")/.."

limit=(-max_total_time=10)
limit_text="10 s"
build_dir=build/asan
build=1
jobs=$(nproc 2>/dev/null || echo 1)
harnesses=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) limit=(-max_total_time="$2"); limit_text="$2 s"; shift 2 ;;
    --runs) limit=(-runs="$2"); limit_text="$2 runs"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
    *) harnesses+=("${1%_fuzzer}"); shift ;;
  esac
done
if [ ${#harnesses[@]} -eq 0 ]; then
  for f in fuzz/*_fuzzer.cpp; do
    name=$(basename "$f" .cpp)
    harnesses+=("${name%_fuzzer}")
  done
fi
case "$jobs" in ''|*[!0-9]*|0) echo "fuzz: --jobs must be a positive number, not '$jobs'" >&2; exit 2 ;; esac
for name in "${harnesses[@]}"; do
  [ -f "fuzz/${name}_fuzzer.cpp" ] || { echo "fuzz: no harness fuzz/${name}_fuzzer.cpp" >&2; exit 2; }
done

if [ "$build" -eq 1 ]; then
  if [ "$build_dir" = build/asan ]; then cmake --preset asan >/dev/null; fi
  targets=()
  for name in "${harnesses[@]}"; do targets+=("${name}_fuzzer"); done
  cmake --build "$build_dir" -j2 --target "${targets[@]}"
fi

# Sanitizer reports must end the run (UBSan only warns by default). fuzz/ubsan.supp lists what
# is silenced in third-party headers, if anything.
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
if [ -f fuzz/ubsan.supp ]; then UBSAN_OPTIONS="$UBSAN_OPTIONS:suppressions=$PWD/fuzz/ubsan.supp"; fi
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

# Harnesses that build trees on disk (layer_flattener, in the temporary directory) run twice as
# fast on tmpfs: scratch goes to /dev/shm unless TMPDIR says otherwise.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
scratch_root=$(mktemp -d "${TMPDIR:-/tmp}/matchlock-fuzz.XXXXXX")

# One harness over a scratch copy of its corpus; its report goes to $work/report, its verdict to
# $work/failed (present only if it failed) and its executions to $work/runs.
fuzz_one() {
  local name=$1 bin="$build_dir/fuzz/${1}_fuzzer" work="$scratch_root/$1"
  mkdir -p "$work/corpus" "$work/artifacts"
  if [ ! -x "$bin" ]; then
    echo "fuzz: $name: FAILED: $bin is not built (configure with MATCHLOCK_BUILD_FUZZERS=ON)" >"$work/report"
    echo 0 >"$work/runs"; touch "$work/failed"
    return
  fi
  if [ -d "fuzz/corpus/$name" ]; then cp -r "fuzz/corpus/$name/." "$work/corpus/"; fi
  local args=("${limit[@]}" -artifact_prefix="$work/artifacts/" -print_final_stats=1 -timeout=25
        -rss_limit_mb=2048)
  if [ -f "fuzz/$name.dict" ]; then args+=(-dict="fuzz/$name.dict"); fi
  args+=("${extra[@]}")
  local status=0 started=$SECONDS runs
  "$bin" "${args[@]}" "$work/corpus" >"$work/log" 2>&1 || status=$?
  local elapsed=$((SECONDS - started))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  echo "${runs:-0}" >"$work/runs"
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $name: ok, ${runs:-0} executions in $elapsed s ($limit_text)" >"$work/report"
    return
  fi
  touch "$work/failed"
  {
    echo "fuzz: $name: FAILED (exit $status) after ${runs:-0} executions; log: $work/log"
    local found=0 input
    for input in "$work"/artifacts/*; do
      [ -e "$input" ] || continue
      found=1
      echo "fuzz: $name: input kept at $input (replay: $bin $input)"
    done
    [ "$found" -eq 1 ] || echo "fuzz: $name: no input was saved; see the log"
    grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed' \
      "$work/log" | sed "s/^/fuzz: $name: /" || true
  } >"$work/report"
}

# Each harness is one process on one CPU: --jobs of them at a time, reported in name order.
for name in "${harnesses[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  fuzz_one "$name" &
done
wait
failed=0
total_runs=0
for name in "${harnesses[@]}"; do
  work="$scratch_root/$name"
  cat "$work/report"
  total_runs=$((total_runs + $(cat "$work/runs")))
  [ ! -e "$work/failed" ] || failed=1
done
echo "fuzz: ${#harnesses[@]} harnesses, $total_runs executions in all"
if [ "$failed" -eq 0 ]; then rm -rf "$scratch_root"; else echo "fuzz: scratch kept in $scratch_root"; fi
exit "$failed"
