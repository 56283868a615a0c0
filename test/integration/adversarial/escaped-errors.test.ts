/**
 * F1 of issue 21, the backstop: an error that escapes every handler (here thrown from a
 * timer and a dropped promise that a --require'd file plants in the child) is logged,
 * redacted, and the process keeps serving. Without the process-level handlers Node exits on
 * the first one, dropping every client connection.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { requireBroker } from '../../support/broker';
import { sleep, waitFor } from '../hardening/helpers';
import { rawRequest, roundTrip, startHttpProxy, startWebhookChild, stopChild } from './httpPeers';

const escaped = suite('adversarial: errors that escape every handler');

const SECRET = 'pa/ss-escaped';
let dir = '';
let preload = '';

escaped.before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'atp-escaped-'));
  preload = path.join(dir, 'throw-later.cjs');
  // Once start-up is over: an uncaught exception and an unhandled rejection, each quoting a broker URL.
  writeFileSync(preload, [
    `setTimeout(() => { throw new Error('boom at amqp://app:${SECRET}@rabbit'); }, 1500);`,
    `setTimeout(() => { Promise.reject(new Error('dropped amqp://app:${SECRET}@rabbit')); }, 1600);`,
  ].join('\n'));
});

escaped.after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const logged = (output: string, kind: string): boolean =>
  output.split('\n').some((l) => l.includes('still serving') && l.includes(`"kind":"${kind}"`));

escaped('the proxy logs both, without the password, and a message still goes through it', async () => {
  await requireBroker();
  const proxy = await startHttpProxy({ NODE_OPTIONS: `--require ${preload}` });
  try {
    await waitFor('both errors logged', () => logged(proxy.output(), 'uncaughtException') && logged(proxy.output(), 'unhandledRejection'), 10_000);
    await sleep(200);
    assert.is(proxy.process.exitCode, null, proxy.output());
    assert.not.match(proxy.output(), SECRET);
    assert.match(proxy.output(), 'amqp://app:***@rabbit');
    await roundTrip(proxy.url);
  } finally {
    await stopChild(proxy.process);
  }
});

escaped('the webhook logs both and keeps answering', async () => {
  const hook = await startWebhookChild([], { NODE_OPTIONS: `--require ${preload}` });
  try {
    await waitFor('both errors logged', () => logged(hook.output(), 'uncaughtException') && logged(hook.output(), 'unhandledRejection'), 10_000);
    await sleep(200);
    assert.is(hook.process.exitCode, null, hook.output());
    assert.not.match(hook.output(), SECRET);
    assert.is((await rawRequest(hook.port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).status, 200);
  } finally {
    await stopChild(hook.process);
  }
});

escaped.run();
