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
import { requireBroker, uniqueName } from '../../support/broker';
import { TestProxy, startTestProxy } from '../../support/proxy';

const P = 'amqp_trace_proxy_';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

async function scrape(proxy: TestProxy): Promise<string> {
  return (await fetch(`${proxy.metricsUrl}/metrics`)).text();
}

function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** Counters are buffered for up to a second before they reach /metrics. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 1200));

const headers = suite<{ proxy: TestProxy; conn: amqp.ChannelModel; ch: amqp.Channel }>('untrusted trace headers through the proxy');

headers.before(async (ctx) => {
  await requireBroker();
  ctx.proxy = await startTestProxy();
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
  await settle();
  const after = await scrape(ctx.proxy);
  const delta = (outcome: string): number =>
    sample(after, `${P}trace_context_total{outcome="${outcome}"}`) - sample(before, `${P}trace_context_total{outcome="${outcome}"}`);
  assert.is(delta('replaced_invalid'), 1);
  assert.is(delta('continued'), 0);
});

headers.run();
