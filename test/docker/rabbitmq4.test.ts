/**
 * What RabbitMQ 4.x does differently, through the proxy (the core suites run against 4.0 as
 * well, from scripts/run-tests.js; these are the 4.x-only cases, docs/DEPLOY.md#rabbitmq-4):
 * AMQP 1.0 clients on the 0-9-1 port, messages crossing protocols in the broker's message
 * containers, and the 16 MiB default message size limit.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Header } from '../../src/trace/attributes';
import { parseTraceParent } from '../../src/trace/traceparent';
import { headersOf, withConnection } from '../support/amqp';
import { uniqueName } from '../support/broker';
import { REPO_ROOT } from '../support/dockerfileSteps';
import { createNetwork, removeLeftovers, removeNetwork, requireDocker, runName, startRabbitMq4, type Container } from '../support/docker';
import { TestProxy, startTestProxy } from '../support/proxy';
import { sleep } from '../support/wait';

const execFileP = promisify(execFile);
const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const MAX_MESSAGE_SIZE = 16 * 1024 * 1024; // RabbitMQ 4.0's default max_message_size

interface Ctx {
  network: string;
  broker: Container & { url: string; port: number };
  proxy: TestProxy;
}

const v4 = suite<Ctx>('RabbitMQ 4.0 through the proxy', {} as Ctx);

v4.before(async (ctx) => {
  await requireDocker();
  removeLeftovers();
  ctx.network = runName('rabbitmq4');
  await createNetwork(ctx.network);
  ctx.broker = await startRabbitMq4(`${ctx.network}-mq`, ctx.network, 'mq');
  ctx.proxy = await startTestProxy({ PROXY_UPSTREAM: `amqp://127.0.0.1:${ctx.broker.port}` });
});

v4.after(async (ctx) => {
  await ctx.proxy?.stop();
  await ctx.broker?.remove();
  if (ctx.network) await removeNetwork(ctx.network);
});

interface Amqp10Message {
  sent?: boolean;
  body?: string;
  properties?: Record<string, string>;
  annotations?: Record<string, string>;
}

async function amqp10(port: number, queue: string, ...args: string[]): Promise<Amqp10Message> {
  const { stdout } = await execFileP('/usr/bin/python3', [join(REPO_ROOT, 'test/docker/amqp10Client.py'), `amqp://127.0.0.1:${port}`, queue, ...args]);
  return JSON.parse(stdout) as Amqp10Message;
}

async function declare(url: string, queue: string): Promise<void> {
  await withConnection(url, async (c) => {
    await (await c.createChannel()).assertQueue(queue, { durable: true });
  });
}

async function failOpenCount(proxy: TestProxy): Promise<number> {
  const text = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('amqp_trace_proxy_fail_open_total{reason="unknown_protocol"}'));
  return Number(line?.split(' ').pop() ?? 0);
}

v4('an AMQP 1.0 client on the proxy\'s port reaches the broker untouched (passed through, counted, not traced)', async ({ broker, proxy }) => {
  const queue = uniqueName('amqp10');
  await declare(broker.url, queue);
  const before = await failOpenCount(proxy);
  assert.equal(await amqp10(proxy.port, queue, 'send', 'hello 1.0', VALID), { sent: true });
  const got = await amqp10(proxy.port, queue, 'receive');
  assert.is(got.body, 'hello 1.0');
  assert.equal(got.properties, { traceparent: VALID });
  assert.not.ok(Header.publishedAt in (got.annotations ?? {}), 'not stamped by the proxy');
  // Counted each time, so an operator sees how much traffic the proxy cannot trace.
  await sleep(1500); // the counter is buffered for up to a second
  assert.is((await failOpenCount(proxy)) - before, 2);
});

v4('an AMQP 1.0 connection is an opaque pipe for good: the proxy\'s 0-9-1 handshake deadline does not cut it (F4 of issue 21)', async ({ broker }) => {
  const deadlineMs = 1000;
  const proxy = await startTestProxy({ PROXY_UPSTREAM: `amqp://127.0.0.1:${broker.port}`, PROXY_HANDSHAKE_TIMEOUT_MS: String(deadlineMs) });
  try {
    const queue = uniqueName('amqp10-wait');
    await declare(broker.url, queue);
    // The sender keeps its connection open past the deadline between its two messages.
    assert.equal(await amqp10(proxy.port, queue, 'send-twice', 'waited', String((deadlineMs * 2.5) / 1000)), { sent: true });
    assert.is((await amqp10(proxy.port, queue, 'receive')).body, 'waited 1');
    assert.is((await amqp10(proxy.port, queue, 'receive')).body, 'waited 2');
  } finally {
    await proxy.stop();
  }
});

v4('message containers: a 0-9-1 publish through the proxy reaches an AMQP 1.0 consumer, traceparent an application property, the x- stamp an annotation', async ({ broker, proxy }) => {
  const queue = uniqueName('mc');
  await declare(broker.url, queue);
  await withConnection(proxy.url, async (c) => {
    const ch = await c.createConfirmChannel();
    ch.sendToQueue(queue, Buffer.from('from 0-9-1'), { headers: { keep: 'me' } });
    await ch.waitForConfirms();
  });
  const got = await amqp10(broker.port, queue, 'receive');
  assert.ok(parseTraceParent(got.properties?.[Header.traceparent] ?? ''), JSON.stringify(got));
  assert.is(got.properties?.keep, 'me');
  // RabbitMQ maps 0-9-1 headers named x-... to message annotations, the rest to application properties.
  assert.match(got.annotations?.[Header.publishedAt] ?? '', /^\d{16}$/, JSON.stringify(got));
  assert.not.ok(Header.publishedAt in (got.properties ?? {}));
});

v4('the 16 MiB default max_message_size counts the body only: the proxy\'s entries do not tip a message at the limit over', async ({ proxy }) => {
  await withConnection(proxy.url, async (c) => {
    c.on('error', () => undefined);
    const queue = uniqueName('size');
    const ok = await c.createConfirmChannel();
    await ok.assertQueue(queue, { exclusive: true });
    ok.sendToQueue(queue, Buffer.alloc(MAX_MESSAGE_SIZE, 1));
    await ok.waitForConfirms();
    const msg = await ok.get(queue, { noAck: true });
    assert.ok(msg && msg.content.length === MAX_MESSAGE_SIZE && parseTraceParent(String(headersOf(msg)[Header.traceparent])));

    const refused = await c.createConfirmChannel();
    const closed = new Promise<Error>((resolve) => refused.once('error', resolve));
    refused.sendToQueue(queue, Buffer.alloc(MAX_MESSAGE_SIZE + 1, 1), {}, () => undefined);
    const err = await closed as Error & { code?: number };
    assert.is(err.code, 406, err.message);
    assert.match(err.message, /larger than configured max size/);
    // A channel error: the connection, and the proxy's pair, carry on.
    const after = await c.createChannel();
    await after.checkQueue(queue);
  });
});

v4.run();
