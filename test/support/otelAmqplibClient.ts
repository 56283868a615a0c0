/**
 * An amqplib service instrumented the way the OpenTelemetry docs show for Node: a
 * NodeTracerProvider registered globally (W3C propagator, AsyncLocalStorage context), the
 * OTLP gRPC exporter and `@opentelemetry/instrumentation-amqplib`. The instrumentation hooks
 * `require('amqplib')`, so this runs as its own process, loaded before amqplib:
 *
 *   node -r tsx/cjs test/support/otelAmqplibClient.ts publish|consume
 *
 * Environment: OTLP_ENDPOINT, SERVICE_NAME, AMQP_URL, QUEUE, COUNT (default 1).
 * `publish` sends COUNT confirmed messages to QUEUE; `consume` acks COUNT messages from it
 * and prints each one's headers as a JSON line. Spans are flushed before the process exits.
 */
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { AmqplibInstrumentation } from '@opentelemetry/instrumentation-amqplib';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': env('SERVICE_NAME') }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: env('OTLP_ENDPOINT') }))],
});
provider.register();
new AmqplibInstrumentation().setTracerProvider(provider);

// Loaded only now, so the instrumentation's require hook sees it.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const amqp = require('amqplib') as typeof import('amqplib');

async function publish(queue: string, count: number): Promise<void> {
  const conn = await amqp.connect(env('AMQP_URL'));
  const ch = await conn.createConfirmChannel();
  for (let i = 0; i < count; i++) ch.sendToQueue(queue, Buffer.from(`m-${i}`), { messageId: `m-${i}` });
  await ch.waitForConfirms();
  await conn.close();
}

async function consume(queue: string, count: number): Promise<void> {
  const conn = await amqp.connect(env('AMQP_URL'));
  const ch = await conn.createChannel();
  let seen = 0;
  await new Promise<void>((done) => {
    void ch.consume(queue, (msg) => {
      if (msg === null) return;
      process.stdout.write(`${JSON.stringify({ headers: msg.properties.headers ?? {} })}\n`);
      ch.ack(msg);
      if (++seen === count) done();
    });
  });
  await conn.close();
}

async function main(): Promise<void> {
  const role = process.argv[2];
  const queue = env('QUEUE');
  const count = Number(process.env['COUNT'] ?? '1');
  if (role === 'publish') await publish(queue, count);
  else if (role === 'consume') await consume(queue, count);
  else throw new Error(`usage: otelAmqplibClient.ts publish|consume (got ${role})`);
  await provider.forceFlush();
  await provider.shutdown();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
