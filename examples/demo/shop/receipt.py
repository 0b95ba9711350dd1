from babel.numbers import format_currency

from shop.pricing import apply_discount


def total_line(price, percent):
    return "Total: " + format_currency(apply_discount(price, percent), "EUR", locale="en_US")
