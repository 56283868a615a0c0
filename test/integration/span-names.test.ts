/**
 * Issue 12: the set of span names stays the same size however much traffic passes. A real
 * Celery worker and real Celery rpc:// clients, amqplib RPC over server-named (amq.gen-…)
 * reply queues and over direct reply-to, and a topic exchange fed routing keys that carry
 * ids, all through one proxy; a small round and a much larger one give the same span names,
 * while the names that grow with traffic are still found in the spans' attributes.
 *
 * Needs RabbitMQ on 127.0.0.1:5672 (guest/guest) and python3-celery under /usr/bin/python3.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { Attr } from '../../src/trace/attributes';
import { BROKER_URL, requireBroker, uniqueName } from '../support/broker';
import { type CeleryWorker, isCeleryOwnSpanName, runCeleryPython, startCeleryWorker, uniqueQueues } from '../support/celery';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../support/otlpReceiver';
import { type TestProxy, startTestProxy } from '../support/proxy';

/** See celery-journey.test.ts: the heartbeat stays on so acks are written promptly. */
const WORKER_ARGS = ['--without-gossip', '--without-mingle'];
const SMALL = 2;
const LARGE = 20;

interface Rig {
  readonly receiver: OtlpReceiver;
  readonly proxy: TestProxy;
  readonly queues: ReturnType<typeof uniqueQueues>;
  readonly service: string;
  readonly exchange: string;
  readonly audit: string;
  /** The proxy-side connection of the amqplib clients and the RPC server. */
  readonly conn: amqp.ChannelModel;
}

/** Celery rpc:// calls from `n` client threads: each thread has its own result backend, so its own reply queue. */
async function celeryCalls(rig: Rig, round: number, n: number): Promise<string[]> {
  const out = await runCeleryPython([
    'import json, threading',
    'from worker.tasks import embed',
    'from worker.app import app',
    'oids, results = [], []',
    'def call(i):',
    `    r = embed.apply_async(args=['r${round}-' + str(i)])`,
    '    results.append(r.get(timeout=30))',
    '    oids.append(app.backend.oid)',
    `threads = [threading.Thread(target=call, args=(i,)) for i in range(${n})]`,
    'for t in threads: t.start()',
    'for t in threads: t.join()',
    'print(json.dumps({"oids": oids, "results": len(results)}))',
  ].join('\n'), `${rig.proxy.url}//`, rig.queues, {}, 60_000);
  const res = JSON.parse(out.trim().split('\n').pop()!) as { oids: string[]; results: number };
  assert.is(res.results, n, 'every rpc:// result came back through the proxy');
  return res.oids;
}

/** RPC over a fresh server-named exclusive reply queue per call; returns the reply queues. */
async function amqGenCalls(rig: Rig, n: number): Promise<string[]> {
  const queues: string[] = [];
  for (let i = 0; i < n; i++) {
    const ch = await rig.conn.createChannel();
    const replyTo = (await ch.assertQueue('', { exclusive: true })).queue;
    queues.push(replyTo);
    const reply = new Promise<void>((done) => {
      void ch.consume(replyTo, (m) => { if (m) { ch.ack(m); done(); } });
    });
    ch.sendToQueue(rig.service, Buffer.from(`q${i}`), { replyTo, correlationId: `gen-${replyTo}` });
    await reply;
    await ch.close();
  }
  return queues;
}

/** RPC over direct reply-to: the broker makes up a reply_to per request. */
async function directReplyCalls(rig: Rig, n: number): Promise<void> {
  const ch = await rig.conn.createChannel();
  let got = 0;
  const all = new Promise<void>((done) => {
    void ch.consume('amq.rabbitmq.reply-to', () => { if (++got === n) done(); }, { noAck: true });
  });
  for (let i = 0; i < n; i++) ch.sendToQueue(rig.service, Buffer.from(`d${i}`), { replyTo: 'amq.rabbitmq.reply-to', correlationId: `direct-${i}` });
  await all;
  await ch.close();
}

/** Topic messages whose routing keys carry an id, consumed from one durable queue. */
async function idRoutingKeys(rig: Rig, round: number, n: number): Promise<string[]> {
  const ch = await rig.conn.createConfirmChannel();
  const keys = Array.from({ length: n }, (_, i) => `user.${round}0${i}.updated`);
  let got = 0;
  const all = new Promise<void>((done) => {
    void ch.consume(rig.audit, (m) => { if (m) { ch.ack(m); if (++got === n) done(); } });
  });
  for (const key of keys) ch.publish(rig.exchange, key, Buffer.from('{}'));
  await ch.waitForConfirms();
  await all;
  await ch.close();
  return keys;
}

/** Every process span of a round has arrived (each of them ends at a settle). */
async function settled(rig: Rig, expected: number): Promise<ReceivedSpan[]> {
  await rig.proxy.app.telemetry.forceFlush();
  const processes = (xs: ReceivedSpan[]): number => xs.filter((s) => s.attributes[Attr.proxySpan] === 'process').length;
  return rig.receiver.waitFor((xs) => processes(xs) >= expected, 30_000);
}

test('the set of span names does not grow with rpc:// replies, server-named queues and id-bearing routing keys', async () => {
  await requireBroker();
  const receiver = await startOtlpReceiver();
  const proxy = await startTestProxy({
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_BSP_MAX_QUEUE_SIZE: '20000',
  });
  const direct = await amqp.connect(BROKER_URL);
  const setup = await direct.createChannel();
  const queues = uniqueQueues('span-names');
  const rig: Rig = {
    receiver, proxy, queues,
    service: uniqueName('names-rpc'),
    exchange: uniqueName('names-events'),
    audit: uniqueName('names-audit'),
    conn: await amqp.connect(proxy.url),
  };
  let worker: CeleryWorker | undefined;
  const replyQueues = new Set<string>();
  try {
    await setup.assertQueue(rig.service, { durable: false });
    await setup.assertExchange(rig.exchange, 'topic', { durable: false });
    await setup.assertQueue(rig.audit, { durable: false });
    await setup.bindQueue(rig.audit, rig.exchange, 'user.*.updated');
    worker = await startCeleryWorker({ brokerUrl: `${proxy.url}//`, queues, args: WORKER_ARGS });
    // The RPC server answers on the default exchange with the request's reply_to as routing key.
    const server = await rig.conn.createChannel();
    await server.consume(rig.service, (m) => {
      if (!m) return;
      server.sendToQueue(m.properties.replyTo as string, Buffer.from('ok'), { correlationId: m.properties.correlationId as string });
      server.ack(m);
    });

    const round = async (r: number, n: number): Promise<{ oids: string[]; genQueues: string[]; keys: string[] }> => {
      const oids = await celeryCalls(rig, r, n);
      const genQueues = await amqGenCalls(rig, n);
      await directReplyCalls(rig, n);
      const keys = await idRoutingKeys(rig, r, n);
      for (const q of [...oids, ...genQueues]) replyQueues.add(q);
      return { oids, genQueues, keys };
    };
    // Per call: Celery task + its reply; amq.gen request + reply; direct request + reply; one topic message.
    const processesPer = 7;

    // Celery's own traffic (its events on a timer, control broadcasts from workers elsewhere
    // on the broker) comes whenever it comes, so whether the small round saw it is timing:
    // its names are compared apart.
    const timed = (s: ReceivedSpan): boolean => isCeleryOwnSpanName(s.name);
    const namesOf = (xs: ReceivedSpan[]): Set<string> => new Set(xs.filter((s) => !timed(s)).map((s) => s.name));

    const small = await round(1, SMALL);
    const first = await settled(rig, processesPer * SMALL);
    const namesAfterSmall = namesOf(first);

    const large = await round(2, LARGE);
    const all = await settled(rig, processesPer * (SMALL + LARGE));
    const namesAfterLarge = namesOf(all);
    const celeryOwn = new Set(all.filter(timed).map((s) => s.name));
    const fixedCeleryNames = ['publish celeryev', 'broker_hop celery.pidbox:(temporary)', 'process celery.pidbox:(temporary)', 'publish reply.celery.pidbox'];
    assert.ok([...celeryOwn].every((n) => fixedCeleryNames.includes(n)), `Celery's own traffic has fixed names: ${[...celeryOwn].join(', ')}`);

    const list = (names: Set<string>): string => [...names].sort().join('\n  ');
    assert.is(namesAfterLarge.size, namesAfterSmall.size, `names after ${SMALL} calls:\n  ${list(namesAfterSmall)}\nafter ${SMALL + LARGE}:\n  ${list(namesAfterLarge)}`);
    assert.equal(namesAfterLarge, namesAfterSmall);
    assert.ok(namesAfterSmall.size >= 8, `every kind of span is there:\n  ${list(namesAfterSmall)}`);

    // The traffic really had values that grow: distinct reply queues and routing keys...
    assert.is(new Set(large.oids).size, LARGE, 'each Celery client thread had its own rpc:// reply queue');
    assert.ok(large.genQueues.every((q) => q.startsWith('amq.gen-')));
    const growing = [...small.oids, ...large.oids, ...small.genQueues, ...large.genQueues, ...small.keys, ...large.keys];
    // ...none of them reached a span name...
    for (const name of namesAfterLarge) {
      const leaked = growing.find((v) => name.includes(v));
      assert.is(leaked, undefined, `span name "${name}" carries ${leaked}`);
      assert.not.match(name, /amq\.rabbitmq\.reply-to\./, `span name "${name}" carries a direct reply-to address`);
    }
    // ...and each is still in the attributes, where a search finds it.
    const attributeValues = new Set(all.flatMap((s) => [s.attributes[Attr.destinationName], s.attributes[Attr.routingKey]]).map(String));
    for (const value of [...large.oids, ...large.genQueues]) {
      assert.ok([...attributeValues].some((v) => v.includes(value)), `${value} is in some span's attributes`);
    }
    for (const key of large.keys) assert.ok(attributeValues.has(key), `routing key ${key} is in an attribute`);
    const temporary = all.filter((s) => s.attributes[Attr.destinationTemporary] === true);
    assert.ok(temporary.every((s) => s.name.endsWith('(temporary)')), 'spans marked temporary are named by the word');
    await server.close();
  } finally {
    await worker?.stop();
    await rig.conn.close().catch(() => undefined);
    for (const q of [...Object.values(queues), rig.service, rig.audit, ...replyQueues]) await setup.deleteQueue(q).catch(() => undefined);
    for (const e of [...Object.values(queues), rig.exchange]) await setup.deleteExchange(e).catch(() => undefined);
    await direct.close().catch(() => undefined);
    await proxy.stop();
    await receiver.close();
  }
});

test.run();
