import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type * as amqp from 'amqplib';
import { Attr, Header } from '../../src/trace/attributes';
import { parseTraceParent } from '../../src/trace/traceparent';
import { consumeN, headersOf, withConnection } from '../support/amqp';
import { BROKER_PORT, requireBroker, uniqueName } from '../support/broker';
import { OtlpReceiver, ReceivedSpan, startOtlpReceiver } from '../support/otlpReceiver';
import { TestProxy, startTestProxy } from '../support/proxy';

const PARENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';
const SAMPLED = `00-${PARENT_TRACE}-${PARENT_SPAN}-01`;

interface Ctx { receiver: OtlpReceiver; proxy: TestProxy }
const spans = suite<Ctx>('OpenTelemetry spans', {} as Ctx);

function exportingTo(receiver: OtlpReceiver, sampler = 'parentbased_always_on', arg = '1'): Record<string, string> {
  return {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_TRACES_SAMPLER: sampler,
    OTEL_TRACES_SAMPLER_ARG: arg,
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_SERVICE_NAME: 'proxy-under-test',
  };
}

spans.before(async (ctx) => {
  await requireBroker();
  ctx.receiver = await startOtlpReceiver();
  ctx.proxy = await startTestProxy(exportingTo(ctx.receiver));
});
spans.after(async (ctx) => {
  await ctx.proxy.stop();
  await ctx.receiver.close();
});
spans.before.each((ctx) => ctx.receiver.clear());

const byName = (all: ReceivedSpan[], prefix: string): ReceivedSpan[] => all.filter((s) => s.name.startsWith(prefix));

spans('sampled traceparent: publish → broker hop → process, one trace, semantic-convention attributes', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    // Not exclusive: a temporary queue's name stays out of span names (tested below).
    const queue = (await ch.assertQueue(uniqueName('spans'), { autoDelete: false })).queue;
    ch.sendToQueue(queue, Buffer.from('hello'), { headers: { traceparent: SAMPLED }, messageId: 'msg-1', correlationId: 'conv-1' });
    await ch.waitForConfirms();
    const [msg] = await consumeN(ch, queue, 1);
    assert.is(headersOf(msg!)[Header.traceparent], SAMPLED, 'creation context not modified');
    const all = await receiver.waitFor((s) => byName(s, 'process ').length === 1);
    const [publish] = byName(all, 'publish ');
    const [hop] = byName(all, 'broker_hop ');
    const [process] = byName(all, 'process ');
    assert.ok(publish && hop && process, all.map((s) => s.name).join(', '));
    assert.is(publish!.name, `publish ${queue}`);
    assert.is(publish!.kind, 'CLIENT', 'the publisher\'s traceparent is the creation context, not the proxy\'s span');
    assert.is(publish!.traceId, PARENT_TRACE);
    assert.is(publish!.parentSpanId, PARENT_SPAN);
    assert.is(publish!.status.code, 'UNSET');
    assert.is(publish!.serviceName, 'proxy-under-test');
    assert.equal(
      [publish!.attributes[Attr.messagingSystem], publish!.attributes[Attr.operationType], publish!.attributes[Attr.operationName]],
      ['rabbitmq', 'send', 'publish'],
    );
    assert.is(publish!.attributes[Attr.destinationName], queue);
    assert.is(publish!.attributes[Attr.routingKey], queue);
    assert.is(publish!.attributes[Attr.messageId], 'msg-1');
    assert.is(publish!.attributes[Attr.conversationId], 'conv-1');
    assert.is(publish!.attributes[Attr.bodySize], 5);
    assert.is(publish!.attributes[Attr.serverAddress], '127.0.0.1');
    assert.is(publish!.attributes[Attr.serverPort], BROKER_PORT);

    assert.is(hop!.name, `broker_hop ${queue}`);
    assert.is(hop!.kind, 'CONSUMER');
    assert.is(hop!.attributes[Attr.proxySpan], 'broker_hop');
    assert.is(hop!.attributes[Attr.operationType], undefined, 'the broker hop is none of the conventions\' operations');
    assert.is(hop!.traceId, PARENT_TRACE);
    assert.is(hop!.parentSpanId, PARENT_SPAN, 'the hop is a child of the message context');
    assert.is(hop!.attributes[Attr.deliveryTag], 1);
    // The hop starts at the publish stamp the proxy wrote; the SDK's span clock is anchored
    // to Date.now() and may drift from performance.now() by a few ms, hence the tolerance.
    const slack = 20_000_000n;
    assert.ok(hop!.startTimeUnixNano >= publish!.startTimeUnixNano - slack, 'the hop starts at the publish time, not before');
    assert.ok(hop!.startTimeUnixNano <= publish!.endTimeUnixNano + slack, 'the hop starts at the publish time, not at delivery');
    assert.is(process!.name, `process ${queue}`);
    assert.is(process!.kind, 'CONSUMER');
    assert.is(process!.traceId, PARENT_TRACE);
    assert.is(process!.parentSpanId, hop!.spanId);
    assert.is(process!.attributes[Attr.operationType], 'process');
    assert.is(process!.status.code, 'UNSET');
    await ch.deleteQueue(queue);
  });
});

spans('exclusive and server-named queues: a fixed word in the span name, the real name in attributes', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    const named = (await ch.assertQueue(uniqueName('excl'), { exclusive: true })).queue;
    const serverNamed = (await ch.assertQueue('', { exclusive: true })).queue;
    assert.match(serverNamed, /^amq\.gen-/);
    for (const q of [named, serverNamed]) ch.sendToQueue(q, Buffer.from('x'));
    await ch.waitForConfirms();
    await consumeN(ch, named, 1);
    await consumeN(ch, serverNamed, 1);
    const all = await receiver.waitFor((s) => byName(s, 'process ').length === 2);
    assert.equal([...new Set(all.map((s) => s.name))].sort(), ['broker_hop (temporary)', 'process (temporary)', 'publish (temporary)']);
    const publishes = byName(all, 'publish ');
    assert.equal(publishes.map((s) => s.attributes[Attr.destinationName]).sort(), [named, serverNamed].sort());
    assert.ok(publishes.every((s) => s.kind === 'PRODUCER' && s.attributes[Attr.destinationTemporary] === true));
    const anonymous = all.filter((s) => s.attributes[Attr.destinationAnonymous] === true);
    assert.ok(anonymous.length === 3 && anonymous.every((s) => s.attributes[Attr.destinationName] === serverNamed),
      'only the server-named queue is anonymous');
  });
});

spans('no traceparent: the publish span is the root and its context is what the consumer sees', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createChannel();
    const queue = (await ch.assertQueue(uniqueName('root'), { exclusive: true })).queue;
    ch.sendToQueue(queue, Buffer.from('x'));
    const [msg] = await consumeN(ch, queue, 1);
    const seen = parseTraceParent(String(headersOf(msg!)[Header.traceparent]))!;
    const all = await receiver.waitFor((s) => byName(s, 'process ').length === 1);
    const [publish] = byName(all, 'publish ');
    assert.is(publish!.parentSpanId, '');
    assert.is(seen.traceId, publish!.traceId);
    assert.is(seen.spanId, publish!.spanId);
    assert.is(seen.traceFlags, 1);
    assert.ok(all.every((s) => s.traceId === publish!.traceId));
  });
});

spans('confirms: ack ends the publish span OK, a nack ends it with an error; basic.return is an event', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    const full = (await ch.assertQueue(uniqueName('full'), { exclusive: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } })).queue;
    const nacked = await new Promise<boolean>((resolve) => ch.sendToQueue(full, Buffer.from('n'), {}, (err) => resolve(err !== null && err !== undefined)));
    assert.ok(nacked, 'the broker nacks a publish to a full reject-publish queue');
    const returned = new Promise((resolve) => ch.once('return', resolve));
    ch.publish('', uniqueName('nowhere'), Buffer.from('r'), { mandatory: true });
    await ch.waitForConfirms();
    await returned;
    const all = await receiver.waitFor((s) => byName(s, 'publish ').length === 2);
    const nack = all.find((s) => s.attributes[Attr.destinationName] === full)!;
    assert.is(nack.status.code, 'ERROR');
    assert.is(nack.attributes[Attr.errorType], 'nack');
    const ret = all.find((s) => s !== nack && s.name.startsWith('publish '))!;
    assert.equal(ret.events.map((e) => e.name), ['basic.return']);
    assert.is(ret.events[0]!.attributes['amqp.reply_code'], 312);
    assert.is(ret.attributes[Attr.errorType], 'unroutable');
  });
});

spans('basic.get makes a broker hop and a CLIENT receive span; a consumer nack makes an error process span', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    const queue = (await ch.assertQueue(uniqueName('getnack'), { exclusive: true })).queue;
    ch.sendToQueue(queue, Buffer.from('1'));
    await ch.waitForConfirms();
    const got = (await ch.get(queue)) as amqp.GetMessage;
    ch.nack(got, false, false);
    const all = await receiver.waitFor((s) => byName(s, 'process ').length === 1);
    const [receive] = byName(all, 'get ');
    assert.ok(receive, all.map((s) => s.name).join(', '));
    assert.is(receive!.name, 'get (temporary)', 'an exclusive queue');
    assert.is(receive!.kind, 'CLIENT');
    assert.equal([receive!.attributes[Attr.operationType], receive!.attributes[Attr.operationName]], ['receive', 'get']);
    const [hop] = byName(all, 'broker_hop ');
    assert.is(receive!.parentSpanId, hop!.spanId);
    const [process] = byName(all, 'process ');
    assert.is(process!.status.code, 'ERROR');
    assert.is(process!.attributes[Attr.errorType], 'nack');
  });
});

spans('multiple acks end every covered process span; closing the channel ends the rest with an error', async ({ proxy, receiver }) => {
  await withConnection(proxy.url, async (conn) => {
    const ch = await conn.createConfirmChannel();
    const queue = (await ch.assertQueue(uniqueName('multi'), { autoDelete: false })).queue;
    for (let i = 0; i < 5; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    await ch.waitForConfirms();
    const got: amqp.ConsumeMessage[] = [];
    await new Promise<void>((resolve) => {
      void ch.consume(queue, (m) => { if (m) got.push(m); if (got.length === 5) resolve(); });
    });
    ch.ack(got[2]!, true);
    await ch.close();
    const all = await receiver.waitFor((s) => byName(s, 'process ').length === 5);
    const process = byName(all, 'process ');
    assert.is(process.filter((s) => s.status.code === 'UNSET').length, 3);
    assert.is(process.filter((s) => s.attributes[Attr.errorType] === 'channel_closed').length, 2);
    const cleanup = await conn.createChannel();
    await cleanup.deleteQueue(queue);
  });
});

spans.run();

const sampling = suite('sampling and a missing collector');

sampling('ratio 0: nothing exported, every message still carries a valid traceparent (flags 00)', async () => {
  await requireBroker();
  const receiver = await startOtlpReceiver();
  const proxy = await startTestProxy(exportingTo(receiver, 'parentbased_traceidratio', '0'));
  try {
    await withConnection(proxy.url, async (conn) => {
      const ch = await conn.createChannel();
      const queue = (await ch.assertQueue(uniqueName('ratio0'), { exclusive: true })).queue;
      for (let i = 0; i < 50; i++) ch.sendToQueue(queue, Buffer.from('x'));
      const msgs = await consumeN(ch, queue, 50);
      for (const m of msgs) assert.is(parseTraceParent(String(headersOf(m)[Header.traceparent]))?.traceFlags, 0);
    });
    await proxy.app.telemetry.forceFlush();
    assert.is(receiver.spans().length, 0);
  } finally {
    await proxy.stop();
    await receiver.close();
  }
});

sampling('ratio 0.1 over 2,000 new traces: a plausible share is exported', async () => {
  const receiver = await startOtlpReceiver();
  const proxy = await startTestProxy(exportingTo(receiver, 'parentbased_traceidratio', '0.1'));
  try {
    await withConnection(proxy.url, async (conn) => {
      const ch = await conn.createConfirmChannel();
      const queue = (await ch.assertQueue(uniqueName('ratio10'), { exclusive: true })).queue;
      for (let i = 0; i < 2000; i++) ch.sendToQueue(queue, Buffer.from('x'));
      await ch.waitForConfirms();
      const msgs = await consumeN(ch, queue, 2000, 30_000);
      const sampledByHeader = msgs.filter((m) => parseTraceParent(String(headersOf(m)[Header.traceparent]))?.traceFlags === 1).length;
      const publishTraces = (all: ReceivedSpan[]): number => new Set(byName(all, 'publish ').map((s) => s.traceId)).size;
      // Export is asynchronous: wait until what the headers say was sampled has arrived.
      const all = await receiver.waitFor((got) => publishTraces(got) >= sampledByHeader, 15_000).catch(() => receiver.spans());
      const exported = publishTraces(all);
      // Binomial(2000, 0.1): mean 200, sd 13.4; 120..290 is beyond six sigma either way.
      assert.ok(exported >= 120 && exported <= 290, `exported ${exported} of 2000 (${sampledByHeader} sampled by header, ${receiver.spans().length} spans received)`);
      assert.is(sampledByHeader, exported, 'the sampled flag travels with exactly the exported traces');
    });
  } finally {
    await proxy.stop();
    await receiver.close();
  }
});

for (const mode of ['never started', 'hanging'] as const) {
  sampling(`collector ${mode}: traffic flows, spans are dropped and counted, the export queue stays bounded`, async () => {
    const receiver = mode === 'hanging' ? await startOtlpReceiver({ respond: 'hang' }) : undefined;
    const proxy = await startTestProxy({
      ...(receiver ? exportingTo(receiver) : { ...exportingTo({ endpoint: 'http://127.0.0.1:1' } as OtlpReceiver) }),
      OTEL_BSP_MAX_QUEUE_SIZE: '500',
      OTEL_BSP_EXPORT_TIMEOUT: '300',
    });
    try {
      const count = 3000;
      await withConnection(proxy.url, async (conn) => {
        const ch = await conn.createConfirmChannel();
        const queue = (await ch.assertQueue(uniqueName('nocollector'), { exclusive: true })).queue;
        const received = consumeN(ch, queue, count, 60_000);
        for (let i = 0; i < count; i++) ch.sendToQueue(queue, Buffer.alloc(256));
        await ch.waitForConfirms();
        assert.is((await received).length, count);
      });
      assert.ok(proxy.app.telemetry.pendingSpans() <= 500, `pending ${proxy.app.telemetry.pendingSpans()}`);
      const metrics = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
      const dropped = Number(/amqp_trace_proxy_spans_dropped_total (\d+)/.exec(metrics)?.[1]);
      assert.ok(dropped > 0, `dropped ${dropped}`);
    } finally {
      await proxy.stop();
      await receiver?.close();
    }
  });
}

sampling.run();
