/**
 * Issue 23 with Celery 5.5 (Debian trixie, the worker image) on quorum queues against
 * RabbitMQ 4.0, through the proxy: a task retried with a countdown is delayed by Kombu's
 * native delayed delivery (the celery_delayed_* TTL queues dead-lettering into each other).
 * The trace must show that as one delay before the broker hop, not as dead letters.
 * Celery uses native delayed delivery only with a topic or fanout exchange
 * (celery/app/base.py), so the demo's queues get topic exchanges here.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Attr } from '../../src/trace/attributes';
import { uniqueQueues } from '../support/celery';
import { IMAGES, createNetwork, docker, removeLeftovers, removeNetwork, requireDocker, runContainer, runName, startRabbitMq4, type Container } from '../support/docker';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlpReceiver';
import { TestProxy, startTestProxy } from '../support/proxy';
import { sleep } from '../support/wait';

interface Ctx {
  network: string;
  broker: Container & { url: string; port: number };
  receiver: OtlpReceiver;
  proxy: TestProxy;
  worker: Container;
}

const delayed = suite<Ctx>('Celery 5.5 native delayed delivery through the proxy', {} as Ctx);
const queues = uniqueQueues('delayed');

delayed.before(async (ctx) => {
  await requireDocker();
  removeLeftovers();
  ctx.network = runName('delayed');
  await createNetwork(ctx.network);
  ctx.broker = await startRabbitMq4(`${ctx.network}-mq`, ctx.network, 'mq');
  ctx.receiver = await startOtlpReceiver();
  ctx.proxy = await startTestProxy({
    PROXY_UPSTREAM: `amqp://127.0.0.1:${ctx.broker.port}`,
    OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: ctx.receiver.endpoint, OTEL_TRACES_SAMPLER: 'parentbased_always_on',
    OTEL_BSP_SCHEDULE_DELAY: '50',
  });
  // Host networking: the worker dials the in-process proxy on 127.0.0.1.
  ctx.worker = await runContainer(`${ctx.network}-worker`, IMAGES.worker, [
    '--network', 'host',
    '-e', `CELERY_BROKER_URL=${ctx.proxy.url}//`,
    '-e', `DEMO_QUEUE_LLM=${queues.llm}`, '-e', `DEMO_QUEUE_WHISPER=${queues.whisper}`, '-e', `DEMO_QUEUE_VECTOR=${queues.vector}`,
    '-e', 'DEMO_QUEUE_TYPE=quorum', '-e', 'DEMO_EXCHANGE_TYPE=topic', '-e', 'DEMO_RETRY_COUNTDOWN=2',
  ], ['-Q', Object.values(queues).join(','), '--without-gossip', '--without-mingle']);
  const deadline = Date.now() + 60_000;
  while (!/ ready\.\s*$/m.test(await ctx.worker.logs())) {
    if (Date.now() > deadline) throw new Error(`worker not ready:\n${(await ctx.worker.logs()).slice(-3000)}`);
    await sleep(250);
  }
});

delayed.after(async (ctx) => {
  await ctx.worker?.remove();
  await ctx.proxy?.stop();
  await ctx.receiver?.close();
  await ctx.broker?.remove();
  if (ctx.network) await removeNetwork(ctx.network);
});

delayed('a retry with a countdown: one delay (scheduled_wait, delay.seconds) before the hop, no dead letter, attempts marked', async ({ worker, proxy, receiver }) => {
  const taskId = await docker('exec', worker.name, '/usr/bin/python3', '-c',
    `from worker.app import app; print(app.send_task('llm.summarize', ['rl-1'], queue='${queues.llm}').id)`);
  const of = (all: ReceivedSpan[], role: string): ReceivedSpan[] =>
    all.filter((s) => s.attributes[Attr.celeryTaskId] === taskId && s.attributes[Attr.proxySpan] === role);
  const all = await receiver.waitFor((s) => of(s, 'process').length === 2, 30_000)
    .catch(async (err: Error) => { throw new Error(`${err.message}\n${(await worker.logs()).slice(-3000)}`); });
  const retry = of(all, 'process').find((s) => s.attributes[Attr.celeryTaskRetries] === 1);
  assert.ok(retry, of(all, 'process').map((s) => JSON.stringify(s.attributes)).join('\n'));
  assert.is(retry!.attributes[Attr.delaySeconds], 2, 'the countdown, read from the celery_delayed_* levels');
  assert.is(retry!.attributes[Attr.deadLetterReason], undefined, 'a delay is no dead letter');
  assert.is(retry!.name, `process celery_delayed:${queues.llm}`, 'one span name whichever delay level delivered it');
  const hop = of(all, 'broker_hop').find((s) => s.spanId === retry!.parentSpanId);
  const delay = of(all, 'scheduled_wait').find((s) => s.endTimeUnixNano === hop?.startTimeUnixNano);
  assert.ok(hop && delay, `a scheduled_wait ending where the retry's hop starts: ${all.map((s) => s.name).join(', ')}`);
  const metrics = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
  assert.match(metrics, /^amqp_trace_proxy_scheduled_wait_seconds_count\{mechanism="broker_delay"\} 1$/m);
  assert.not.match(metrics, /^amqp_trace_proxy_messages_dead_lettered_total\{reason="expired"\} [1-9]/m);
});

delayed.run();
