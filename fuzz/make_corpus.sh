#!/usr/bin/env bash
# Regenerates the parser seed corpora under fuzz/corpus/ from the fixture projects
# (tests/fixtures/): runs pytest and jest on a copy of each with the flags the host adds
# (host/src/suite_runner.cpp) and keeps the report and the terminal output. A junit/json seed
# is `report NUL output` (the fuzzers split at the first NUL); a text seed is the output alone.
# Needs /usr/bin/python3 with pytest and the fixtures' jest (scripts/setup.sh). Seeds larger
# than 64 KiB are skipped (fuzz.sh runs with -max_len=65536).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
corpus="$root/fuzz/corpus"
jest="$root/tests/fixtures/node_modules/jest/bin/jest.js"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
max=65536

keep() {  # keep <target> <name> <file>
  local size
  size=$(stat -c %s "$3")
  if [ "$size" -gt "$max" ]; then echo "make_corpus: skip $1/$2 ($size bytes)"; return; fi
  mkdir -p "$corpus/$1"
  cp "$3" "$corpus/$1/$2"
}

pytest_seed() {  # pytest_seed <fixture dir> <name> [pytest args...]
  local src=$1 name=$2; shift 2
  rm -rf "$work/p" && cp -r "$src" "$work/p"
  (cd "$work/p" && TMPDIR="$work" PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m pytest "$@" -rfE --color=no \
     -p no:cacheprovider --junitxml="$work/report.xml" >"$work/out.txt" 2>&1) || true
  keep pytest_text "$name.txt" "$work/out.txt"
  if [ -f "$work/report.xml" ]; then
    { cat "$work/report.xml"; printf '\0'; cat "$work/out.txt"; } >"$work/seed"
    keep pytest_junit "$name.xml" "$work/seed"
    rm -f "$work/report.xml"
  fi
}

jest_seed() {  # jest_seed <fixture dir> <name> [jest args...]
  local src=$1 name=$2; shift 2
  rm -rf "$work/j" && cp -r "$src" "$work/j"
  (cd "$work/j" && TMPDIR="$work" FORCE_COLOR=0 NO_COLOR=1 node "$jest" "$@" --json --testLocationInResults --ci \
     --outputFile="$work/report.json" >"$work/out.txt" 2>&1) || true
  keep jest_text "$name.txt" "$work/out.txt"
  if [ -f "$work/report.json" ]; then
    { cat "$work/report.json"; printf '\0'; cat "$work/out.txt"; } >"$work/seed"
    keep jest_json "$name.json" "$work/seed"
    # A big report also gives a trimmed seed: as many of its test files as fit, failing ones first.
    if [ "$(stat -c %s "$work/seed")" -gt "$max" ]; then
      python3 - "$work/report.json" "$work/out.txt" "$work/seed" "$max" <<'PY'
import json, sys
report, out, seed, cap = json.load(open(sys.argv[1])), open(sys.argv[2], 'rb').read(), sys.argv[3], int(sys.argv[4])
report.pop("coverageMap", None)  # coverage on: the map alone is larger than a seed
results = sorted(report["testResults"], key=lambda r: (r["status"] != "failed", len(json.dumps(r))))
report["testResults"] = []
tail = b"\0" + out[-8192:]
for r in results:  # greedily: the failing files first, small ones first
    report["testResults"].append(r)
    if len(json.dumps(report)) + len(tail) > cap: report["testResults"].pop()
data = json.dumps(report).encode() + tail
open(seed, "wb").write(data)
PY
      keep jest_json "$name-trimmed.json" "$work/seed"
    fi
    rm -f "$work/report.json"
  fi
}

fx="$root/tests/fixtures"
for p in clean ledger shop; do
  pytest_seed "$fx/python/$p" "$p"
  pytest_seed "$fx/python/$p" "$p-xunit1" -o junit_family=xunit1
done
pytest_seed "$fx/python/shop" "shop-x" -x
pytest_seed "$fx/corpus/pylib" "pylib"
pytest_seed "$fx/corpus/pylib" "pylib-continue" --continue-on-collection-errors
jest_seed "$fx/js/cart" "cart"
jest_seed "$fx/js/cart" "cart-bail" --bail
jest_seed "$fx/corpus/jslib" "jslib"
