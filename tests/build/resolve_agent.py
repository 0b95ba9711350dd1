#!/usr/bin/env python3
"""The scripted [build] resolver of the build tests. It checks what fixhost hands it (the
conflicted files with git's markers in the worktree and in the prompt, the streams' summaries),
then does what $RESOLVE_MODE says:
  theirs  - each conflict block replaced by its second side (a correct resolution)
  markers - one side edited, the markers left in
  other   - resolves correctly, and also edits backend/app.py (not a conflicted file)
Exit 3 when the hand-over is not what docs/BUILD.md promises."""
import json
import os
import sys

files = json.loads(os.environ["FIXHOST_CONFLICT_FILES"])
streams = json.loads(os.environ["FIXHOST_STREAMS"])
prompt = open(os.environ["FIXHOST_PROMPT_FILE"]).read()
mode = os.environ.get("RESOLVE_MODE", "theirs")
for f in files:
    if "<<<<<<<" not in open(f).read() or f not in prompt:
        sys.exit(3)
if "<<<<<<<" not in prompt or any("`%s`" % s not in prompt for s in streams):
    sys.exit(3)
if mode in ("theirs", "other"):
    for f in files:
        out, side = [], None
        for line in open(f).read().splitlines(True):
            if line.startswith("<<<<<<<"):
                side = "ours"
            elif line.startswith("=======") and side:
                side = "theirs"
            elif line.startswith(">>>>>>>") and side:
                side = None
            elif side != "ours":
                out.append(line)
        open(f, "w").write("".join(out))
if mode == "markers":
    for f in files:
        text = open(f).read()
        open(f, "w").write(text.replace("=======", "=======\n  \"note\": \"unsure\",", 1))
if mode == "other":
    with open("backend/app.py", "a") as fh:
        fh.write("\n# touched by the resolver\n")
with open(os.environ["FIXHOST_SUMMARY_FILE"], "w") as fh:
    fh.write("kept the second side of %s" % ", ".join(files))
