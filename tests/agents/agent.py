#!/usr/bin/env python3
"""Scripted agents for the autofix tests: `agent.py MODE`, run by fixhost as /bin/sh -c CMD in
the run's worktree with the FIXHOST_* environment. Each MODE is one behaviour the host must
handle: a correct fix, a fix that breaks another test, tampering of every kind, a hang."""
import json
import os
import pathlib
import subprocess
import sys
import time

mode = sys.argv[1]
# `agent.py plan FILE`: FILE is JSON {"<test id substring>": [[path, old, new], ...], ...}; the
# first key found in the test id says what to edit. An edit already made is skipped (the call
# is then a wasted one, which the tests count through AGENT_LOG's "applied").
failure = json.loads(pathlib.Path(os.environ["FIXHOST_FAILURE_FILE"]).read_text())
attempt = int(os.environ["FIXHOST_ATTEMPT"])
test_id = failure["test_id"]
log = os.environ.get("AGENT_LOG")
if log:
    with open(log, "a") as f:
        f.write(json.dumps({"mode": mode, "test_id": test_id, "attempt": attempt,
                            "history": json.loads(pathlib.Path(os.environ["FIXHOST_HISTORY_FILE"]).read_text()),
                            "prompt_has_test": "def test_" in pathlib.Path(os.environ["FIXHOST_PROMPT_FILE"]).read_text(),
                            "cwd": os.getcwd(), "repo": os.environ["FIXHOST_REPO"]}) + "\n")

# What the attempt "spent": AGENT_USAGE_<attempt>, else AGENT_USAGE, written as is (it may be
# malformed on purpose) to FIXHOST_USAGE_FILE; neither set: no usage file (docs/USAGE.md).
usage = os.environ.get(f"AGENT_USAGE_{attempt}", os.environ.get("AGENT_USAGE"))
if usage is not None and os.environ.get("FIXHOST_USAGE_FILE"):
    pathlib.Path(os.environ["FIXHOST_USAGE_FILE"]).write_text(usage)


def edit(path, old, new):
    p = pathlib.Path(path)
    text = p.read_text()
    if old not in text:
        sys.exit(f"agent: '{old}' not in {path}")
    p.write_text(text.replace(old, new, 1))


def summary(text):
    pathlib.Path(os.environ["FIXHOST_SUMMARY_FILE"]).write_text(text + "\n")


def correct():
    if "test_add" in test_id:
        edit("calc/util.py", "return a - b", "return a + b")
        summary("util.add subtracted; made it add")
    elif "test_label" in test_id:
        edit("calc/fmt.py", '"n=" + x', '"n=" + str(x)')
        summary("convert the number to str before concatenating")
    else:
        sys.exit(1)


if mode == "plan":
    plan = json.loads(pathlib.Path(sys.argv[2]).read_text())
    key = next((k for k in plan if k in test_id), None)
    if key is None:
        sys.exit(3)
    applied = False
    for path, old, new in plan[key]:
        p = pathlib.Path(path)
        text = p.read_text() if p.exists() else None
        if old == "" and text is None:  # a new file
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(new)
            applied = True
        elif old and text is not None and old in text:
            p.write_text(text.replace(old, new, 1))
            applied = True
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"plan": key, "test_id": test_id, "applied": applied}) + "\n")
    summary(f"plan {key}: {'applied' if applied else 'nothing left to change'}")
elif mode == "correct":
    correct()
elif mode == "second_try":  # attempt 1 changes something harmless, attempt 2 fixes it
    if attempt == 1:
        edit("calc/util.py", "def add(a, b):", "def add(a, b):  # looked at")
    else:
        correct()
elif mode == "breaks_other":  # fixes add, and breaks mul (tested by test_mul, passing at start)
    if "test_add" in test_id:
        edit("calc/util.py", "return a - b", "return a + b")
        edit("calc/util.py", "return a * b", "return a * b + 1")
    else:
        correct()
elif mode == "unused_import":  # a correct fix that adds an unused import (a new lint finding)
    if "test_add" in test_id:
        edit("calc/util.py", "def add(a, b):", "import os\n\n\ndef add(a, b):")
    correct()
elif mode == "narrow_collection":  # fixes add, and quietly stops pytest collecting test_other.py
    if "test_add" in test_id:
        pathlib.Path("pytest.ini").write_text("[pytest]\npythonpath = .\npython_files = test_util.py test_fmt.py\n")
    correct()
elif mode == "protected":
    pathlib.Path("calc/auth").mkdir(exist_ok=True)
    pathlib.Path("calc/auth/tokens.py").write_text("SECRET = 'x'\n")
    correct()
elif mode == "skip":
    edit("tests/test_util.py", "def test_add", "import pytest\n\n\n@pytest.mark.skip\ndef test_add")
elif mode == "delete":
    os.remove("tests/test_util.py")
elif mode == "weaken":
    edit("tests/test_util.py", "assert add(2, 3) == 5", "assert True")
elif mode == "commit":
    correct()
    subprocess.run(["git", "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qam", "agent commit"], check=True)
elif mode == "hang":
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    subprocess.Popen(["sleep", "300"])
    time.sleep(300)
elif mode == "give_up":
    sys.exit(3)
elif mode == "wrong":
    edit("calc/util.py", "return a - b", "return a - b  # still wrong")
elif mode == "escape":  # a symlink leading out of the worktree
    os.symlink("/etc/passwd", "calc/passwd_link")
    correct()
elif mode == "outside":  # writes into the user's checkout through an absolute path
    common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            capture_output=True, text=True, check=True).stdout.strip()
    pathlib.Path(common).parent.joinpath("calc", "util.py").write_text("def add(a, b):\n    return a + b\n")
    correct()
elif mode == "leave_behind":  # issue 9: a fix, and two processes meant to outlive the attempt
    if "test_add" in test_id and attempt == 1:
        marker = "fixhost-left-" + os.environ["FIXHOST_RUN_ID"]
        quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        subprocess.Popen(["sh", "-c", "sleep 300", marker + "-sleeper"], start_new_session=True, **quiet)
        if os.fork() == 0:  # double fork: the writer's parent exits at once, in a new session
            os.setsid()
            if os.fork() == 0:
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(devnull, fd)
                os.execvp("sh", ["sh", "-c", "sleep 2; echo late > late.txt", marker + "-writer"])
            os._exit(0)
        os.wait()
    correct()
elif mode in ("hostile", "net"):  # issue 9: escapes tried one by one, each outcome logged
    def attempt_escape(name, fn):
        try:
            fn()
            done, error = True, ""
        except (OSError, subprocess.CalledProcessError) as e:
            done, error = False, f"{e} {getattr(e, 'stderr', '') or ''}".strip()
        if log:
            with open(log, "a") as f:
                f.write(json.dumps({"escape": name, "done": done, "error": error}) + "\n")

    def git(*args):
        subprocess.run(["git", "-c", "user.name=a", "-c", "user.email=a@b", *args], check=True,
                       capture_output=True, text=True)

    if mode == "net":
        import socket
        attempt_escape("network", lambda: socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=5).close())
    else:
        common = pathlib.Path(subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                                             capture_output=True, text=True, check=True).stdout.strip())
        checkout = common.parent
        store = pathlib.Path(os.environ["FIXHOST_REPO"]).parent.parent

        def rewrite_store():
            (store / "agent-was-here").write_text("x\n")
            for p in sorted(store.iterdir()):
                if p.is_file():
                    p.write_bytes(b"format version 9\n")

        def hook():
            h = common / "hooks" / "pre-commit"
            h.write_text("#!/bin/sh\necho hooked >> /tmp/fixhost-hooked\n")
            h.chmod(0o755)

        attempt_escape("env_in_checkout", lambda: (checkout / ".env").write_text("SECRET=agent\n"))
        attempt_escape("store", rewrite_store)
        attempt_escape("hook", hook)
        attempt_escape("commit", lambda: git("commit", "-q", "--allow-empty", "-m", "agent commit"))
        attempt_escape("push", lambda: git("push", "-q", "origin", "HEAD:refs/heads/agent-push"))
    correct()
elif mode == "planted":  # issue 9: code the host itself runs later (re-run, verify) tries the escape
    correct()
    if "test_add" in test_id:
        with open("calc/util.py", "a") as f:
            f.write('''

def _planted():
    import json, os, pathlib, subprocess
    common = subprocess.run(["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
                            capture_output=True, text=True).stdout.strip()
    try:
        (pathlib.Path(common).parent / ".env").write_text("SECRET=planted\\n")
        done, error = True, ""
    except OSError as e:
        done, error = False, str(e)
    log = os.environ.get("AGENT_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"planted": "env_in_checkout", "done": done, "error": error,
                                "by_agent": "FIXHOST_ATTEMPT" in os.environ}) + "\\n")


_planted()
''')
else:
    sys.exit(f"agent: unknown mode {mode}")
