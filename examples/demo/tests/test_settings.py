from shop.settings import currency


def test_default_currency():
    assert currency() == "EUR"
