/**
 * The golden test: scripted traffic through real proxies against the real broker, with
 * amqplib, and the exported spans compared with the recording in spans.json (names, kinds,
 * parent/child, links, attributes, status, events; ids, times and per-run names as symbols,
 * see test/support/goldenSpans.ts). It pins down what the tracer does, so that a
 * restructuring of it can show it changed nothing.
 *
 * A difference fails with the fields that changed. When a change is intended, record again
 * with `GOLDEN_RECORD=1 npx uvu -r tsx/cjs test/integration/golden` and commit spans.json
 * with a message saying which spans changed and why.
 *
 * Every proxy's upstream is a relay the test can hold (heldRelay.ts), so "closed with a
 * publish unconfirmed" is scripted rather than raced. Latency rules run at threshold 0 with
 * the other rules off, so nothing sleeps to cross a threshold.
 */
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqplib from 'amqplib';
import type * as amqp from 'amqplib';
import { BROKER_HOST, BROKER_PORT, BROKER_URL, requireBroker, uniqueName } from '../../support/broker';
import { GoldenRecording, Symbols, goldenDiff, goldenSpans, readRecording, writeRecording } from '../../support/goldenSpans';
import { HeldRelay, startHeldRelay } from '../../support/heldRelay';
import { OtlpReceiver, startOtlpReceiver } from '../../support/otlpReceiver';
import { TestProxy, startTestProxy } from '../../support/proxy';
import { waitFor } from '../../support/wait';

const RECORDING = join(__dirname, 'spans.json');
const RECORD = process.env.GOLDEN_RECORD === '1';

const SAMPLED_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SAMPLED_SPAN = '00f067aa0ba902b7';
const UNSAMPLED_TRACE = '5bf92f3577b34da6a3ce929d0e0e4736';
const UNSAMPLED_SPAN = '10f067aa0ba902b7';
const SAMPLED = `00-${SAMPLED_TRACE}-${SAMPLED_SPAN}-01`;
const UNSAMPLED = `00-${UNSAMPLED_TRACE}-${UNSAMPLED_SPAN}-00`;

const LATENCY_RULES = ['confirm_latency', 'broker_hop_latency', 'process_latency'] as const;
const ERROR_RULES = ['publish_nack', 'publish_returned', 'publish_closed', 'delivery_nack', 'delivery_reject', 'delivery_closed', 'redelivered'];
const NEVER_MS = '86400000';
type ProxyName = 'sampled' | 'errors' | (typeof LATENCY_RULES)[number];

interface Ctx {
  relay: HeldRelay;
  receiver: OtlpReceiver;
  proxies: Record<ProxyName, TestProxy>;
  symbols: Symbols;
  recording: GoldenRecording;
  recorded: GoldenRecording;
}

const golden = suite<Ctx>('golden spans', {} as Ctx);

function proxyEnv(receiver: OtlpReceiver, relay: HeldRelay, env: Record<string, string>): Record<string, string> {
  return {
    PROXY_UPSTREAM: `amqp://127.0.0.1:${relay.port}`,
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_SERVICE_NAME: 'golden',
    ...env,
  };
}

golden.before(async (ctx) => {
  await requireBroker();
  ctx.symbols = new Symbols();
  ctx.relay = await startHeldRelay(BROKER_HOST, BROKER_PORT);
  ctx.symbols.name(ctx.relay.port, '<port:relay>');
  ctx.symbols.name(SAMPLED_TRACE, '<trace:incoming sampled>');
  ctx.symbols.name(SAMPLED_SPAN, '<span:incoming sampled>');
  ctx.symbols.name(UNSAMPLED_TRACE, '<trace:incoming unsampled>');
  ctx.symbols.name(UNSAMPLED_SPAN, '<span:incoming unsampled>');
  ctx.receiver = await startOtlpReceiver();
  const env = (e: Record<string, string>): Record<string, string> => proxyEnv(ctx.receiver, ctx.relay, e);
  const unsampled = { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' };
  const latencyOnly = (rule: (typeof LATENCY_RULES)[number]): Record<string, string> => env({
    ...unsampled,
    PROXY_OUTCOME_RULES_OFF: [...ERROR_RULES, ...LATENCY_RULES.filter((r) => r !== rule)].join(','),
    PROXY_OUTCOME_CONFIRM_OVER_MS: '0',
    PROXY_OUTCOME_BROKER_HOP_OVER_MS: '0',
    PROXY_OUTCOME_PROCESS_OVER_MS: '0',
  });
  ctx.proxies = {
    sampled: await startTestProxy(env({ OTEL_TRACES_SAMPLER: 'parentbased_always_on' })),
    errors: await startTestProxy(env({
      ...unsampled,
      PROXY_OUTCOME_CONFIRM_OVER_MS: NEVER_MS,
      PROXY_OUTCOME_BROKER_HOP_OVER_MS: NEVER_MS,
      PROXY_OUTCOME_PROCESS_OVER_MS: NEVER_MS,
    })),
    confirm_latency: await startTestProxy(latencyOnly('confirm_latency')),
    broker_hop_latency: await startTestProxy(latencyOnly('broker_hop_latency')),
    process_latency: await startTestProxy(latencyOnly('process_latency')),
  };
  ctx.recorded = readRecording(RECORDING);
  ctx.recording = { ...ctx.recorded };
});

golden.after(async (ctx) => {
  for (const proxy of Object.values(ctx.proxies ?? {})) await proxy.stop();
  await ctx.receiver?.close();
  await ctx.relay?.close();
  if (RECORD) writeRecording(RECORDING, ctx.recording);
});

/** What a scenario works with: a proxy, names that become symbols, the relay. */
interface Scene {
  readonly url: string;
  readonly relay: HeldRelay;
  /** A per-run queue name, written `<q:symbol>` in the recording. */
  queue(symbol: string): string;
  /** Resolves once the proxy has closed every connection (and so ended every span of them). */
  connectionsClosed(): Promise<void>;
}

/**
 * One scenario: its traffic, then, once the proxy has closed every connection of it (so
 * every span it will end has ended) and flushed, its spans against the recording.
 */
function scenario(name: string, proxy: ProxyName, run: (scene: Scene) => Promise<void>): void {
  golden(name, async (ctx) => {
    ctx.receiver.clear();
    const target = ctx.proxies[proxy];
    const connectionsClosed = (): Promise<void> =>
      waitFor('the proxy to close the scenario\'s connections', () => target.app.server.connections.size === 0);
    await run({
      url: target.url,
      relay: ctx.relay,
      queue: (symbol) => ctx.symbols.name(uniqueName('golden'), `<q:${symbol}>`),
      connectionsClosed,
    });
    await connectionsClosed();
    await target.app.telemetry.forceFlush();
    const expected = ctx.recorded[name]?.length ?? 0;
    if (!RECORD && expected > 0) await ctx.receiver.waitFor((s) => s.length >= expected, 3000).catch(() => undefined);
    const actual = goldenSpans(ctx.receiver.spans(), ctx.symbols);
    if (RECORD) {
      ctx.recording[name] = actual;
      return;
    }
    const diff = goldenDiff(name, ctx.recorded[name], actual);
    if (diff !== undefined) assert.unreachable(diff);
  });
}

// ---- helpers over amqplib -------------------------------------------------------------

async function through<T>(url: string, fn: (conn: amqp.ChannelModel) => Promise<T>): Promise<T> {
  const conn = await amqplib.connect(url);
  conn.on('error', () => undefined);
  try {
    return await fn(conn);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** Declared on the broker directly (declarations are not traced), expiring after the run. */
async function declare(queue: string, args: Record<string, unknown> = {}): Promise<void> {
  await through(BROKER_URL, async (conn) => {
    const ch = await conn.createChannel();
    await ch.assertQueue(queue, { durable: false, arguments: { 'x-expires': 120_000, ...args } });
  });
}

/** Messages put on a queue directly at the broker: deliveries with no publish through the proxy. */
async function seed(queue: string, count: number): Promise<void> {
  await through(BROKER_URL, async (conn) => {
    const ch = await conn.createConfirmChannel();
    for (let i = 0; i < count; i++) ch.sendToQueue(queue, Buffer.from(`seed-${i}`), { messageId: `seed-${i}` });
    await ch.waitForConfirms();
  });
}

/**
 * Consumes with prefetch 1 (so delivery tags follow the script) until `settle` has answered
 * `count` deliveries; `settle` acks, nacks or rejects each.
 */
function consume(ch: amqp.Channel, queue: string, count: number, settle: (msg: amqp.ConsumeMessage) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => reject(new Error(`${seen}/${count} deliveries from ${queue}`)), 10_000);
    void ch.prefetch(1).then(() => ch.consume(queue, (msg) => {
      if (msg === null) return;
      settle(msg);
      if (++seen === count) {
        clearTimeout(timer);
        resolve();
      }
    }));
  });
}

const ackAll = (ch: amqp.Channel) => (msg: amqp.ConsumeMessage): void => ch.ack(msg);

/** Deliveries that stay unacked: resolves once `count` have arrived. */
function holdDeliveries(ch: amqp.Channel, queue: string, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const timer = setTimeout(() => reject(new Error(`${seen}/${count} deliveries from ${queue}`)), 10_000);
    void ch.prefetch(count).then(() => ch.consume(queue, (msg) => {
      if (msg !== null && ++seen === count) {
        clearTimeout(timer);
        resolve();
      }
    }));
  });
}

/** A method frame's class and method ids as they appear on the wire. */
const methodBytes = (classId: number, methodId: number): Buffer => Buffer.from([classId >> 8, classId & 0xff, methodId >> 8, methodId & 0xff]);
const CHANNEL_CLOSE = methodBytes(20, 40);
const BASIC_PUBLISH = methodBytes(60, 40);

/** Publishes with confirms whose answers the relay holds, then closes the channel: the proxy sees the close first. */
async function closeChannelUnconfirmed(scene: Scene, ch: amqp.ConfirmChannel, publish: () => void): Promise<void> {
  scene.relay.hold();
  try {
    publish();
    const closed = ch.close().catch(() => undefined);
    await waitFor('the channel.close to pass the proxy', () => scene.relay.sentSinceHold().includes(CHANNEL_CLOSE));
    scene.relay.release();
    await closed;
  } finally {
    scene.relay.release();
  }
}

// ---- sampled (every new trace sampled, parents decide) ---------------------------------

/** Publishes `messages` to a fresh queue (waiting for confirms if `confirms`), then consumes and acks them. */
async function publishedAndAcked(scene: Scene, symbol: string, messages: amqp.Options.Publish[], confirms = true): Promise<void> {
  const queue = scene.queue(symbol);
  await declare(queue);
  await through(scene.url, async (conn) => {
    const ch = confirms ? await conn.createConfirmChannel() : await conn.createChannel();
    for (const options of messages) ch.sendToQueue(queue, Buffer.from('hello'), options);
    if (confirms) await (ch as amqp.ConfirmChannel).waitForConfirms();
    await consume(ch, queue, messages.length, ackAll(ch));
  });
}

scenario('publish without confirms, new trace; consumed and acked', 'sampled', (scene) =>
  publishedAndAcked(scene, 'plain', [{ messageId: 'm-plain', correlationId: 'c-plain' }], false));

scenario('publish with confirms: ack; consumed and acked', 'sampled', (scene) => publishedAndAcked(scene, 'confirmed', [{ messageId: 'm-confirmed' }]));

/** Publishes to a full reject-publish queue: the first fits, the rest are nacked. */
async function nackedByBroker(scene: Scene, nacked: amqp.Options.Publish[]): Promise<void> {
  const queue = scene.queue('full');
  await declare(queue, { 'x-max-length': 1, 'x-overflow': 'reject-publish' });
  await through(scene.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    ch.sendToQueue(queue, Buffer.from('fits'), { messageId: 'm-fits' });
    for (const options of nacked) ch.sendToQueue(queue, Buffer.from('nacked'), options);
    await ch.waitForConfirms().catch(() => undefined);
  });
}

/** A mandatory publish to no queue on a plain channel, then one on a confirm channel. */
async function returnedTwice(scene: Scene, plainHeaders: Record<string, unknown> = {}): Promise<void> {
  await through(scene.url, async (conn) => {
    const plain = await conn.createChannel();
    const returned = new Promise((resolve) => plain.once('return', resolve));
    plain.publish('', scene.queue('nowhere'), Buffer.from('r'), { mandatory: true, messageId: 'm-returned', headers: plainHeaders });
    await returned;
    const confirm = await conn.createConfirmChannel();
    const returnedConfirmed = new Promise((resolve) => confirm.once('return', resolve));
    confirm.publish('', scene.queue('nowhere-confirmed'), Buffer.from('r'), { mandatory: true, messageId: 'm-returned-confirmed' });
    await confirm.waitForConfirms();
    await returnedConfirmed;
  });
}

scenario('publish with confirms: nack from a full reject-publish queue', 'sampled', (scene) => nackedByBroker(scene, [{ messageId: 'm-nacked' }]));

scenario('mandatory publish returned, without and with confirms', 'sampled', (scene) => returnedTwice(scene));

scenario('incoming traceparent: sampled continued, unsampled not exported', 'sampled', (scene) => publishedAndAcked(scene, 'incoming', [
  { messageId: 'm-sampled', headers: { traceparent: SAMPLED, tracestate: 'vendor=golden' } },
  { messageId: 'm-unsampled', headers: { traceparent: UNSAMPLED } },
]));

scenario('a Celery-shaped task: task headers, JSON body, reply_to on a server-named queue', 'sampled', async (scene) => {
  const queue = scene.queue('celery');
  await declare(queue);
  await through(scene.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    const replies = (await ch.assertQueue('', { exclusive: true })).queue;
    ch.publish('', queue, Buffer.from(JSON.stringify([[2, 3], {}, { callbacks: null, errbacks: null, chain: null, chord: null }])), {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      correlationId: 'task-golden-1',
      replyTo: replies,
      deliveryMode: 2,
      priority: 0,
      headers: {
        lang: 'py', task: 'golden.add', id: 'task-golden-1', shadow: null, eta: null, expires: null, group: null,
        group_index: null, retries: 0, timelimit: [null, null], root_id: 'task-golden-1', parent_id: null,
        argsrepr: '(2, 3)', kwargsrepr: '{}', origin: 'gen1@golden', ignore_result: false,
      },
    });
    await ch.waitForConfirms();
    await consume(ch, queue, 1, ackAll(ch));
  });
});

/**
 * Messages settled by id: m-ack acked, m-nack nacked, m-reject rejected, m-requeue nacked
 * with requeue and acked when it comes again; `extra` (published too) are nacked.
 */
async function settledByTheConsumer(scene: Scene, extra: amqp.Options.Publish[] = []): Promise<void> {
  const queue = scene.queue('settle');
  await declare(queue);
  await through(scene.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    for (const id of ['m-ack', 'm-nack', 'm-reject', 'm-requeue']) ch.sendToQueue(queue, Buffer.from(id), { messageId: id });
    for (const options of extra) ch.sendToQueue(queue, Buffer.from('extra'), options);
    await ch.waitForConfirms();
    const settle = settleByMessageId(ch);
    const extraIds = new Set(extra.map((o) => o.messageId));
    await consume(ch, queue, 5 + extra.length, (msg) => (extraIds.has(msg.properties.messageId) ? ch.nack(msg, false, false) : settle(msg)));
  });
}

scenario('consumer settles: ack, nack, reject, nack with requeue and its redelivery', 'sampled', (scene) => settledByTheConsumer(scene));

function settleByMessageId(ch: amqp.Channel) {
  return (msg: amqp.ConsumeMessage): void => {
    const id = String(msg.properties.messageId);
    if (id === 'm-nack') ch.nack(msg, false, false);
    else if (id === 'm-reject') ch.reject(msg, false);
    else if (id === 'm-requeue' && !msg.fields.redelivered) ch.nack(msg, false, true);
    else ch.ack(msg);
  };
}

scenario('basic.get, acked', 'sampled', async (scene) => {
  const queue = scene.queue('get');
  await declare(queue);
  await through(scene.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    ch.sendToQueue(queue, Buffer.from('g'), { messageId: 'm-get' });
    await ch.waitForConfirms();
    const msg = await ch.get(queue);
    assert.ok(msg, 'basic.get-ok with the message');
    ch.ack(msg as amqp.GetMessage);
  });
});

scenario('temporary queues: server-named and exclusive', 'sampled', async (scene) => {
  await through(scene.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    const serverNamed = (await ch.assertQueue('', { exclusive: true })).queue;
    const exclusive = (await ch.assertQueue(scene.queue('exclusive'), { exclusive: true })).queue;
    ch.sendToQueue(serverNamed, Buffer.from('s'), { messageId: 'm-server-named' });
    ch.sendToQueue(exclusive, Buffer.from('e'), { messageId: 'm-exclusive' });
    await ch.waitForConfirms();
    await consume(ch, serverNamed, 1, ackAll(ch));
    await consume(ch, exclusive, 1, ackAll(ch));
  });
});

scenario('channel closed with deliveries unacked and a publish unconfirmed', 'sampled', async (scene) => {
  const queue = scene.queue('channel-close');
  await declare(queue);
  await seed(queue, 2);
  await through(scene.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    await holdDeliveries(ch, queue, 2);
    await closeChannelUnconfirmed(scene, ch, () => ch.sendToQueue(queue, Buffer.from('u'), { messageId: 'm-unconfirmed' }));
  });
});

scenario('connection lost with deliveries unacked and a publish unconfirmed', 'sampled', async (scene) => {
  const queue = scene.queue('connection-close');
  await declare(queue);
  await seed(queue, 1);
  // No heartbeat: amqplib's heartbeat timer outlives a socket destroyed under it.
  const conn = await amqplib.connect(`${scene.url}?heartbeat=0`);
  conn.on('error', () => undefined);
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => undefined);
  await holdDeliveries(ch, queue, 1);
  scene.relay.hold();
  try {
    ch.sendToQueue(queue, Buffer.from('u'), { messageId: 'm-unconfirmed' });
    await waitFor('the publish to pass the proxy', () => scene.relay.sentSinceHold().includes(BASIC_PUBLISH));
    (conn.connection as unknown as { stream: { destroy(): void } }).stream.destroy();
    // Its confirm reaches the proxy only after the proxy has closed the connection.
    await scene.connectionsClosed();
  } finally {
    scene.relay.release();
  }
});

// ---- sampler at 0: outcome keeping -------------------------------------------------------

scenario('kept for an error: broker nack, with and without an incoming traceparent', 'errors', (scene) => nackedByBroker(scene, [
  { messageId: 'm-nacked-new' },
  { messageId: 'm-nacked-continued', headers: { traceparent: UNSAMPLED } },
]));

scenario('kept for an error: returned, without and with confirms', 'errors', (scene) => returnedTwice(scene, { traceparent: UNSAMPLED }));

scenario('kept for an error: consumer nack, reject, requeue and redelivery', 'errors', (scene) =>
  settledByTheConsumer(scene, [{ messageId: 'm-nack-continued', headers: { traceparent: UNSAMPLED } }]));

scenario('kept for an error: channel closed with a delivery unacked and a publish unconfirmed', 'errors', async (scene) => {
  const queue = scene.queue('channel-close');
  await declare(queue);
  await through(scene.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    ch.sendToQueue(queue, Buffer.from('d'), { messageId: 'm-delivered' });
    await ch.waitForConfirms();
    await holdDeliveries(ch, queue, 1);
    await closeChannelUnconfirmed(scene, ch, () => ch.sendToQueue(queue, Buffer.from('u'), { messageId: 'm-unconfirmed' }));
  });
});

for (const rule of LATENCY_RULES) {
  scenario(`kept for latency: ${rule} at threshold 0, the other rules off`, rule, (scene) => publishedAndAcked(scene, 'slow', [{ messageId: 'm-slow' }]));
}

golden.run();
