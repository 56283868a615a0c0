/**
 * A stand-in for the API gateway of the ADR's critical journey: it receives a
 * "share content" request, starts a SERVER span for it, and publishes a Celery task
 * (`llm.summarize`) the way a NestJS service does, through amqp-connection-manager on
 * a confirm channel.
 *
 * Two ways to publish, to compare with and without the proxy's help:
 *  - withTraceparent: the gateway injects its own span's context (W3C `traceparent`,
 *    `tracestate`) into the message's application headers;
 *  - without: the message carries no trace context and relies on the proxy to add one.
 *
 * Run directly (`npx tsx demo/gateway.ts`) it serves `POST /shares {"contentId": "...",
 * "withTraceparent": true}` on GATEWAY_PORT (default 3000), publishing to GATEWAY_AMQP_URL
 * (default: the proxy on 127.0.0.1:5673), queue DEMO_QUEUE_LLM (default `llm`). Spans are
 * exported over OTLP gRPC when OTEL_EXPORTER_OTLP_ENDPOINT is set.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, defaultTextMapSetter, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { connect, type AmqpConnectionManager, type Channel, type ChannelWrapper } from 'amqp-connection-manager';
import { buildCeleryTask } from './celeryMessage';

export interface GatewayOptions {
  /** Where to publish: the broker, or the proxy in front of it. */
  amqpUrl: string;
  /** The LLM service's Celery queue. */
  queue: string;
  serviceName?: string;
  /** OTLP gRPC endpoint; default OTEL_EXPORTER_OTLP_ENDPOINT, none when unset. */
  otlpEndpoint?: string;
  /** Extra span processors (tests use them to see the gateway's spans in memory). */
  spanProcessors?: SpanProcessor[];
  /** Declare the queue (durable, no arguments, as Celery does) before publishing. Default true. */
  declareQueue?: boolean;
  /** Give up starting when the first connection takes longer than this (default 10 s). */
  connectTimeoutMs?: number;
}

export interface ShareOptions {
  /** Inject the gateway span's context into the message (default false). */
  withTraceparent?: boolean;
  /** Task to send; default `llm.summarize`. */
  task?: string;
  /** Queue for the result (rpc:// backend); none by default. */
  replyTo?: string;
}

export interface ShareResult {
  taskId: string;
  /** The gateway span's trace and span ids. */
  traceId: string;
  spanId: string;
  /** What the gateway put in the message, if anything. */
  traceparent?: string;
  tracestate?: string;
}

export interface Gateway {
  shareContent(contentId: string, opts?: ShareOptions): Promise<ShareResult>;
  /** Serves POST /shares; port 0 picks a free one. */
  listen(port?: number): Promise<{ server: Server; port: number }>;
  close(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const serviceName = opts.serviceName ?? process.env.OTEL_SERVICE_NAME ?? 'api-gateway';
  const endpoint = opts.otlpEndpoint ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const processors = [...(opts.spanProcessors ?? [])];
  if (endpoint) processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint })));
  // Not registered globally: a test may run the proxy, with its own provider, in this process.
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    spanProcessors: processors,
  });
  const tracer = provider.getTracer('demo-gateway');

  const connection: AmqpConnectionManager = connect([opts.amqpUrl], { heartbeatIntervalInSeconds: 5 });
  const channel: ChannelWrapper = connection.createChannel({
    name: 'celery-publisher',
    confirm: true,
    setup: async (ch: Channel) => {
      if (opts.declareQueue ?? true) await ch.assertQueue(opts.queue, { durable: true });
    },
  });
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      channel.waitForConnect(),
      new Promise<never>((_, fail) => {
        timer = setTimeout(() => fail(new Error(`gateway: no AMQP connection to ${redact(opts.amqpUrl)} within ${connectTimeoutMs} ms`)), connectTimeoutMs);
      }),
    ]);
  } catch (err) {
    await connection.close();
    await provider.shutdown();
    throw err;
  } finally {
    clearTimeout(timer);
  }

  async function shareContent(contentId: string, share: ShareOptions = {}): Promise<ShareResult> {
    const span = tracer.startSpan('POST /shares', {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': 'POST', 'http.route': '/shares', 'content.id': contentId },
    });
    const carrier: Record<string, string> = {};
    if (share.withTraceparent) propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter);
    const message = buildCeleryTask(share.task ?? 'llm.summarize', [contentId], {}, {
      headers: carrier,
      ...(share.replyTo ? { replyTo: share.replyTo } : {}),
    });
    span.setAttribute('celery.task.id', message.taskId);
    try {
      await channel.sendToQueue(opts.queue, message.content, message.options);
      span.setAttribute('http.response.status_code', 202);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
    const { traceId, spanId } = span.spanContext();
    return {
      taskId: message.taskId, traceId, spanId,
      ...(carrier.traceparent ? { traceparent: carrier.traceparent } : {}),
      ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}),
    };
  }

  let server: Server | undefined;
  let closing: Promise<void> | undefined;
  return {
    shareContent,
    listen: (port = 0) => new Promise((done, fail) => {
      server = createServer((req, res) => { void handleShare(req, res, shareContent); });
      server.once('error', fail);
      server.listen(port, '127.0.0.1', () => done({ server: server!, port: (server!.address() as AddressInfo).port }));
    }),
    close: () => (closing ??= (async () => {
      if (server) await new Promise<void>((done) => server!.close(() => done()));
      await channel.close();
      await connection.close();
      await provider.shutdown();
    })()),
  };
}

const redact = (url: string): string => url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');

async function handleShare(req: IncomingMessage, res: ServerResponse, share: Gateway['shareContent']): Promise<void> {
  const reply = (status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  if (req.method !== 'POST' || req.url !== '/shares') return reply(404, { error: 'POST /shares only' });
  let raw = '';
  for await (const chunk of req) raw += chunk;
  let body: { contentId?: unknown; withTraceparent?: unknown };
  try {
    body = JSON.parse(raw || '{}') as typeof body;
  } catch {
    return reply(400, { error: 'body must be JSON' });
  }
  if (typeof body.contentId !== 'string' || body.contentId === '') return reply(400, { error: 'contentId (string) is required' });
  try {
    reply(202, await share(body.contentId, { withTraceparent: body.withTraceparent === true }));
  } catch (err) {
    reply(503, { error: `publish failed: ${(err as Error).message}` });
  }
}

if (require.main === module) {
  const port = Number(process.env.GATEWAY_PORT ?? 3000);
  startGateway({
    amqpUrl: process.env.GATEWAY_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5673',
    queue: process.env.DEMO_QUEUE_LLM ?? 'llm',
  }).then(async (gateway) => {
    const { port: bound } = await gateway.listen(port);
    console.log(`gateway: POST http://127.0.0.1:${bound}/shares {"contentId":"c-1","withTraceparent":true}`);
    const stop = (): void => { void gateway.close().then(() => process.exit(0)); };
    process.once('SIGINT', stop).once('SIGTERM', stop);
  }).catch((err: Error) => {
    console.error(`gateway: ${err.message}`);
    process.exit(1);
  });
}
