from shop.money import round_money


def apply_discount(price, percent):
    return round_money(price * (100 - percent) / 100)


def discount_label(price, percent):
    saved = round_money(price * percent / 100)
    return "You save " + saved + " EUR"
