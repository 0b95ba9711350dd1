#!/bin/sh
# fixhost agent wrapper for OpenAI Codex CLI, non-interactive (`codex exec`).
#   agent = "sh /path/to/fixhost/examples/agents/codex.sh"
# --full-auto lets it edit files in the workspace (the run's worktree) without asking; its
# sandbox keeps writes inside the working directory. The last message it prints is kept as the
# one-line summary of its approach. --json prints its events as JSON lines; the tokens of its
# turn.completed events go to the usage file (FIXHOST_USAGE_FILE, docs/USAGE.md). Codex reports
# no cost, so the attempt's cost stays unknown (never 0); set FIXHOST_CODEX_MODEL to the model
# you run (it is passed as --model and recorded).
set -eu
here=$(dirname "$0")
out=$(mktemp "${TMPDIR:-/tmp}/fixhost-codex.XXXXXX")
trap 'rm -f "$out"' EXIT
status=0
if [ -n "${FIXHOST_CODEX_MODEL:-}" ]; then
  codex exec --json --full-auto --model "$FIXHOST_CODEX_MODEL" --output-last-message "$FIXHOST_SUMMARY_FILE" \
    "$(cat "$FIXHOST_PROMPT_FILE")" > "$out" || status=$?
else
  codex exec --json --full-auto --output-last-message "$FIXHOST_SUMMARY_FILE" "$(cat "$FIXHOST_PROMPT_FILE")" > "$out" ||
    status=$?
fi
cat "$out"
python3 "$here/agent_usage.py" codex "$out"
exit "$status"
