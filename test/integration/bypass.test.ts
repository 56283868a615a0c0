import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { Header } from '../../src/trace/attributes';
import { headersOf } from '../support/amqp';
import { requireBroker, uniqueName } from '../support/broker';
import { startTestProxy } from '../support/proxy';
import { sleep, waitFor } from '../support/wait';

const runtime = suite('runtime bypass switch');

/** Publishes one message per step on a long-lived connection and reads it back. */
async function publishAndRead(ch: amqp.ConfirmChannel, queue: string, step: string): Promise<Record<string, unknown>> {
  ch.sendToQueue(queue, Buffer.from(step), { headers: { step } });
  await ch.waitForConfirms();
  for (let i = 0; i < 100; i++) {
    const msg = await ch.get(queue, { noAck: true });
    if (msg) return headersOf(msg);
    await sleep(20);
  }
  throw new Error(`message ${step} never arrived`);
}

/** A mode switch must not be a request a web page could send across origins (docs/SECURITY.md). */
const JSON_TYPE = { 'Content-Type': 'application/json' };

runtime('the admin endpoint flips tracing off and on during traffic; the connection survives', async () => {
  await requireBroker();
  const proxy = await startTestProxy({ ADMIN_LISTEN: '127.0.0.1:0' });
  const admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}/mode`;
  const conn = await amqp.connect(proxy.url);
  let closed = false;
  conn.on('close', () => { closed = true; });
  try {
    const ch = await conn.createConfirmChannel();
    const queue = (await ch.assertQueue(uniqueName('bypass'), { exclusive: true })).queue;
    assert.ok(Header.traceparent in (await publishAndRead(ch, queue, 'before')));
    const off = await fetch(admin, { method: 'PUT', headers: JSON_TYPE, body: 'bypass' });
    assert.equal(await off.json(), { mode: 'bypass' });
    const during = await publishAndRead(ch, queue, 'bypassed');
    assert.equal(during, { step: 'bypassed' });
    const metrics = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    assert.match(metrics, /amqp_trace_proxy_tracing_enabled 0/);
    assert.match(metrics, /amqp_trace_proxy_trace_context_total\{outcome="bypassed"\} 1/);
    await fetch(admin, { method: 'POST', headers: JSON_TYPE, body: 'tracing' });
    assert.ok(Header.traceparent in (await publishAndRead(ch, queue, 'after')));
    assert.equal(await (await fetch(admin)).json(), { mode: 'tracing' });
    const bad = await fetch(admin, { method: 'PUT', headers: JSON_TYPE, body: 'sideways' });
    assert.is(bad.status, 400);
    assert.not.ok(closed, 'the client connection was never dropped');
  } finally {
    await conn.close().catch(() => undefined);
    await proxy.stop();
  }
});

runtime('a watched mode file (a mounted ConfigMap) flips the mode', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atp-mode-'));
  const file = join(dir, 'mode');
  writeFileSync(file, 'tracing\n');
  const proxy = await startTestProxy({ PROXY_MODE_FILE: file });
  const conn = await amqp.connect(proxy.url);
  try {
    const ch = await conn.createConfirmChannel();
    const queue = (await ch.assertQueue(uniqueName('modefile'), { expires: 60_000 })).queue;
    assert.ok(Header.traceparent in (await publishAndRead(ch, queue, 'one')));
    writeFileSync(file, 'bypass\n');
    await waitFor('the file change to be seen', () => proxy.app.modeController.mode === 'bypass');
    assert.equal(await publishAndRead(ch, queue, 'two'), { step: 'two' });
    // A new connection opened in bypass is a plain pipe too.
    const fresh = await amqp.connect(proxy.url);
    const ch2 = await fresh.createConfirmChannel();
    assert.equal(await publishAndRead(ch2, queue, 'three'), { step: 'three' });
    await fresh.close();
    writeFileSync(file, 'tracing\n');
    await waitFor('the file change back', () => proxy.app.modeController.mode === 'tracing');
    assert.ok(Header.traceparent in (await publishAndRead(ch, queue, 'four')));
    writeFileSync(file, 'garbage\n');
    await sleep(1500);
    assert.is(proxy.app.modeController.mode, 'tracing', 'an invalid file changes nothing');
    await ch.deleteQueue(queue);
  } finally {
    await conn.close().catch(() => undefined);
    await proxy.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

runtime('after a runtime switch to bypass, a connection opened during bypass starts tracing when the switch flips back', async () => {
  const proxy = await startTestProxy({ ADMIN_LISTEN: '127.0.0.1:0' });
  const admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}/mode`;
  await fetch(admin, { method: 'PUT', headers: JSON_TYPE, body: 'bypass' });
  const conn = await amqp.connect(proxy.url);
  try {
    const ch = await conn.createConfirmChannel();
    const queue = (await ch.assertQueue(uniqueName('bypass-open'), { exclusive: true })).queue;
    assert.equal(await publishAndRead(ch, queue, 'opened-in-bypass'), { step: 'opened-in-bypass' });
    await fetch(admin, { method: 'PUT', headers: JSON_TYPE, body: 'tracing' });
    assert.ok(Header.traceparent in (await publishAndRead(ch, queue, 'after-switch')), 'the same connection now traces');
  } finally {
    await conn.close().catch(() => undefined);
    await proxy.stop();
  }
});

runtime('started with ENABLE_TRACE_PROPAGATION=false and the admin API on: plain pipes that parse nothing, until switched', async () => {
  const proxy = await startTestProxy({ ADMIN_LISTEN: '127.0.0.1:0', ENABLE_TRACE_PROPAGATION: 'false' });
  const admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}/mode`;
  const frames = async (): Promise<number> => {
    const text = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    return Number(/amqp_trace_proxy_frames_total\{direction="client_to_broker"\} (\d+)/.exec(text)?.[1]);
  };
  const conn = await amqp.connect(proxy.url);
  try {
    const ch = await conn.createConfirmChannel();
    const queue = (await ch.assertQueue(uniqueName('adr-flag'), { expires: 60_000 })).queue;
    assert.equal(await publishAndRead(ch, queue, 'piped'), { step: 'piped' });
    assert.is(await frames(), 0, 'nothing parsed');
    await fetch(admin, { method: 'PUT', headers: JSON_TYPE, body: 'tracing' });
    assert.equal(await publishAndRead(ch, queue, 'still-piped'), { step: 'still-piped' }, 'a pipe stays a pipe');
    const fresh = await amqp.connect(proxy.url);
    const ch2 = await fresh.createConfirmChannel();
    assert.ok(Header.traceparent in (await publishAndRead(ch2, queue, 'new-connection')), 'new connections trace');
    await ch2.deleteQueue(queue);
    await fresh.close();
  } finally {
    await conn.close().catch(() => undefined);
    await proxy.stop();
  }
});

runtime.run();
