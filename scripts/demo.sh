#!/usr/bin/env bash
# Sets up (scripts/setup.sh), copies the bundled example shop into a fresh git repository and
# runs fixhost on it: autofix with the scripted demo agent, then the recorded runs and stats.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
hostctl="$root/${FIXHOST_BUILD_DIR:-build}/bin/hostctl"
# The demo agents live in this checkout: visible to the agents' sandbox even when it is under /tmp.
export FIXHOST_SANDBOX_READ_ONLY="$root${FIXHOST_SANDBOX_READ_ONLY:+:$FIXHOST_SANDBOX_READ_ONLY}"
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

# The third loop: self-heal. The demo shop throws in "production" through the real Sentry SDK
# into hostctl serve; triage groups it; heal reproduces it with a failing test, fixes it through
# the autofix engine, pushes fix/sentry-<id> to a bare remote and opens the PR (gh stand-in).
heal_demo=$demo-heal
rm -rf "$heal_demo" "$heal_demo.git"
mkdir -p "$heal_demo"
cp -a "$root/examples/heal/demo/." "$heal_demo/"
printf 'gh = "%s"\n' "$root/examples/heal/gh_demo.sh" >> "$heal_demo/fixhost.toml"
git init -q --bare "$heal_demo.git"
git -C "$heal_demo" init -q -b main
git -C "$heal_demo" add -A
git -C "$heal_demo" -c user.name=demo -c user.email=demo@example.com commit -qm "shop 1.0.0"
git -C "$heal_demo" remote add origin "$heal_demo.git"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo
echo "== hostctl serve on 127.0.0.1:$port; the shop runs in production with SENTRY_DSN=http://demo@127.0.0.1:$port/1"
"$hostctl" serve --repo "$heal_demo" --listen "127.0.0.1:$port" &
serve_pid=$!
for _ in $(seq 50); do
  /usr/bin/python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz')" 2>/dev/null && break
  sleep 0.2
done
(cd "$heal_demo" && /usr/bin/python3 app.py "http://demo@127.0.0.1:$port/1")
kill -TERM "$serve_pid"
wait "$serve_pid" || true
echo
echo "== hostctl triage"
"$hostctl" triage --repo "$heal_demo" --since all
echo
echo "== hostctl heal (agent: examples/agents/heal_agent.py)"
set +e
GH_DEMO_BODY="$heal_demo-pr.md" "$hostctl" heal --repo "$heal_demo" --source log \
  --agent "/usr/bin/python3 $root/examples/agents/heal_agent.py correct" --report "$heal_demo-report.md"
code=$?
set -e
echo "(heal exited $code: 0 every fixable group has a PR, 1 some not fixed, 2 could not run, 4 rate guard)"
echo
echo "== the incident report ($heal_demo-report.md)"
cat "$heal_demo-report.md"
echo
echo "== pushed to the remote: $(git --git-dir "$heal_demo.git" branch --list | tr -d ' ')"
echo "== the PR body ($heal_demo-pr.md):"
cat "$heal_demo-pr.md" 2>/dev/null || true
