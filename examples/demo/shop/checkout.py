from shop import notify
from shop.pricing import apply_discount


def checkout(email, price, percent):
    total = apply_discount(price, percent)
    notify.send_message(email, f"Your order: {total} EUR")
    return total
