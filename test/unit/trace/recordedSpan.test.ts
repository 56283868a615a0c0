/**
 * The proxy's spans as the OTLP exporter sends them. The proxy builds its spans itself
 * (RecordedSpan) instead of through the SDK's Tracer: the bytes the real OTLP gRPC exporter
 * sends for them must be the bytes it sends for the same spans made by the SDK, and what a
 * collector decodes must be the span the conventions ask for (docs/CONVENTIONS.md).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Attributes, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { AlwaysOnSampler, BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import pino from 'pino';
import { loadConfig } from '../../../src/config/config';
import { createMetrics } from '../../../src/metrics/metrics';
import { MessageSpans, linksTo, recordSpan } from '../../../src/trace/messageSpans';
import { KeptSpans } from '../../../src/trace/outcomeSpans';
import { MessageContext, remoteSpanContext } from '../../../src/trace/recordedSpan';
import { SEMCONV_SCHEMA_URL } from '../../../src/trace/semconv';
import { Telemetry, startTelemetry } from '../../../src/trace/telemetry';
import { randomSpanId, randomTraceId } from '../../../src/trace/traceparent';
import { OtlpReceiver, startOtlpReceiver } from '../../support/otlpReceiver';

const newMetrics = () => createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });

function telemetryTo(receiver: OtlpReceiver, env: Record<string, string> = {}): Telemetry {
  const config = loadConfig([], {
    OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_TRACES_SAMPLER: 'always_on',
    OTEL_SERVICE_NAME: 'recorded-span-test', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test', ...env,
  });
  return startTelemetry(config, newMetrics(), pino({ level: 'silent' }));
}

/** One span of each shape the proxy makes, with its times and ids fixed. */
interface Shape {
  name: string;
  kind: SpanKind;
  attributes: Attributes;
  parent?: MessageContext;
  traceId?: string;
  spanId: string;
  startMs: number;
  endMs: number;
  creation?: MessageContext;
  errorType?: string;
  event?: { name: string; attributes: Attributes };
}

function shapes(): Shape[] {
  const now = Date.now();
  const publisher: MessageContext = { traceId: randomTraceId(), spanId: randomSpanId(), traceFlags: 1, traceState: 'vendor=a,other=b' };
  const root = randomTraceId();
  const publishId = randomSpanId();
  const hopId = randomSpanId();
  const common: Attributes = {
    'messaging.destination.name': 'orders:order.created', 'messaging.rabbitmq.destination.routing_key': 'order.created',
    'messaging.message.body.size': 1024, 'messaging.destination.temporary': true, 'messaging.system': 'rabbitmq',
    'server.address': 'rabbit', 'server.port': 5672,
  };
  const fromPublish: MessageContext = { traceId: root, spanId: publishId, traceFlags: 1 };
  const fromHop: MessageContext = { traceId: root, spanId: hopId, traceFlags: 1 };
  return [
    {
      name: 'publish orders', kind: SpanKind.PRODUCER, traceId: root, spanId: publishId, startMs: now - 20.25, endMs: now - 20.125,
      attributes: { ...common, 'messaging.operation.type': 'send', 'amqp_trace_proxy.context': 'injected' },
      event: { name: 'basic.return', attributes: { 'amqp.reply_code': 312, 'amqp.reply_text': 'NO_ROUTE' } },
    },
    {
      name: 'publish orders', kind: SpanKind.CLIENT, parent: publisher, creation: publisher, spanId: randomSpanId(),
      startMs: now - 19.5, endMs: now - 19, attributes: { ...common, 'amqp_trace_proxy.context': 'continued' }, errorType: 'nack',
    },
    {
      name: 'broker_hop orders:q', kind: SpanKind.CONSUMER, parent: fromPublish, spanId: hopId, startMs: now - 20.001, endMs: now - 3.5,
      attributes: { ...common, 'messaging.rabbitmq.message.delivery_tag': 7 },
    },
    {
      // A hop whose stamp came from a clock ahead of this one: clamped to no length.
      name: 'broker_hop orders:q', kind: SpanKind.CONSUMER, parent: publisher, spanId: randomSpanId(), startMs: now + 5, endMs: now,
      attributes: { ...common },
    },
    {
      name: 'process orders:q', kind: SpanKind.CONSUMER, parent: fromHop, creation: fromPublish, spanId: randomSpanId(),
      startMs: now - 3.5, endMs: now - 0.75, attributes: { ...common, 'amqp_trace_proxy.kept': 'error' }, errorType: 'reject',
    },
  ];
}

/** The same spans through the SDK's Tracer and SpanImpl, as the proxy made them before RecordedSpan. */
async function sdkBodies(receiver: OtlpReceiver, telemetry: Telemetry, all: Shape[], eventTimes: ([number, number] | undefined)[]): Promise<Buffer[]> {
  let ids: { traceId?: string; spanId?: string } = {};
  const provider = new NodeTracerProvider({
    resource: telemetry.sink.resource,
    sampler: new AlwaysOnSampler(),
    idGenerator: { generateTraceId: () => ids.traceId!, generateSpanId: () => ids.spanId! },
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: receiver.endpoint }))],
  });
  const tracer = provider.getTracer('amqp-trace-proxy', undefined, { schemaUrl: SEMCONV_SCHEMA_URL });
  all.forEach((s, i) => {
    ids = { traceId: s.traceId, spanId: s.spanId };
    const parent = s.parent ? trace.setSpanContext(ROOT_CONTEXT, remoteSpanContext(s.parent)) : ROOT_CONTEXT;
    const span = tracer.startSpan(s.name, { kind: s.kind, startTime: s.startMs, attributes: { ...s.attributes }, links: linksTo(s.creation) }, parent);
    if (s.event) span.addEvent(s.event.name, s.event.attributes, eventTimes[i]);
    if (s.errorType) {
      span.setAttribute('error.type', s.errorType);
      span.setStatus({ code: SpanStatusCode.ERROR, message: s.errorType });
    }
    span.end(s.endMs);
  });
  receiver.clear();
  await provider.forceFlush();
  await provider.shutdown();
  return receiver.bodies();
}

async function recordedBodies(receiver: OtlpReceiver, telemetry: Telemetry, all: Shape[]): Promise<{ bodies: Buffer[]; eventTimes: ([number, number] | undefined)[] }> {
  const eventTimes = all.map((s) => {
    const span = recordSpan(telemetry.sink, s.name, s.kind, { ...s.attributes }, {
      parent: s.parent, traceId: s.traceId, spanId: s.spanId, traceFlags: 1, startMs: s.startMs, creation: s.creation,
    });
    if (s.event) span.event(s.event.name, s.event.attributes);
    span.end(s.errorType, s.endMs);
    return span.events[0]?.time as [number, number] | undefined;
  });
  receiver.clear();
  await telemetry.forceFlush();
  return { bodies: receiver.bodies(), eventTimes };
}

async function compare(env: Record<string, string> = {}): Promise<void> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const receiver = await startOtlpReceiver();
  // The SDK's spans (the reference) read the limits from the environment, the proxy from its config.
  const telemetry = telemetryTo(receiver, env);
  try {
    const all = shapes();
    const recorded = await recordedBodies(receiver, telemetry, all);
    const reference = await sdkBodies(receiver, telemetry, all, recorded.eventTimes);
    assert.is(recorded.bodies.length, 1, 'one export request');
    assert.is(reference.length, 1);
    assert.is(recorded.bodies[0]!.toString('hex'), reference[0]!.toString('hex'), 'byte for byte what the SDK\'s spans export as');
  } finally {
    process.env = saved;
    await telemetry.shutdown();
    await receiver.close();
  }
}

test('every span shape exports byte for byte as the SDK\'s span of the same content', async () => {
  await compare();
});

test('span limits set through OTEL_* variables apply as the SDK applies them', async () => {
  await compare({ OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '4', OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '5', OTEL_SPAN_LINK_COUNT_LIMIT: '0' });
});

test('a sampled message and a kept one through MessageSpans, KeptSpans and the real exporter, field by field', async () => {
  const receiver = await startOtlpReceiver();
  const telemetry = telemetryTo(receiver);
  try {
    const server = { host: 'rabbit', port: 5672 };
    const spans = new MessageSpans(telemetry, newMetrics(), server);
    const before = BigInt(Date.now() - 10) * 1_000_000n;
    const publish = spans.publish('publish orders', { 'messaging.operation.type': 'send' }, undefined)!;
    publish.end();
    const publishedAt = Date.now() - 2;
    const hop = spans.brokerHop('broker_hop orders:q', { 'messaging.operation.name': 'broker_hop' }, publish.context, publishedAt)!;
    const process = spans.process('process orders:q', { 'messaging.operation.type': 'process' }, hop, publish.context)!;
    process.end('reject');
    const unsampled: MessageContext = { traceId: randomTraceId(), spanId: randomSpanId(), traceFlags: 0, traceState: 'k=v' };
    const keptHopId = randomSpanId();
    const deliveredAt = Date.now() - 1;
    const kept = new KeptSpans(telemetry.keep!, newMetrics(), server, { rule: 'broker_hop_latency', deliveredAt, hopSpanId: keptHopId });
    const keptHop = kept.brokerHop('broker_hop orders:q', {}, unsampled, publishedAt)!;
    await telemetry.forceFlush();
    const [p, h, c, k] = await receiver.waitFor((s) => s.length === 4);

    for (const s of [p!, h!, c!, k!]) {
      assert.is(s.serviceName, 'recorded-span-test');
      assert.is(s.resource['deployment.environment'], 'test');
      assert.is(s.resource['telemetry.sdk.name'], 'opentelemetry');
      assert.equal(s.scope, { name: 'amqp-trace-proxy' });
      assert.is(s.attributes['messaging.system'], 'rabbitmq');
      assert.is(s.attributes['server.address'], 'rabbit');
      assert.is(s.attributes['server.port'], 5672);
      assert.ok(s.startTimeUnixNano >= before && s.endTimeUnixNano >= s.startTimeUnixNano, `${s.name}: times in order`);
    }
    assert.equal([p!.name, p!.kind, p!.parentSpanId, p!.flags, p!.status, p!.links], ['publish orders', 'PRODUCER', '', 0x101, { code: 'UNSET' }, []]);
    assert.equal([p!.traceId, p!.spanId], [publish.context.traceId, publish.context.spanId]);
    assert.equal(p!.attributes, {
      'messaging.operation.type': 'send', 'messaging.system': 'rabbitmq', 'server.address': 'rabbit', 'server.port': 5672,
    });

    assert.equal([h!.kind, h!.traceId, h!.spanId, h!.parentSpanId, h!.flags], ['CONSUMER', p!.traceId, hop.spanId, p!.spanId, 0x301]);
    assert.is(h!.startTimeUnixNano / 1_000_000n, BigInt(publishedAt), 'the hop starts at the publish stamp');
    assert.equal(h!.links, []);

    assert.equal([c!.kind, c!.traceId, c!.parentSpanId, c!.flags], ['CONSUMER', p!.traceId, h!.spanId, 0x301]);
    assert.equal(c!.links, [{ traceId: p!.traceId, spanId: p!.spanId }], 'process links to the creation context');
    assert.equal(c!.status, { code: 'ERROR', message: 'reject' });
    assert.is(c!.attributes['error.type'], 'reject');

    assert.equal([k!.traceId, k!.spanId, k!.parentSpanId, k!.traceState], [unsampled.traceId, keptHopId, unsampled.spanId, 'k=v']);
    assert.is(k!.flags, 0x301, 'exported as sampled');
    assert.is(keptHop.traceFlags, 0, 'while the context handed on keeps the message\'s flags');
    assert.equal([k!.attributes['amqp_trace_proxy.kept'], k!.attributes['amqp_trace_proxy.kept_rule']], ['latency', 'broker_hop_latency']);
    assert.is(k!.endTimeUnixNano / 1_000_000n, BigInt(Math.floor(deliveredAt)));
  } finally {
    await telemetry.shutdown();
    await receiver.close();
  }
});

test.run();
