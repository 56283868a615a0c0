/**
 * What the OTLP exporter's protobuf serialization costs per span, by the attributes a span
 * carries: the proxy's process span as exported, without the attributes the conventions do
 * not require, and with none. No gRPC, no sockets: the serializer the OTLP gRPC exporter
 * calls for every request (`ProtobufTraceSerializer` of @opentelemetry/otlp-transformer, a
 * dependency of @opentelemetry/exporter-trace-otlp-grpc), on 512 spans as the proxy builds
 * them (RecordedSpan). Prints CPU per span, the best of eight rounds. See
 * docs/PERFORMANCE.md (fourth round).
 *
 *   npx tsx bench/serializeCost.ts
 */
import { Attributes, SpanKind } from '@opentelemetry/api';
import { defaultResource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Attr, MESSAGING_SYSTEM } from '../src/trace/attributes';
import { recordSpan } from '../src/trace/messageSpans';
import type { SpanSink } from '../src/trace/recordedSpan';
import { randomSpanId, randomTraceId } from '../src/trace/traceparent';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer') as {
  ProtobufTraceSerializer: { serializeRequest(spans: ReadableSpan[]): Uint8Array };
};

const QUEUE = 'hotpath';
/** What the conventions require of a RabbitMQ process span the proxy makes (docs/CONVENTIONS.md). */
const required = (): Attributes => ({
  [Attr.operationType]: 'process', [Attr.operationName]: 'process', [Attr.destinationName]: QUEUE,
  [Attr.routingKey]: QUEUE, [Attr.deliveryTag]: 12345,
  [Attr.messagingSystem]: MESSAGING_SYSTEM, [Attr.serverAddress]: '127.0.0.1', [Attr.serverPort]: 5672,
});
/** As exported: also the queue, the body size (opt-in) and the proxy's own span marker. */
const exported = (): Attributes => ({
  ...required(), [Attr.subscriptionName]: QUEUE, [Attr.bodySize]: 1024, [Attr.proxySpan]: 'process',
});

function spans(attributes: () => Attributes): ReadableSpan[] {
  const out: ReadableSpan[] = [];
  const sink: SpanSink = {
    resource: defaultResource(), scope: { name: 'amqp-trace-proxy', version: undefined, schemaUrl: undefined }, limits: undefined,
    end: (span) => out.push(span),
  };
  for (let i = 0; i < 512; i++) {
    const parent = { traceId: randomTraceId(), spanId: randomSpanId(), traceFlags: 1 };
    recordSpan(sink, `process ${QUEUE}`, SpanKind.CONSUMER, attributes(), {
      parent, traceId: undefined, spanId: undefined, traceFlags: 1, startMs: undefined, creation: undefined,
    }).end();
  }
  return out;
}

function cost(batch: ReadableSpan[]): number {
  let best = Infinity;
  for (let round = 0; round < 8; round++) {
    const before = process.cpuUsage();
    for (let r = 0; r < 100; r++) ProtobufTraceSerializer.serializeRequest(batch);
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / (100 * batch.length));
  }
  return best;
}

const cases: [string, ReadableSpan[]][] = [
  ['process span as exported (11 attributes)', spans(exported)],
  ['required attributes only (8)', spans(required)],
  ['no attributes', spans(() => ({}))],
];
for (let pass = 0; pass < 2; pass++) {
  for (const [what, batch] of cases) {
    const bytes = ProtobufTraceSerializer.serializeRequest(batch).length / batch.length;
    console.log(`${what}: ${cost(batch).toFixed(2)} µs CPU per span, ${bytes.toFixed(0)} bytes`);
  }
}
