const mailer = require('./mailer');
const { cartTotal } = require('./cart');

function placeOrder(email, cart) {
  const total = cartTotal(cart);
  mailer.send(email, `Thanks! Total ${total}`);
  return total;
}
module.exports = { placeOrder };
