const { cartTotal } = require('../src/cart');

describe('cartTotal', () => {
  test('is zero for an empty cart', () => {
    expect(cartTotal({})).toBe(0);
  });
  test('sums price times quantity', () => {
    expect(cartTotal({ items: [{ price: 2, qty: 3 }] })).toBe(6);
  });
});
