def test_receipt_total_line():
    from shop.receipt import total_line

    assert total_line(100, 10) == "Total: €90.00"
