def average_price(items):
    return sum(i['price'] for i in items) / len(items)
