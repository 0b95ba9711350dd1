"""Money helpers used by every other module."""
from decimal import Decimal, ROUND_DOWN


def round_money(amount):
    """Round to cents, half up: 2.675 -> 2.68."""
    return Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
