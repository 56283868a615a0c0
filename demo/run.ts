/**
 * `make demo`: the critical journey of ADR-212 on one machine, printed as span trees.
 *
 *   gateway stand-in ──► proxy (in this process) ──► RabbitMQ ──► Celery worker (llm, whisper, vector)
 *          │                    │
 *          └── OTLP/gRPC ──► span collector (in this process) ──► terminal
 *                                   └──► OTEL_EXPORTER_OTLP_ENDPOINT, when set (e.g. Jaeger)
 *
 * It sends four "share content" requests (three where the gateway injects its own
 * traceparent, one where it does not; the fourth meets a rate-limited LLM provider, whose
 * 429 makes the task retry after a 2 s countdown) and one poison message the worker rejects,
 * which the broker dead-letters into a queue the demo's own consumer reads through the
 * proxy. It waits for the Celery tasks they cause, prints every trace, then stops the
 * worker, deletes the queues it created and exits.
 *
 * The broker is DEMO_BROKER (default 127.0.0.1:5672, guest/guest); nothing else is needed.
 */
import { randomBytes } from 'node:crypto';
import * as amqp from 'amqplib';
import pino from 'pino';
import { startApp, type App } from '../src/app';
import { loadConfig } from '../src/config/config';
import { checkCelery, startDemoWorker, type DemoQueues, type DemoWorker } from './celeryWorker';
import { startGateway, type Gateway, type ShareResult } from './gateway';
import { startSpanCollector, type CollectedSpan, type SpanCollector } from './spanCollector';
import { groupByTrace, renderTrace } from './spanTree';

const BROKER = process.env.DEMO_BROKER ?? '127.0.0.1:5672';
/** `rl-`: the LLM provider answers 429 once, the task retries with a countdown (demo/worker/tasks.py). */
const SHARES = [
  { contentId: 'c-1', withTraceparent: true },
  { contentId: 'c-2', withTraceparent: true },
  { contentId: 'c-3', withTraceparent: false },
  { contentId: 'rl-4', withTraceparent: true },
] as const;
/** llm.summarize fans out to whisper.transcribe and vector.embed; a retry adds its first attempt. */
const processSpansOf = (contentId: string): number => (contentId.startsWith('rl-') ? 4 : 3);
/** The poison message: llm.moderate rejects it, the broker dead-letters it, the demo's consumer takes it from the DLQ. */
const POISON = { contentId: 'poison-5', task: 'llm.moderate' } as const;
const POISON_PROCESS_SPANS = 2;
const WAIT_MS = 30_000;

const say = (line = ''): void => { process.stdout.write(`${line}\n`); };

async function main(): Promise<void> {
  checkCelery();
  const suffix = randomBytes(3).toString('hex');
  const queues: DemoQueues = { llm: `demo-llm-${suffix}`, whisper: `demo-whisper-${suffix}`, vector: `demo-vector-${suffix}` };
  const deadLetters = { exchange: `demo-dlx-${suffix}`, queue: `demo-dead-letters-${suffix}` };
  const broker = await amqp.connect(`amqp://guest:guest@${BROKER}`).catch((err: Error) => {
    throw new Error(`no RabbitMQ at ${BROKER} (${err.message}): start it, or set DEMO_BROKER=host:port`);
  });
  const forwardTo = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  let collector: SpanCollector | undefined;
  let app: App | undefined;
  let worker: DemoWorker | undefined;
  let gateway: Gateway | undefined;
  try {
    collector = await startSpanCollector(forwardTo ? { forwardTo } : {});
    app = await startApp(loadConfig([], {
      PROXY_LISTEN: '127.0.0.1:0',
      PROXY_UPSTREAM: `amqp://${BROKER}`,
      METRICS_LISTEN: 'off',
      ADMIN_LISTEN: 'off',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_TRACES_SAMPLER: 'parentbased_always_on',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_SERVICE_NAME: 'amqp-trace-proxy',
    }), pino({ level: 'warn' }, pino.destination(2)));
    const proxyUrl = `amqp://guest:guest@127.0.0.1:${app.proxyAddress.port}`;
    say(`proxy      127.0.0.1:${app.proxyAddress.port} → ${BROKER}`);
    say(`spans      → ${collector.endpoint} (this process)${forwardTo ? ` → ${forwardTo}` : ''}`);

    const inspector = await startDeadLetterInspector(proxyUrl, deadLetters);
    say(`DLQ        ${deadLetters.queue} (dead-letter exchange ${deadLetters.exchange}), read through the proxy`);
    worker = await startDemoWorker(`${proxyUrl}//`, queues, undefined, { DEMO_DEAD_LETTER_EXCHANGE: deadLetters.exchange });
    say(`worker     ${worker.nodeName} on ${Object.values(queues).join(', ')} (Celery, through the proxy)`);
    gateway = await startGateway({ amqpUrl: proxyUrl, queue: queues.llm, otlpEndpoint: collector.endpoint, declareQueue: false });
    const { port } = await gateway.listen(0);
    say(`gateway    http://127.0.0.1:${port}/shares (publishes through the proxy)`);
    say();

    const shares: ShareResult[] = [];
    for (const share of SHARES) {
      const res = await fetch(`http://127.0.0.1:${port}/shares`, { method: 'POST', body: JSON.stringify(share) });
      const body = await res.json() as ShareResult;
      shares.push(body);
      say(`POST /shares ${JSON.stringify(share)} → ${res.status}, task ${body.taskId}`);
    }
    const poison = await gateway.shareContent(POISON.contentId, { task: POISON.task, withTraceparent: true });
    say(`poison message ${POISON.task}(${POISON.contentId}), task ${poison.taskId}`);
    const expected = SHARES.reduce((n, s) => n + processSpansOf(s.contentId), POISON_PROCESS_SPANS);

    const celeryProcessSpans = (xs: CollectedSpan[]): number =>
      xs.filter((s) => s.attributes['amqp_trace_proxy.span'] === 'process' && s.attributes['celery.task.name'] !== undefined).length;
    await collector.waitFor((xs) => celeryProcessSpans(xs) === expected, WAIT_MS)
      .catch((err: Error) => { throw new Error(`${err.message}\nworker log:\n${worker!.log()}`); });
    await gateway.close(); // flushes the gateway's spans
    await inspector.close();
    await settle(collector, app);

    const spans = collector.spans();
    const shown = [...shares, poison];
    const titles = [...SHARES.map((s) => `share ${s.contentId}`), `poison message ${POISON.contentId}`];
    const traces = groupByTrace(spans).map((group) => ({
      group,
      share: shown.findIndex((s) => s.traceId === group.traceId || group.spans.some((x) => x.attributes['celery.task.id'] === s.taskId)),
    }));
    say();
    say(`${spans.length} spans in ${traces.length} traces (tree: parent → child; columns: service, duration, status)`);
    for (const { group, share } of traces.filter((t) => t.share >= 0)) {
      say();
      say(`# ${titles[share]}, task ${shown[share]!.taskId}`);
      say(renderTrace(group.spans));
    }
    // The worker's own traffic (heartbeat events) makes traces of its own.
    const others = traces.filter((t) => t.share < 0);
    if (others.length > 0) {
      say();
      say(`not shown: ${others.length} other trace(s): ${[...new Set(others.map((t) => t.group.spans[0]!.name))].join(', ')}`);
    }
    // Bounded: every rpc:// reply queue above shares one name, whatever its id.
    const names = [...new Set(spans.filter((s) => s.serviceName === 'amqp-trace-proxy').map((s) => s.name))].sort();
    say(`${names.length} span names of the proxy: ${names.join(', ')}`);
    say();
    // The worker asked for its sub-tasks' results on its own rpc:// reply queue.
    const replyQueues = new Set(spans.filter((s) => s.attributes['amqp_trace_proxy.context'] === 'continued_by_correlation')
      .map((s) => String(s.attributes['messaging.rabbitmq.destination.routing_key'])));
    await worker.stop();
    worker = undefined;
    const deleted = await deleteQueues(broker, [...Object.values(queues), deadLetters.queue, ...replyQueues], [...Object.values(queues), deadLetters.exchange]);
    say(`queues: ${deleted.join(', ')} (deleted)`);
  } finally {
    await gateway?.close().catch(() => undefined);
    await worker?.stop();
    if (worker) await deleteQueues(broker, [...Object.values(queues), deadLetters.queue], [...Object.values(queues), deadLetters.exchange]);
    await app?.stop();
    await collector?.close();
    await broker.close().catch(() => undefined);
  }
  if (forwardTo && collector) {
    const f = collector.forwarded();
    say(`forwarded to ${forwardTo}: ${f.ok} export request(s)${f.failed ? `, ${f.failed} failed (${f.lastError})` : ''}`);
  }
}

/**
 * The dead-letter queue and its consumer, an amqplib client on the proxy: what an operator's
 * "inspect the DLQ" tool does. It acks what it reads; the proxy makes the DLQ's spans.
 */
async function startDeadLetterInspector(proxyUrl: string, names: { exchange: string; queue: string }): Promise<{ close(): Promise<void> }> {
  const connection = await amqp.connect(proxyUrl);
  const channel = await connection.createChannel();
  await channel.assertExchange(names.exchange, 'fanout', { durable: false, autoDelete: false });
  await channel.assertQueue(names.queue, { durable: false });
  await channel.bindQueue(names.queue, names.exchange, '');
  await channel.consume(names.queue, (msg) => { if (msg) channel.ack(msg); });
  return { close: () => connection.close().catch(() => undefined) };
}

/** Flushes the proxy's spans and waits until nothing new has arrived for a moment. */
async function settle(collector: SpanCollector, app: App): Promise<void> {
  let seen = -1;
  while (collector.spans().length !== seen) {
    seen = collector.spans().length;
    await app.telemetry.forceFlush();
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function deleteQueues(broker: amqp.ChannelModel, queues: string[], exchanges: string[]): Promise<string[]> {
  const ch = await broker.createChannel();
  ch.on('error', () => undefined);
  const deleted: string[] = [];
  for (const q of queues) if (await ch.deleteQueue(q).then(() => true, () => false)) deleted.push(q);
  // Celery declares a direct exchange named like each service queue.
  for (const x of exchanges) await ch.deleteExchange(x).catch(() => undefined);
  await ch.close().catch(() => undefined);
  return deleted;
}

main().then(() => process.exit(0), (err: Error) => {
  process.stderr.write(`demo failed: ${err.message}\n`);
  process.exit(1);
});
