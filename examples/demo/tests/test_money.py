from decimal import Decimal

from shop.money import round_money


def test_round_money_half_up():
    assert round_money(2.675) == Decimal("2.68")


def test_round_money_whole():
    assert round_money(3) == Decimal("3.00")
