/**
 * Issue 15, keep the failures: with the head sampler at 0 for new traces, the spans of
 * messages that fail or are slow are still exported, in the trace their traceparent names,
 * under the right parent, saying why; healthy messages leave nothing; a sampled trace is
 * not touched; a burst of failures is held to the rate limit. Through the proxy, against
 * the real broker, spans read back from the in-process OTLP receiver.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type * as amqp from 'amqplib';
import { FRAME_BODY, FRAME_HEADER, FRAME_METHOD, Method } from '../../src/amqp/constants';
import { encodeFrame } from '../../src/amqp/frame';
import { Attr, Header } from '../../src/trace/attributes';
import { OUTCOME_RULES, type OutcomeRule } from '../../src/trace/outcomeNames';
import { TraceParent, parseTraceParent } from '../../src/trace/traceparent';
import * as amqplib from 'amqplib';
import { Message, headersOf, withConnection } from '../support/amqp';
import { BROKER_URL, requireBroker, uniqueName } from '../support/broker';
import { referenceContentHeader, referenceMethodPayload } from '../support/amqpVectors';
import { prerunOf, runCeleryPython, startCeleryWorker, uniqueQueues } from '../support/celery';
import { RawClient } from './hardening/rawClient';
import { OtlpReceiver, ReceivedSpan, startOtlpReceiver } from '../support/otlpReceiver';
import { TestProxy, startTestProxy } from '../support/proxy';
import { sleep, waitFor } from '../support/wait';

const UNSAMPLED_TRACE = '5bf92f3577b34da6a3ce929d0e0e4736';
const UNSAMPLED_SPAN = '10f067aa0ba902b7';
const UNSAMPLED = `00-${UNSAMPLED_TRACE}-${UNSAMPLED_SPAN}-00`;
const SAMPLED = '00-6bf92f3577b34da6a3ce929d0e0e4736-20f067aa0ba902b7-01';

/** Sampler at 0 for new traces; parents decide for continued ones (the default sampler). */
function unsampledProxy(receiver: OtlpReceiver, env: Record<string, string> = {}): Promise<TestProxy> {
  return startTestProxy({
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0',
    OTEL_BSP_SCHEDULE_DELAY: '50',
    // Above what a busy shared machine takes for a healthy message, below the slow test's wait.
    PROXY_OUTCOME_PROCESS_OVER_MS: '1000',
    PROXY_OUTCOME_BROKER_HOP_OVER_MS: '1000',
    ...env,
  });
}

const inTrace = (all: ReceivedSpan[], traceId: string): ReceivedSpan[] => all.filter((s) => s.traceId === traceId);
const role = (spans: ReceivedSpan[], name: 'publish' | 'broker_hop' | 'receive' | 'process' | 'return'): ReceivedSpan | undefined =>
  spans.find((s) => s.attributes[Attr.proxySpan] === name);
const seen = (msg: Message): TraceParent => parseTraceParent(String(headersOf(msg)[Header.traceparent]))!;
const describe = (spans: ReceivedSpan[]): string => spans.map((s) => `${s.name} [${String(s.attributes[Attr.keptRule])}]`).join(', ') || 'none';

/** One message from a consumer that is cancelled at once, handed to the test unsettled. */
async function nextMessage(ch: amqp.Channel, queue: string): Promise<amqp.ConsumeMessage> {
  await ch.prefetch(1);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message from ${queue}`)), 10_000);
    let got = false;
    const consumer = ch.consume(queue, (msg) => {
      if (msg === null || got) return;
      got = true;
      clearTimeout(timer);
      consumer.then(({ consumerTag }) => ch.cancel(consumerTag)).then(() => resolve(msg), reject);
    });
  });
}

/** The hop and process spans of one delivery, checked for the shape every kept delivery has. */
function assertKeptDelivery(all: ReceivedSpan[], ctx: TraceParent, reason: string, rule: string): { hop: ReceivedSpan; process: ReceivedSpan } {
  const spans = inTrace(all, ctx.traceId);
  const hop = role(spans, 'broker_hop');
  const process = role(spans, 'process');
  assert.ok(hop && process, `hop and process in trace ${ctx.traceId}: ${describe(spans)}`);
  assert.is(hop!.parentSpanId, ctx.spanId, 'the hop is a child of the traceparent the consumer saw');
  assert.is(process!.parentSpanId, hop!.spanId, 'process ← hop');
  for (const s of [hop!, process!]) {
    assert.is(s.attributes[Attr.kept], reason, s.name);
    assert.is(s.attributes[Attr.keptRule], rule, s.name);
    assert.is(s.kind, 'CONSUMER');
    assert.ok(s.startTimeUnixNano <= s.endTimeUnixNano, `${s.name}: starts before it ends`);
  }
  assert.ok(hop!.endTimeUnixNano <= process!.startTimeUnixNano + 1_000_000n, 'processing starts when the hop ends');
  return { hop: hop!, process: process! };
}

/** The publish span made for a kept delivery of a publish whose traceparent the proxy injected. */
function assertOwnPublish(spans: ReceivedSpan[], ctx: TraceParent, hop: ReceivedSpan, rule: string, messageId: string): void {
  const publish = role(spans, 'publish');
  assert.ok(publish, `the publish span: ${describe(spans)}`);
  assert.is(publish!.spanId, ctx.spanId, 'the id the proxy injected');
  assert.is(hop.parentSpanId, publish!.spanId, 'the hop\'s parent is not missing');
  assert.is(publish!.parentSpanId, '', 'a trace the proxy started: the publish span is its root');
  assert.is(publish!.kind, 'PRODUCER');
  assert.is(publish!.name, 'publish (temporary)', 'the name a sampled publish span has');
  assert.is(publish!.attributes[Attr.proxyContext], 'injected');
  assert.is(publish!.attributes[Attr.messageId], messageId || undefined);
  assert.is(publish!.attributes[Attr.kept], 'error');
  assert.is(publish!.attributes[Attr.keptRule], rule, 'kept with the delivery\'s reason');
  assert.is.not(publish!.status.code, 'ERROR', 'the publish itself went well');
  assert.ok(publish!.startTimeUnixNano <= publish!.endTimeUnixNano, 'real times');
  assert.ok(publish!.endTimeUnixNano <= hop.endTimeUnixNano, 'published before it was delivered');
}

interface Ctx { receiver: OtlpReceiver; proxy: TestProxy }
const outcome = suite<Ctx>('outcome-based export, sampler at 0', {} as Ctx);

outcome.before(async (ctx) => {
  await requireBroker();
  ctx.receiver = await startOtlpReceiver();
  ctx.proxy = await unsampledProxy(ctx.receiver);
});
outcome.after(async (ctx) => {
  await ctx.proxy.stop();
  await ctx.receiver.close();
});
outcome.before.each((ctx) => ctx.receiver.clear());

outcome('healthy messages export nothing: published with confirms, consumed, acked', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    const queue = (await ch.assertQueue(uniqueName('healthy'), { exclusive: true })).queue;
    for (let i = 0; i < 20; i++) ch.sendToQueue(queue, Buffer.from('ok'), i % 2 ? { headers: { traceparent: UNSAMPLED } } : {});
    await ch.waitForConfirms();
    await new Promise<void>((resolve) => {
      let n = 0;
      void ch.consume(queue, (msg) => {
        if (msg === null) return;
        ch.ack(msg);
        if (++n === 20) resolve();
      });
    });
  });
  await proxy.app.telemetry.forceFlush();
  await sleep(200);
  assert.equal(describe(receiver.spans()), 'none');
});

outcome('rejected by the consumer: broker hop and process kept, error, in the injected trace', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    const queue = (await ch.assertQueue(uniqueName('reject'), { exclusive: true })).queue;
    ch.sendToQueue(queue, Buffer.from('bad'), { messageId: 'm-reject' });
    await ch.waitForConfirms();
    const msg = await nextMessage(ch, queue);
    const ctx = seen(msg);
    assert.is(ctx.traceFlags, 0, 'not sampled');
    ch.reject(msg, false);
    const all = await receiver.waitFor((s) => role(inTrace(s, ctx.traceId), 'process') !== undefined);
    const { process, hop } = assertKeptDelivery(all, ctx, 'error', 'delivery_reject');
    assert.is(process.status.code, 'ERROR');
    assert.is(process.attributes[Attr.errorType], 'reject');
    assert.is(process.name, 'process (temporary)', 'the name a sampled span would have (an exclusive queue)');
    assert.is(hop.attributes[Attr.messageId], 'm-reject', 'the usual attributes');
    assert.is(hop.attributes[Attr.subscriptionName], queue);
    // The proxy injected the traceparent, so it made the publish span's id: that span is made too.
    const spans = inTrace(all, ctx.traceId);
    assert.is(spans.filter((s) => s.attributes[Attr.proxySpan] === 'publish').length, 1, `one publish span: ${describe(spans)}`);
    assertOwnPublish(spans, ctx, hop, 'delivery_reject', 'm-reject');
  });
});

outcome('nacked by the consumer under a publisher\'s unsampled traceparent: kept in that trace, under it', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createChannel();
    const queue = (await ch.assertQueue(uniqueName('nack'), { exclusive: true })).queue;
    ch.sendToQueue(queue, Buffer.from('bad'), { headers: { traceparent: UNSAMPLED } });
    const msg = await nextMessage(ch, queue);
    assert.is(headersOf(msg)[Header.traceparent], UNSAMPLED, 'downstream sees the traceparent unchanged');
    ch.nack(msg, false, false);
    const all = await receiver.waitFor((s) => role(inTrace(s, UNSAMPLED_TRACE), 'process') !== undefined);
    const { process } = assertKeptDelivery(all, seen(msg), 'error', 'delivery_nack');
    assert.is(process.attributes[Attr.errorType], 'nack');
    await proxy.app.telemetry.forceFlush();
    await sleep(200);
    const spans = inTrace(receiver.spans(), UNSAMPLED_TRACE);
    assert.is(role(spans, 'publish'), undefined, `the publisher made the publish span's id, not the proxy: none made up (${describe(spans)})`);
  });
});

outcome('rejected by the consumer, published without confirms nor traceparent: the publish span too, parent of the hop', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createChannel();
    const queue = (await ch.assertQueue(uniqueName('reject-noconfirm'), { exclusive: true })).queue;
    ch.sendToQueue(queue, Buffer.from('bad'), { messageId: 'm-noconfirm' });
    const msg = await nextMessage(ch, queue);
    const ctx = seen(msg);
    ch.reject(msg, false);
    const all = await receiver.waitFor((s) => role(inTrace(s, ctx.traceId), 'process') !== undefined);
    const { hop } = assertKeptDelivery(all, ctx, 'error', 'delivery_reject');
    assertOwnPublish(inTrace(all, ctx.traceId), ctx, hop, 'delivery_reject', 'm-noconfirm');
  });
});

outcome('nacked by the broker: the publish span is kept, with the traceparent\'s ids (injected) or under it (continued)', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    const full = (await ch.assertQueue(uniqueName('full'), { exclusive: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } })).queue;
    const publish = (options: amqp.Options.Publish): Promise<boolean> =>
      new Promise((resolve) => ch.sendToQueue(full, Buffer.from('n'), options, (err) => resolve(err !== null && err !== undefined)));
    assert.ok(await publish({ messageId: 'm-injected' }), 'the broker nacks a publish to a full reject-publish queue');
    assert.ok(await publish({ messageId: 'm-continued', headers: { traceparent: UNSAMPLED } }));
    const all = await receiver.waitFor((s) => s.filter((x) => x.attributes[Attr.keptRule] === 'publish_nack').length === 2);
    const injected = all.find((s) => s.attributes[Attr.messageId] === 'm-injected')!;
    const continued = all.find((s) => s.attributes[Attr.messageId] === 'm-continued')!;
    assert.is(injected.kind, 'PRODUCER', 'its context is the message\'s creation context');
    assert.is(continued.kind, 'CLIENT', 'the publisher\'s context is, as for a sampled span');
    for (const s of [injected, continued]) {
      assert.is(s.name, 'publish (temporary)');
      assert.is(s.status.code, 'ERROR');
      assert.is(s.attributes[Attr.errorType], 'nack');
      assert.is(s.attributes[Attr.kept], 'error');
      assert.ok(s.startTimeUnixNano < s.endTimeUnixNano, 'from publish to the nack');
    }
    assert.is(injected.parentSpanId, '', 'a trace the proxy started: the publish span is its root');
    assert.is(injected.attributes[Attr.proxyContext], 'injected');
    assert.is(continued.traceId, UNSAMPLED_TRACE);
    assert.is(continued.parentSpanId, UNSAMPLED_SPAN);
  });
});

outcome('returned unroutable: with confirms the publish span is kept with its basic.return; without, a return span', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    // The publisher gets its message back as it sent it (no traceparent): the spans are found by message id.
    const byMessageId = (spans: ReceivedSpan[], id: string): ReceivedSpan | undefined => spans.find((x) => x.attributes[Attr.messageId] === id);
    const confirm = await conn.createConfirmChannel();
    const returned = new Promise<Message>((resolve) => confirm.once('return', resolve));
    confirm.publish('', uniqueName('nowhere'), Buffer.from('r'), { mandatory: true, messageId: 'm-ret-confirm' });
    await confirm.waitForConfirms();
    assert.is(headersOf(await returned)[Header.traceparent], undefined, 'returned as sent');
    const all = await receiver.waitFor((s) => byMessageId(s, 'm-ret-confirm') !== undefined);
    const publish = byMessageId(all, 'm-ret-confirm')!;
    assert.is(publish.parentSpanId, '', 'the root of the trace the proxy started for it');
    assert.is(publish.kind, 'PRODUCER');
    assert.is(publish.attributes[Attr.keptRule], 'publish_returned');
    assert.is(publish.attributes[Attr.errorType], 'unroutable');
    assert.equal(publish.events.map((e) => e.name), ['basic.return']);
    assert.is(publish.events[0]!.attributes['amqp.reply_code'], 312);

    const plain = await conn.createChannel();
    const returnedPlain = new Promise<Message>((resolve) => plain.once('return', resolve));
    plain.publish('', uniqueName('nowhere'), Buffer.from('r'), { mandatory: true, headers: { traceparent: UNSAMPLED } });
    assert.is(headersOf(await returnedPlain)[Header.traceparent], UNSAMPLED);
    const more = await receiver.waitFor((s) => role(inTrace(s, UNSAMPLED_TRACE), 'return') !== undefined);
    const ret = role(inTrace(more, UNSAMPLED_TRACE), 'return')!;
    assert.is(ret.parentSpanId, UNSAMPLED_SPAN, 'under the traceparent it was published with');
    assert.is(ret.attributes[Attr.keptRule], 'publish_returned');
    assert.is(ret.attributes[Attr.errorType], 'unroutable');
  });
});

outcome('closed before the confirm: the publish span is kept with error.type channel_closed', async ({ proxy, receiver }) => {
  const queue = uniqueName('unconfirmed');
  await withConnection(proxy.url, async (conn) => {
    const setup = await conn.createChannel();
    await setup.assertQueue(queue, { durable: false });
    // A hand-written client sends the publish and channel.close in one write: the proxy sees
    // the close before the broker can have confirmed anything.
    const raw = await RawClient.open(proxy.port);
    try {
      raw.sendMethod(1, Method.ConfirmSelect, { nowait: false });
      await raw.method(Method.ConfirmSelectOk);
      const body = Buffer.from('x');
      raw.socket.write(Buffer.concat([
        encodeFrame(FRAME_METHOD, 1, referenceMethodPayload(Method.BasicPublish, { exchange: '', routingKey: queue, mandatory: false, immediate: false })),
        encodeFrame(FRAME_HEADER, 1, referenceContentHeader({ messageId: 'm-unconfirmed' }, body.length)),
        encodeFrame(FRAME_BODY, 1, body),
        encodeFrame(FRAME_METHOD, 1, referenceMethodPayload(Method.ChannelClose, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 })),
      ]));
      await raw.method(Method.ChannelCloseOk);
    } finally {
      raw.socket.destroy();
    }
    const all = await receiver.waitFor((x) => x.some((y) => y.attributes[Attr.messageId] === 'm-unconfirmed'));
    const publish = all.find((x) => x.attributes[Attr.messageId] === 'm-unconfirmed')!;
    assert.is(publish.attributes[Attr.keptRule], 'publish_closed');
    assert.is(publish.attributes[Attr.errorType], 'channel_closed');
    assert.is(publish.parentSpanId, '');
    const msg = await setup.get(queue, { noAck: true });
    assert.ok(msg, 'the message itself went through');
    assert.is(seen(msg as amqp.GetMessage).spanId, publish.spanId, 'the span the consumer\'s traceparent names');
    await setup.deleteQueue(queue);
  });
});

outcome('closed before settling, then redelivered: both deliveries kept in the one trace', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    const setup = await conn.createChannel();
    const queue = (await setup.assertQueue(uniqueName('redeliver'), { exclusive: true })).queue;
    setup.sendToQueue(queue, Buffer.from('x'));
    const first = await conn.createChannel();
    const msg = await nextMessage(first, queue);
    const ctx = seen(msg);
    await first.close();
    const second = await conn.createChannel();
    const again = await nextMessage(second, queue);
    assert.ok(again.fields.redelivered, 'the broker redelivers it');
    second.ack(again);
    const all = await receiver.waitFor((s) => inTrace(s, ctx.traceId).filter((x) => x.attributes[Attr.proxySpan] === 'process').length === 2);
    const spans = inTrace(all, ctx.traceId);
    const closed = spans.filter((s) => s.attributes[Attr.keptRule] === 'delivery_closed');
    const redelivered = spans.filter((s) => s.attributes[Attr.keptRule] === 'redelivered');
    // The first keep also makes the publish span (the proxy injected its id); only once.
    assert.is(closed.length, 3, describe(spans));
    assert.is(redelivered.length, 2, describe(spans));
    assert.is(role(redelivered, 'publish'), undefined, 'the publish span is not made twice');
    assertOwnPublish(spans, ctx, assertKeptDelivery(closed, ctx, 'error', 'delivery_closed').hop, 'delivery_closed', '');
    const { process } = assertKeptDelivery(redelivered, ctx, 'error', 'redelivered');
    assert.is(role(closed, 'process')!.attributes[Attr.errorType], 'channel_closed');
    assert.is(process.status.code, 'UNSET', 'the redelivery itself was acked');
  });
});

/** A proxy on which only `rule` keeps, its threshold at 0: any latency crosses it, with no sleep. */
const onlyLatencyRule = (receiver: OtlpReceiver, rule: OutcomeRule): Promise<TestProxy> => unsampledProxy(receiver, {
  PROXY_OUTCOME_RULES_OFF: OUTCOME_RULES.filter((r) => r !== rule).join(','),
  PROXY_OUTCOME_PROCESS_OVER_MS: '0',
  PROXY_OUTCOME_BROKER_HOP_OVER_MS: '0',
});

outcome('slow: processing and the broker hop above their thresholds (0 here) are kept as latency, with their real times', async ({ receiver }) => {
  const slowConsumer = await onlyLatencyRule(receiver, 'process_latency');
  try {
    await withConnection(slowConsumer.url, async (conn) => {
      const ch = await conn.createChannel();
      const queue = (await ch.assertQueue(uniqueName('slow'), { exclusive: true })).queue;
      ch.sendToQueue(queue, Buffer.from('slow consumer'));
      const msg = await nextMessage(ch, queue);
      ch.ack(msg);
      const ctx = seen(msg);
      const all = await receiver.waitFor((s) => role(inTrace(s, ctx.traceId), 'process') !== undefined);
      const { process } = assertKeptDelivery(all, ctx, 'latency', 'process_latency');
      assert.ok(process.endTimeUnixNano > process.startTimeUnixNano, 'the process span runs from the delivery to the ack');
      assert.is(process.status.code, 'UNSET');
    });
  } finally {
    await slowConsumer.stop();
  }

  const slowHop = await onlyLatencyRule(receiver, 'broker_hop_latency');
  try {
    await withConnection(slowHop.url, async (conn) => {
      const ch = await conn.createChannel();
      const queue = (await ch.assertQueue(uniqueName('slow-hop'), { exclusive: true })).queue;
      ch.sendToQueue(queue, Buffer.from('queued'));
      const box: { got?: amqp.GetMessage } = {};
      await waitFor('the message to be queued', async () => (box.got = (await ch.get(queue)) || undefined) !== undefined);
      const got = box.got!;
      ch.ack(got);
      const stampNs = BigInt(String(headersOf(got)[Header.publishedAt])) * 1000n;
      const hopCtx = seen(got);
      const more = await receiver.waitFor((s) => role(inTrace(s, hopCtx.traceId), 'process') !== undefined);
      const { hop } = assertKeptDelivery(more, hopCtx, 'latency', 'broker_hop_latency');
      const fromStamp = hop.startTimeUnixNano - stampNs;
      assert.ok(fromStamp > -1000n && fromStamp < 1000n, `the hop starts at the publish stamp (${fromStamp} ns from it)`);
      const receive = role(inTrace(more, hopCtx.traceId), 'receive');
      assert.ok(receive, 'basic.get has its receive span too');
      assert.is(receive!.kind, 'CLIENT');
      assert.is(receive!.attributes[Attr.keptRule], 'broker_hop_latency');
    });
  } finally {
    await slowHop.stop();
  }
});

outcome('a sampled publisher\'s trace is unaffected: one span of each, none marked kept', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createChannel();
    const queue = (await ch.assertQueue(uniqueName('sampled'), { exclusive: true })).queue;
    ch.sendToQueue(queue, Buffer.from('x'), { headers: { traceparent: SAMPLED } });
    const first = await nextMessage(ch, queue);
    ch.reject(first, true);
    const again = await nextMessage(ch, queue);
    ch.reject(again, false);
    const traceId = seen(first).traceId;
    const all = await receiver.waitFor((s) => inTrace(s, traceId).filter((x) => x.attributes[Attr.proxySpan] === 'process').length === 2);
    await proxy.app.telemetry.forceFlush();
    const spans = inTrace(receiver.spans(), traceId);
    assert.equal(spans.map((s) => s.attributes[Attr.proxySpan]).sort(), ['broker_hop', 'broker_hop', 'process', 'process', 'publish'], describe(all));
    assert.ok(spans.every((s) => s.attributes[Attr.kept] === undefined), 'sampled spans are not marked kept');
    assert.is(new Set(spans.map((s) => s.spanId)).size, spans.length, 'no span twice');
  });
});

outcome.run();

const options = suite('outcome-based export: options, rate limit, delivery rewrite');

options('the rate limit holds under a burst of rejections; what it drops is counted', async () => {
  await requireBroker();
  const receiver = await startOtlpReceiver();
  const proxy = await unsampledProxy(receiver, { PROXY_OUTCOME_RATE_LIMIT: '5' });
  const count = 200;
  try {
    const started = Date.now();
    await withConnection(proxy.url, async (conn) => {
      const ch = await conn.createChannel();
      const queue = (await ch.assertQueue(uniqueName('burst'), { exclusive: true })).queue;
      for (let i = 0; i < count; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
      await new Promise<void>((resolve) => {
        let n = 0;
        void ch.consume(queue, (msg) => {
          if (msg === null) return;
          ch.reject(msg, false);
          if (++n === count) resolve();
        });
      });
      await ch.close();
    });
    const seconds = Math.ceil((Date.now() - started) / 1000);
    const text = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
    const metric = (re: RegExp): number => Number(re.exec(text)?.[1]);
    const keptMetric = metric(/amqp_trace_proxy_outcome_kept_total\{reason="error",rule="delivery_reject"\} (\d+)/);
    const dropped = metric(/amqp_trace_proxy_outcome_dropped_total\{rule="delivery_reject"\} (\d+)/);
    const traces = (spans: ReceivedSpan[]): number => new Set(spans.map((s) => s.traceId)).size;
    await receiver.waitFor((spans) => traces(spans) >= keptMetric && spans.length >= 3 * keptMetric);
    await proxy.app.telemetry.forceFlush();
    await sleep(200);
    const kept = traces(receiver.spans());
    // The proxy injected each traceparent, so each kept message also gets its publish span.
    assert.is(receiver.spans().length, 3 * kept, 'a publish, a hop and a process span per kept message');
    // A bucket of 5 refilled at 5 per second: at most 5 + 5 per second of the burst.
    assert.ok(kept >= 5 && kept <= 5 * (seconds + 1), `kept ${kept} traces in ${seconds} s`);
    assert.is(keptMetric, kept, 'the kept counter matches what was exported');
    assert.is(keptMetric + dropped, count, `kept ${keptMetric} + dropped ${dropped}`);
  } finally {
    await proxy.stop();
    await receiver.close();
  }
});

options('rules switched off keep nothing; confirm latency over 0 ms keeps the publish span', async () => {
  const receiver = await startOtlpReceiver();
  const proxy = await unsampledProxy(receiver, {
    PROXY_OUTCOME_RULES_OFF: 'delivery_reject,publish_nack',
    PROXY_OUTCOME_CONFIRM_OVER_MS: '0',
  });
  try {
    await withConnection(proxy.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      const full = (await ch.assertQueue(uniqueName('full'), { exclusive: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } })).queue;
      await new Promise((resolve) => ch.sendToQueue(full, Buffer.from('n'), { messageId: 'nacked' }, resolve));
      const queue = (await ch.assertQueue(uniqueName('off'), { exclusive: true })).queue;
      ch.sendToQueue(queue, Buffer.from('x'), { messageId: 'confirmed' });
      await ch.waitForConfirms();
      const msg = await nextMessage(ch, queue);
      ch.reject(msg, false);
      const ctx = seen(msg);
      const all = await receiver.waitFor((s) => s.some((x) => x.attributes[Attr.messageId] === 'confirmed'));
      await proxy.app.telemetry.forceFlush();
      await sleep(200);
      const publish = all.find((s) => s.attributes[Attr.messageId] === 'confirmed')!;
      assert.is(publish.attributes[Attr.keptRule], 'confirm_latency');
      assert.is(publish.attributes[Attr.kept], 'latency');
      assert.is(publish.spanId, ctx.spanId, 'the injected context is the publish span');
      assert.is(publish.status.code, 'UNSET');
      const others = receiver.spans().filter((s) => s !== publish && s.spanId !== publish.spanId);
      // The nacked publish is also slower than 0 ms: kept for its latency, not its nack.
      assert.equal(others.map((s) => [s.attributes[Attr.messageId], s.attributes[Attr.keptRule]]), [['nacked', 'confirm_latency']]);
      assert.is(inTrace(receiver.spans(), ctx.traceId).length, 1, 'the reject kept nothing');
    });
  } finally {
    await proxy.stop();
    await receiver.close();
  }
});

options('PROXY_OUTCOME_EXPORT=false: a rejected unsampled message exports nothing', async () => {
  const receiver = await startOtlpReceiver();
  const proxy = await unsampledProxy(receiver, { PROXY_OUTCOME_EXPORT: 'false' });
  try {
    await withConnection(proxy.url, async (conn) => {
      const ch = await conn.createChannel();
      const queue = (await ch.assertQueue(uniqueName('off'), { exclusive: true })).queue;
      ch.sendToQueue(queue, Buffer.from('x'));
      ch.reject(await nextMessage(ch, queue), false);
      await ch.close();
    });
    await proxy.app.telemetry.forceFlush();
    await sleep(200);
    assert.equal(describe(receiver.spans()), 'none');
  } finally {
    await proxy.stop();
    await receiver.close();
  }
});

options('rewrite on delivery: the kept hop has the id the consumer was given', async () => {
  const receiver = await startOtlpReceiver();
  const proxy = await unsampledProxy(receiver, { PROXY_REWRITE_ON_DELIVERY: 'true' });
  try {
    await withConnection(proxy.url, async (conn) => {
      const ch = await conn.createChannel();
      const queue = (await ch.assertQueue(uniqueName('rewrite'), { exclusive: true })).queue;
      ch.sendToQueue(queue, Buffer.from('x'), { headers: { traceparent: UNSAMPLED } });
      const msg = await nextMessage(ch, queue);
      const ctx = seen(msg);
      assert.is(ctx.traceId, UNSAMPLED_TRACE);
      assert.is(ctx.traceFlags, 0, 'still unsampled downstream');
      ch.reject(msg, false);
      const all = await receiver.waitFor((s) => role(s, 'process') !== undefined);
      const hop = role(all, 'broker_hop')!;
      assert.is(hop.spanId, ctx.spanId);
      assert.is(hop.parentSpanId, UNSAMPLED_SPAN);
      assert.is(role(all, 'process')!.parentSpanId, hop.spanId);
    });
  } finally {
    await proxy.stop();
    await receiver.close();
  }
});

options.run();

const celery = suite('outcome-based export: a real Celery worker');

celery('a task that raises with task_acks_late and task_acks_on_failure_or_timeout=False is kept; a task that succeeds is not', async () => {
  await requireBroker();
  const receiver = await startOtlpReceiver();
  // Default thresholds: Celery's late ack of an idle worker's last task can take ~2 s.
  const proxy = await startTestProxy({
    OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0', OTEL_BSP_SCHEDULE_DELAY: '50',
  });
  const queues = uniqueQueues('outcome-celery');
  const conn = await amqplib.connect(BROKER_URL);
  const ch = await conn.createChannel();
  let oid: string | undefined;
  const worker = await startCeleryWorker({
    brokerUrl: `${proxy.url}//`, queues,
    env: { DEMO_ACKS_LATE: '1', DEMO_ACKS_ON_FAILURE: '0' },
    args: ['-Q', `${queues.llm},${queues.vector}`, '--without-gossip', '--without-mingle'],
  });
  try {
    const out = await runCeleryPython([
      'import json',
      'from worker.app import app',
      "failed = app.send_task('llm.fail', args=['c-fail'])",
      "ok = app.send_task('vector.embed', args=['c-ok'])",
      "print(json.dumps({'failed': failed.id, 'ok': ok.id, 'oid': app.backend.oid}))",
    ].join('\n'), `${proxy.url}//`, queues);
    const ids = JSON.parse(out.trim().split('\n').pop()!) as { failed: string; ok: string; oid: string };
    oid = ids.oid;
    const records = await worker.waitForProbe((rs) => rs.filter((r) => r.event === 'postrun').length === 2);
    const failed = prerunOf(records, ids.failed)!;
    const ctx = parseTraceParent(failed.traceparent!)!;
    assert.is(ctx.traceFlags, 0, 'the worker saw an unsampled trace');
    const all = await receiver.waitFor((xs) => role(inTrace(xs, ctx.traceId), 'process') !== undefined, 15_000);
    const { process, hop } = assertKeptDelivery(all, ctx, 'error', 'delivery_reject');
    assert.is(process.attributes[Attr.errorType], 'reject');
    assert.is(process.attributes[Attr.celeryTaskId], ids.failed, 'found by the task id in a worker log line');
    assert.is(hop.attributes[Attr.celeryTaskName], 'llm.fail');
    // The worker acks the good task after it ran: once that ack has passed the proxy, look.
    const acks = async (): Promise<number> =>
      Number(/amqp_trace_proxy_process_seconds_count\{outcome="ack"\} (\d+)/.exec(await proxy.app.metrics.registry.metrics())?.[1] ?? 0);
    await waitFor('the worker\'s ack of the good task to pass the proxy', async () => (await acks()) >= 1, 15_000);
    await proxy.app.telemetry.forceFlush();
    const okTrace = parseTraceParent(prerunOf(records, ids.ok)!.traceparent!)!.traceId;
    assert.equal(describe(inTrace(receiver.spans(), okTrace)), 'none', 'the task that succeeded left no span');
  } finally {
    await worker.stop();
    for (const q of [queues.llm, queues.whisper, queues.vector, ...(oid ? [oid] : [])]) await ch.deleteQueue(q).catch(() => undefined);
    for (const q of Object.values(queues)) await ch.deleteExchange(q).catch(() => undefined);
    await conn.close().catch(() => undefined);
    await proxy.stop();
    await receiver.close();
  }
});

celery.run();
