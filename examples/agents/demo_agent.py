#!/usr/bin/env python3
"""The scripted agent the demo uses (scripts/demo.sh): it knows the demo shop's seeded bugs and
behaves like a real agent would on a good and a bad day, so the demo shows every rail at work:

- most failures get a correct fix on the first attempt;
- the pricing TypeError is first "fixed" by editing the test's expectation (a policy violation,
  reverted by fixhost), then correctly on attempt 2, with the rejection in its history;
- the empty-cart TypeError gets a fix that passes its own test but breaks another one (fixhost
  finds it at verify time and reverts it as a regression);
- the missing `babel` package is not a code change: it gives up (exit 1).

It follows the agent contract in docs/AGENTS.md: reads FIXHOST_FAILURE_FILE, edits files in the
current directory (the run's worktree), writes a one-line summary to FIXHOST_SUMMARY_FILE, and
exits 0 after a change or non-zero to give up. Like a real agent it reports what it spent in
FIXHOST_USAGE_FILE (docs/USAGE.md): made-up but fixed figures, so the demo's report and
`hostctl stats` show a cost."""
import json
import os
import pathlib
import sys

failure = json.loads(pathlib.Path(os.environ["FIXHOST_FAILURE_FILE"]).read_text())
attempt = int(os.environ["FIXHOST_ATTEMPT"])
test = failure["test_id"]


def edit(path, old, new):
    p = pathlib.Path(path)
    text = p.read_text()
    if old not in text:
        sys.exit(f"demo agent: expected text not found in {path}; giving up")
    p.write_text(text.replace(old, new, 1))


def report_usage():
    # The prompt is what a model would read; a made-up price of $3 / $15 per million tokens.
    sent = len(pathlib.Path(os.environ["FIXHOST_PROMPT_FILE"]).read_text()) // 4 + 1500
    received = 300 + 100 * attempt
    usage = {"input_tokens": sent, "output_tokens": received,
             "cost_usd": round(sent * 3e-6 + received * 15e-6, 6), "model": "demo-agent"}
    if os.environ.get("FIXHOST_USAGE_FILE"):
        pathlib.Path(os.environ["FIXHOST_USAGE_FILE"]).write_text(json.dumps(usage) + "\n")


report_usage()


def done(summary):
    pathlib.Path(os.environ["FIXHOST_SUMMARY_FILE"]).write_text(summary + "\n")
    print(f"demo agent: {summary}")
    sys.exit(0)


if test.endswith("test_round_money_half_up"):
    text = pathlib.Path("shop/money.py").read_text()
    pathlib.Path("shop/money.py").write_text(text.replace("ROUND_DOWN", "ROUND_HALF_UP"))
    done("round_money rounded down; use ROUND_HALF_UP as documented")
if test.endswith("test_discount_label"):
    if attempt == 1:
        edit("tests/test_pricing.py", '"You save 20.00 EUR"', 'discount_label(80, 25)')
        done("made the test expect what the code returns")
    edit("shop/pricing.py", '"You save " + saved + " EUR"', 'f"You save {saved} EUR"')
    done("format the Decimal into the label instead of concatenating it to a str")
if test.endswith("test_default_currency"):
    edit("shop/settings.py", 'os.environ["SHOP_CURRENCY"]', 'os.environ.get("SHOP_CURRENCY", "EUR")')
    done("default SHOP_CURRENCY to EUR when it is not set")
if test.endswith("test_checkout_notifies_customer"):
    edit("tests/test_checkout.py", "shop.notify.send_email", "shop.notify.send_message")
    done("the mock patched send_email, which notify no longer has; patch send_message")
if test.endswith("test_receipt_total_line"):
    print("demo agent: 'babel' is not installed; that is an environment change, not a code fix")
    sys.exit(1)
if "format.test.js" in test:
    edit("js/src/format.js", "return amount.toFixed(2);",
         "return amount.toFixed(2).replace(/\\B(?=(\\d{3})+(?!\\d))/g, ',');")
    done("insert thousands separators into the fixed-point string")
if "cart.test.js" in test:
    # Passes the empty-cart test, breaks 'sums price times quantity': fixhost reverts it at verify.
    edit("js/src/cart.js", "return cart.items.reduce((sum, item) => sum + item.price * item.qty, 0);",
         "return 0;")
    done("an empty cart totals zero")
if "mailer.test.js" in test:
    edit("js/__tests__/mailer.test.js", "mailer.sendMail", "mailer.send")
    done("the mock expected sendMail; the mailer's function is send")
print(f"demo agent: no idea how to fix {test}")
sys.exit(1)
