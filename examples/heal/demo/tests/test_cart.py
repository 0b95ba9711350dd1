from shop.cart import average_price


def test_average_price():
    assert average_price([{'price': 1}, {'price': 3}]) == 2
