"""fixhost external plugin SDK for Python (docs/PLUGINS.md, "External plugins").

A plugin is a program that speaks JSON lines on stdin/stdout. This module does the talking:

    from fixhost_plugin import run

    def on_event(event, emit):            # event: the JSON export's shape (hostctl log --json)
        if "ModuleNotFoundError" in event["payload"]["message"]:
            emit("FailureClassified", {"test_id": event["payload"]["test_id"],
                                       "category": "missing_dependency", "confidence": 0.9})

    run(name="my_rules", version="1.0.0", kind="pure",
        subscriptions=["FailureDetected"], on_event=on_event)

`configure(settings, toml_text)` (optional) gets the plugin's [plugins.<name>] table; return an
error string to refuse it. An exception from on_event becomes that event's PluginFailed; the
plugin keeps running. Write logs to stderr, never to stdout.
"""
import json
import os

API = "1.1"


def run(name, version, subscriptions, on_event, kind="pure", description="", configure=None,
        stdin_fd=0, stdout_fd=1):
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    loads = json.loads

    def write(data):
        view = memoryview(data)
        while view:
            view = view[os.write(stdout_fd, view):]

    write((dumps({"fixhost_plugin": {
        "name": name, "version": version, "api": API, "kind": kind,
        "subscriptions": list(subscriptions), "description": description}}) + "\n").encode())

    def answer(msg):
        if "configure" in msg:
            error = None
            if configure is not None:
                try:
                    error = configure(msg["configure"].get("settings", {}), msg["configure"].get("toml", ""))
                except Exception as e:  # a configure that throws refuses the plugin
                    error = "%s: %s" % (type(e).__name__, e)
            return dumps({"error": str(error)} if error else {"ok": True})
        emitted = []
        try:
            on_event(msg, lambda type_, payload: emitted.append({"type": type_, "payload": payload}))
            if not emitted:
                return '{"seq":%d}' % msg["seq"]
            return dumps({"seq": msg["seq"], "emit": emitted})
        except Exception as e:
            return dumps({"seq": msg["seq"], "error": "%s: %s" % (type(e).__name__, e)})

    # Reads what has arrived, answers every whole line of it, writes the answers at once: the host
    # may pipeline many events, and one write per batch saves a system call and a wake-up per event.
    pending = b""
    while True:
        chunk = os.read(stdin_fd, 1 << 16)
        if not chunk:
            return
        pending += chunk
        if b"\n" not in chunk:
            continue
        end = pending.rfind(b"\n")
        whole, pending = pending[:end], pending[end + 1:]
        try:  # one parse for everything that arrived
            msgs = loads(b"[" + whole.replace(b"\n", b",") + b"]")
        except ValueError:  # a bad line: find it (it raises, and the host records why)
            msgs = [loads(line) for line in whole.split(b"\n") if line.strip()]
        write(("\n".join(answer(m) for m in msgs) + "\n").encode())
