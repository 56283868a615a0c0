/**
 * --publish-stamp (issue 13, section 5): with it off the proxy adds traceparent alone, and
 * what the broker-hop span and histogram do then is what docs/OPERATIONS.md says.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { randomBytes } from 'node:crypto';
import { Attr, Header } from '../../src/trace/attributes';
import { parseTraceParent } from '../../src/trace/traceparent';
import { headersOf, withConnection } from '../support/amqp';
import { BROKER_HOST, BROKER_PORT, BROKER_URL, requireBroker, uniqueName } from '../support/broker';
import { OtlpReceiver, ReceivedSpan, startOtlpReceiver } from '../support/otlpReceiver';
import { TestProxy, startTestProxy } from '../support/proxy';
import { startRecordingRelay } from '../support/recordingRelay';
import { sleep } from '../support/wait';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SAMPLED = `00-${TRACE}-00f067aa0ba902b7-01`;
/** Long enough that "starts at the publish" and "starts at the delivery" cannot be confused. */
const QUEUE_WAIT_MS = 300;

interface Ctx { receiver: OtlpReceiver; stamped: TestProxy; unstamped: TestProxy }
const stamp = suite<Ctx>('--publish-stamp', {} as Ctx);

stamp.before(async (ctx) => {
  await requireBroker();
  ctx.receiver = await startOtlpReceiver();
  const env = {
    OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: ctx.receiver.endpoint,
    OTEL_TRACES_SAMPLER: 'parentbased_always_on', OTEL_BSP_SCHEDULE_DELAY: '50',
  };
  ctx.stamped = await startTestProxy(env);
  ctx.unstamped = await startTestProxy(env, ['--publish-stamp', 'false']);
});
stamp.after(async (ctx) => {
  await ctx.stamped.stop();
  await ctx.unstamped.stop();
  await ctx.receiver.close();
});
stamp.before.each((ctx) => ctx.receiver.clear());

async function getOne(ch: amqp.Channel, queue: string): Promise<amqp.GetMessage> {
  for (let i = 0; i < 100; i++) {
    const msg = await ch.get(queue, { noAck: true });
    if (msg !== false) return msg;
    await sleep(20);
  }
  throw new Error(`nothing in ${queue}`);
}

stamp('off: a new trace gets traceparent alone, a stale stamp is removed, a continued trace passes byte for byte', async ({ unstamped }) => {
  const relay = await startRecordingRelay(BROKER_HOST, BROKER_PORT);
  try {
    await withConnection(`amqp://guest:guest@127.0.0.1:${relay.port}`, async (consumerConn) => {
      const consumer = await consumerConn.createChannel();
      const queue = (await consumer.assertQueue(uniqueName('stamp-off'), { exclusive: true })).queue;
      await withConnection(unstamped.url, async (conn) => {
        const ch = await conn.createConfirmChannel();
        ch.sendToQueue(queue, Buffer.from('new'), { headers: { k: 'v' } });
        ch.sendToQueue(queue, Buffer.from('stale'), { headers: { traceparent: SAMPLED, [Header.publishedAt]: '1700000000000000' } });
        await ch.waitForConfirms();
      });
      const fresh = await getOne(consumer, queue);
      assert.equal(Object.keys(headersOf(fresh)).sort(), ['k', Header.traceparent]);
      assert.ok(parseTraceParent(String(headersOf(fresh)[Header.traceparent])));
      const stale = await getOne(consumer, queue);
      assert.equal(headersOf(stale), { traceparent: SAMPLED }, 'the stale stamp is gone, the traceparent kept');

      const props = { headers: { traceparent: SAMPLED, tracestate: 'v=1', n: 7 }, messageId: 'same', contentType: 'text/plain' };
      await withConnection(unstamped.url, async (conn) => {
        const ch = await conn.createConfirmChannel();
        ch.sendToQueue(queue, Buffer.from('x'), props);
        await ch.waitForConfirms();
      });
      await withConnection(BROKER_URL, async (conn) => {
        const ch = await conn.createConfirmChannel();
        ch.sendToQueue(queue, Buffer.from('x'), props);
        await ch.waitForConfirms();
      });
      await getOne(consumer, queue);
      await getOne(consumer, queue);
    });
    const delivered = relay.contentHeaders();
    assert.is(delivered.length, 4);
    assert.ok(delivered[2]!.equals(delivered[3]!), `through the proxy ${delivered[2]!.toString('hex')}\ndirect ${delivered[3]!.toString('hex')}`);
  } finally {
    await relay.close();
  }
});

/** Publishes a sampled message through `proxy`, leaves it in the queue, gets it through the same proxy. */
async function hopThrough(proxy: TestProxy, receiver: OtlpReceiver): Promise<{ publish: ReceivedSpan; hop: ReceivedSpan; hops: number }> {
  const hopCount = async (): Promise<number> => {
    const text = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    return Number(/^amqp_trace_proxy_broker_hop_seconds_count (\d+)$/m.exec(text)?.[1] ?? NaN);
  };
  const before = await hopCount();
  // A trace of its own: spans of earlier tests may still be on their way to the receiver.
  const traceId = randomBytes(16).toString('hex');
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    const queue = (await ch.assertQueue(uniqueName('stamp-hop'), { exclusive: true })).queue;
    ch.sendToQueue(queue, Buffer.from('wait'), { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    await ch.waitForConfirms();
    await sleep(QUEUE_WAIT_MS);
    await getOne(ch, queue);
  });
  const isHop = (s: ReceivedSpan): boolean => s.traceId === traceId && s.attributes[Attr.proxySpan] === 'broker_hop';
  const isPublish = (s: ReceivedSpan): boolean => s.traceId === traceId && s.attributes[Attr.proxySpan] === 'publish';
  const spans = await receiver.waitFor((all) => all.some(isHop) && all.some(isPublish));
  return { publish: spans.find(isPublish)!, hop: spans.find(isHop)!, hops: (await hopCount()) - before };
}

stamp('on (default): the broker-hop span starts at the publish and the histogram counts the hop', async ({ stamped, receiver }) => {
  const { publish, hop, hops } = await hopThrough(stamped, receiver);
  assert.is(hops, 1);
  // The SDK anchors span times to Date.now() (millisecond steps), the stamp to the monotonic
  // clock: they agree within a millisecond or two, far less than the time in the queue.
  assert.ok(hop.startTimeUnixNano < publish.endTimeUnixNano + BigInt(50e6),
    `the hop starts at the publish, not at the delivery: hop ${hop.startTimeUnixNano}, publish ends ${publish.endTimeUnixNano}`);
  assert.ok(hop.endTimeUnixNano - hop.startTimeUnixNano >= BigInt((QUEUE_WAIT_MS - 50) * 1e6), 'it covers the time in the queue');
});

stamp('off: no broker-hop histogram observation; the hop span is still in the trace, as a point at the delivery', async ({ unstamped, receiver }) => {
  const { publish, hop, hops } = await hopThrough(unstamped, receiver);
  assert.is(hops, 0, 'broker_hop_seconds has nothing to measure from');
  assert.ok(hop.startTimeUnixNano >= publish.endTimeUnixNano + BigInt((QUEUE_WAIT_MS - 50) * 1e6), 'it starts at the delivery');
});

stamp.run();
