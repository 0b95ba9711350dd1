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
import sys

API = "1.1"


def run(name, version, subscriptions, on_event, kind="pure", description="", configure=None,
        stdin=None, stdout=None):
    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    loads = json.loads
    out.write(dumps({"fixhost_plugin": {
        "name": name, "version": version, "api": API, "kind": kind,
        "subscriptions": list(subscriptions), "description": description}}) + "\n")
    out.flush()
    for line in stdin:
        msg = loads(line)
        if "configure" in msg:
            error = None
            if configure is not None:
                try:
                    error = configure(msg["configure"].get("settings", {}), msg["configure"].get("toml", ""))
                except Exception as e:  # a configure that throws refuses the plugin
                    error = "%s: %s" % (type(e).__name__, e)
            out.write(dumps({"error": str(error)} if error else {"ok": True}) + "\n")
            out.flush()
            continue
        emitted = []
        try:
            on_event(msg, lambda type_, payload: emitted.append({"type": type_, "payload": payload}))
            reply = {"seq": msg["seq"], "emit": emitted} if emitted else {"seq": msg["seq"]}
        except Exception as e:
            reply = {"seq": msg["seq"], "error": "%s: %s" % (type(e).__name__, e)}
        out.write(dumps(reply) + "\n")
        out.flush()
