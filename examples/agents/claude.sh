#!/bin/sh
# fixhost agent wrapper for Claude Code in headless (print) mode.
#   agent = "sh examples/agents/claude.sh"      (in fixhost.toml; path relative to the worktree root,
#                                                 or give an absolute path)
# The prompt fixhost wrote is passed as the query; edits are accepted without asking, and git
# commands that would be policy violations are denied up front (fixhost reverts them anyway).
# --max-turns bounds the agent's own loop; fixhost's attempt_budget bounds its time.
# --output-format json ends with one result object: its text becomes the summary, and its
# total_cost_usd, usage and modelUsage the usage file (FIXHOST_USAGE_FILE, docs/USAGE.md).
set -eu
here=$(dirname "$0")
out=$(mktemp "${TMPDIR:-/tmp}/fixhost-claude.XXXXXX")
trap 'rm -f "$out"' EXIT
claude -p "$(cat "$FIXHOST_PROMPT_FILE")" \
  --permission-mode acceptEdits \
  --allowedTools "Read,Edit,Write,Glob,Grep,Bash(python3 -m pytest:*),Bash(npx jest:*)" \
  --disallowedTools "Bash(git commit:*),Bash(git push:*),Bash(git reset:*),Bash(git checkout:*)" \
  --max-turns "${FIXHOST_CLAUDE_MAX_TURNS:-30}" \
  --output-format json > "$out" || true
python3 "$here/agent_usage.py" claude "$out" | tee /dev/stderr | tail -n 1 > "$FIXHOST_SUMMARY_FILE"
# Exit 0 either way: fixhost looks at the diff (an empty one counts as no change) and re-runs the test.
