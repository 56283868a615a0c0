/**
 * Issue 4, the critical journey through the proxy: the gateway stand-in (demo/gateway.ts)
 * and Celery itself publish tasks through an in-process proxy to real, unchanged Celery
 * workers (demo/worker), and the spans of the proxy and the gateway, exported to the
 * in-process OTLP receiver, form one trace.
 *
 * Every test has its own queues, workers, proxy and receiver, and removes them at the end.
 * Needs RabbitMQ on 127.0.0.1:5672 (guest/guest) and python3-celery under /usr/bin/python3.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import * as amqp from 'amqplib';
import { startGateway, type Gateway } from '../../demo/gateway';
import { renderTraces } from '../../demo/spanTree';
import { Attr } from '../../src/trace/attributes';
import { parseTraceParent } from '../../src/trace/traceparent';
import { BROKER_URL, requireBroker } from '../support/broker';
import {
  CELERY_OWN_EXCHANGES, DEMO_DIR, prerunOf, runCeleryPython, startCeleryWorker, uniqueQueues,
  type CeleryWorker, type DemoQueues, type PrerunRecord, type ProbeRecord,
} from '../support/celery';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlpReceiver';
import { startTestProxy, type TestProxy } from '../support/proxy';
import { sleep } from '../support/wait';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const TRACESTATE = 'congo=t61rcWkgMzE';
/**
 * No gossip or mingle traffic. The worker heartbeat stays on: besides its events it is the
 * timer that wakes an idle worker's loop, and Celery writes acks on its next loop pass;
 * without it the ack of a worker's last task (and so the end of its process span) waits
 * for about 10 s.
 */
const WORKER_ARGS = ['--without-gossip', '--without-mingle'];

interface Journey {
  readonly receiver: OtlpReceiver;
  readonly proxy: TestProxy;
  readonly queues: DemoQueues;
  readonly workers: CeleryWorker[];
  /** A connection straight to the broker, for set-up and clean-up. */
  readonly ch: amqp.Channel;
  /** rpc:// reply queues and others the test learns about; deleted at the end. */
  readonly extraQueues: Set<string>;
  gateway(): Promise<Gateway>;
  probe(): ProbeRecord[];
  waitForProbe(pred: (records: ProbeRecord[]) => boolean, timeoutMs?: number): Promise<ProbeRecord[]>;
}

interface JourneyOptions {
  proxyEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
  /** More `celery worker` arguments for every worker. */
  workerArgs?: string[];
  /** One worker process per entry, each consuming the listed services' queues. */
  workers: (keyof DemoQueues)[][];
}

async function journey(prefix: string, opts: JourneyOptions, body: (j: Journey) => Promise<void>): Promise<void> {
  await requireBroker();
  const receiver = await startOtlpReceiver();
  const proxy = await startTestProxy({
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_SERVICE_NAME: 'amqp-trace-proxy',
    ...opts.proxyEnv,
  });
  const conn = await amqp.connect(BROKER_URL);
  const ch = await conn.createChannel();
  const queues = uniqueQueues(prefix);
  const extraQueues = new Set<string>();
  const workers: CeleryWorker[] = [];
  const gateways: Gateway[] = [];
  const probe = (): ProbeRecord[] => workers.flatMap((w) => w.probe());
  try {
    workers.push(...await Promise.all(opts.workers.map((services) => startCeleryWorker({
      brokerUrl: `${proxy.url}//`,
      queues,
      env: opts.workerEnv,
      // A later -Q wins over the helper's own (all three queues): one service per worker.
      args: ['-Q', services.map((s) => queues[s]).join(','), ...WORKER_ARGS, ...(opts.workerArgs ?? [])],
    }))));
    await body({
      receiver, proxy, queues, workers, ch, extraQueues, probe,
      gateway: async () => {
        const g = await startGateway({ amqpUrl: proxy.url, queue: queues.llm, otlpEndpoint: receiver.endpoint, declareQueue: false });
        gateways.push(g);
        return g;
      },
      waitForProbe: async (pred, timeoutMs = 15_000) => {
        const deadline = Date.now() + timeoutMs;
        while (!pred(probe())) {
          if (Date.now() > deadline) {
            throw new Error(`probe condition not met within ${timeoutMs} ms:\n${probe().map((r) => JSON.stringify(r)).join('\n')}\n` +
              workers.map((w) => w.log().split('\n').slice(-15).join('\n')).join('\n---\n'));
          }
          await sleep(50);
        }
        return probe();
      },
    });
  } finally {
    for (const g of gateways) await g.close().catch(() => undefined);
    for (const r of probe()) if (r.event === 'prerun' && r.reply_to) extraQueues.add(r.reply_to);
    await Promise.all(workers.map((w) => w.stop()));
    for (const q of [...Object.values(queues), ...extraQueues]) await ch.deleteQueue(q).catch(() => undefined);
    // Celery declares a direct exchange named like each routed queue.
    for (const q of Object.values(queues)) await ch.deleteExchange(q).catch(() => undefined);
    await conn.close().catch(() => undefined);
    await proxy.stop();
    await receiver.close();
  }
}

// ----- finding spans ------------------------------------------------------------------------

const proxySpan = (all: ReceivedSpan[], kind: 'publish' | 'broker_hop' | 'process', taskId: string): ReceivedSpan | undefined =>
  all.find((s) => s.attributes[Attr.proxySpan] === kind && s.attributes[Attr.celeryTaskId] === taskId);

/** The rpc:// result of a task: published with correlation_id = task id and no task headers. */
const resultPublish = (all: ReceivedSpan[], taskId: string): ReceivedSpan | undefined =>
  all.find((s) => s.attributes[Attr.proxySpan] === 'publish' && s.attributes[Attr.conversationId] === taskId &&
    s.attributes[Attr.celeryTaskId] === undefined);

/** The three spans of a task message and the publish of its result, once all have arrived. */
interface TaskSpans { publish: ReceivedSpan; hop: ReceivedSpan; process: ReceivedSpan; result?: ReceivedSpan }
function taskSpans(all: ReceivedSpan[], taskId: string, withResult: boolean): TaskSpans | undefined {
  const publish = proxySpan(all, 'publish', taskId);
  const hop = proxySpan(all, 'broker_hop', taskId);
  const process = proxySpan(all, 'process', taskId);
  const result = resultPublish(all, taskId);
  if (!publish || !hop || !process || (withResult && !result)) return undefined;
  return { publish, hop, process, ...(result ? { result } : {}) };
}

const tree = (spans: ReceivedSpan[]): string => `\n${renderTraces(spans)}\n`;

/** Exactly one root, and every other span's parent is in the trace: a connected tree. */
function assertConnected(spans: ReceivedSpan[], rootSpanId: string): void {
  const ids = new Set(spans.map((s) => s.spanId));
  const roots = spans.filter((s) => !ids.has(s.parentSpanId));
  assert.equal(roots.map((s) => s.spanId), [rootSpanId], `one root, the expected one:${tree(spans)}`);
  assert.is(new Set(spans.map((s) => s.traceId)).size, 1);
}

function prerun(records: ProbeRecord[], id: string): PrerunRecord {
  const r = prerunOf(records, id);
  assert.ok(r, `the probe saw task ${id}`);
  return r!;
}

/** Process spans of deliveries to a worker's rpc:// reply queue. */
const replyProcesses = (all: ReceivedSpan[], replyQueue: string): ReceivedSpan[] =>
  all.filter((s) => s.attributes[Attr.proxySpan] === 'process' && s.attributes[Attr.subscriptionName] === replyQueue);

/** Workers whose rpc:// result consumer starts a second late (test/support/python/slow_result_consumer.py). */
const LATE_RESULT_CONSUMER = {
  env: { PYTHONPATH: `${DEMO_DIR}:${resolve(__dirname, '../support/python')}` },
  // A later --include wins over the helper's: the probe is named again.
  args: ['--include', 'worker.probe,slow_result_consumer'],
};

const childrenOf = (records: ProbeRecord[], parentId: string): PrerunRecord[] =>
  records.filter((r): r is PrerunRecord => r.event === 'prerun' && r.parent_id === parentId)
    .sort((a, b) => a.task.localeCompare(b.task));

const traceIdOf = (traceparent: string | null): string | undefined => (traceparent ? parseTraceParent(traceparent)?.traceId : undefined);

// ----- the journey ----------------------------------------------------------------------------

test('gateway with its own traceparent → three workers: one connected tree from POST /shares to every process span; sub-tasks and rpc:// results continue it', () =>
  journey('journey-gw', { workers: [['llm'], ['whisper'], ['vector']] }, async (j) => {
    const replies = (await j.ch.assertQueue('', { exclusive: true })).queue;
    const gateway = await j.gateway();
    const share = await gateway.shareContent('c-1', { withTraceparent: true, replyTo: replies });

    const records = await j.waitForProbe((rs) => childrenOf(rs, share.taskId).length === 2 &&
      rs.filter((r) => r.event === 'postrun').length === 3);
    const summarize = prerun(records, share.taskId);
    assert.is(summarize.traceparent, share.traceparent, 'the worker sees the gateway\'s traceparent as task.request.traceparent');
    const children = childrenOf(records, share.taskId);
    assert.equal(children.map((c) => c.task), ['vector.embed', 'whisper.transcribe']);
    assert.equal(j.workers.map((w) => w.probe().filter((r) => r.event === 'prerun').map((r) => r.task)),
      [['llm.summarize'], ['whisper.transcribe'], ['vector.embed']], 'each service ran in its own worker process');

    await gateway.close(); // flushes the gateway's span
    const ids = [share.taskId, ...children.map((c) => c.id)];
    // The llm worker's own rpc:// result consumer receives its sub-tasks' results, through the proxy.
    const workerReplyQueue = children[0]!.reply_to!;
    const replyHops = (xs: ReceivedSpan[]): number => replyProcesses(xs, workerReplyQueue).length;
    const all = await j.receiver.waitFor((xs) => xs.some((s) => s.spanId === share.spanId) &&
      ids.every((id) => taskSpans(xs, id, true) !== undefined) && replyHops(xs) === 2, 15_000);
    const trace = all.filter((s) => s.traceId === share.traceId);

    const gw = trace.find((s) => s.spanId === share.spanId)!;
    assert.is(gw.name, 'POST /shares');
    assert.is(gw.serviceName, 'api-gateway');
    assert.is(gw.parentSpanId, '');
    const top = taskSpans(all, share.taskId, true)!;
    assert.is(top.publish.parentSpanId, gw.spanId, 'publish ← gateway span');
    // The gateway's traceparent is the creation context, so the proxy's send span is CLIENT.
    assert.is(top.publish.kind, 'CLIENT');
    assert.is(top.publish.name, `publish ${j.queues.llm}`);
    assert.is(top.publish.attributes[Attr.proxyContext], 'continued');
    assert.is(top.publish.attributes[Attr.celeryTaskName], 'llm.summarize');
    // The message's creation context is the gateway span (it injected it), so the broker
    // hop hangs under the gateway span, beside the proxy's publish span.
    assert.is(top.hop.parentSpanId, gw.spanId, 'broker_hop ← gateway span (the message context)');
    assert.is(top.hop.name, `broker_hop ${j.queues.llm}`);
    assert.is(top.process.parentSpanId, top.hop.spanId, 'process ← broker_hop');
    assert.is(top.process.name, `process ${j.queues.llm}`);
    // The rpc:// reply queue is temporary: a word in the span name, the queue in attributes.
    assert.is(top.result!.name, 'publish (temporary)');
    assert.is(top.result!.attributes[Attr.destinationTemporary], true);
    assert.is(top.process.status.code, 'UNSET');
    assert.is(top.result!.parentSpanId, top.process.spanId, 'the rpc:// result ← process');
    assert.is(top.result!.attributes[Attr.proxyContext], 'continued_by_correlation');
    assert.is(top.result!.attributes[Attr.routingKey], replies);

    for (const child of children) {
      const s = taskSpans(all, child.id, true)!;
      assert.is(s.publish.parentSpanId, top.process.spanId, `${child.task}: publish ← the parent task's process span`);
      assert.is(s.publish.kind, 'PRODUCER', `${child.task}: the proxy's span is the sub-task's creation context`);
      assert.is(s.publish.attributes[Attr.proxyContext], 'continued_by_parent_task');
      assert.is(s.hop.parentSpanId, s.publish.spanId, `${child.task}: deliver ← publish (the proxy injected its context)`);
      assert.is(s.process.parentSpanId, s.hop.spanId);
      assert.is(s.result!.parentSpanId, s.process.spanId);
      assert.is(s.result!.attributes[Attr.proxyContext], 'continued_by_correlation');
      assert.is(s.result!.attributes[Attr.routingKey], workerReplyQueue);
      const resultHop = trace.find((x) => x.attributes[Attr.proxySpan] === 'broker_hop' && x.parentSpanId === s.result!.spanId);
      assert.ok(resultHop, `${child.task}: the result's delivery to the llm worker continues the trace`);
      assert.is(child.traceparent, `00-${share.traceId}-${s.publish.spanId}-01`, `${child.task}: task.request.traceparent continues the trace`);
    }
    assertConnected(trace, gw.spanId);
    assert.is(trace.length, 1 + 3 * 4 + 2 * 2, `gateway + (publish, deliver, process, result) × 3 + (deliver, process) of 2 results:${tree(trace)}`);
  }));

test('sub-task results that come back before the llm worker\'s result consumer starts still reach it: llm.summarize declares its reply queue first', () =>
  journey('journey-late', { workers: [['llm'], ['whisper'], ['vector']], workerEnv: LATE_RESULT_CONSUMER.env, workerArgs: LATE_RESULT_CONSUMER.args }, async (j) => {
    const gateway = await j.gateway();
    const share = await gateway.shareContent('c-7');
    const records = await j.waitForProbe((rs) => childrenOf(rs, share.taskId).length === 2 && rs.filter((r) => r.event === 'postrun').length === 3);
    const replyQueue = childrenOf(records, share.taskId)[0]!.reply_to!;
    // Without the declare, the first sub-task's result is routed to no queue and dropped.
    const all = await j.receiver.waitFor((xs) => replyProcesses(xs, replyQueue).length === 2, 15_000);
    assert.equal(replyProcesses(all, replyQueue).map((s) => s.attributes[Attr.destinationTemporary]), [true, true]);
  }));

test('gateway without a traceparent: the proxy\'s publish span starts the trace the worker sees; the gateway span is joined by celery.task.id only', () =>
  journey('journey-bare', { workers: [['llm', 'whisper', 'vector']] }, async (j) => {
    const gateway = await j.gateway();
    const share = await gateway.shareContent('c-2');
    assert.is(share.traceparent, undefined);
    const records = await j.waitForProbe((rs) => rs.filter((r) => r.event === 'postrun').length === 3);
    await gateway.close();
    const children = childrenOf(records, share.taskId);
    const all = await j.receiver.waitFor((xs) => xs.some((s) => s.spanId === share.spanId) &&
      [share.taskId, ...children.map((c) => c.id)].every((id) => taskSpans(xs, id, false) !== undefined), 15_000);

    const top = taskSpans(all, share.taskId, false)!;
    assert.is(top.publish.parentSpanId, '', 'the publish span is the root');
    assert.is(top.publish.attributes[Attr.proxyContext], 'injected');
    assert.is(prerun(records, share.taskId).traceparent, `00-${top.publish.traceId}-${top.publish.spanId}-01`);
    assert.is(top.hop.parentSpanId, top.publish.spanId);
    assert.is(top.process.parentSpanId, top.hop.spanId);
    for (const child of children) {
      assert.is(traceIdOf(child.traceparent), top.publish.traceId, `${child.task} continues the proxy's trace`);
      assert.is(proxySpan(all, 'publish', child.id)!.parentSpanId, top.process.spanId);
    }
    const trace = all.filter((s) => s.traceId === top.publish.traceId);
    assertConnected(trace, top.publish.spanId);

    // Nothing links the gateway's span to the message: it is a trace of its own, and the
    // Celery task id is what the two have in common.
    const gw = all.find((s) => s.spanId === share.spanId)!;
    assert.is.not(gw.traceId, top.publish.traceId);
    assert.is(gw.attributes['celery.task.id'], share.taskId);
    assert.is(top.publish.attributes[Attr.celeryTaskId], share.taskId);
  }));

test('Celery-published tasks (apply_async, send_task) through the proxy: the right trace id in task.request; the result reply and its consumer continue it', () =>
  journey('journey-py', { workers: [['whisper', 'vector']] }, async (j) => {
    const out = await runCeleryPython([
      'import json',
      'from worker.app import app',
      'from worker.tasks import embed',
      "plain = embed.apply_async(args=['c-3'])",
      `sent = app.send_task('whisper.transcribe', args=['c-4'], headers={'traceparent': '${TRACEPARENT}', 'tracestate': '${TRACESTATE}'})`,
      "print(json.dumps({'plain': plain.id, 'sent': sent.id, 'oid': app.backend.oid,",
      "                  'results': [plain.get(timeout=20), sent.get(timeout=20)]}))",
    ].join('\n'), `${j.proxy.url}//`, j.queues);
    const res = JSON.parse(out.trim().split('\n').pop()!) as { plain: string; sent: string; oid: string; results: unknown[] };
    j.extraQueues.add(res.oid);
    assert.equal(res.results, [[3, 0.5], 'transcript of c-4'], 'results came back over rpc:// through the proxy');

    const records = await j.waitForProbe((rs) => rs.filter((r) => r.event === 'postrun').length === 2);
    const all = await j.receiver.waitFor((xs) => [res.plain, res.sent].every((id) => taskSpans(xs, id, true) !== undefined) &&
      xs.filter((s) => s.attributes[Attr.proxySpan] === 'broker_hop' && s.attributes[Attr.subscriptionName] === res.oid).length === 2, 15_000);

    const plain = taskSpans(all, res.plain, true)!;
    assert.is(plain.publish.parentSpanId, '');
    assert.is(plain.publish.attributes[Attr.celeryTaskName], 'vector.embed');
    assert.is(prerun(records, res.plain).traceparent, `00-${plain.publish.traceId}-${plain.publish.spanId}-01`);

    const sent = taskSpans(all, res.sent, true)!;
    const given = parseTraceParent(TRACEPARENT)!;
    assert.is(sent.publish.traceId, given.traceId);
    assert.is(sent.publish.parentSpanId, given.spanId);
    assert.is(sent.publish.attributes[Attr.proxyContext], 'continued');
    assert.is(prerun(records, res.sent).traceparent, TRACEPARENT);
    assert.is(prerun(records, res.sent).tracestate, TRACESTATE);

    for (const s of [plain, sent]) {
      assert.is(s.result!.parentSpanId, s.process.spanId);
      assert.is(s.result!.attributes[Attr.proxyContext], 'continued_by_correlation');
      assert.is(s.result!.attributes[Attr.routingKey], res.oid);
      // The client's result consumer receives the reply through the proxy too.
      const replyHop = all.find((x) => x.attributes[Attr.proxySpan] === 'broker_hop' && x.parentSpanId === s.result!.spanId);
      assert.ok(replyHop, `the reply's delivery to ${res.oid} continues the trace:${tree(all)}`);
      assert.is(replyHop!.traceId, s.publish.traceId);
    }
  }));

for (const settings of ['default', 'acks_late + acks_on_failure_or_timeout=False'] as const) {
  const rejects = settings !== 'default';
  test(`a task that raises, ${settings}: ${rejects ? 'rejected → ERROR process span (error.type reject)' : 'acked → process span without error'}; the FAILURE result continues the trace`, () =>
    journey(rejects ? 'journey-reject' : 'journey-fail', {
      workers: [['llm']],
      workerEnv: rejects ? { DEMO_ACKS_LATE: '1', DEMO_ACKS_ON_FAILURE: '0' } : {},
    }, async (j) => {
      const replies = (await j.ch.assertQueue('', { exclusive: true })).queue;
      const gateway = await j.gateway();
      const share = await gateway.shareContent('c-5', { withTraceparent: true, task: 'llm.fail', replyTo: replies });
      const records = await j.waitForProbe((rs) => rs.some((r) => r.event === 'postrun'));
      assert.equal(records.find((r) => r.event === 'postrun'), { event: 'postrun', task: 'llm.fail', id: share.taskId, state: 'FAILURE' });
      const all = await j.receiver.waitFor((xs) => taskSpans(xs, share.taskId, true) !== undefined, 15_000);
      const s = taskSpans(all, share.taskId, true)!;
      assert.is(s.process.traceId, share.traceId);
      if (rejects) {
        assert.is(s.process.status.code, 'ERROR');
        assert.is(s.process.attributes[Attr.errorType], 'reject');
      } else {
        assert.is(s.process.status.code, 'UNSET', 'Celery acks a failed task by default: the proxy sees a success');
        assert.is(s.process.attributes[Attr.errorType], undefined);
      }
      assert.is(s.result!.parentSpanId, s.process.spanId, 'the FAILURE result ← process');
      assert.is(s.result!.status.code, 'UNSET');
      await j.ch.checkQueue(replies).then((q) => assert.is(q.messageCount, 1, 'the FAILURE result reached the reply queue'));
    }));
}

test('PROXY_CONTINUATION=false: sub-tasks and results start new traces', () =>
  journey('journey-nocont', { proxyEnv: { PROXY_CONTINUATION: 'false' }, workers: [['llm', 'whisper', 'vector']] }, async (j) => {
    const gateway = await j.gateway();
    const share = await gateway.shareContent('c-6', { withTraceparent: true });
    const records = await j.waitForProbe((rs) => rs.filter((r) => r.event === 'postrun').length === 3);
    assert.is(prerun(records, share.taskId).traceparent, share.traceparent, 'explicit context still travels');
    const children = childrenOf(records, share.taskId);
    assert.is(children.length, 2);
    const all = await j.receiver.waitFor((xs) => children.every((c) => taskSpans(xs, c.id, true) !== undefined), 15_000);
    const traces = new Set<string>();
    for (const child of children) {
      const s = taskSpans(all, child.id, true)!;
      assert.is(s.publish.parentSpanId, '', `${child.task}: a new root`);
      assert.is(s.publish.attributes[Attr.proxyContext], 'injected');
      assert.is.not(s.publish.traceId, share.traceId);
      assert.is(traceIdOf(child.traceparent), s.publish.traceId);
      assert.is(s.result!.parentSpanId, '', `${child.task}: its result too`);
      assert.is.not(s.result!.traceId, s.publish.traceId);
      traces.add(s.publish.traceId);
    }
    assert.is(traces.size, 2);
  }));

test('make demo (demo/run.ts): prints the traces, forwards every span to OTEL_EXPORTER_OTLP_ENDPOINT, deletes its queues and exits 0', async () => {
  await requireBroker();
  const collector = await startOtlpReceiver();
  try {
    const { code, stdout, stderr } = await runDemo({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint }, 90_000);
    assert.is(code, 0, `demo exited ${code}\n${stdout}\n${stderr}`);
    const traceLines = stdout.split('\n').filter((l) => l.startsWith('trace '));
    assert.ok(traceLines.length >= 3, stdout);
    assert.match(stdout, /POST \/shares\s+api-gateway/);
    assert.match(stdout, /process demo-llm-\S+\s+task=llm\.summarize\s+amqp-trace-proxy/);
    assert.match(stdout, /publish \(temporary\)\s+continued_by_correlation\s+amqp-trace-proxy/, 'rpc:// replies by the fixed word');
    // Issue 23 as the demo's reader sees it: the retried share and the poison message.
    assert.match(stdout, /process demo-llm-\S+\s+task=llm\.summarize\s+retried\s/, 'the attempt that hit 429');
    assert.match(stdout, /scheduled_wait demo-llm-\S+\s+task=llm\.summarize\s+retry=1\s/, 'the countdown, outside process');
    assert.match(stdout, /process demo-llm-\S+\s+task=llm\.moderate\s+to dead letters\s.*ERROR reject/, 'the reject that dead-letters');
    assert.match(stdout, /broker_hop demo-dlx-\S+\s+task=llm\.moderate\s+dead-lettered=rejected from demo-llm-\S+\s/, 'the dead-letter hop');
    const queues = /^queues: (.+) \(deleted\)$/m.exec(stdout)?.[1]?.split(', ') ?? [];
    assert.ok(queues.length >= 5, `the demo names its queues (three services, the dead letters, the worker's reply queue): ${stdout}`);
    const deadLetterExchange = /^DLQ\s+\S+ \(dead-letter exchange (\S+)\)/m.exec(stdout)?.[1];
    assert.ok(deadLetterExchange, stdout);
    assertBoundedSpanNames(stdout, queues.slice(0, 3), [queues[3]!, deadLetterExchange!]);
    assert.match(stdout, /continued_by_parent_task/);
    assert.match(stdout, /continued_by_correlation/);
    // Every printed trace reached the collector whole (the worker's shutdown event may come after the print).
    for (const line of traceLines) {
      const [, traceId, count] = /^trace (\w+)\s+\((\d+) spans?/.exec(line)!;
      assert.is(collector.spans().filter((x) => x.traceId === traceId).length, Number(count), line);
    }

    const conn = await amqp.connect(BROKER_URL);
    try {
      for (const q of queues) {
        const ch = await conn.createChannel();
        ch.on('error', () => undefined);
        const gone = await ch.checkQueue(q).then(() => false, () => true);
        assert.ok(gone, `queue ${q} was deleted`);
      }
    } finally {
      await conn.close();
    }
  } finally {
    await collector.close();
  }
});

const OPERATIONS = ['publish', 'broker_hop', 'process'];
/** A countdown's wait (issue 23): the demo's retried task has one. */
const WAIT = 'scheduled_wait';
const WORDS = ['(temporary)', '(anonymous)'];

/**
 * The proxy's span names in the demo are a fixed set: an operation, and a destination made
 * only of the demo's service queues, its dead-letter exchange and queue, the words for
 * temporary and anonymous queues, and Celery's own exchanges. How many of Celery's own appear depends on other workers on the
 * shared broker (a control broadcast adds three); a growing value (a reply queue, a task
 * id) in a name cannot match any form.
 */
function assertBoundedSpanNames(stdout: string, serviceQueues: string[], deadLetters: string[]): void {
  const line = /^(\d+) span names of the proxy: (.*)$/m.exec(stdout);
  assert.ok(line, `the demo lists the proxy's span names:\n${stdout}`);
  const names = line![2]!.split(', ');
  assert.is(names.length, Number(line![1]));
  const parts = new Set([...serviceQueues, ...deadLetters, ...WORDS, ...CELERY_OWN_EXCHANGES]);
  const allowed = (name: string): boolean => {
    const [operation, destination, ...rest] = name.split(' ');
    return rest.length === 0 && [...OPERATIONS, WAIT].includes(operation!) && destination!.split(':').every((p) => parts.has(p));
  };
  assert.equal(names.filter((n) => !allowed(n)), [], `every span name has a fixed form:\n${names.join('\n')}`);
  // Three services × three spans, and the three of the rpc:// replies: all there.
  const expected = OPERATIONS.flatMap((op) => [...serviceQueues, '(temporary)'].map((d) => `${op} ${d}`));
  assert.equal(expected.filter((n) => !names.includes(n)), [], `the journey's own span names:\n${names.join('\n')}`);
}

function runDemo(env: Record<string, string>, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const root = resolve(__dirname, '../..');
  return new Promise((done) => {
    const child = spawn(process.execPath, [resolve(root, 'node_modules/tsx/dist/cli.mjs'), 'demo/run.ts'], {
      cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); done({ code, stdout, stderr }); });
  });
}

test.run();
