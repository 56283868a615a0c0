/**
 * The benchmark's "in-process OpenTelemetry" peer: what a team would do instead of the
 * proxy. Preloaded into bench/client.ts (`node -r otelClient.js client.js`) before amqplib
 * is loaded, it sets up what the OpenTelemetry docs show for a Node service: a
 * NodeTracerProvider with the parent-based trace-id-ratio sampler, a BatchSpanProcessor
 * with its default settings, the OTLP gRPC exporter, and `@opentelemetry/instrumentation-amqplib`
 * (publish spans in the publisher, consume spans ending at ack in the consumer, W3C
 * trace context in the message headers).
 *
 * Settings come from the environment the harness gives the client:
 *   BENCH_OTEL_ENDPOINT  the OTLP sink, http://127.0.0.1:<port>; unset: spans are not exported
 *   BENCH_OTEL_RATIO     the sampler's ratio, 0..1
 */
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { AmqplibInstrumentation } from '@opentelemetry/instrumentation-amqplib';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-node';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { registerFlush } from './lib/clientTelemetry';

const endpoint = process.env['BENCH_OTEL_ENDPOINT'];
const ratio = Number(process.env['BENCH_OTEL_RATIO'] ?? '0.1');

const spanProcessors: SpanProcessor[] = endpoint ? [new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }))] : [];
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'bench-client' }),
  sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
  spanProcessors,
});
// Global context manager (AsyncLocalStorage) and W3C propagator, as in any instrumented service.
provider.register();
// Enabled on construction: it hooks `require('amqplib')`, which client.js does after this.
new AmqplibInstrumentation().setTracerProvider(provider);
registerFlush(() => provider.forceFlush());
