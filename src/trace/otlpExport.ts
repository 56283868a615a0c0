import type { ChannelCredentials, Client } from '@grpc/grpc-js';
import { SpanKind } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyOtlpGrpcOptions, createOtlpGrpcExportDelegate } from '@opentelemetry/otlp-grpc-exporter-base';
import type { IExportTraceServiceResponse, ISerializer } from '@opentelemetry/otlp-transformer';
// The trace serializer alone: the package's index also loads its metrics and logs
// serializers and with them @opentelemetry/sdk-metrics and api-logs, 70 modules an idle
// sidecar keeps in memory (docs/PERFORMANCE.md, the sidecar's idle memory). The package
// has no exports map, so Node allows the path; if a release moves it the build fails here,
// and test/unit/trace/otlpExport.test.ts checks it is the index's serializer.
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer/build/src/trace/protobuf';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { RequestSerializer, SerializedBatch, SerializedBatchSender } from './deferredExporter';
import { RecordedSpan, remoteSpanContext, type SpanSink } from './recordedSpan';
import { randomSpanId, randomTraceId } from './traceparent';

/** The SDK's own OTLP protobuf serializer, as the OTLP gRPC trace exporter uses it. */
export const serializeRequest: RequestSerializer = (spans) => ProtobufTraceSerializer.serializeRequest(spans);

/** Hands the exporter's delegate the request DeferredExporter serialized in slices. */
const passThrough: ISerializer<SerializedBatch, IExportTraceServiceResponse> = {
  serializeRequest: (batch) => batch.bytes,
  deserializeResponse: (data) => ProtobufTraceSerializer.deserializeResponse(data),
};

/**
 * The OTLP gRPC trace exporter of `@opentelemetry/exporter-trace-otlp-grpc`, assembled from
 * the same parts as its OTLPTraceExporter (0.223.x: the delegate, gRPC transport, retries,
 * concurrency limit, environment settings, self-metrics helper), with one difference: its
 * serializer passes through a request already serialized (by the same ProtobufTraceSerializer,
 * in DeferredExporter's slices).
 */
export function createOtlpGrpcSender(url: string, timeoutMillis: number): SerializedBatchSender & { warmUpChannel(waitMs: number): Promise<boolean> } {
  const options = convertLegacyOtlpGrpcOptions({ url, timeoutMillis }, 'TRACES');
  const exporter = new OTLPExporterBase<SerializedBatch>(createOtlpGrpcExportDelegate(
    options,
    passThrough,
    'otlp_grpc_span_exporter',
    { name: 'span', countItems: (batch) => batch.spans.length },
    undefined,
    'TraceExportService',
    '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  ));
  return {
    send: (batch, done) => exporter.export(batch, done),
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
    warmUpChannel: (waitMs) => warmUpChannel(options.url, options.credentials, waitMs),
  };
}

/**
 * Opens a gRPC channel to the collector, waits until it is connected (or `waitMs` passes)
 * and closes it, calling nothing: the exporter opens its own channel at its first export,
 * and this runs gRPC's connection code (name resolution, HTTP/2 session, TLS when
 * configured) once before traffic. True if the collector answered.
 */
function warmUpChannel(address: string, credentials: () => ChannelCredentials, waitMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let client: Client;
    try {
      // Required here, as the transport does: nothing loads gRPC unless spans are exported.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const grpc = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
      client = new grpc.Client(address, credentials());
    } catch {
      resolve(false);
      return;
    }
    client.waitForReady(Date.now() + waitMs, (err) => {
      client.close();
      resolve(err === undefined || err === null);
    });
  });
}

/** Serializations run by warmUpExport: enough for V8 to optimize the serializer. */
const WARM_UP_ROUNDS = 40;

/**
 * Runs the export path's code before any traffic, sending no span: serializes spans of the
 * kind the proxy exports (RecordedSpan, with the resource and scope of its own) until the
 * serializer is compiled. Without it the first export after start loaded modules and ran
 * the serializer cold, about 100 ms of CPU on the event loop in the middle of traffic
 * (docs/PERFORMANCE.md, fourth round). Returns the milliseconds it took.
 */
export function warmUpExport(resource: Resource, scope: InstrumentationScope): number {
  const started = process.hrtime.bigint();
  const spans = syntheticSpans(resource, scope, 16);
  let bytes = 0;
  for (let round = 0; round < WARM_UP_ROUNDS; round++) bytes += serializeRequest(spans)?.length ?? 0;
  if (bytes === 0) throw new Error('export warm-up serialized nothing');
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** `count` ended spans shaped like the proxy's (publish and process, some failed), sent nowhere. */
export function syntheticSpans(resource: Resource, scope: InstrumentationScope, count: number): ReadableSpan[] {
  const spans: ReadableSpan[] = [];
  const sink: SpanSink = { resource, scope, limits: undefined, end: (span) => void spans.push(span) };
  for (let i = 0; i < count; i++) {
    const context = { traceId: randomTraceId(), spanId: randomSpanId(), traceFlags: 1 };
    const parent = i % 2 === 0 ? undefined : remoteSpanContext({ ...context, spanId: randomSpanId() });
    const attributes = {
      'messaging.system': 'rabbitmq', 'server.address': '127.0.0.1', 'server.port': 5672,
      'messaging.operation.type': i % 2 === 0 ? 'send' : 'process', 'messaging.destination.name': 'warm-up',
      'messaging.message.body.size': 1024 + i,
    };
    const kind = i % 2 === 0 ? SpanKind.PRODUCER : SpanKind.CONSUMER;
    new RecordedSpan(sink, `warm-up ${i}`, kind, attributes, context, undefined, parent).end(i % 4 === 3 ? 'warm-up' : undefined);
  }
  return spans;
}
