#!/usr/bin/env python3
"""Writes fixhost's usage file (FIXHOST_USAGE_FILE, docs/USAGE.md) from what an agent CLI printed.

    agent_usage.py claude OUTPUT   # `claude -p --output-format json`: one result object (or an array of messages)
    agent_usage.py codex OUTPUT    # `codex exec --json`: JSON lines; turn.completed events carry the usage
    agent_usage.py aider OUTPUT    # aider's console: "Tokens: 1.2k sent, 345 received. Cost: $0.01 message, $0.05 session."

It writes {"input_tokens", "output_tokens", "cost_usd", "model"}, leaving out what the tool did
not say (codex reports no cost: its cost stays unknown, never 0). Nothing found: no file is
written, and fixhost counts the attempt's usage as unknown. It prints the agent's final
message on stdout (claude: the result text), for the wrapper to keep as the summary.
Exit 0 unless the arguments are wrong: a wrapper never fails because usage could not be read."""
import json
import os
import re
import sys


def claude(text):
    """The result message of `claude -p --output-format json`, and its text."""
    try:
        doc = json.loads(text)
    except ValueError:
        return {}, ""
    messages = doc if isinstance(doc, list) else [doc]
    result = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("type") == "result"), None)
    if result is None:
        return {}, ""
    usage = {}
    u = result.get("usage") or {}
    if isinstance(u.get("input_tokens"), int):
        # The prompt tokens in all: fresh, written to the cache and read from it (all are billed).
        usage["input_tokens"] = sum(u.get(k) or 0 for k in (
            "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
    if isinstance(u.get("output_tokens"), int):
        usage["output_tokens"] = u["output_tokens"]
    if isinstance(result.get("total_cost_usd"), (int, float)):
        usage["cost_usd"] = float(result["total_cost_usd"])
    models = result.get("modelUsage") or {}
    if isinstance(models, dict) and models:
        # The model that cost the most did the work (a small one may have run beside it).
        usage["model"] = max(models, key=lambda k: (models[k] or {}).get("costUSD") or 0)
    else:
        init = next((m for m in messages if isinstance(m, dict) and m.get("type") == "system" and m.get("model")), None)
        if init:
            usage["model"] = init["model"]
    return usage, result.get("result") if isinstance(result.get("result"), str) else ""


def codex(text):
    """The sum of the turns of `codex exec --json` (or the last cumulative token_count)."""
    turns = None
    last_total = None
    model = os.environ.get("FIXHOST_CODEX_MODEL", "")
    for line in text.splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if not isinstance(ev, dict):
            continue
        if ev.get("type") == "turn.completed" and isinstance(ev.get("usage"), dict):
            u = ev["usage"]
            turns = turns or {"input_tokens": 0, "output_tokens": 0}
            turns["input_tokens"] += u.get("input_tokens") or 0
            turns["output_tokens"] += u.get("output_tokens") or 0
        msg = ev.get("msg") if isinstance(ev.get("msg"), dict) else ev.get("payload") if isinstance(ev.get("payload"), dict) else None
        if msg and msg.get("type") == "token_count":
            info = msg.get("info") or {}
            total = info.get("total_token_usage") if isinstance(info, dict) else None
            last_total = total if isinstance(total, dict) else msg
        if isinstance(ev.get("model"), str) and not model:
            model = ev["model"]
    usage = {}
    src = turns if turns is not None else last_total
    if src:
        for k in ("input_tokens", "output_tokens"):
            if isinstance(src.get(k), int):
                usage[k] = src[k]
    if usage and model:
        usage["model"] = model
    return usage, ""


def tokens(s):
    """aider's format_tokens: "345", "1.2k", "12k" (rounded by aider)."""
    s = s.strip()
    return int(round(float(s[:-1]) * 1000)) if s.endswith("k") else int(float(s))


def aider(text):
    """aider prints a Tokens line per message and the session's cost so far after each."""
    usage = {}
    sent = received = 0
    seen = False
    for m in re.finditer(r"^Tokens: ([\d.]+k?) sent,(?: [\d.]+k? cache \w+,)* ([\d.]+k?) received\.", text, re.M):
        sent += tokens(m.group(1))
        received += tokens(m.group(2))
        seen = True
    if seen:
        usage["input_tokens"] = sent
        usage["output_tokens"] = received
    costs = re.findall(r"Cost: \$([\d.]+) message, \$([\d.]+) session\.", text)
    if costs:
        usage["cost_usd"] = float(costs[-1][1])  # one aider process per attempt: its session is the attempt
    model = re.search(r"^(?:Main )?[Mm]odel: (\S+)", text, re.M)
    if model and usage:
        usage["model"] = model.group(1)
    return usage, ""


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("claude", "codex", "aider"):
        sys.exit("usage: agent_usage.py claude|codex|aider OUTPUT_FILE")
    try:
        with open(sys.argv[2], encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        print(f"agent_usage: cannot read {sys.argv[2]}: {e}", file=sys.stderr)
        return
    usage, final = {"claude": claude, "codex": codex, "aider": aider}[sys.argv[1]](text)
    if final:
        print(final)
    path = os.environ.get("FIXHOST_USAGE_FILE")
    if usage and path:
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(usage, f)
            f.write("\n")
        os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
