const { formatPrice } = require('../src/format');

describe('formatPrice', () => {
  test('adds a thousands separator', () => {
    expect(formatPrice(1234.5)).toBe('1,234.50');
  });
  test('keeps small amounts', () => {
    expect(formatPrice(5)).toBe('5.00');
  });
});
