import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SpanKind } from '@opentelemetry/api';
import pino from 'pino';
import { loadConfig } from '../../../src/config/config';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import type { InMemorySpanExporter } from '@opentelemetry/sdk-trace-node';
import { createMetrics } from '../../../src/metrics/metrics';
import { Attr } from '../../../src/trace/attributes';
import type { MessageContext } from '../../../src/trace/messageSpans';
import { KeepShape, KeptSpans } from '../../../src/trace/outcomeSpans';
import { startTelemetry } from '../../../src/trace/telemetry';
import { randomSpanId, randomTraceId } from '../../../src/trace/traceparent';
import { memorySink } from '../../support/memorySink';

/** Kept spans over an in-memory exporter. */
function harness(shape: KeepShape): { spans: KeptSpans; exporter: InMemorySpanExporter } {
  const sink = memorySink();
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
  return { spans: new KeptSpans(sink, metrics, { host: 'rabbit', port: 5672 }, shape), exporter: sink.exporter };
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
  const { spans, exporter } = harness({ rule: 'confirm_latency', publishStart, publishSpanId });
  const span = spans.publish('publish q', {}, undefined, traceId)!;
  span.end();
  const [s] = exporter.getFinishedSpans();
  assert.equal([s!.spanContext().traceId, s!.spanContext().spanId], [traceId, publishSpanId]);
  assert.is(s!.parentSpanContext, undefined);
  assert.is(s!.kind, SpanKind.PRODUCER);
  assert.is(s!.attributes[Attr.kept], 'latency');
  assert.is(Math.round(hrTimeToMilliseconds(s!.startTime)), Math.round(publishStart));
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

test('startTelemetry keeps spans only when it exports them', async () => {
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
  const config = loadConfig([], {
    OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_TRACES_SAMPLER: 'always_off',
  });
  const telemetry = startTelemetry(config, metrics, pino({ level: 'silent' }));
  assert.is(telemetry.keep, telemetry.sink, 'kept spans go where sampled ones go');
  await telemetry.shutdown().catch(() => undefined);
  assert.is(startTelemetry(loadConfig([], { OTEL_TRACES_EXPORTER: 'none' }), metrics, pino({ level: 'silent' })).keep, undefined,
    'nothing to keep when nothing is exported');
});

test.run();
