#!/usr/bin/env bash
# Builds the libFuzzer targets (clang 14, ASan + UBSan, FIXHOST_BUILD_FUZZ=ON) in their own build
# dir and runs each for SECONDS (default 5: a smoke) from its seed corpus, or for
# FIXHOST_FUZZ_RUNS executions when that is set. New inputs go to <build>/fuzz/work/<name>/,
# crashes to <build>/fuzz/artifacts/<name>/; exits 1 if any fuzzer found something.
#   scripts/fuzz.sh [SECONDS] [NAME...]      e.g. scripts/fuzz.sh 60 pytest_junit event
# Env: FIXHOST_FUZZ_BUILD_DIR (default build-fuzz), FIXHOST_FUZZ_RUNS, FIXHOST_FUZZ_JOBS (build
# parallelism, default 2), CXX (default clang++-14). docs/FUZZ.md has the details.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-5}
[ $# -gt 0 ] && shift
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.cpp; do n=$(basename "$f" .cpp); names+=("${n#fuzz_}"); done
fi
build=${FIXHOST_FUZZ_BUILD_DIR:-build-fuzz}
cxx=${CXX:-clang++-14}
command -v "$cxx" >/dev/null || { echo "fuzz: $cxx not found; install clang-14 and libfuzzer-14-dev" >&2; exit 1; }

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
        -DFIXHOST_BUILD_FUZZ=ON -DFIXHOST_BUILD_TESTS=OFF >/dev/null
fi
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done
cmake --build "$build" -j "${FIXHOST_FUZZ_JOBS:-2}" --target "${targets[@]}"

if [ -n "${FIXHOST_FUZZ_RUNS:-}" ]; then limit=(-runs="$FIXHOST_FUZZ_RUNS"); else limit=(-max_total_time="$seconds"); fi
# fuzz_config writes each input as fixhost.toml in a directory of its own under this one.
scratch=$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}" )/fixhost-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export FIXHOST_FUZZ_TMPDIR=$scratch
failed=()
for n in "${names[@]}"; do
  work="$build/fuzz/work/$n" art="$build/fuzz/artifacts/$n"
  mkdir -p "$work" "$art"
  log="$build/fuzz/$n.log"
  start=$(date +%s)
  if nice -n 10 "$build/fuzz/fuzz_$n" "${limit[@]}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$art/" "$work" "fuzz/corpus/$n" >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$n")
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1 || true)
  cov=$( (grep -o 'cov: [0-9]*' "$log" || true) | tail -1 | cut -d' ' -f2)
  printf 'fuzz: %-13s %-6s %10s execs %7s exec/s  cov %5s  %ss  (%s)\n' "$n" "$status" "${execs:-?}" "${rate:-?}" \
         "${cov:-?}" "$(( $(date +%s) - start ))" "$log"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${failed[*]} found a crash, leak or timeout: the input is in $build/fuzz/artifacts/<name>/, the report in $build/fuzz/<name>.log" >&2
  exit 1
fi
