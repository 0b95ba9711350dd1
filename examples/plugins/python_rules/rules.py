#!/usr/bin/env python3
"""A classifier rule set as an external plugin: each FailureDetected whose message or trace
matches a rule gets a FailureClassified. Pure (replay re-runs it). Rules come from
[plugins.py_rules] rules = [{pattern = "...", category = "...", confidence = 0.8}] or the
defaults below.

    [[plugins.external]]
    command = ["python3", "examples/plugins/python_rules/rules.py"]
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "sdk", "python"))
from fixhost_plugin import run  # noqa: E402

DEFAULT_RULES = [
    {"id": "py.no_module", "pattern": r"ModuleNotFoundError: No module named '([^']+)'",
     "category": "missing_dependency", "confidence": 0.95},
    {"id": "node.no_module", "pattern": r"Cannot find module '([^']+)'", "category": "missing_dependency",
     "confidence": 0.9},
    {"id": "env.var", "pattern": r"KeyError: '([A-Z][A-Z0-9_]+)'", "category": "env_mismatch", "confidence": 0.7},
    {"id": "type.none", "pattern": r"(TypeError: .*(?:None|null|undefined).*)", "category": "type_error",
     "confidence": 0.8},
]
rules = []


gate = None


def compile_rules(raw):
    out = []
    for i, r in enumerate(raw):
        for key in ("pattern", "category"):
            if key not in r:
                raise ValueError("rules[%d] has no %s; write {pattern = \"...\", category = \"...\"}" % (i, key))
        out.append((r.get("id", "rule%d" % i), r["pattern"], re.compile(r["pattern"]), r["category"],
                    float(r.get("confidence", 0.8))))
    return out


def configure(settings, _toml):
    global rules, gate
    unknown = set(settings) - {"rules"}
    if unknown:
        return "[plugins.py_rules] has no setting %s; it has only rules" % ", ".join(sorted(unknown))
    try:
        rules = compile_rules(settings.get("rules", DEFAULT_RULES))
        gate = make_gate(rules)
    except (ValueError, re.error) as e:
        return "[plugins.py_rules] rules: %s" % e
    return None


def on_event(event, emit):
    p = event["payload"]
    text = p.get("message", "") + "\n" + p.get("stack_trace", "")
    if gate is not None and not gate.search(text):  # one pass when no rule matches (most failures)
        return
    for rule_id, pattern, rx, category, confidence in rules:
        m = rx.search(text)
        if m:
            emit("FailureClassified", {"test_id": p["test_id"], "category": category, "confidence": confidence,
                                       "evidence": [{"rule": rule_id, "pattern": pattern, "matched": m.group(0)}]})
            return


def make_gate(compiled):
    """One regex matching wherever any rule does."""
    try:
        return re.compile("|".join("(?:%s)" % pattern for _, pattern, _, _, _ in compiled))
    except re.error:  # patterns that do not combine (backreferences): no gate
        return None


rules = compile_rules(DEFAULT_RULES)
gate = make_gate(rules)
run(name="py_rules", version="1.0.0", kind="pure", subscriptions=["FailureDetected"], on_event=on_event,
    configure=configure, description="project classifier rules in Python (examples/plugins/python_rules)")
