/**
 * One connection's tracer (the 0-9-1 adapter and the core) behind real FrameScanners, fed frames that amqplib encodes, with
 * every span recorded (as if sampled) into an in-memory exporter. For unit
 * tests of span names, kinds and attributes: no sockets, no broker.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { Method } from '../../src/amqp/constants';
import { frameLimits } from '../../src/amqp/handshake';
import { FrameScanner } from '../../src/amqp/scanner';
import { createLogger } from '../../src/log/logger';
import { ProxyMetrics, createMetrics } from '../../src/metrics/metrics';
import type { SessionFactory } from '../../src/proxy/session';
import { loadConfig } from '../../src/config/config';
import type { Clock } from '../../src/trace/clock';
import { createTracing } from '../../src/trace/tracing';
import { amqplibDefs } from './amqpVectors';
import { memorySink } from './memorySink';

export interface TracerHarness {
  readonly metrics: ProxyMetrics;
  /** A method frame from the client (to the broker). */
  client(method: number, fields: Record<string, unknown>, channel?: number): void;
  /** A method frame from the broker (to the client). */
  server(method: number, fields: Record<string, unknown>, channel?: number): void;
  publish(exchange: string, routingKey: string, properties?: Record<string, unknown>, channel?: number): void;
  /** basic.deliver to a consumer the harness registered with consume(). */
  deliver(
    consumerTag: string, deliveryTag: number, exchange: string, routingKey: string, properties?: Record<string, unknown>, channel?: number,
    redelivered?: boolean,
  ): void;
  consume(queue: string, consumerTag: string, channel?: number): void;
  /** basic.return (312 NO_ROUTE) of a message with these properties, as the broker sends it back. */
  returned(exchange: string, routingKey: string, properties?: Record<string, unknown>, channel?: number): void;
  /** basic.get and its get-ok with a message. */
  get(queue: string, deliveryTag: number, exchange: string, routingKey: string, properties?: Record<string, unknown>, channel?: number): void;
  spans(): ReadableSpan[];
  names(): string[];
  /** Another client connection through the same proxy process (shared maps, same spans). */
  another(): TracerHarness;
  /** Raw bytes towards the broker / the client (whole frames or any part of them); returns what was forwarded. */
  toBroker(bytes: Buffer): Buffer[];
  toClient(bytes: Buffer): Buffer[];
  /** The connection went away (the proxy calls this with connection_closed, or a fail-open reason). */
  close(reason: string): void;
}

export interface HarnessOptions {
  queueKindCapacity?: number;
  /** --publish-stamp-max-age-ms. */
  publishStampMaxAgeMs?: number;
  /** Where the tracer reads time (test/support/fakeClock.ts); the system clock otherwise. */
  clock?: Clock;
  /**
   * false: the sampler picks nothing and outcome-based export is on, kept spans recorded
   * like sampled ones; default true (every span recorded, no outcome keeping).
   */
  sampled?: boolean;
  /** Options as the proxy's environment would give them (PROXY_OUTCOME_*, ...). */
  env?: Record<string, string>;
}

export function tracerHarness(options: HarnessOptions = {}): TracerHarness {
  const sink = memorySink();
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
  // The config the proxy would have, with the maps small enough for tests to fill.
  const config = loadConfig([], {
    PROXY_INFLIGHT_CAPACITY: '1000', PROXY_CONTINUATION_CAPACITY: '1000',
    ...(options.publishStampMaxAgeMs === undefined ? {} : { PROXY_PUBLISH_STAMP_MAX_AGE_MS: String(options.publishStampMaxAgeMs) }),
    ...options.env,
  });
  const sampled = options.sampled ?? true;
  const sessions = createTracing(config, {
    telemetry: { sink, keep: sampled ? undefined : sink, sampled: () => sampled, sampledNewTrace: () => sampled, parentDecides: true },
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    metrics,
    logger: createLogger('error'),
    mode: { tracing: true },
    ...(options.queueKindCapacity === undefined ? {} : { queueKindCapacity: options.queueKindCapacity }),
  });

  return connectionHarness(sessions, sink, metrics);
}

function connectionHarness(sessions: SessionFactory, sink: ReturnType<typeof memorySink>, metrics: ProxyMetrics): TracerHarness {
  const session = sessions({
    id: 1,
    upstream: { host: '127.0.0.1', port: 5672, tls: false, label: '127.0.0.1:5672' },
    control: { frameMax: 0 },
  });
  const failOpen = (reason: string, detail: string): never => {
    throw new Error(`scanner failed open: ${reason} ${detail}`);
  };
  const unread = (_method: number, err: unknown): never => {
    throw new Error(`a frame went unread: ${String(err)}`);
  };
  const toBroker = new FrameScanner(session.clientHooks, true, failOpen, unread);
  const toClient = new FrameScanner(session.serverHooks, false, failOpen, unread);
  // Frames as after a handshake (which the proxy's HandshakeWatch follows, not the tracer).
  for (const scanner of [toBroker, toClient]) scanner.setLimits(frameLimits({ kind: 'open', frameMax: 0 }, 1024 * 1024));
  const out: Buffer[] = [];
  toBroker.push(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'), out);

  const body = (channel: number): Buffer => {
    const frame = Buffer.alloc(8 + 2);
    frame[0] = 3;
    frame.writeUInt16BE(channel, 1);
    frame.writeUInt32BE(2, 3);
    frame.write('hi', 7);
    frame[9] = 0xce;
    return frame;
  };
  const client = (method: number, fields: Record<string, unknown>, channel = 1): void => {
    toBroker.push(amqplibDefs.encodeMethod(method, channel, fields), out);
  };
  const server = (method: number, fields: Record<string, unknown>, channel = 1): void => {
    toClient.push(amqplibDefs.encodeMethod(method, channel, fields), out);
  };
  return {
    metrics,
    client,
    server,
    publish(exchange, routingKey, properties = {}, channel = 1) {
      client(Method.BasicPublish, { ticket: 0, exchange, routingKey, mandatory: false, immediate: false }, channel);
      toBroker.push(amqplibDefs.encodeProperties(60, channel, 2, properties), out);
      toBroker.push(body(channel), out);
    },
    deliver(consumerTag, deliveryTag, exchange, routingKey, properties = {}, channel = 1, redelivered = false) {
      server(Method.BasicDeliver, { consumerTag, deliveryTag, redelivered, exchange, routingKey }, channel);
      toClient.push(amqplibDefs.encodeProperties(60, channel, 2, properties), out);
      toClient.push(body(channel), out);
    },
    returned(exchange, routingKey, properties = {}, channel = 1) {
      server(Method.BasicReturn, { replyCode: 312, replyText: 'NO_ROUTE', exchange, routingKey }, channel);
      toClient.push(amqplibDefs.encodeProperties(60, channel, 2, properties), out);
      toClient.push(body(channel), out);
    },
    get(queue, deliveryTag, exchange, routingKey, properties = {}, channel = 1) {
      client(Method.BasicGet, { ticket: 0, queue, noAck: false }, channel);
      server(Method.BasicGetOk, { deliveryTag, redelivered: false, exchange, routingKey, messageCount: 0 }, channel);
      toClient.push(amqplibDefs.encodeProperties(60, channel, 2, properties), out);
      toClient.push(body(channel), out);
    },
    consume(queue, consumerTag, channel = 1) {
      client(Method.BasicConsume, {
        ticket: 0, queue, consumerTag, noLocal: false, noAck: false, exclusive: false, nowait: false, arguments: {},
      }, channel);
      server(Method.BasicConsumeOk, { consumerTag }, channel);
    },
    spans: () => sink.exporter.getFinishedSpans(),
    names: () => sink.exporter.getFinishedSpans().map((s) => s.name),
    another: () => connectionHarness(sessions, sink, metrics),
    toBroker: (bytes) => {
      out.length = 0;
      toBroker.push(bytes, out);
      return [...out];
    },
    toClient: (bytes) => {
      out.length = 0;
      toClient.push(bytes, out);
      return [...out];
    },
    close: (reason) => session.close(reason),
  };
}
