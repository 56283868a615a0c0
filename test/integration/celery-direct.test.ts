/**
 * The Celery side of the critical journey, against RabbitMQ directly (no proxy): what a
 * real, unchanged Celery 5 worker (demo/worker) does with the messages the gateway and
 * Celery itself publish. This is the baseline the proxy tests build on, and the record of
 * the behaviour behind ADR-212's "Known Issues".
 *
 * Needs RabbitMQ on 127.0.0.1:5672 (guest/guest) and python3-celery under /usr/bin/python3.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { buildCeleryTask } from '../../demo/celeryMessage';
import { startGateway } from '../../demo/gateway';
import { startOtlpReceiver } from '../support/otlpReceiver';
import {
  DIRECT_BROKER_URL, prerunOf, requireCelery, runCeleryPython, startCeleryWorker, uniqueQueues,
  type CeleryWorker, type DemoQueues, type PrerunRecord, type ProbeRecord,
} from '../support/celery';
import { sleep } from '../support/wait';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const TRACESTATE = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';

/** One test's broker resources, all removed at the end whatever happens. */
class Scope {
  readonly queues: DemoQueues;
  readonly extraQueues = new Set<string>();
  readonly exchanges = new Set<string>();
  worker?: CeleryWorker;
  private constructor(readonly conn: amqp.ChannelModel, readonly ch: amqp.Channel, prefix: string) {
    this.queues = uniqueQueues(prefix);
    // Celery declares a durable direct exchange named like each routed queue.
    for (const q of Object.values(this.queues)) this.exchanges.add(q);
  }

  static async open(prefix: string): Promise<Scope> {
    requireCelery();
    let conn: amqp.ChannelModel;
    try {
      conn = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
    } catch (err) {
      throw new Error(`RabbitMQ is not reachable on 127.0.0.1:5672 (guest/guest): ${(err as Error).message}. Start the broker before running integration tests.`);
    }
    return new Scope(conn, await conn.createChannel(), prefix);
  }

  /** Queues that a worker's results went to: Celery's rpc:// reply queues (auto-delete, x-expires 1 day). */
  forgetReplyQueues(records: ProbeRecord[]): void {
    for (const r of records) if (r.event === 'prerun' && r.reply_to) this.extraQueues.add(r.reply_to);
  }

  async close(): Promise<void> {
    if (this.worker) {
      this.forgetReplyQueues(this.worker.probe());
      await this.worker.stop();
    }
    const ch = await this.conn.createChannel(); // the test's channel may have been closed by an error
    ch.on('error', () => undefined);
    for (const q of [...Object.values(this.queues), ...this.extraQueues]) await ch.deleteQueue(q).catch(() => undefined);
    for (const x of this.exchanges) await ch.deleteExchange(x).catch(() => undefined);
    await this.conn.close().catch(() => undefined);
  }
}

async function withScope(prefix: string, body: (s: Scope) => Promise<void>): Promise<void> {
  const scope = await Scope.open(prefix);
  try {
    await body(scope);
  } finally {
    await scope.close();
  }
}

function prerun(records: ProbeRecord[], id: string): PrerunRecord {
  const r = prerunOf(records, id);
  assert.ok(r, `probe has a prerun record for ${id}`);
  return r!;
}

/** A value's shape in an AMQP field table as amqplib decodes it. */
const kindOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

test('demo/celeryMessage builds what Celery 5 itself publishes (protocol 2)', () => withScope('celery-shape', async (s) => {
  // No worker: capture Celery's message from the queue it routes llm.* to.
  const out = await runCeleryPython([
    'import json',
    'from worker.app import app',
    "r = app.send_task('llm.summarize', args=['c-1'])",
    "print(json.dumps({'id': r.id, 'oid': app.backend.oid}))",
  ].join('\n'), DIRECT_BROKER_URL, s.queues);
  const { id, oid } = JSON.parse(out.trim().split('\n').pop()!) as { id: string; oid: string };
  s.extraQueues.add(oid);
  const celery = await s.ch.get(s.queues.llm, { noAck: true });
  assert.ok(celery, 'Celery published to the llm queue');
  const msg = celery as amqp.GetMessage;
  // Celery routes to a queue through the default exchange, routing key = queue name.
  assert.is(msg.fields.exchange, '');
  assert.is(msg.fields.routingKey, s.queues.llm);

  const ours = buildCeleryTask('llm.summarize', ['c-1'], {}, { id, replyTo: oid });
  const theirHeaders = msg.properties.headers as Record<string, unknown>;
  assert.equal(Object.keys(ours.options.headers).sort(), Object.keys(theirHeaders).sort(), 'same header names');
  for (const [key, value] of Object.entries(ours.options.headers)) {
    assert.is(kindOf(value), kindOf(theirHeaders[key]), `header ${key}: same type`);
    if (key !== 'origin') assert.equal(value, theirHeaders[key], `header ${key}: same value`);
  }
  assert.equal(JSON.parse(ours.content.toString()), JSON.parse(msg.content.toString()), 'same body');
  const p = msg.properties;
  assert.equal(
    { contentType: p.contentType, contentEncoding: p.contentEncoding, correlationId: p.correlationId, replyTo: p.replyTo, deliveryMode: p.deliveryMode, priority: p.priority },
    { contentType: ours.options.contentType, contentEncoding: ours.options.contentEncoding, correlationId: ours.options.correlationId, replyTo: ours.options.replyTo, deliveryMode: ours.options.deliveryMode, priority: ours.options.priority },
  );
}));

test('a Node-published task: AMQP headers traceparent/tracestate become task.request attributes; request.headers stays None', () => withScope('celery-node', async (s) => {
  s.worker = await startCeleryWorker({ brokerUrl: DIRECT_BROKER_URL, queues: s.queues });
  const task = buildCeleryTask('llm.summarize', ['c-2'], {}, { headers: { traceparent: TRACEPARENT, tracestate: TRACESTATE } });
  s.ch.sendToQueue(s.queues.llm, task.content, task.options);

  const records = await s.worker.waitForProbe((rs) => rs.filter((r) => r.event === 'postrun').length >= 3);
  const r = prerun(records, task.taskId);
  assert.is(r.task, 'llm.summarize');
  assert.is(r.traceparent, TRACEPARENT);
  assert.is(r.tracestate, TRACESTATE);
  assert.ok(r.request_keys.includes('traceparent') && r.request_keys.includes('tracestate'));
  // The ADR expected them in request.headers: protocol 2 leaves that attribute unset.
  assert.is(r.headers, null);
  assert.is(r.properties.application_headers?.traceparent, TRACEPARENT);
  assert.is(r.root_id, task.taskId);
  assert.is(r.parent_id, null);
  assert.is(r.correlation_id, task.taskId);
  assert.is(r.reply_to, null, 'no reply_to when the publisher does not ask for a result');

  // Fan-out: Celery sets parent_id/root_id on sub-tasks but copies no other header.
  const children = records.filter((x): x is PrerunRecord => x.event === 'prerun' && x.id !== task.taskId);
  assert.equal(children.map((c) => c.task).sort(), ['vector.embed', 'whisper.transcribe']);
  for (const child of children) {
    assert.is(child.parent_id, task.taskId, `${child.task}.parent_id`);
    assert.is(child.root_id, task.taskId, `${child.task}.root_id`);
    assert.is(child.traceparent, null, `${child.task} carries no traceparent of its own`);
    assert.is(child.correlation_id, child.id);
    assert.ok(child.reply_to, 'sub-tasks ask for results on the worker\'s own rpc:// reply queue');
    assert.is(child.delivery_info.routing_key, child.task === 'vector.embed' ? s.queues.vector : s.queues.whisper);
  }
  assert.is(children[0]!.reply_to, children[1]!.reply_to);
}));

test('a Celery-published task (apply_async): its headers arrive, a traceparent passed in headers= too, results come back over rpc://', () => withScope('celery-py', async (s) => {
  s.worker = await startCeleryWorker({ brokerUrl: DIRECT_BROKER_URL, queues: s.queues });
  const out = await runCeleryPython([
    'import json',
    'from worker.app import app',
    'from worker.tasks import embed',
    "plain = embed.apply_async(args=['c-3'])",
    `traced = embed.apply_async(args=['c-4'], headers={'traceparent': '${TRACEPARENT}', 'tracestate': '${TRACESTATE}'})`,
    "print(json.dumps({'plain': plain.id, 'traced': traced.id, 'oid': app.backend.oid,",
    "                  'results': [plain.get(timeout=20), traced.get(timeout=20)]}))",
  ].join('\n'), DIRECT_BROKER_URL, s.queues);
  const res = JSON.parse(out.trim().split('\n').pop()!) as { plain: string; traced: string; oid: string; results: unknown[] };
  s.extraQueues.add(res.oid);
  assert.equal(res.results, [[3, 0.5], [3, 0.5]]);

  const records = await s.worker.waitForProbe((rs) => rs.filter((r) => r.event === 'postrun').length >= 2);
  const plain = prerun(records, res.plain);
  assert.is(plain.traceparent, null);
  assert.is(plain.parent_id, null);
  assert.is(plain.root_id, res.plain);
  assert.is(plain.reply_to, res.oid, 'rpc:// asks for the result on the client\'s reply queue');
  assert.is(plain.correlation_id, res.plain);
  assert.is(plain.properties.application_headers?.origin !== undefined, true);
  const traced = prerun(records, res.traced);
  assert.is(traced.traceparent, TRACEPARENT);
  assert.is(traced.tracestate, TRACESTATE);
  assert.is(traced.headers, null);
}));

test('the gateway stand-in: with its own traceparent the worker continues the gateway span; without, the task has none', () => withScope('celery-gw', async (s) => {
  const receiver = await startOtlpReceiver();
  s.worker = await startCeleryWorker({ brokerUrl: DIRECT_BROKER_URL, queues: s.queues });
  const gateway = await startGateway({
    amqpUrl: 'amqp://guest:guest@127.0.0.1:5672', queue: s.queues.llm, otlpEndpoint: receiver.endpoint, declareQueue: false,
  });
  try {
    const traced = await gateway.shareContent('c-8', { withTraceparent: true });
    const bare = await gateway.shareContent('c-9');
    assert.is(traced.traceparent, `00-${traced.traceId}-${traced.spanId}-01`);
    assert.is(bare.traceparent, undefined);

    const records = await s.worker.waitForProbe((rs) => prerunOf(rs, traced.taskId) !== undefined && prerunOf(rs, bare.taskId) !== undefined);
    assert.is(prerun(records, traced.taskId).traceparent, traced.traceparent);
    assert.is(prerun(records, bare.taskId).traceparent, null, 'nothing to continue from until the proxy adds it');

    await gateway.close();
    const spans = await receiver.waitFor((xs) => xs.length >= 2);
    const server = spans.find((x) => x.spanId === traced.spanId);
    assert.ok(server, 'the gateway exported its span');
    assert.is(server!.name, 'POST /shares');
    assert.is(server!.kind, 'SERVER');
    assert.is(server!.serviceName, 'api-gateway');
    assert.is(server!.attributes['celery.task.id'], traced.taskId);
    assert.is(server!.attributes['content.id'], 'c-8');
  } finally {
    await gateway.close().catch(() => undefined);
    await receiver.close();
  }
}));

/** A dead-letter exchange for the llm queue, a queue bound to it, and a reply queue. */
async function deadLetterAndReplyQueues(s: Scope): Promise<{ dlx: string; dead: string; replies: string }> {
  const dlx = `${s.queues.llm}-dlx`;
  s.exchanges.add(dlx);
  await s.ch.assertExchange(dlx, 'fanout', { durable: false, autoDelete: false });
  const dead = (await s.ch.assertQueue('', { exclusive: true })).queue;
  await s.ch.bindQueue(dead, dlx, '');
  const replies = (await s.ch.assertQueue('', { exclusive: true })).queue;
  return { dlx, dead, replies };
}

test('a task that raises, default settings: acked before it ran, FAILURE sent to reply_to with correlation_id = task id', () => withScope('celery-fail', async (s) => {
  const { dlx, dead, replies } = await deadLetterAndReplyQueues(s);
  s.worker = await startCeleryWorker({ brokerUrl: DIRECT_BROKER_URL, queues: s.queues, env: { DEMO_DEAD_LETTER_EXCHANGE: dlx } });

  const task = buildCeleryTask('llm.fail', ['c-5'], {}, { replyTo: replies, headers: { traceparent: TRACEPARENT } });
  const reply = new Promise<amqp.ConsumeMessage>((done) => {
    void s.ch.consume(replies, (m) => { if (m) done(m); }, { noAck: true });
  });
  s.ch.sendToQueue(s.queues.llm, task.content, task.options);
  const m = await reply;

  assert.is(m.fields.exchange, '', 'rpc:// replies go through the default exchange');
  assert.is(m.fields.routingKey, replies);
  assert.is(m.properties.correlationId, task.taskId);
  assert.is(m.properties.replyTo, undefined);
  assert.equal(m.properties.headers, {}, 'the reply carries no trace context');
  assert.is(m.properties.deliveryMode, 1, 'results are transient by default');
  const body = JSON.parse(m.content.toString()) as { task_id: string; status: string; result: { exc_type: string; exc_message: string[] }; traceback: string };
  assert.is(body.task_id, task.taskId);
  assert.is(body.status, 'FAILURE');
  assert.is(body.result.exc_type, 'RuntimeError');
  assert.equal(body.result.exc_message, ['summary failed for c-5']);
  assert.match(body.traceback, /RuntimeError: summary failed for c-5/);

  const records = await s.worker.waitForProbe((rs) => rs.some((r) => r.event === 'postrun'));
  assert.equal(records.find((r) => r.event === 'postrun'), { event: 'postrun', task: 'llm.fail', id: task.taskId, state: 'FAILURE' });
  assert.is(prerun(records, task.taskId).traceparent, TRACEPARENT);

  // Acked, not rejected: stopping the worker returns nothing to the queue, nothing was dead-lettered.
  s.forgetReplyQueues(records);
  await s.worker.stop();
  assert.is((await s.ch.checkQueue(s.queues.llm)).messageCount, 0);
  assert.is((await s.ch.checkQueue(dead)).messageCount, 0);
}));

test('a task that raises with acks_late and acks_on_failure_or_timeout=False: rejected without requeue, after the FAILURE reply', () => withScope('celery-reject', async (s) => {
  const { dlx, dead, replies } = await deadLetterAndReplyQueues(s);
  s.worker = await startCeleryWorker({
    brokerUrl: DIRECT_BROKER_URL, queues: s.queues,
    env: { DEMO_DEAD_LETTER_EXCHANGE: dlx, DEMO_ACKS_LATE: '1', DEMO_ACKS_ON_FAILURE: '0' },
  });

  let replyAt = 0;
  const deadLettered = new Promise<{ msg: amqp.ConsumeMessage; at: number }>((done) => {
    void s.ch.consume(dead, (m) => { if (m) done({ msg: m, at: Date.now() }); }, { noAck: true });
  });
  void s.ch.consume(replies, (m) => { if (m && !replyAt) replyAt = Date.now(); }, { noAck: true });
  const task = buildCeleryTask('llm.fail', ['c-6'], {}, { replyTo: replies });
  s.ch.sendToQueue(s.queues.llm, task.content, task.options);

  const { msg, at } = await Promise.race([
    deadLettered,
    new Promise<never>((_, fail) => setTimeout(() => fail(new Error('nothing dead-lettered within 10 s')), 10_000)),
  ]);
  assert.is(msg.properties.correlationId, task.taskId);
  const death = (msg.properties.headers?.['x-death'] as { reason: string; queue: string }[])[0]!;
  assert.is(death.reason, 'rejected');
  assert.is(death.queue, s.queues.llm);
  assert.ok(replyAt > 0 && at >= replyAt, 'the worker publishes the FAILURE result before it rejects the message');
  console.log(`    (celery-reject: basic.reject reached the broker ${at - replyAt} ms after the FAILURE reply)`);
}));

test('default early ack with the solo pool: the message stays unacknowledged while the task runs', () => withScope('celery-ack', async (s) => {
  s.worker = await startCeleryWorker({ brokerUrl: DIRECT_BROKER_URL, queues: s.queues });
  // Celery defers acks to its event loop (call_soon); the solo pool runs the task in that
  // same loop iteration, so the "early" ack is only written once the task has returned.
  const task = buildCeleryTask('whisper.transcribe', ['c-7'], { seconds: 5 });
  s.ch.sendToQueue(s.queues.whisper, task.content, task.options);
  const records = await s.worker.waitForProbe((rs) => prerunOf(rs, task.taskId) !== undefined);
  s.forgetReplyQueues(records);
  await sleep(300);
  await s.worker.kill();
  // Unacknowledged when the connection dropped, so the broker requeues it, once it has
  // noticed the dropped connection: poll briefly instead of racing it.
  let back: amqp.GetMessage | false = false;
  for (let i = 0; i < 50 && !back; i++) {
    back = await s.ch.get(s.queues.whisper, { noAck: true });
    if (!back) await sleep(100);
  }
  assert.ok(back, 'message returned to the queue');
  assert.is((back as amqp.GetMessage).properties.correlationId, task.taskId);
  assert.is((back as amqp.GetMessage).fields.redelivered, true);
}));

test.run();
