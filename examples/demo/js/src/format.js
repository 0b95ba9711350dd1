// Formats a price in EUR with a thousands separator: 1234.5 -> "1,234.50".
function formatPrice(amount) {
  return amount.toFixed(2);
}
module.exports = { formatPrice };
