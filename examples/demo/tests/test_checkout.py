from decimal import Decimal
from unittest import mock

from shop.checkout import checkout


def test_checkout_total():
    assert checkout("a@example.com", 100, 10) == Decimal("90.00")


def test_checkout_notifies_customer():
    with mock.patch("shop.notify.send_email") as send:
        checkout("a@example.com", 100, 10)
    send.assert_called_once()
