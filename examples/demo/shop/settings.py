import os


def currency():
    return os.environ["SHOP_CURRENCY"]
