"""The demo shop "in production": checkouts of empty baskets crash, reported to Sentry through
the real SDK. python3 app.py DSN"""
import sys

import sentry_sdk

from shop.cart import average_price

sentry_sdk.init(dsn=sys.argv[1], release="shop@1.0.0", environment="production", traces_sample_rate=0)
for user, basket in (("ann", []), ("bob", [{"price": 4}]), ("cy", []), ("di", [])):
    sentry_sdk.set_user({"id": user})
    try:
        print("average:", average_price(basket))
    except ZeroDivisionError:
        sentry_sdk.capture_exception()
sentry_sdk.flush(timeout=10)
