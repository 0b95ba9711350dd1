#!/usr/bin/env bash
# Sets up (scripts/setup.sh), copies the bundled example shop into a fresh git repository and
# runs fixhost on it: autofix with the scripted demo agent, then the recorded runs and stats.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
hostctl="$root/${FIXHOST_BUILD_DIR:-build}/bin/hostctl"
demo=${FIXHOST_DEMO_DIR:-${TMPDIR:-/tmp}/fixhost-demo}

rm -rf "$demo"
mkdir -p "$demo"
cp -a "$root/examples/demo/." "$demo/"
rm -rf "$demo/js/node_modules" "$demo/.fixhost"
ln -s "$root/examples/demo/js/node_modules" "$demo/js/node_modules"
git -C "$demo" init -q -b main
git -C "$demo" add -A
git -C "$demo" -c user.name=demo -c user.email=demo@example.com commit -qm "demo shop with seeded bugs"

echo "== hostctl autofix (in $demo, agent: examples/agents/demo_agent.py)"
set +e
"$hostctl" autofix --repo "$demo" --agent "/usr/bin/python3 $root/examples/agents/demo_agent.py" \
  --report "$demo-report.md"
code=$?
set -e
echo "(autofix exited $code: 0 all fixed, 1 some unfixable, 2 could not run, 3 budget exceeded)"
echo
echo "== the report ($demo-report.md, also in the log as ReportWritten)"
cat "$demo-report.md"
echo
echo "Your checkout at $demo was not touched:"
status=$(git -C "$demo" status --short)
echo "  git status: ${status:-clean}"
echo
echo "== hostctl runs"
"$hostctl" runs --repo "$demo"
echo
echo "== hostctl stats"
"$hostctl" stats --repo "$demo"

# The second loop: a parallel build of a feature on a small Python + TypeScript project
# (examples/build/demo/), four scripted stream agents (examples/agents/stream_agent.py).
build_demo=$demo-build
rm -rf "$build_demo"
mkdir -p "$build_demo"
cp -a "$root/examples/build/demo/." "$build_demo/"
git -C "$build_demo" init -q -b main
git -C "$build_demo" add -A
git -C "$build_demo" -c user.name=demo -c user.email=demo@example.com commit -qm "shop before order history"
echo
echo "== hostctl build (in $build_demo: contract, then backend and frontend in parallel, then tests)"
set +e
BUILD_SCENARIO=$(cat "$build_demo/scenario.json") "$hostctl" build --repo "$build_demo" \
  --agent "/usr/bin/python3 $root/examples/agents/stream_agent.py" --report "$build_demo-report.md"
code=$?
set -e
echo "(build exited $code: 0 landed, 1 nothing landed, 2 could not run, 3 budget exceeded)"
status=$(git -C "$build_demo" status --short)
echo "Your checkout at $build_demo was not touched: git status: ${status:-clean}"
