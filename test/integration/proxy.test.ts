import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { parseContentHeader } from '../../src/amqp/contentHeader';
import { findTableEntries } from '../../src/amqp/fieldTable';
import { Header } from '../../src/trace/attributes';
import { parseTraceParent } from '../../src/trace/traceparent';
import { consumeN, headersOf, withConnection } from '../support/amqp';
import { everyFieldTypeInput } from '../support/amqpVectors';
import { BROKER_HOST, BROKER_PORT, BROKER_URL, requireBroker, uniqueName } from '../support/broker';
import { TestProxy, startTestProxy } from '../support/proxy';
import { startRecordingRelay } from '../support/recordingRelay';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const proxyTest = suite<{ proxy: TestProxy }>('transparent proxy', { proxy: undefined as unknown as TestProxy });

proxyTest.before(async (ctx) => {
  await requireBroker();
  ctx.proxy = await startTestProxy();
});
proxyTest.after(async (ctx) => ctx.proxy.stop());

/** Publishes through the proxy to a fresh queue and returns what a direct consumer received. */
async function roundTrip(proxy: TestProxy, publish: (ch: amqp.Channel, queue: string) => void, count = 1) {
  return withConnection(BROKER_URL, async (direct) => {
    const consumer = await direct.createChannel();
    const queue = (await consumer.assertQueue(uniqueName('rt'), { exclusive: true })).queue;
    const received = consumeN(consumer, queue, count);
    await withConnection(proxy.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      publish(ch, queue);
      await ch.waitForConfirms();
    });
    return received;
  });
}

proxyTest('no traceparent: the consumer sees a new valid one', async ({ proxy }) => {
  const [msg] = await roundTrip(proxy, (ch, q) => ch.sendToQueue(q, Buffer.from('x')));
  const tp = headersOf(msg!)[Header.traceparent];
  assert.type(tp, 'string');
  assert.ok(parseTraceParent(tp as string), `valid traceparent: ${tp}`);
  assert.not.ok(Header.tracestate in headersOf(msg!));
  assert.match(String(headersOf(msg!)[Header.publishedAt]), /^\d{16}$/);
});

proxyTest('valid traceparent and tracestate: left exactly as they were', async ({ proxy }) => {
  const [msg] = await roundTrip(proxy, (ch, q) => ch.sendToQueue(q, Buffer.from('x'), {
    headers: { traceparent: VALID, tracestate: 'vendor=abc,other=1' },
  }));
  assert.is(headersOf(msg!)[Header.traceparent], VALID);
  assert.is(headersOf(msg!)[Header.tracestate], 'vendor=abc,other=1');
});

for (const [name, bad] of [
  ['upper case', VALID.toUpperCase()],
  ['version ff', `ff${VALID.slice(2)}`],
  ['all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
  ['extra field on version 00', `${VALID}-extra`],
  ['wrong length', VALID.slice(0, 50)],
] as const) {
  proxyTest(`invalid traceparent (${name}): replaced, its tracestate dropped`, async ({ proxy }) => {
    const [msg] = await roundTrip(proxy, (ch, q) => ch.sendToQueue(q, Buffer.from('x'), {
      headers: { traceparent: bad, tracestate: 'vendor=abc', keep: 'me' },
    }));
    const headers = headersOf(msg!);
    assert.is.not(headers[Header.traceparent], bad);
    assert.ok(parseTraceParent(String(headers[Header.traceparent])));
    assert.not.ok(Header.tracestate in headers);
    assert.is(headers.keep, 'me');
  });
}

proxyTest('headers of every field type: byte-identical to the same message sent directly', async ({ proxy }) => {
  const relay = await startRecordingRelay(BROKER_HOST, BROKER_PORT);
  try {
    const props: amqp.Options.Publish = {
      headers: everyFieldTypeInput(), contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 2,
      priority: 3, correlationId: 'c-1', replyTo: 'r', expiration: '60000', messageId: 'm-1', timestamp: 1700000000,
      type: 't', userId: 'guest', appId: 'tests',
    };
    await withConnection(`amqp://guest:guest@127.0.0.1:${relay.port}`, async (viaRelay) => {
      const consumer = await viaRelay.createChannel();
      const queue = (await consumer.assertQueue(uniqueName('types'), { exclusive: true })).queue;
      const received = consumeN(consumer, queue, 2);
      await withConnection(BROKER_URL, async (c) => {
        const ch = await c.createConfirmChannel();
        ch.sendToQueue(queue, Buffer.from('same body'), props);
        await ch.waitForConfirms();
      });
      await withConnection(proxy.url, async (c) => {
        const ch = await c.createConfirmChannel();
        ch.sendToQueue(queue, Buffer.from('same body'), props);
        await ch.waitForConfirms();
      });
      await received;
    });
    const [direct, proxied] = relay.contentHeaders().slice(-2) as [Buffer, Buffer];
    const d = parseContentHeader(direct);
    const p = parseContentHeader(proxied);
    const dTableEnd = findTableEntries(direct, d.headersOffset!, []).end;
    const dTable = direct.subarray(d.headersOffset! + 4, dTableEnd);
    const { end: pTableEnd, entries: added } = findTableEntries(proxied, p.headersOffset!, [Header.traceparent, Header.publishedAt]);
    assert.equal(added.map((e) => e.name).sort(), [Header.traceparent, Header.publishedAt].sort());
    // The proxy appends its entries; RabbitMQ 3.x delivers the table in that order, 4.x sorts
    // a table's entries by name (docs/DEPLOY.md, RabbitMQ 4). Without the added entries, the
    // table is what the direct publish delivered, byte for byte, type tags included.
    const pOriginal = Buffer.concat(cutRanges(proxied, p.headersOffset! + 4, pTableEnd, added));
    // Everything before the table, every original entry, and everything after it: identical.
    assert.ok(direct.subarray(0, d.headersOffset!).equals(proxied.subarray(0, p.headersOffset!)), 'properties before headers');
    assert.ok(pOriginal.equals(dTable), 'original entries with their type tags');
    assert.ok(direct.subarray(dTableEnd).equals(proxied.subarray(pTableEnd)), 'properties after headers');
  } finally {
    await relay.close();
  }
});

/** The bytes of [start, end) without the given (ascending, non-overlapping) ranges. */
function cutRanges(buf: Buffer, start: number, end: number, ranges: readonly { start: number; end: number }[]): Buffer[] {
  const kept: Buffer[] = [];
  let at = start;
  for (const r of ranges) {
    kept.push(buf.subarray(at, r.start));
    at = r.end;
  }
  kept.push(buf.subarray(at, end));
  return kept;
}

proxyTest('bodies from 0 bytes to 5 MB arrive intact', async ({ proxy }) => {
  const sizes = [0, 1, 4096, 131_072 - 8, 131_072, 131_073, 1_000_000, 5 * 1024 * 1024];
  const bodies = sizes.map((n, i) => Buffer.alloc(n, i + 1).fill(Math.random().toString(36), 0, Math.min(n, 7)));
  const msgs = await roundTrip(proxy, (ch, q) => bodies.forEach((b) => ch.sendToQueue(q, b)), bodies.length);
  const hash = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  assert.equal(msgs.map((m) => hash(m.content)), bodies.map(hash));
  for (const m of msgs) assert.ok(parseTraceParent(String(headersOf(m)[Header.traceparent])));
});

proxyTest('basic.get through the proxy sees the injected context', async ({ proxy }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    const queue = (await ch.assertQueue(uniqueName('get'), { exclusive: true })).queue;
    ch.sendToQueue(queue, Buffer.from('g'));
    await ch.waitForConfirms();
    const msg = await ch.get(queue, { noAck: false });
    assert.ok(msg);
    assert.ok(parseTraceParent(String(headersOf(msg as amqp.GetMessage)[Header.traceparent])));
    ch.ack(msg as amqp.GetMessage);
    assert.is(await ch.get(queue), false);
  });
});

proxyTest('mandatory publish to nowhere comes back as basic.return, as it was sent (test/integration/returns.test.ts: byte for byte)', async ({ proxy }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    const returned = new Promise<amqp.Message>((resolve) => ch.once('return', resolve));
    ch.publish('', uniqueName('nowhere'), Buffer.from('lost'), { mandatory: true, headers: { k: 'v' } });
    await ch.waitForConfirms();
    const msg = await returned;
    assert.is(msg.content.toString(), 'lost');
    assert.equal(msg.properties.headers, { k: 'v' });
  });
});

proxyTest('50 channels publishing at once on one connection', async ({ proxy }) => {
  const perChannel = 40;
  await withConnection(BROKER_URL, async (direct) => {
    const consumer = await direct.createChannel();
    const queue = (await consumer.assertQueue(uniqueName('fan'), { exclusive: true })).queue;
    const received = consumeN(consumer, queue, 50 * perChannel, 30_000);
    await withConnection(proxy.url, async (conn) => {
      const channels = await Promise.all(Array.from({ length: 50 }, () => conn.createConfirmChannel()));
      channels.forEach((ch, c) => {
        for (let i = 0; i < perChannel; i++) ch.sendToQueue(queue, Buffer.alloc(700 + c, c), { headers: { c, i } });
      });
      await Promise.all(channels.map((ch) => ch.waitForConfirms()));
    });
    const msgs = await received;
    const seen = new Set(msgs.map((m) => `${headersOf(m).c}/${headersOf(m).i}`));
    assert.is(seen.size, 50 * perChannel);
    for (const m of msgs) {
      assert.ok(parseTraceParent(String(headersOf(m)[Header.traceparent])));
      assert.is(m.content.length, 700 + Number(headersOf(m).c));
    }
  });
});

proxyTest('transactions and a second client library (@cloudamqp/amqp-client)', async ({ proxy }) => {
  const client = new AMQPClient(proxy.url);
  const conn = await client.connect();
  try {
    const ch = await conn.channel();
    const { name: queue } = await ch.queueDeclare(uniqueName('tx'), { exclusive: true });
    await ch.txSelect();
    await ch.basicPublish('', queue, 'one', { headers: { n: 1 } });
    await ch.txRollback();
    await ch.basicPublish('', queue, 'two', { headers: { n: 2 } });
    await ch.txCommit();
    const msg = await ch.basicGet(queue, { noAck: true });
    assert.ok(msg);
    assert.is(msg!.bodyToString(), 'two');
    assert.ok(parseTraceParent(String(msg!.properties.headers?.[Header.traceparent])));
    assert.is(await ch.basicGet(queue, { noAck: true }), null);
  } finally {
    await conn.close();
  }
});

proxyTest('consumers through the proxy: deliveries pass through untouched', async ({ proxy }) => {
  const relay = await startRecordingRelay(BROKER_HOST, BROKER_PORT);
  try {
    await withConnection(proxy.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      const queue = (await ch.assertQueue(uniqueName('deliver'), { exclusive: true })).queue;
      ch.sendToQueue(queue, Buffer.from('d'), { headers: { traceparent: VALID } });
      await ch.waitForConfirms();
      const [msg] = await consumeN(ch, queue, 1);
      assert.is(headersOf(msg!)[Header.traceparent], VALID);
    });
  } finally {
    await relay.close();
  }
});

proxyTest.run();

const bypass = suite('bypass (ENABLE_TRACE_PROPAGATION=false)');
bypass('an opaque pipe: nothing added, nothing parsed', async () => {
  await requireBroker();
  const proxy = await startTestProxy({ ENABLE_TRACE_PROPAGATION: 'false' });
  try {
    const [msg] = await roundTrip(proxy, (ch, q) => ch.sendToQueue(q, Buffer.from('x'), { headers: { a: 1 } }));
    assert.equal(headersOf(msg!), { a: 1 });
    const metrics = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    assert.match(metrics, /amqp_trace_proxy_frames_total\{direction="client_to_broker"\} 0/);
    assert.match(metrics, /amqp_trace_proxy_tracing_enabled 0/);
  } finally {
    await proxy.stop();
  }
});
bypass.run();

const upstreamDown = suite('unreachable broker');
upstreamDown('the client connection is closed promptly', async () => {
  const proxy = await startTestProxy({ PROXY_UPSTREAM: 'amqp://127.0.0.1:1' });
  try {
    const started = Date.now();
    const err = await amqp.connect(proxy.url).then(
      (c) => { void c.close(); return undefined; },
      (e: Error) => e,
    );
    assert.ok(err, 'connect must fail');
    assert.ok(Date.now() - started < 3000, 'closed promptly, not after a timeout');
    const metrics = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    assert.match(metrics, /amqp_trace_proxy_upstream_connect_failures_total\{upstream="127.0.0.1:1"\} 1/);
  } finally {
    await proxy.stop();
  }
});
upstreamDown.run();
