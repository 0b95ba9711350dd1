function send(to, body) {
  return { to, body, sent: true };
}
module.exports = { send };
