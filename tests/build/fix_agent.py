#!/usr/bin/env python3
"""The fix agent of the --fix test: the failing test expects order id 1; make the backend return it."""
p = "backend/orders.py"
text = open(p).read()
open(p, "w").write(text.replace('"id": 2', '"id": 1'))
