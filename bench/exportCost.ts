/**
 * What exporting a span costs with the SDK's OTLP gRPC exporter, by batch size: real SDK
 * spans with the proxy's attributes, sent to bench/otlpSink.ts in another process.
 * Prints, per batch size (alternated 64 / 512 three times), the synchronous part of
 * `export()` (serialization and call setup: what holds the event loop) and the CPU per
 * exported span over 20 exports. See docs/PERFORMANCE.md (third round).
 *
 *   npx tsx bench/exportCost.ts
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { AlwaysOnSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { SpanKind } from '@opentelemetry/api';
import { NAMED, producerDestination, producerSpanDestination, spanName } from '../src/trace/semconv';

/** A publish to the default exchange, routed to a named queue: named and attributed as the proxy does. */
const EXCHANGE = '';
const ROUTING_KEY = 'hotpath';

async function main(): Promise<void> {
  // tsx resolved from here, not from the cwd, so the bench runs from any directory.
  const sink = fork(path.join(__dirname, 'otlpSink.ts'), [], { execArgv: ['-r', require.resolve('tsx/cjs')], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((r) => sink.once('message', (m: { port: number }) => r(m.port)));
  const mem = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ sampler: new AlwaysOnSampler(), spanProcessors: [new SimpleSpanProcessor(mem)] });
  const tracer = provider.getTracer('x');
  for (let i = 0; i < 4096; i++) {
    tracer.startSpan(spanName('publish', producerSpanDestination(EXCHANGE, ROUTING_KEY, NAMED)), { kind: SpanKind.PRODUCER, attributes: {
      'messaging.system': 'rabbitmq', 'server.address': '127.0.0.1', 'server.port': 5672, 'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish', 'messaging.destination.name': producerDestination(EXCHANGE, ROUTING_KEY), 'messaging.rabbitmq.destination.routing_key': ROUTING_KEY,
      'messaging.message.body.size': 1024, 'amqp_trace_proxy.span': 'publish', 'amqp_trace_proxy.context': 'injected', 'network.peer.address': '127.0.0.1',
    } }).end();
  }
  const spans = mem.getFinishedSpans();
  const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${port}` });
  for (const batch of [64, 512, 64, 512, 64, 512]) {
    const times: number[] = [];
    for (let r = 0; r < 40; r++) {
      const slice = spans.slice((r * batch) % (4096 - batch), ((r * batch) % (4096 - batch)) + batch);
      const t0 = process.hrtime.bigint();
      await new Promise<void>((resolve) => {
        exporter.export(slice, () => resolve());
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      });
    }
    times.sort((a, b) => a - b);
    const c0 = process.cpuUsage();
    for (let r = 0; r < 20; r++) {
      const slice = spans.slice(0, batch);
      await new Promise<void>((resolve) => exporter.export(slice, () => resolve()));
    }
    const cpu = process.cpuUsage(c0);
    console.log(`batch ${batch}: synchronous part of export() median ${times[20]!.toFixed(2)} ms, max ${times[39]!.toFixed(2)} ms; CPU per span over 20 exports ${((cpu.user + cpu.system) / (20 * batch)).toFixed(2)} µs`);
  }
  sink.kill();
  process.exit(0);
}
void main();
