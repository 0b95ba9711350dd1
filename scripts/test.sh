#!/usr/bin/env bash
# Sets up (scripts/setup.sh), runs a short smoke of every fuzzer (scripts/fuzz.sh 4), then the
# whole test suite with CTest.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
cd "$root"
# A 4 s smoke of every libFuzzer target (its own clang build in build-fuzz/, docs/FUZZ.md), first,
# so that CTest's summary is what the run ends with.
bash "$root/scripts/fuzz.sh" 4
ctest --test-dir "${FIXHOST_BUILD_DIR:-build}" --output-on-failure -j2 "$@"
