/**
 * Trace headers a publisher (or a third party) controls, through the proxy against the real
 * broker: what reaches consumers and the process-wide telemetry must not be steered by them.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { Header } from '../../../src/trace/attributes';
import { parseTraceParent } from '../../../src/trace/traceparent';
import { consumeN, headersOf } from '../../support/amqp';
import { BROKER_URL, requireBroker, uniqueName } from '../../support/broker';
import { TestProxy, startTestProxy } from '../../support/proxy';
import { waitFor } from '../../support/wait';

const P = 'amqp_trace_proxy_';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

async function scrape(proxy: TestProxy): Promise<string> {
  return (await fetch(`${proxy.metricsUrl}/metrics`)).text();
}

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/**
 * Counters are buffered for up to a second before they reach /metrics: scrapes until
 * `series` moved from `before`, then returns that scrape (the others flushed with it).
 */
async function scrapeOnceMoved(proxy: TestProxy, before: string, series: string): Promise<string> {
  let text = before;
  await waitFor(`${series} to move`, async () => {
    text = await scrape(proxy);
    return sample(text, series) !== sample(before, series);
  }, 5000, 50);
  return text;
}

const headers = suite<{ proxy: TestProxy; conn: amqp.ChannelModel; ch: amqp.Channel }>('untrusted trace headers through the proxy');

headers.before(async (ctx) => {
  await requireBroker();
  ctx.proxy = await startTestProxy({ METRICS_DESTINATION_LABELS: 'true' });
  ctx.conn = await amqp.connect(ctx.proxy.url);
  ctx.ch = await ctx.conn.createChannel();
});

headers.after(async (ctx) => {
  await ctx.conn.close();
  await ctx.proxy.stop();
});

headers('a traceparent of type x (bytes) is invalid: replaced by a string one, counted as replaced_invalid, not continued', async (ctx) => {
  const queue = (await ctx.ch.assertQueue(uniqueName('tp-bytes'), { exclusive: true })).queue;
  const before = await scrape(ctx.proxy);
  // amqplib writes a Buffer as field type x.
  ctx.ch.sendToQueue(queue, Buffer.from('b'), { headers: { [Header.traceparent]: Buffer.from(TRACEPARENT) } });
  const [msg] = await consumeN(ctx.ch, queue, 1);
  const got = headersOf(msg!)[Header.traceparent];
  assert.type(got, 'string', 'the consumer gets a traceparent its propagator can read');
  const parsed = parseTraceParent(got as string);
  assert.ok(parsed, 'a valid one');
  assert.is.not(parsed!.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', 'a new trace, not a continuation of the bytes');
  const after = await scrapeOnceMoved(ctx.proxy, before, `${P}trace_context_total{outcome="replaced_invalid"}`);
  const delta = (outcome: string): number =>
    sample(after, `${P}trace_context_total{outcome="${outcome}"}`) - sample(before, `${P}trace_context_total{outcome="${outcome}"}`);
  assert.is(delta('replaced_invalid'), 1);
  assert.is(delta('continued'), 0);
});

headers('a third party\'s reply_to naming a durable queue leaves its name in the metrics of other connections', async (ctx) => {
  const orders = uniqueName('orders');
  const work = uniqueName('work');
  // Declared by the operator, not through the proxy: it has seen no declaration of them.
  const setup = await amqp.connect(BROKER_URL);
  const admin = await setup.createChannel();
  for (const q of [orders, work]) await admin.assertQueue(q, { durable: false });
  try {
    const thirdParty = await amqp.connect(ctx.proxy.url);
    const forged = await thirdParty.createChannel();
    forged.sendToQueue(work, Buffer.from('x'), { replyTo: orders, correlationId: 'c1' });
    // A worker receives it on its connection.
    const worker = await amqp.connect(ctx.proxy.url);
    await consumeN(await worker.createChannel(), work, 1);
    await worker.close();
    await thirdParty.close();
    // The owner of orders, on its own connection.
    ctx.ch.sendToQueue(orders, Buffer.from('o'));
    await consumeN(ctx.ch, orders, 1);
    const text = await scrape(ctx.proxy);
    assert.is(sample(text, `${P}broker_hop_seconds_count{queue="${orders}"}`), 1, 'the delivery is counted under the queue\'s name');
  } finally {
    for (const q of [orders, work]) await admin.deleteQueue(q);
    await setup.close();
  }
});

headers('a forged publish stamp six days old times no broker hop and is counted', async (ctx) => {
  const queue = uniqueName('stamp');
  await ctx.ch.assertQueue(queue, { durable: false });
  try {
    // Published straight to the broker: a publishing proxy would replace the stamp.
    const direct = await amqp.connect(BROKER_URL);
    const ch = await direct.createConfirmChannel();
    const sixDaysAgo = String((Date.now() - 6 * 86_400_000) * 1000);
    ch.sendToQueue(queue, Buffer.from('s'), { headers: { 'x-trace-proxy-published-us': sixDaysAgo } });
    await ch.waitForConfirms();
    await direct.close();
    const before = await scrape(ctx.proxy);
    await consumeN(ctx.ch, queue, 1);
    const after = await scrapeOnceMoved(ctx.proxy, before, `${P}publish_stamps_ignored_total{reason="too_old"}`);
    const delta = (series: string): number => sample(after, series) - sample(before, series);
    assert.is(delta(`${P}broker_hop_seconds_count{queue="${queue}"}`), 0, 'no hop observed');
    assert.is(delta(`${P}publish_stamps_ignored_total{reason="too_old"}`), 1);
  } finally {
    await ctx.ch.deleteQueue(queue);
  }
});

headers.run();
