#!/usr/bin/env python3
"""The fix agent of the `--fix` type-check test: fixhost hands it the failing tsc command as a
failure (FIXHOST_FAILURE_FILE with the file and line tsc named, FIXHOST_CHECK_KIND, the owning
streams in FIXHOST_OWNERS); it repairs the line. Exit 3 when the hand-over is not as documented."""
import json
import os
import sys

failure = json.load(open(os.environ["FIXHOST_FAILURE_FILE"]))
owners = json.loads(os.environ["FIXHOST_OWNERS"])
if (os.environ.get("FIXHOST_CHECK_KIND") != "types" or failure.get("file") != "frontend/src/orders.ts"
        or failure.get("line", 0) <= 0 or owners != ["frontend"] or "tsc" not in open(os.environ["FIXHOST_PROMPT_FILE"]).read()):
    sys.exit(3)
path, line = failure["file"], failure["line"]
lines = open(path).read().splitlines(True)
lines[line - 1] = lines[line - 1].replace('"three"', "3")
open(path, "w").write("".join(lines))
with open(os.environ["FIXHOST_SUMMARY_FILE"], "w") as fh:
    fh.write("count is a number")
