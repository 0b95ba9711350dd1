jest.mock('../src/mailer');
const mailer = require('../src/mailer');
const { placeOrder } = require('../src/order');

describe('placeOrder', () => {
  test('emails the customer', () => {
    placeOrder('a@example.com', { items: [{ price: 1, qty: 1 }] });
    expect(mailer.sendMail).toHaveBeenCalled();
  });
});
