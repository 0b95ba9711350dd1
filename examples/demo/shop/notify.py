def send_message(address, text):
    """Sends a message to the customer (prints in this demo)."""
    print(f"to {address}: {text}")
    return True
