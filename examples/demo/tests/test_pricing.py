from decimal import Decimal

from shop.pricing import apply_discount, discount_label


def test_apply_discount():
    assert apply_discount(200, 25) == Decimal("150.00")


def test_discount_label():
    assert discount_label(80, 25) == "You save 20.00 EUR"
