#!/bin/sh
# fixhost agent wrapper for OpenAI Codex CLI, non-interactive (`codex exec`).
#   agent = "sh /path/to/fixhost/examples/agents/codex.sh"
# --full-auto lets it edit files in the workspace (the run's worktree) without asking; its
# sandbox keeps writes inside the working directory. The last message it prints is kept as the
# one-line summary of its approach.
set -eu
codex exec --full-auto --output-last-message "$FIXHOST_SUMMARY_FILE" "$(cat "$FIXHOST_PROMPT_FILE")"
