import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { startOtlpReceiver, type OtlpReceiver } from '../../support/otlpReceiver';
import { sleep } from '../../support/wait';

/** One attribute of each type the receiver must decode: string, int, double, bool, array, negative int. */
const CHILD_ATTRIBUTES = {
  'messaging.system': 'rabbitmq',
  'messaging.message.body.size': 42,
  'test.ratio': 0.5,
  'test.flag': true,
  'test.list': ['a', 'b'],
  'test.negative': -7,
};

/** A provider that exports to `receiver` the way the proxy and the demo do: OTLP gRPC behind a batch processor. */
function providerFor(receiver: OtlpReceiver, serviceName: string): NodeTracerProvider {
  return new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName, 'deployment.environment': 'test' }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: receiver.endpoint, timeoutMillis: 2000 }))],
  });
}

test('decodes a parent and a PRODUCER child exported by the real OTLP gRPC exporter', async () => {
  const receiver = await startOtlpReceiver();
  const provider = providerFor(receiver, 'receiver-test');
  try {
    assert.match(receiver.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    const tracer = provider.getTracer('otlp-receiver-test', '1.2.3');
    const parent = tracer.startSpan('POST /shares', { kind: SpanKind.SERVER });
    const child = tracer.startSpan(
      'publish llm',
      {
        kind: SpanKind.PRODUCER,
        attributes: CHILD_ATTRIBUTES,
      },
      trace.setSpan(context.active(), parent),
    );
    child.addEvent('basic.return', { 'amqp.reply_code': 312 });
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'unroutable' });
    child.end();
    parent.end();
    await provider.forceFlush();

    const spans = await receiver.waitFor((s) => s.length >= 2, 3000);
    assert.is(spans.length, 2);
    const p = spans.find((s) => s.name === 'POST /shares')!;
    const c = spans.find((s) => s.name === 'publish llm')!;
    assert.ok(p && c, 'both spans decoded');

    assert.is(p.traceId, parent.spanContext().traceId);
    assert.is(p.spanId, parent.spanContext().spanId);
    assert.match(p.traceId, /^[0-9a-f]{32}$/);
    assert.match(p.spanId, /^[0-9a-f]{16}$/);
    assert.is(p.parentSpanId, '');
    assert.is(p.kind, 'SERVER');

    assert.is(c.traceId, p.traceId);
    assert.is(c.parentSpanId, p.spanId);
    assert.is(c.spanId, child.spanContext().spanId);
    assert.is(c.kind, 'PRODUCER');
    assert.equal(c.attributes, CHILD_ATTRIBUTES);
    assert.equal(c.events, [{ name: 'basic.return', attributes: { 'amqp.reply_code': 312 } }]);
    assert.equal(c.status, { code: 'ERROR', message: 'unroutable' });
    assert.equal(p.status, { code: 'UNSET' });
    assert.ok(c.endTimeUnixNano >= c.startTimeUnixNano);
    // Wall-clock nanoseconds: within a minute of now.
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    assert.ok(c.startTimeUnixNano > nowNs - 60_000_000_000n && c.startTimeUnixNano <= nowNs + 1_000_000_000n);
    assert.is(c.flags & 0xff, 1, 'sampled flag carried in the low byte');

    assert.is(c.serviceName, 'receiver-test');
    assert.is(c.resource['deployment.environment'], 'test');
    assert.equal(c.scope, { name: 'otlp-receiver-test', version: '1.2.3' });
    assert.ok(receiver.requests >= 1);

    receiver.clear();
    assert.is(receiver.spans().length, 0);
  } finally {
    await provider.shutdown();
    await receiver.close();
  }
});

test('carries tracestate and links', async () => {
  const receiver = await startOtlpReceiver();
  const provider = providerFor(receiver, 'receiver-test');
  try {
    const tracer = provider.getTracer('t');
    const remote = trace.wrapSpanContext({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      isRemote: true,
      traceState: new (class {
        // A minimal TraceState: the SDK only calls serialize() when exporting.
        set() { return this; }
        unset() { return this; }
        get(key: string) { return key === 'vendor' ? 'x' : undefined; }
        serialize() { return 'vendor=x'; }
      })(),
    });
    const span = tracer.startSpan('process llm', {
      kind: SpanKind.CONSUMER,
      links: [{ context: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 } }],
    }, trace.setSpan(context.active(), remote));
    span.end();
    await provider.forceFlush();
    const [s] = await receiver.waitFor((x) => x.length === 1, 3000);
    assert.is(s!.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.is(s!.parentSpanId, 'b7ad6b7169203331');
    assert.is(s!.traceState, 'vendor=x');
    assert.is(s!.kind, 'CONSUMER');
    assert.is(s!.flags & 0x300, 0x300, 'parent marked remote');
    assert.equal(s!.links, [{ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' }]);
  } finally {
    await provider.shutdown();
    await receiver.close();
  }
});

test("respond 'unavailable' counts the request and keeps no spans; later exports are accepted after setResponse('ok')", async () => {
  const receiver = await startOtlpReceiver({ respond: 'unavailable' });
  const provider = providerFor(receiver, 'receiver-test');
  try {
    provider.getTracer('t').startSpan('refused').end();
    // exporter-trace-otlp-grpc 0.223.1 reports every gRPC error, UNAVAILABLE included, as a
    // non-retryable failure: the batch is dropped and forceFlush rejects with the errors.
    const flush = await provider.forceFlush().then(() => 'resolved', (e: unknown) => e);
    assert.ok(Array.isArray(flush), 'forceFlush rejects with the export errors');
    assert.is((flush as { code?: number }[])[0]?.code, 14, 'gRPC status UNAVAILABLE');
    assert.is(receiver.requests, 1, 'no retry of the refused batch');
    assert.is(receiver.spans().length, 0);

    receiver.setResponse('ok');
    provider.getTracer('t').startSpan('accepted').end();
    await provider.forceFlush();
    const spans = await receiver.waitFor((s) => s.length === 1, 3000);
    assert.is(spans[0]!.name, 'accepted');
    assert.is(receiver.requests, 2);
  } finally {
    await provider.shutdown();
    await receiver.close();
  }
});

test("respond 'hang' never answers, and close() still returns promptly", async () => {
  const receiver = await startOtlpReceiver({ respond: 'hang' });
  const provider = new NodeTracerProvider({
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: receiver.endpoint, timeoutMillis: 300 }))],
  });
  try {
    provider.getTracer('t').startSpan('never-acknowledged').end();
    const flushed = provider.forceFlush().catch(() => undefined);
    const deadline = Date.now() + 3000;
    while (receiver.requests === 0 && Date.now() < deadline) await sleep(20);
    assert.ok(receiver.requests >= 1);
    const t0 = Date.now();
    await receiver.close();
    assert.ok(Date.now() - t0 < 2000, 'close does not wait for hung calls');
    await flushed;
    assert.is(receiver.spans().length, 0);
  } finally {
    await provider.shutdown().catch(() => undefined);
    await receiver.close().catch(() => undefined);
  }
});

test('waitFor rejects with what it saw when the condition never holds', async () => {
  const receiver = await startOtlpReceiver();
  try {
    const err = await receiver.waitFor(() => false, 50).then(() => undefined, (e: Error) => e);
    assert.ok(err);
    assert.match(err!.message, /0 span\(s\) received: none/);
  } finally {
    await receiver.close();
  }
});

test.run();
