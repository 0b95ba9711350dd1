_stock = {}


def restock(item, count):
    _stock[item] = _stock.get(item, 0) + count
    return _stock[item]
