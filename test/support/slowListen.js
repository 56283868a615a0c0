// Preloaded into a proxy child process (node --require) by test/integration/startup.test.ts:
// every listen() is announced on stdout and then delayed by SLOW_LISTEN_MS, so that a test
// can send a signal while the proxy is half started. Plain JavaScript: it runs without tsx.
'use strict';
const net = require('node:net');

const delayMs = Number(process.env.SLOW_LISTEN_MS ?? 500);
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function slowListen(...args) {
  process.stdout.write('slow-listen: listen called\n');
  setTimeout(() => listen.apply(this, args), delayMs);
  return this;
};
