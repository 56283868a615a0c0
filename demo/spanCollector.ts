/**
 * The demo's own OTLP/gRPC trace endpoint: the proxy and the gateway export here, the demo
 * prints what arrives, and when a real collector is configured every request is also
 * forwarded to it byte for byte. One endpoint for both exporters keeps the fan-out in one
 * place: the proxy accepts a single OTLP endpoint, and forwarding the raw request means
 * the collector receives exactly what the exporters sent.
 *
 * Only the fields the span tree needs are decoded (opentelemetry-proto trace/v1):
 *
 *   ExportTraceServiceRequest  1 resource_spans*
 *   ResourceSpans              1 resource { 1 attributes* }   2 scope_spans*
 *   ScopeSpans                 2 spans*
 *   Span                       1 trace_id  2 span_id  4 parent_span_id  5 name  6 kind
 *                              7 start_time_unix_nano (fixed64)  8 end_time_unix_nano (fixed64)
 *                              9 attributes*  15 status { 2 message  3 code }
 *   KeyValue                   1 key  2 value: AnyValue { 1 string 2 bool 3 int64 4 double }
 *
 * The tests have a fuller receiver (test/support/otlpReceiver.ts); the demo keeps this
 * smaller one so that it does not depend on test code.
 */
import * as grpc from '@grpc/grpc-js';
import type { TreeSpan } from './spanTree';

const EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const STATUS = ['UNSET', 'OK', 'ERROR'];

export interface CollectedSpan extends TreeSpan {
  readonly kind: string;
}

export interface SpanCollector {
  /** `http://127.0.0.1:PORT`, for OTEL_EXPORTER_OTLP_ENDPOINT and OTLPTraceExporter({ url }). */
  readonly endpoint: string;
  spans(): CollectedSpan[];
  /** Resolves when `pred` holds, rejects after `timeoutMs` saying how many spans arrived. */
  waitFor(pred: (spans: CollectedSpan[]) => boolean, timeoutMs: number): Promise<CollectedSpan[]>;
  /** Requests forwarded to the upstream collector, and those it refused or never answered. */
  forwarded(): { ok: number; failed: number; lastError?: string };
  /** Waits (bounded) for forwards still in flight, then stops. */
  close(): Promise<void>;
}

export async function startSpanCollector(opts: { forwardTo?: string } = {}): Promise<SpanCollector> {
  const received: CollectedSpan[] = [];
  const listeners = new Set<() => void>();
  const upstream = opts.forwardTo ? upstreamClient(opts.forwardTo) : undefined;
  const forwards = { ok: 0, failed: 0, lastError: undefined as string | undefined };
  const inFlight = new Set<Promise<void>>();

  const server = new grpc.Server();
  server.addService({
    Export: {
      path: EXPORT_PATH, requestStream: false, responseStream: false,
      requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b,
      responseSerialize: () => Buffer.alloc(0), responseDeserialize: (b: Buffer) => b,
    },
  }, {
    Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      try {
        received.push(...decodeRequest(call.request));
      } catch (err) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: (err as Error).message });
        return;
      }
      callback(null, Buffer.alloc(0));
      if (upstream) {
        const p = new Promise<void>((done) => {
          upstream.makeUnaryRequest(EXPORT_PATH, (b: Buffer) => b, (b: Buffer) => b, call.request,
            { deadline: Date.now() + 10_000 }, (err) => {
              if (err) { forwards.failed++; forwards.lastError = err.message; } else forwards.ok++;
              done();
            });
        });
        inFlight.add(p);
        void p.then(() => inFlight.delete(p));
      }
      for (const notify of [...listeners]) notify();
    },
  });
  const port = await new Promise<number>((done, fail) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? fail(err) : done(p)));
  });

  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans: () => [...received],
    waitFor: (pred, timeoutMs) => new Promise((done, fail) => {
      const check = (): void => {
        if (!pred(received)) return;
        cleanup();
        done([...received]);
      };
      const timer = setTimeout(() => {
        cleanup();
        fail(new Error(`expected spans did not arrive within ${timeoutMs} ms (${received.length} received)`));
      }, timeoutMs);
      const cleanup = (): void => { clearTimeout(timer); listeners.delete(check); };
      listeners.add(check);
      check();
    }),
    forwarded: () => ({ ...forwards }),
    close: async () => {
      await Promise.race([Promise.all(inFlight), new Promise((r) => setTimeout(r, 10_000))]);
      upstream?.close();
      await new Promise<void>((done) => {
        const force = setTimeout(() => { server.forceShutdown(); done(); }, 1000);
        server.tryShutdown(() => { clearTimeout(force); done(); });
      });
    },
  };
}

/** OTEL_EXPORTER_OTLP_ENDPOINT for gRPC: `http://host:port` (plaintext) or `https://host:port`. */
function upstreamClient(endpoint: string): grpc.Client {
  const url = new URL(endpoint.includes('://') ? endpoint : `http://${endpoint}`);
  const creds = url.protocol === 'https:' ? grpc.credentials.createSsl() : grpc.credentials.createInsecure();
  return new grpc.Client(`${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 4317)}`, creds);
}

// ----- protobuf: just enough of the wire format -------------------------------------------

class Reader {
  constructor(private readonly buf: Buffer, public pos = 0, private readonly end = buf.length) {}

  more(): boolean { return this.pos < this.end; }

  varint(): bigint {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      const b = this.buf[this.pos++]!;
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
    }
    throw new Error('protobuf: varint too long');
  }

  sub(): Reader {
    const len = Number(this.varint());
    if (this.pos + len > this.end) throw new Error('protobuf: field overruns its message');
    const r = new Reader(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return r;
  }

  bytes(): Buffer { const r = this.sub(); return this.buf.subarray(r.pos, r.end); }

  fixed(n: 4 | 8): Buffer {
    if (this.pos + n > this.end) throw new Error('protobuf: truncated fixed field');
    this.pos += n;
    return this.buf.subarray(this.pos - n, this.pos);
  }

  /** Calls `on(field, wireType)` per field; a field it does not consume is skipped. */
  each(on: (field: number, wire: number) => boolean): void {
    while (this.more()) {
      const tag = Number(this.varint());
      const [field, wire] = [tag >>> 3, tag & 7];
      if (on(field, wire)) continue;
      if (wire === 0) this.varint();
      else if (wire === 1) this.fixed(8);
      else if (wire === 2) this.sub();
      else if (wire === 5) this.fixed(4);
      else throw new Error(`protobuf: wire type ${wire}`);
    }
  }
}

/** Handles the length-delimited fields named in `on`; every other field is skipped. */
function fields(r: Reader, on: Record<number, (sub: Reader) => void>): void {
  r.each((field, wire) => {
    const handler = on[field];
    if (wire !== 2 || handler === undefined) return false;
    handler(r.sub());
    return true;
  });
}

function decodeRequest(buf: Buffer): CollectedSpan[] {
  const out: CollectedSpan[] = [];
  fields(new Reader(buf), {
    1: (resourceSpans) => {
      let service = '';
      const spans: Omit<CollectedSpan, 'serviceName'>[] = [];
      fields(resourceSpans, {
        1: (resource) => {
          const attrs: Record<string, unknown> = {};
          fields(resource, { 1: (kv) => keyValue(kv, attrs) });
          service = typeof attrs['service.name'] === 'string' ? attrs['service.name'] : '';
        },
        2: (scopeSpans) => fields(scopeSpans, { 2: (span) => spans.push(decodeSpan(span)) }),
      });
      for (const span of spans) out.push({ ...span, serviceName: service });
    },
  });
  return out;
}

function decodeSpan(r: Reader): Omit<CollectedSpan, 'serviceName'> {
  let traceId = '', spanId = '', parentSpanId = '', name = '', kind = 'UNSPECIFIED';
  let startTimeUnixNano = 0n, endTimeUnixNano = 0n;
  const attributes: Record<string, unknown> = {};
  const status: { code: string; message?: string } = { code: 'UNSET' };
  r.each((field, wire) => {
    if (wire === 2 && field === 1) traceId = r.bytes().toString('hex');
    else if (wire === 2 && field === 2) spanId = r.bytes().toString('hex');
    else if (wire === 2 && field === 4) parentSpanId = r.bytes().toString('hex');
    else if (wire === 2 && field === 5) name = r.bytes().toString('utf8');
    else if (wire === 0 && field === 6) kind = KINDS[Number(r.varint())] ?? 'UNSPECIFIED';
    else if (wire === 1 && field === 7) startTimeUnixNano = r.fixed(8).readBigUInt64LE(0);
    else if (wire === 1 && field === 8) endTimeUnixNano = r.fixed(8).readBigUInt64LE(0);
    else if (wire === 2 && field === 9) keyValue(r.sub(), attributes);
    else if (wire === 2 && field === 15) {
      const st = r.sub();
      st.each((f, w) => {
        if (w === 2 && f === 2) status.message = st.bytes().toString('utf8');
        else if (w === 0 && f === 3) status.code = STATUS[Number(st.varint())] ?? 'UNSET';
        else return false;
        return true;
      });
    } else return false;
    return true;
  });
  return { traceId, spanId, parentSpanId, name, kind, startTimeUnixNano, endTimeUnixNano, attributes, status };
}

function keyValue(r: Reader, into: Record<string, unknown>): void {
  let key = '';
  let value: unknown;
  r.each((field, wire) => {
    if (wire === 2 && field === 1) key = r.bytes().toString('utf8');
    else if (wire === 2 && field === 2) value = anyValue(r.sub());
    else return false;
    return true;
  });
  into[key] = value;
}

/** Scalars only; arrays, maps and bytes are not needed for the tree. */
function anyValue(r: Reader): unknown {
  let value: unknown;
  r.each((field, wire) => {
    if (wire === 2 && field === 1) value = r.bytes().toString('utf8');
    else if (wire === 0 && field === 2) value = r.varint() !== 0n;
    else if (wire === 0 && field === 3) value = Number(BigInt.asIntN(64, r.varint()));
    else if (wire === 1 && field === 4) value = r.fixed(8).readDoubleLE(0);
    else return false;
    return true;
  });
  return value;
}
