import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import pino from 'pino';
import { loadConfig } from '../../../src/config/config';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import { AlwaysOnSampler, InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { createMetrics } from '../../../src/metrics/metrics';
import { Attr } from '../../../src/trace/attributes';
import type { MessageContext } from '../../../src/trace/messageSpans';
import { KeepShape, KeptSpans } from '../../../src/trace/outcomeSpans';
import { KeepTracer, startTelemetry } from '../../../src/trace/telemetry';
import { randomSpanId, randomTraceId } from '../../../src/trace/traceparent';

/** A keep tracer as startTelemetry makes it (ids set for one start), over an in-memory exporter. */
function harness(shape: KeepShape): { spans: KeptSpans; exporter: InMemorySpanExporter; rootTraceId: () => string } {
  const exporter = new InMemorySpanExporter();
  let ids: { traceId?: string; spanId?: string } = {};
  const provider = new NodeTracerProvider({
    sampler: new AlwaysOnSampler(),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    idGenerator: { generateTraceId: () => ids.traceId ?? randomTraceId(), generateSpanId: () => ids.spanId ?? randomSpanId() },
  });
  const tracer = provider.getTracer('test');
  const keep: KeepTracer = {
    startSpan(name, options, parent, next) {
      ids = next;
      try {
        return tracer.startSpan(name, options, parent);
      } finally {
        ids = {};
      }
    },
  };
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
  return {
    spans: new KeptSpans(keep, metrics, { host: 'rabbit', port: 5672 }, shape),
    exporter,
    rootTraceId: () => tracer.startSpan('after').spanContext().traceId,
  };
}

const unsampledParent: MessageContext = { traceId: randomTraceId(), spanId: randomSpanId(), traceFlags: 0, traceState: 'k=v' };

test('a kept delivery: hop and process at their recorded times, with the ids handed out, under the message context', () => {
  const publishedAt = Date.now() - 9000;
  const deliveredAt = Date.now() - 8000;
  const hopSpanId = randomSpanId();
  const processSpanId = randomSpanId();
  const { spans, exporter } = harness({ rule: 'delivery_reject', deliveredAt, hopSpanId, processSpanId });
  const hop = spans.brokerHop('broker_hop q', {}, unsampledParent, publishedAt)!;
  spans.process('process q', {}, hop)!.end('reject');
  const [h, p] = exporter.getFinishedSpans();
  assert.equal([h!.spanContext().spanId, p!.spanContext().spanId], [hopSpanId, processSpanId]);
  assert.equal([h!.spanContext().traceId, p!.spanContext().traceId], [unsampledParent.traceId, unsampledParent.traceId]);
  assert.is(h!.parentSpanContext?.spanId, unsampledParent.spanId);
  assert.is(p!.parentSpanContext?.spanId, hopSpanId);
  assert.is(Math.round(hrTimeToMilliseconds(h!.startTime)), Math.round(publishedAt));
  assert.is(Math.round(hrTimeToMilliseconds(h!.endTime)), Math.round(deliveredAt));
  assert.is(Math.round(hrTimeToMilliseconds(p!.startTime)), Math.round(deliveredAt));
  assert.ok(hrTimeToMilliseconds(p!.endTime) >= Date.now() - 1000, 'process ends now, at the settle');
  for (const s of [h!, p!]) {
    assert.is(s.kind, SpanKind.CONSUMER);
    assert.is(s.attributes[Attr.kept], 'error');
    assert.is(s.attributes[Attr.keptRule], 'delivery_reject');
    assert.is(s.attributes[Attr.messagingSystem], 'rabbitmq');
  }
  assert.is(p!.attributes[Attr.errorType], 'reject');
  assert.is(hop.traceFlags, 0, 'the context handed back keeps the message\'s flags');
  assert.is(hop.traceState, 'k=v');
});

test('a kept publish of a trace the proxy started: the root, with the trace and span ids it forwarded', () => {
  const traceId = randomTraceId();
  const publishSpanId = randomSpanId();
  const publishStart = Date.now() - 3000;
  const { spans, exporter, rootTraceId } = harness({ rule: 'confirm_latency', publishStart, publishSpanId });
  const span = spans.publish('publish q', {}, undefined, traceId)!;
  span.end();
  const [s] = exporter.getFinishedSpans();
  assert.equal([s!.spanContext().traceId, s!.spanContext().spanId], [traceId, publishSpanId]);
  assert.is(s!.parentSpanContext, undefined);
  assert.is(s!.kind, SpanKind.PRODUCER);
  assert.is(s!.attributes[Attr.kept], 'latency');
  assert.is(Math.round(hrTimeToMilliseconds(s!.startTime)), Math.round(publishStart));
  assert.is.not(rootTraceId(), traceId, 'the chosen ids were for that one span only');
  assert.is(span.context.traceFlags, 0);
});

test('a kept publish under a publisher\'s traceparent is its CLIENT child with an id of its own', () => {
  const { spans, exporter } = harness({ rule: 'publish_nack', publishStart: Date.now() - 10 });
  spans.publish('publish q', {}, unsampledParent, undefined, false)!.end('nack');
  const [s] = exporter.getFinishedSpans();
  assert.is(s!.kind, SpanKind.CLIENT);
  assert.is(s!.spanContext().traceId, unsampledParent.traceId);
  assert.is(s!.parentSpanContext?.spanId, unsampledParent.spanId);
  assert.is.not(s!.spanContext().spanId, unsampledParent.spanId);
});

test('startTelemetry\'s keep tracer: the ids asked for, once; spans record whatever the sampler says', async () => {
  const config = loadConfig([], {
    OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_TRACES_SAMPLER: 'always_off',
  });
  const telemetry = startTelemetry(config, createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false }), pino({ level: 'silent' }));
  try {
    const traceId = randomTraceId();
    const spanId = randomSpanId();
    const kept = telemetry.keep!.startSpan('kept', {}, ROOT_CONTEXT, { traceId, spanId });
    assert.ok(kept.isRecording());
    assert.equal([kept.spanContext().traceId, kept.spanContext().spanId], [traceId, spanId]);
    const child = telemetry.keep!.startSpan('child', {}, trace.setSpan(ROOT_CONTEXT, kept), { traceId: randomTraceId() });
    assert.is(child.spanContext().traceId, traceId, 'a child keeps its parent\'s trace, whatever was asked');
    const next = telemetry.tracer.startSpan('next');
    assert.is.not(next.spanContext().traceId, traceId);
    assert.is.not(next.spanContext().spanId, spanId);
    for (const span of [kept, child, next]) span.end();
  } finally {
    await telemetry.shutdown().catch(() => undefined);
  }
  assert.is(startTelemetry(loadConfig([], { OTEL_TRACES_EXPORTER: 'none' }), createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false }), pino({ level: 'silent' })).keep, undefined,
    'nothing to keep when nothing is exported');
});

test.run();
