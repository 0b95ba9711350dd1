import os
import tempfile

from shop.inventory import restock


def test_restock_is_visible():
    # Flaky on purpose: the first run under a given parent process fails (a stand-in for a
    # cache that is cold on the first run); any re-run from the same parent passes.
    marker = os.path.join(tempfile.gettempdir(), f"shop-demo-warm-{os.getppid()}")
    warm = os.path.exists(marker)
    open(marker, "w").close()
    assert restock("apple", 3) >= 3 and warm, "inventory cache was cold"
