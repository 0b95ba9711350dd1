#!/bin/sh
# fixhost agent wrapper for aider (https://aider.chat), non-interactive.
#   agent = "sh /path/to/fixhost/examples/agents/aider.sh"
# --message-file sends fixhost's prompt as one message and exits; --yes-always answers its
# questions; --no-auto-commits and --no-dirty-commits keep aider from committing (a commit is
# a policy violation that fixhost reverts). The failing test's file and the files of its stack
# frames are added to the chat from FIXHOST_FAILURE_FILE.
set -eu
files=$(python3 - <<'PY'
import json, os, re
f = json.load(open(os.environ["FIXHOST_FAILURE_FILE"]))
paths = [f.get("file", "")] + re.findall(r'File "([^"]+)"|^([\w./-]+\.(?:py|js|ts)):\d+', f.get("stack_trace", ""), re.M)
seen = []
for p in paths:
    p = p if isinstance(p, str) else next((x for x in p if x), "")
    if p and not os.path.isabs(p) and os.path.exists(p) and p not in seen:
        seen.append(p)
print(" ".join(seen))
PY
)
# aider prints "Tokens: 1.2k sent, 345 received. Cost: $0.01 message, $0.05 session." after each
# message: the usage file (FIXHOST_USAGE_FILE, docs/USAGE.md) gets their tokens and the session's
# cost (one aider process per attempt). Its exit status is kept.
here=$(dirname "$0")
out=$(mktemp "${TMPDIR:-/tmp}/fixhost-aider.XXXXXX")
trap 'rm -f "$out"' EXIT
status=0
# shellcheck disable=SC2086
aider --message-file "$FIXHOST_PROMPT_FILE" --yes-always --no-auto-commits --no-dirty-commits \
  --no-pretty --no-stream $files > "$out" 2>&1 || status=$?
cat "$out"
python3 "$here/agent_usage.py" aider "$out"
echo "aider edited: $(git diff --stat | tail -n 1)" > "$FIXHOST_SUMMARY_FILE"
exit "$status"
