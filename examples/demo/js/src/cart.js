const { formatPrice } = require('./format');

function cartTotal(cart) {
  return cart.items.reduce((sum, item) => sum + item.price * item.qty, 0);
}

function cartSummary(cart) {
  return `${cart.lines} items, ${formatPrice(cartTotal(cart))}`;
}
module.exports = { cartTotal, cartSummary };
