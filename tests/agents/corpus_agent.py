#!/usr/bin/python3
"""Scripted agent for the conformance corpus (tests/fixtures/corpus/<project>/SEEDED.json).

    /usr/bin/python3 tests/agents/corpus_agent.py pylib            # a corpus project's name
    /usr/bin/python3 tests/agents/corpus_agent.py path/SEEDED.json  # or a seed file (or its dir)
    ... [--root SUBDIR]   # the project lives in SUBDIR of the worktree (default: the worktree)

Run by fixhost as /bin/sh -c CMD in the run's worktree with the FIXHOST_* environment. It reads
FIXHOST_FAILURE_FILE, finds the seeded bug whose `fails` holds the failure's test id (for a
test id that names several tests, the one whose lines hold the failure's line; for a failure
in the collection phase, the bug of kind collection_error / missing_module that fails that
file), and applies its `fix` edits. Exit 0 after applying it (summary in FIXHOST_SUMMARY_FILE),
exit 0 without a change when the fix is already applied (an earlier fix cured this failure:
the wasted call fixhost must avoid), exit 3 when it knows no fix. With AGENT_LOG set, each
call appends {"test_id", "bug", "applied", "reason", "attempt"} as one JSON line to it.
Python 3 standard library only.
"""
import json
import os
import pathlib
import re
import sys

CORPUS = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "corpus"


def seed_path(arg):
    p = pathlib.Path(arg)
    if p.is_file():
        return p
    if (p / "SEEDED.json").is_file():
        return p / "SEEDED.json"
    if (CORPUS / arg / "SEEDED.json").is_file():
        return CORPUS / arg / "SEEDED.json"
    sys.exit(f"corpus_agent: no SEEDED.json for {arg!r}")


def log(entry):
    path = os.environ.get("AGENT_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")


def summary(text):
    path = os.environ.get("FIXHOST_SUMMARY_FILE")
    if path:
        pathlib.Path(path).write_text(text + "\n")


def candidates(seeded, failure):
    """The bugs that may explain this failure, best first."""
    test_id = failure.get("test_id", "")
    bugs = seeded["bugs"]
    exact = [b for b in bugs if test_id in b.get("fails", [])]
    if not exact:
        # An id fixhost decorated to tell duplicates apart (a line or an index appended): the
        # longest seeded id it starts with.
        known = sorted({t for b in bugs for t in b.get("fails", []) if test_id.startswith(t)}, key=len)
        if known:
            exact = [b for b in bugs if known[-1] in b.get("fails", [])]
            test_id = known[-1]
    if not exact and (failure.get("phase") == "collection" or failure.get("category") == "missing_dependency"):
        file = failure.get("file") or test_id.split("::", 1)[0]
        exact = [b for b in bugs if b["kind"] in ("collection_error", "missing_module")
                 and any(f.split("::", 1)[0] == file or f == test_id for f in b.get("fails", []))]
    if len(exact) > 1:
        line = failure.get("line")
        for dup in seeded.get("duplicate_ids", []):
            if dup["test_id"] != test_id or not isinstance(line, int):
                continue
            owners = [t["bug"] for t in dup["tests"] if t["bug"] and t["line"] <= line <= t["end_line"]]
            if owners:
                exact.sort(key=lambda b: b["id"] not in owners)
    return exact


def is_applied(root, edit):
    text = (root / edit["file"]).read_text()
    if edit["old"] in edit["new"]:
        return edit["new"] in text
    return edit["new"] in text and edit["old"] not in text


def main():
    args = sys.argv[1:]
    root = pathlib.Path(".")
    if "--root" in args:
        i = args.index("--root")
        root = pathlib.Path(args[i + 1])
        del args[i : i + 2]
    seeded = json.loads(seed_path(args[0] if args else ".").read_text())
    failure = json.loads(pathlib.Path(os.environ["FIXHOST_FAILURE_FILE"]).read_text())
    test_id = failure.get("test_id", "")
    base = {"test_id": test_id, "attempt": int(os.environ.get("FIXHOST_ATTEMPT", "1"))}
    bugs = candidates(seeded, failure)
    if not bugs:
        log({**base, "bug": None, "applied": False, "reason": "unknown failure"})
        summary(f"no seeded bug explains {test_id}")
        sys.exit(3)
    # Of several candidates (a shared id), the first whose fix is still missing.
    pending = [b for b in bugs if not all(is_applied(root, e) for e in b["fix"])]
    if not pending:
        log({**base, "bug": bugs[0]["id"], "applied": False, "reason": "already applied"})
        summary(f"{bugs[0]['id']}: already fixed, nothing to do")
        sys.exit(0)
    bug = pending[0]
    for edit in bug["fix"]:
        if is_applied(root, edit):
            continue
        path = root / edit["file"]
        text = path.read_text()
        if text.count(edit["old"]) != 1:
            log({**base, "bug": bug["id"], "applied": False, "reason": f"'old' not found once in {edit['file']}"})
            summary(f"{bug['id']}: the code changed, cannot apply the known fix")
            sys.exit(3)
        path.write_text(text.replace(edit["old"], edit["new"], 1))
    log({**base, "bug": bug["id"], "applied": True, "reason": "fixed"})
    first_line = re.split(r": |; ", bug.get("summary", bug["id"]))[0]
    summary(f"{bug['id']}: {first_line}"[:200])


if __name__ == "__main__":
    main()
