#!/usr/bin/env bash
# Runs the libFuzzer harnesses of fuzz/ (docs/security.md, "Fuzzing"), each over a scratch copy
# of its seed corpus (fuzz/corpus/<name>/ stays as committed), with its dictionary if it has one.
# Prints the executions and the result of each; exits non-zero if any harness found a crash, a
# leak, a timeout or an out-of-memory input, and names the input it kept.
#
# usage: scripts/fuzz.sh [--seconds N | --runs N] [--build-dir DIR] [--no-build] [harness...]
#                        [-- libFuzzer flags...]
#   --seconds N     fuzz each harness for N seconds (default 10)
#   --runs N        or run each exactly N inputs
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
harnesses=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) limit=(-max_total_time="$2"); limit_text="$2 s"; shift 2 ;;
    --runs) limit=(-runs="$2"); limit_text="$2 runs"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

scratch_root=$(mktemp -d "${TMPDIR:-/tmp}/matchlock-fuzz.XXXXXX")
failed=0
total_runs=0
for name in "${harnesses[@]}"; do
  bin="$build_dir/fuzz/${name}_fuzzer"
  if [ ! -x "$bin" ]; then
    echo "fuzz: $name: FAILED: $bin is not built (configure with MATCHLOCK_BUILD_FUZZERS=ON)"
    failed=1
    continue
  fi
  work="$scratch_root/$name"
  mkdir -p "$work/corpus" "$work/artifacts"
  if [ -d "fuzz/corpus/$name" ]; then cp -r "fuzz/corpus/$name/." "$work/corpus/"; fi
  args=("${limit[@]}" -artifact_prefix="$work/artifacts/" -print_final_stats=1 -timeout=25
        -rss_limit_mb=2048)
  if [ -f "fuzz/$name.dict" ]; then args+=(-dict="fuzz/$name.dict"); fi
  args+=("${extra[@]}")
  status=0
  started=$SECONDS
  "$bin" "${args[@]}" "$work/corpus" >"$work/log" 2>&1 || status=$?
  elapsed=$((SECONDS - started))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  runs=${runs:-0}
  total_runs=$((total_runs + runs))
  if [ "$status" -eq 0 ]; then
    echo "fuzz: $name: ok, $runs executions in $elapsed s ($limit_text)"
  else
    failed=1
    echo "fuzz: $name: FAILED (exit $status) after $runs executions; log: $work/log"
    found=0
    for input in "$work"/artifacts/*; do
      [ -e "$input" ] || continue
      found=1
      echo "fuzz: $name: input kept at $input (replay: $bin $input)"
    done
    [ "$found" -eq 1 ] || echo "fuzz: $name: no input was saved; see the log"
    grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|invariant failed' \
      "$work/log" | sed "s/^/fuzz: $name: /" || true
  fi
done
echo "fuzz: ${#harnesses[@]} harnesses, $total_runs executions in all"
if [ "$failed" -eq 0 ]; then rm -rf "$scratch_root"; else echo "fuzz: scratch kept in $scratch_root"; fi
exit "$failed"
