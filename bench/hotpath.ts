/**
 * The proxy's per-message CPU without sockets: the real FrameScanner and tracer (0-9-1 adapter and core)
 * (real metrics, real OpenTelemetry SDK) fed pre-built chunks, the way a connection's
 * `data` events would feed them. No broker, no kernel, no event loop: what is left is
 * exactly the work tracing adds on top of an opaque relay, so changes to the hot path can
 * be compared with little noise.
 *
 * Runs the build in dist/ (`npm run build` first):
 *
 *   npx tsx bench/hotpath.ts                      tracing at 10 % (exporter none)
 *   HOTPATH_MODE=off npx tsx bench/hotpath.ts     sampler always_off
 *   HOTPATH_MODE=bypass npx tsx bench/hotpath.ts  runtime bypass: frames scanned, nothing rewritten
 *   HOTPATH_MODE=export npx tsx bench/hotpath.ts  tracing at 10 %, spans exported over OTLP/gRPC to
 *                                                 bench/otlpSink.ts in a child process (its CPU not counted)
 *   HOTPATH_MESSAGES=400000 ...                   messages measured (after a quarter as warm-up)
 *   HOTPATH_RATIO=1 ...                           the sampler's ratio (default 0.1)
 *   HOTPATH_BATCH=512 ...                         spans per export request (OTEL_BSP_MAX_EXPORT_BATCH_SIZE)
 *   HOTPATH_CONFIRMS=1 ...                        the channel in confirm mode, each round confirmed by the broker
 *   PROXY_OUTCOME_EXPORT=false ...                outcome-based export off (it is on, as in the proxy, whenever
 *                                                 spans are exported: HOTPATH_MODE=export)
 *   HOTPATH_DIST=/tmp/before/dist ...             another build, to compare two commits side by side
 *
 * Each round: 8 × (basic.publish + content header + 1 KiB body) towards the broker, the
 * same 8 messages delivered back (basic.deliver + the header the proxy wrote + body), and
 * 8 basic.ack. Prints µs of process CPU (user + system) per message, min and median of the
 * repeats. Run it under `node --cpu-prof -r tsx/cjs bench/hotpath.ts` for a profile.
 */
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { median } from './lib/stats';

/*
 * The proxy's code is loaded from dist/ (what `npm run build` and production run), typed
 * from src/: tsx's own transform adds getters and helpers to every module that would
 * distort a profile of this size.
 */
const dist = path.resolve(process.env.HOTPATH_DIST ?? path.join(__dirname, '../dist'));
const load = <T>(module: string): T => require(path.join(dist, module)) as T;
const { Method } = load<typeof import('../src/amqp/constants')>('amqp/constants');
const { FrameScanner } = load<typeof import('../src/amqp/scanner')>('amqp/scanner');
const { frameLimits } = load<typeof import('../src/amqp/handshake')>('amqp/handshake');
const { loadConfig } = load<typeof import('../src/config/config')>('config/config');
const { createLogger } = load<typeof import('../src/log/logger')>('log/logger');
const { createMetrics } = load<typeof import('../src/metrics/metrics')>('metrics/metrics');
const { startTelemetry } = load<typeof import('../src/trace/telemetry')>('trace/telemetry');
const { createTracing } = load<typeof import('../src/trace/tracing')>('trace/tracing');
/** Content headers the tracer has read (issue 22: once per header); absent in builds before the 0-9-1 adapter. */
const headerReads = ((): (() => number) | undefined => {
  try {
    return load<typeof import('../src/trace/amqp091/messageView')>('trace/amqp091/messageView').contentHeaderReads;
  } catch {
    return undefined;
  }
})();
/** Second walks of a headers table for the delivery-history headers (issue 23): none for plain messages; absent in builds before. */
const historyWalks = ((): (() => number) | undefined => {
  try {
    return load<typeof import('../src/trace/amqp091/traceHeaders')>('trace/amqp091/traceHeaders').historyHeaderWalks;
  } catch {
    return undefined;
  }
})();
type FrameScanner = InstanceType<typeof FrameScanner>;

type AmqplibDefs = {
  encodeMethod(id: number, channel: number, fields: Record<string, unknown>): Buffer;
  encodeProperties(classId: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
};
const defs = require(path.join(path.dirname(require.resolve('amqplib')), 'lib/defs.js')) as AmqplibDefs;

const BATCH = 8;
const BODY_SIZE = 1024;
const CHANNEL = 1;
const CONSUMER_TAG = 'amq.ctag-hotpath';
const mode = process.env.HOTPATH_MODE ?? 'trace10';
const measured = Number(process.env.HOTPATH_MESSAGES ?? 320_000);
const repeats = Number(process.env.HOTPATH_REPEATS ?? 5);

function bodyFrame(size: number): Buffer {
  const frame = Buffer.alloc(size + 8, 0x61);
  frame[0] = 3;
  frame.writeUInt16BE(CHANNEL, 1);
  frame.writeUInt32BE(size, 3);
  frame[size + 7] = 0xce;
  return frame;
}

/** With HOTPATH_MODE=export, the bench's OTLP sink runs in a child process; returns its port. */
async function startSink(): Promise<number | undefined> {
  if (mode !== 'export') return undefined;
  // tsx resolved from here, not from the cwd, so the bench runs from any directory.
  const sink = fork(path.join(__dirname, 'otlpSink.ts'), [], { execArgv: ['-r', require.resolve('tsx/cjs')], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  process.on('exit', () => sink.kill());
  return new Promise((resolve) => {
    sink.once('message', (m: { port: number }) => resolve(m.port));
  });
}

/** The proxy's parts for one connection: config, telemetry, the tracer and both scanners. */
interface Proxy {
  readonly telemetry: ReturnType<typeof startTelemetry>;
  /** Tracing while the delivered headers are made, then as HOTPATH_MODE says. */
  readonly modeSwitch: { tracing: boolean };
  readonly toBroker: FrameScanner;
  readonly toClient: FrameScanner;
}

/** Wires the proxy as app.ts does (createTracing), exporting to the sink when there is one. */
function wireProxy(sinkPort: number | undefined): Proxy {
  const config = loadConfig([], {
    OTEL_TRACES_EXPORTER: sinkPort === undefined ? 'none' : 'otlp',
    ...(sinkPort === undefined ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}` }),
    OTEL_TRACES_SAMPLER: mode === 'off' ? 'always_off' : 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: process.env.HOTPATH_RATIO ?? '0.1',
    ...(process.env.HOTPATH_BATCH ? { OTEL_BSP_MAX_EXPORT_BATCH_SIZE: process.env.HOTPATH_BATCH } : {}),
    LOG_LEVEL: 'error',
    PROXY_OUTCOME_EXPORT: process.env.PROXY_OUTCOME_EXPORT ?? 'true',
    // The delivered headers are replayed with the stamps of their setup: without this the
    // hop would look ever older and every delivery would be a broker_hop_latency keep.
    PROXY_OUTCOME_BROKER_HOP_OVER_MS: '86400000',
  });
  const logger = createLogger('error');
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0 });
  const telemetry = startTelemetry(config, metrics, logger);
  const modeSwitch = { tracing: true };
  const session = createTracing(config, { telemetry, metrics, logger, mode: modeSwitch })({
    upstream: config.upstreams[0]!,
    control: { frameMax: 0 },
  });
  const failOpen = (reason: string): never => {
    throw new Error(`scanner failed open: ${reason}`);
  };
  const toBroker = new FrameScanner(session.clientHooks, true, failOpen);
  const toClient = new FrameScanner(session.serverHooks, false, failOpen);
  // Frames as after a handshake (which the proxy's HandshakeWatch follows, not the tracer).
  for (const scanner of [toBroker, toClient]) scanner.setLimits(frameLimits({ kind: 'open', frameMax: 0 }, 1024 * 1024));
  return { telemetry, modeSwitch, toBroker, toClient };
}

const out: Buffer[] = [];

/** What the scanner forwards for one chunk (valid until the next push). */
function push(scanner: FrameScanner, chunk: Buffer): Buffer[] {
  out.length = 0;
  scanner.push(chunk, out);
  return out;
}

/** Handshake and consumer registration, as a real connection would send them. */
function openConnection(proxy: Proxy, confirms: boolean): void {
  push(proxy.toBroker, Buffer.from('AMQP\x00\x00\x09\x01', 'latin1'));
  push(proxy.toBroker, defs.encodeMethod(Method.ConnectionTuneOk, 0, { channelMax: 2047, frameMax: 131072, heartbeat: 60 }));
  push(proxy.toBroker, defs.encodeMethod(Method.BasicConsume, CHANNEL, {
    ticket: 0, queue: 'hotpath', consumerTag: CONSUMER_TAG, noLocal: false, noAck: false, exclusive: false, nowait: false, arguments: {},
  }));
  push(proxy.toClient, defs.encodeMethod(Method.BasicConsumeOk, CHANNEL, { consumerTag: CONSUMER_TAG }));
  if (confirms) push(proxy.toBroker, defs.encodeMethod(Method.ConfirmSelect, CHANNEL, { nowait: false }));
}

/** BATCH publishes (method, content header, body) in one chunk. */
function publishChunkOf(body: Buffer): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < BATCH; i++) {
    frames.push(defs.encodeMethod(Method.BasicPublish, CHANNEL, {
      ticket: 0, exchange: '', routingKey: 'hotpath', mandatory: false, immediate: false,
    }));
    frames.push(defs.encodeProperties(60, CHANNEL, BODY_SIZE, {
      contentType: 'application/json', deliveryMode: 2, headers: { 'x-app': 'bench' },
    }));
    frames.push(body);
  }
  return Buffer.concat(frames);
}

/** The publishing side: a round's publishes and, with HOTPATH_CONFIRMS=1, the broker's ack of all so far. */
class Publisher {
  private published = 0;
  /** basic.ack (multiple) up to the last publish. */
  private readonly confirmFrame = defs.encodeMethod(Method.BasicAck, CHANNEL, { deliveryTag: 1, multiple: true });

  constructor(private readonly proxy: Proxy, readonly chunk: Buffer, private readonly confirms: boolean) {}

  /** The chunk as the proxy forwards it (valid until the next push). */
  publish(): Buffer[] {
    const forwarded = push(this.proxy.toBroker, this.chunk);
    this.published += BATCH;
    return forwarded;
  }

  round(): void {
    this.publish();
    if (!this.confirms) return;
    this.confirmFrame.writeBigUInt64BE(BigInt(this.published), 11);
    push(this.proxy.toClient, this.confirmFrame);
  }
}

/**
 * The headers the proxy itself writes on publish (1,024 of them, so about 10 % carry a
 * sampled traceparent): what its deliveries carry.
 */
function writtenHeaders(publisher: Publisher): Buffer[] {
  const written: Buffer[] = [];
  while (written.length < 1024) {
    for (const b of publisher.publish()) {
      if (b[0] === 2) written.push(Buffer.from(b));
    }
  }
  return written;
}

/** Delivery chunks of BATCH deliveries each, and where each delivery tag sits in them (patched per round). */
function deliveryChunks(written: Buffer[], body: Buffer): { chunks: Buffer[]; tagOffsets: number[][] } {
  const deliverFrame = defs.encodeMethod(Method.BasicDeliver, CHANNEL, {
    consumerTag: CONSUMER_TAG, deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'hotpath',
  });
  const chunks: Buffer[] = [];
  for (let round = 0; round < written.length / BATCH; round++) {
    const frames: Buffer[] = [];
    for (let i = 0; i < BATCH; i++) frames.push(deliverFrame, written[round * BATCH + i]!, body);
    chunks.push(Buffer.concat(frames));
  }
  // A delivery tag is the longlong after the consumer tag.
  const tagOffsets = (chunk: Buffer): number[] => {
    const offsets: number[] = [];
    let at = 0;
    for (let i = 0; i < BATCH; i++) {
      offsets.push(at + 7 + 4 + 1 + CONSUMER_TAG.length);
      at += deliverFrame.length;
      at += chunk.readUInt32BE(at + 3) + 8; // content header
      at += body.length;
    }
    return offsets;
  };
  return { chunks, tagOffsets: chunks.map(tagOffsets) };
}

/** One round: BATCH publishes, their deliveries (tags numbered on), and their acks. */
function roundsOf(proxy: Proxy, publisher: Publisher, deliveries: { chunks: Buffer[]; tagOffsets: number[][] }): (k: number) => void {
  const ackChunk = Buffer.concat(Array.from({ length: BATCH }, () =>
    defs.encodeMethod(Method.BasicAck, CHANNEL, { deliveryTag: 1, multiple: false })));
  const ackFrameSize = ackChunk.length / BATCH;
  let nextTag = 1;
  return (k) => {
    publisher.round();
    const chunk = deliveries.chunks[k % deliveries.chunks.length]!;
    const offsets = deliveries.tagOffsets[k % deliveries.chunks.length]!;
    const first = nextTag;
    for (let i = 0; i < BATCH; i++) chunk.writeBigUInt64BE(BigInt(first + i), offsets[i]!);
    push(proxy.toClient, chunk);
    for (let i = 0; i < BATCH; i++) ackChunk.writeBigUInt64BE(BigInt(first + i), i * ackFrameSize + 11);
    push(proxy.toBroker, ackChunk);
    nextTag += BATCH;
  };
}

/**
 * µs of CPU per message over `messages`: rounds run back to back, yielding to the event
 * loop every 128 messages as a busy connection would between socket reads (the span
 * processor exports from timers), and the CPU of the final export of the spans still
 * queued is counted too.
 */
async function measure(proxy: Proxy, round: (k: number) => void, messages: number): Promise<number> {
  const rounds = Math.ceil(messages / BATCH);
  const before = process.cpuUsage();
  for (let k = 0; k < rounds; k++) {
    round(k);
    if (k % 16 === 15) await new Promise(setImmediate);
  }
  // A flush that fails (the sink too slow for a 100 % run) must not end the measurement.
  await proxy.telemetry.forceFlush().catch((err: unknown) => console.error(`flush failed: ${String(err)}`));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / (rounds * BATCH);
}

async function main(): Promise<void> {
  const proxy = wireProxy(await startSink());
  const confirms = process.env.HOTPATH_CONFIRMS === '1';
  openConnection(proxy, confirms);
  const body = bodyFrame(BODY_SIZE);
  const publisher = new Publisher(proxy, publishChunkOf(body), confirms);
  const deliveries = deliveryChunks(writtenHeaders(publisher), body);
  proxy.modeSwitch.tracing = mode !== 'bypass';
  const round = roundsOf(proxy, publisher, deliveries);
  await measure(proxy, round, measured / 4);
  const results: number[] = [];
  const readsBefore = headerReads?.();
  const walksBefore = historyWalks?.();
  for (let r = 0; r < repeats; r++) results.push(await measure(proxy, round, measured));
  const messages = Math.ceil(measured / BATCH) * BATCH * repeats;
  // Two content headers per message (its publish and its delivery); in bypass nothing reads them.
  const reads = (readsBefore === undefined ? '' : `, ${((headerReads!() - readsBefore) / messages).toFixed(2)} content header reads per message`)
    + (walksBefore === undefined ? '' : `, ${((historyWalks!() - walksBefore) / messages).toFixed(2)} history header walks`);
  console.log(`hotpath ${mode}: ${Math.min(...results).toFixed(2)} min / ${median(results).toFixed(2)} median µs CPU per message `
    + `(publish + deliver + ack, ${measured} messages × ${repeats}${reads})`);
  await proxy.telemetry.shutdown();
  process.exit(0);
}

void main();
