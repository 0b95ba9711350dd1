#!/usr/bin/env bash
# Sets up (scripts/setup.sh), copies the bundled example shop into a fresh git repository and
# runs fixhost on it: detect, then the recorded runs and stats.
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

echo "== hostctl detect (in $demo)"
set +e
"$hostctl" detect --repo "$demo"
code=$?
set -e
echo "(detect exited $code: 0 no failure, 1 failures found, 2 could not run)"
echo
echo "== hostctl runs"
"$hostctl" runs --repo "$demo"
echo
echo "== hostctl stats"
"$hostctl" stats --repo "$demo"
