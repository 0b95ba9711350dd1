#!/usr/bin/env node
// Posts each run's report (ReportWritten) to a webhook as JSON:
//   {"run_id", "kind", "path", "markdown", "seq"}
// Effectful: replay never calls it, so an old run is never announced twice.
//
//   [[plugins.external]]
//   command = ["node", "examples/plugins/node_notifier/notifier.js"]
//   [plugins.notifier]
//   url = "https://hooks.example.com/fixhost"   # http or https
'use strict';
const path = require('path');
const { run } = require(path.join(__dirname, '..', '..', '..', 'sdk', 'node', 'fixhost_plugin.js'));

let url;

function post(target, body) {
  const lib = target.protocol === 'https:' ? require('https') : require('http');
  return new Promise((resolve, reject) => {
    const req = lib.request(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      timeout: 4000,
    }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode < 300 ? resolve() : reject(new Error(`webhook ${target.href} answered ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`webhook ${target.href} did not answer within 4 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

run({
  name: 'notifier',
  version: '1.0.0',
  kind: 'effectful',
  subscriptions: ['ReportWritten'],
  description: "posts a run's report to a webhook (examples/plugins/node_notifier)",
  configure(settings) {
    const extra = Object.keys(settings).filter((k) => k !== 'url');
    if (extra.length) return `[plugins.notifier] has no setting ${extra.join(', ')}; it has only url`;
    if (!settings.url) return '[plugins.notifier] url is missing; write url = "https://hooks.example.com/fixhost"';
    try {
      url = new URL(settings.url);
    } catch (e) {
      return `[plugins.notifier] url '${settings.url}' is not a URL; write e.g. url = "https://hooks.example.com/fixhost"`;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return `[plugins.notifier] url must be http or https, not ${url.protocol}`;
    return undefined;
  },
  async onEvent(event) {
    const p = event.payload;
    await post(url, JSON.stringify({ run_id: event.run_id, seq: event.seq, kind: p.kind, path: p.path, markdown: p.markdown.data }));
  },
});
