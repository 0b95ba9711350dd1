#!/usr/bin/env python3
"""A scripted heal agent (docs/HEAL.md, the agent's two phases) for the heal demo (scripts/demo.sh)
and tests/heal/test_heal_fix.cpp.

heal_agent.py MODE, in the worktree, with FIXHOST_PHASE = reproduce | fix:
  correct       reproduce: a new test that fails with the error; fix: the guard in shop/cart.py
  passes        reproduce: a test that passes on the buggy code (no reproduction)
  edits_source  reproduce: the test, and a change to shop/cart.py as well (refused)
  weakens       fix: weakens the reproducing test instead of fixing the code (refused each time)
  gives_up      fix: exits 1
Each call is appended to $AGENT_LOG (JSON lines) when set."""
import json
import os
import sys

mode = sys.argv[1]
phase = os.environ.get("FIXHOST_PHASE", "")
error = json.load(open(os.environ["FIXHOST_ERROR_FILE"]))
log = os.environ.get("AGENT_LOG")
if log:
    with open(log, "a") as f:
        f.write(json.dumps({"mode": mode, "phase": phase, "attempt": os.environ.get("FIXHOST_ATTEMPT"),
                            "error_type": error.get("exception_type"),
                            "frames": len(error.get("frames", []))}) + "\n")

REPRO = "tests/test_sentry_repro.py"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def summary(text):
    write(os.environ["FIXHOST_SUMMARY_FILE"], text + "\n")


if phase == "reproduce":
    if mode == "passes":
        write(REPRO, "from shop.cart import average_price\n\n\ndef test_average_price_of_one():\n"
                     "    assert average_price([{'price': 2}]) == 2\n")
    else:
        write(REPRO, "from shop.cart import average_price\n\n\ndef test_average_price_of_no_items():\n"
                     "    assert average_price([]) == 0\n")
    if mode == "edits_source":
        with open("shop/cart.py", "a") as f:
            f.write("# touched while reproducing\n")
    summary("average_price([]) raises ZeroDivisionError")
    sys.exit(0)

if phase == "fix":
    if mode == "gives_up":
        sys.exit(1)
    if mode == "weakens":
        write(REPRO, "def test_average_price_of_no_items():\n    assert True\n")
        summary("made the test pass")
        sys.exit(0)
    write("shop/cart.py", "def average_price(items):\n    if not items:\n        return 0\n"
                          "    return sum(i['price'] for i in items) / len(items)\n")
    summary("average_price returns 0 for an empty cart instead of dividing by zero")
    sys.exit(0)

sys.exit(2)
