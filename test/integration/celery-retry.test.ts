/**
 * Issue 23 with an unchanged Celery 5.2 worker (demo/worker) through the proxy: llm.summarize
 * meets a rate-limited provider (content ids starting `rl-`), raises 429 once and retries with
 * a countdown. The worker holds the retry unacked until its eta. The trace must show both
 * attempts, which one is the retry and which it continues, and the countdown as a
 * scheduled_wait of its own, outside the process span.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { startGateway } from '../../demo/gateway';
import { renderTraces } from '../../demo/spanTree';
import { Attr } from '../../src/trace/attributes';
import { BROKER_URL, requireBroker } from '../support/broker';
import { startCeleryWorker, uniqueQueues } from '../support/celery';
import { startOtlpReceiver, type ReceivedSpan } from '../support/otlpReceiver';
import { TestProxy, startTestProxy } from '../support/proxy';

const WORKER_ARGS = ['--without-gossip', '--without-mingle'];
const byStart = (a: ReceivedSpan, b: ReceivedSpan): number => (a.startTimeUnixNano < b.startTimeUnixNano ? -1 : 1);

interface Retried {
  /** The task's spans of one kind (publish, broker_hop, scheduled_wait, process), in start order. */
  task(role: string): ReceivedSpan[];
  /** Its trace as the demo prints it, for failure messages. */
  tree: string;
  proxy: TestProxy;
}

/** Runs one `rl-` task (429 once, then a retry after 1 s) on a worker with `env` (solo pool), and hands its spans to `check`. */
async function retriedTask(env: Record<string, string>, check: (r: Retried) => Promise<void>): Promise<void> {
  await requireBroker();
  const receiver = await startOtlpReceiver();
  const proxy = await startTestProxy({
    OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    OTEL_BSP_SCHEDULE_DELAY: '50',
  });
  const queues = uniqueQueues('celery-retry');
  const worker = await startCeleryWorker({
    brokerUrl: `${proxy.url}//`, queues, env: { DEMO_RETRY_COUNTDOWN: '1', ...env },
    args: ['-Q', Object.values(queues).join(','), ...WORKER_ARGS],
  });
  const gateway = await startGateway({ amqpUrl: proxy.url, queue: queues.llm, otlpEndpoint: receiver.endpoint, declareQueue: false });
  try {
    const { taskId, traceId } = await gateway.shareContent('rl-1', { withTraceparent: true });
    const of = (all: ReceivedSpan[], role: string): ReceivedSpan[] =>
      all.filter((s) => s.attributes[Attr.celeryTaskId] === taskId && s.attributes[Attr.proxySpan] === role).sort(byStart);
    // Both attempts settled: with late acks the first one's span ends after its retry went out.
    const all = await receiver.waitFor((s) => of(s, 'process').length === 2, 20_000)
      .catch((err: Error) => { throw new Error(`${err.message}\n${renderTraces(receiver.spans())}\n${worker.log().split('\n').slice(-20).join('\n')}`); });
    await check({ task: (role) => of(all, role), tree: `\n${renderTraces(all.filter((s) => s.traceId === traceId))}`, proxy });
  } finally {
    await gateway.close().catch(() => undefined);
    await worker.stop();
    const conn = await amqp.connect(BROKER_URL);
    const ch = await conn.createChannel();
    for (const q of Object.values(queues)) {
      await ch.deleteQueue(q).catch(() => undefined);
      await ch.deleteExchange(q).catch(() => undefined);
    }
    await conn.close().catch(() => undefined);
    await proxy.stop();
    await receiver.close();
  }
}

test('a retry with a countdown: attempts marked and linked, the countdown a scheduled_wait before the retry\'s process span', async () => {
  await retriedTask({}, async ({ task, tree, proxy }) => {
    const [first, retry] = task('process');
    assert.is(first!.attributes[Attr.celeryTaskRetries], undefined, tree);
    // The solo pool writes its ack after the task ran, so the attempt is still open when its retry goes out.
    assert.is(first!.attributes[Attr.retried], true, `the attempt that called retry() is marked${tree}`);
    assert.is(first!.status.code, 'UNSET', 'Celery acks it: no error, but no plain success either');
    assert.is(retry!.attributes[Attr.retried], undefined, tree);
    assert.is(retry!.attributes[Attr.celeryTaskRetries], 1, tree);
    assert.ok(retry!.links.some((l) => l.spanId === first!.spanId), `the retry links the attempt it continues${tree}`);
    const retryPublish = task('publish').find((s) => s.attributes[Attr.celeryTaskRetries] === 1);
    assert.ok(retryPublish, tree);
    assert.is(retryPublish!.parentSpanId, first!.spanId, `the retry is published from the first attempt${tree}`);

    const [wait] = task('scheduled_wait');
    const retryHop = task('broker_hop').find((s) => s.spanId === retry!.parentSpanId);
    assert.ok(wait && retryHop, `a scheduled_wait under the retry's hop${tree}`);
    assert.is(wait!.parentSpanId, retryHop!.spanId);
    assert.ok(typeof retry!.attributes[Attr.celeryTaskEta] === 'string', 'the eta it waited for');
    assert.is(retry!.startTimeUnixNano, wait!.endTimeUnixNano, `the process span starts where the wait ends, at the eta${tree}`);
    assert.ok(wait!.startTimeUnixNano >= retryHop!.endTimeUnixNano - 1_000_000n, 'the wait starts at the delivery');

    const metrics = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    assert.match(metrics, /^amqp_trace_proxy_task_retries_total 1$/m);
    assert.match(metrics, /^amqp_trace_proxy_scheduled_wait_seconds_count\{mechanism="worker_hold"\} 1$/m);
  });
});

test.run();
