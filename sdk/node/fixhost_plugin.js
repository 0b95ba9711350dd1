// fixhost external plugin SDK for Node (docs/PLUGINS.md, "External plugins").
//
//   const { run } = require('./fixhost_plugin');
//   run({ name: 'notifier', version: '1.0.0', kind: 'effectful', subscriptions: ['ReportWritten'],
//         configure(settings) { if (!settings.url) return 'set url'; },
//         async onEvent(event, emit) { ... } });
//
// Events are handled one at a time, in order, even when onEvent is async; each must be answered
// within the host's per-event deadline. A throw (or rejection) becomes that event's PluginFailed.
// Log to stderr, never to stdout.
'use strict';
const readline = require('readline');

const API = '1.1';

function run({ name, version, subscriptions, onEvent, kind = 'pure', description = '', configure }) {
  const write = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  write({ fixhost_plugin: { name, version, api: API, kind, subscriptions, description } });
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  let chain = Promise.resolve();
  rl.on('line', (line) => {
    chain = chain.then(async () => {
      const msg = JSON.parse(line);
      if (msg.configure) {
        let error;
        try {
          error = configure ? await configure(msg.configure.settings || {}, msg.configure.toml || '') : undefined;
        } catch (e) {
          error = String(e && e.stack ? e.message : e);
        }
        write(error ? { error: String(error) } : { ok: true });
        return;
      }
      const emitted = [];
      try {
        await onEvent(msg, (type, payload) => emitted.push({ type, payload }));
        write(emitted.length ? { seq: msg.seq, emit: emitted } : { seq: msg.seq });
      } catch (e) {
        write({ seq: msg.seq, error: String(e && e.message ? e.message : e) });
      }
    });
  });
  rl.on('close', () => chain.then(() => process.exit(0)));
}

module.exports = { run, API };
