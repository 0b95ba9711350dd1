#!/usr/bin/env python3
"""A scripted stream agent for the build tests and the demo: $BUILD_SCENARIO is a JSON object
mapping a stream id to what its agent does, in this order:
  sleep: seconds; write: {path: text}; append: {path: text}; replace: {path: [old, new]};
  run: [argv, ...] (e.g. a git commit); summary: text; hang: true (sleeps for an hour); exit: code.
It also appends {stream, start, end} to $BUILD_AGENT_LOG when that is set."""
import json
import os
import subprocess
import sys
import time

stream = os.environ["FIXHOST_STREAM"]
me = json.loads(os.environ["BUILD_SCENARIO"]).get(stream, {})
start = time.time()
time.sleep(me.get("sleep", 0))
for path, text in me.get("write", {}).items():
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
for path, text in me.get("append", {}).items():
    with open(path, "a") as f:
        f.write(text)
for path, (old, new) in me.get("replace", {}).items():
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace(old, new))
for argv in me.get("run", []):
    subprocess.run(argv, check=False)
with open(os.environ["FIXHOST_SUMMARY_FILE"], "w") as f:
    f.write(me.get("summary", "did the %s part (%s)" % (os.environ.get("FIXHOST_ROLE", "?"), stream)))
if os.environ.get("BUILD_AGENT_LOG"):
    with open(os.environ["BUILD_AGENT_LOG"], "a") as f:
        f.write(json.dumps({"stream": stream, "start": start, "end": time.time(),
                            "owns": json.loads(os.environ["FIXHOST_OWNS"]),
                            "prompt": os.path.exists(os.environ["FIXHOST_PROMPT_FILE"])}) + "\n")
if me.get("hang"):
    time.sleep(3600)
sys.exit(me.get("exit", 0))
