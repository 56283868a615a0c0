/**
 * An in-process OTLP/gRPC trace receiver for tests: a real gRPC server on loopback that
 * implements `opentelemetry.proto.collector.trace.v1.TraceService/Export` and keeps every
 * span it decodes, flattened, so a test can assert on what an exporter actually sent.
 *
 * Decoding is done here with a small protobuf reader rather than generated code:
 * `@opentelemetry/otlp-transformer` (0.223.x) writes requests with a hand-written
 * serializer and only ships a *response* reader, and loading `.proto` files would need
 * files this repository does not have. The messages read, with their field numbers
 * (opentelemetry-proto, collector/trace/v1 and trace/v1, common/v1, resource/v1):
 *
 *   ExportTraceServiceRequest  1 resource_spans: ResourceSpans*
 *   ResourceSpans              1 resource: Resource        2 scope_spans: ScopeSpans*
 *   Resource                   1 attributes: KeyValue*
 *   ScopeSpans                 1 scope: InstrumentationScope   2 spans: Span*
 *   InstrumentationScope       1 name  2 version
 *   Span                       1 trace_id(bytes) 2 span_id(bytes) 3 trace_state 4 parent_span_id(bytes)
 *                              5 name 6 kind(enum) 7 start(fixed64) 8 end(fixed64) 9 attributes: KeyValue*
 *                              11 events: Event* 13 links: Link* 15 status: Status 16 flags(fixed32)
 *   Event                      1 time(fixed64) 2 name 3 attributes: KeyValue*
 *   Link                       1 trace_id 2 span_id 3 trace_state 4 attributes: KeyValue* 6 flags(fixed32)
 *   Status                     2 message 3 code(enum: 0 UNSET, 1 OK, 2 ERROR)
 *   KeyValue                   1 key 2 value: AnyValue
 *   AnyValue (oneof)           1 string 2 bool 3 int64 4 double 5 ArrayValue{1 values*} 6 KeyValueList{1 values*} 7 bytes
 *
 * Unknown fields are skipped by wire type, so a newer exporter adding fields still decodes.
 */
import * as grpc from '@grpc/grpc-js';

export type SpanKindName = 'UNSPECIFIED' | 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER';
export type StatusCodeName = 'UNSET' | 'OK' | 'ERROR';

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  kind: SpanKindName;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, unknown>;
  status: { code: StatusCodeName; message?: string };
  events: { name: string; attributes: Record<string, unknown> }[];
  links: { traceId: string; spanId: string }[];
  /** The resource's `service.name`, or '' when the resource has none. */
  serviceName: string;
  resource: Record<string, unknown>;
  scope: { name: string; version?: string };
  traceState?: string;
  /** OTLP span flags: W3C trace flags in bits 0-7, 0x100 "has is_remote", 0x200 "parent is remote". */
  flags: number;
}

export type ReceiverResponse = 'ok' | 'unavailable' | 'hang';

export interface OtlpReceiver {
  /** `http://127.0.0.1:PORT` (`https://` with TLS), the form `OTLPTraceExporter({ url })` and OTEL_EXPORTER_OTLP_ENDPOINT take. */
  readonly endpoint: string;
  readonly port: number;
  /** A copy of every span accepted so far, in arrival order. */
  spans(): ReceivedSpan[];
  /** The raw ExportTraceServiceRequest of every accepted Export call, in arrival order. */
  bodies(): Buffer[];
  /** Forget the spans received so far (the request counter keeps counting). */
  clear(): void;
  /**
   * Resolves with the spans as soon as `pred` holds for them; rejects after `timeoutMs`
   * (default 5000) listing what did arrive, so a failing test says what it saw.
   */
  waitFor(pred: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  /** Export calls received, whatever the response mode. */
  readonly requests: number;
  /** The gRPC metadata (HTTP/2 headers) of every Export call, in arrival order. */
  metadata(): Record<string, string>[];
  /** Change how later Export calls are answered (e.g. simulate a collector outage mid-test). */
  setResponse(mode: ReceiverResponse): void;
  close(): Promise<void>;
}

export interface ReceiverOptions {
  port?: number;
  /** Address to listen on (default 127.0.0.1; the compose collector stand-in uses 0.0.0.0). */
  host?: string;
  respond?: ReceiverResponse;
  /**
   * Serve TLS with this PEM certificate and key (the endpoint becomes `https://`); with
   * `clientCa`, exporters must present a client certificate that CA signed.
   */
  tls?: { cert: Buffer; key: Buffer; clientCa?: Buffer };
}

export const TRACE_EXPORT_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

// ---------------------------------------------------------------------------------------
// Protobuf wire format: a tag is varint(field << 3 | wireType).

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

class ProtoReader {
  pos: number;
  constructor(private readonly buf: Buffer, start = 0, private readonly end = buf.length) {
    this.pos = start;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.end) throw new Error('protobuf: truncated varint');
      const byte = this.buf[this.pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
    throw new Error('protobuf: varint longer than 10 bytes');
  }

  uint(): number {
    return Number(this.varint());
  }

  tag(): { field: number; wire: number } {
    const t = this.uint();
    return { field: t >>> 3, wire: t & 7 };
  }

  /** A length-delimited field as a sub-reader over the same buffer. */
  sub(): ProtoReader {
    const len = this.uint();
    const start = this.pos;
    if (start + len > this.end) throw new Error('protobuf: length-delimited field overruns its message');
    this.pos += len;
    return new ProtoReader(this.buf, start, start + len);
  }

  bytes(): Buffer {
    const r = this.sub();
    return this.buf.subarray(r.pos, r.end);
  }

  string(): string {
    return this.bytes().toString('utf8');
  }

  fixed64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }

  double(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  fixed32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT: this.varint(); return;
      case WIRE_I64: this.need(8); this.pos += 8; return;
      case WIRE_LEN: this.sub(); return;
      case WIRE_I32: this.need(4); this.pos += 4; return;
      default: throw new Error(`protobuf: unsupported wire type ${wire}`);
    }
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new Error('protobuf: truncated fixed-width field');
  }
}

/**
 * Reads every field of one message, handing known field numbers to `fields` and skipping
 * the rest. A handler is only called when the wire type matches the one it expects.
 */
type FieldHandler = [wire: number, read: (r: ProtoReader) => void];
function readMessage(r: ProtoReader, fields: Record<number, FieldHandler>): void {
  while (!r.atEnd()) {
    const { field, wire } = r.tag();
    const handler = fields[field];
    if (handler && handler[0] === wire) handler[1](r);
    else r.skip(wire);
  }
}

const SPAN_KINDS: readonly SpanKindName[] = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const STATUS_CODES: readonly StatusCodeName[] = ['UNSET', 'OK', 'ERROR'];

/** int64 values become numbers when exact, bigints otherwise. */
function int64Value(raw: bigint): number | bigint {
  const signed = BigInt.asIntN(64, raw);
  return signed >= BigInt(Number.MIN_SAFE_INTEGER) && signed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(signed) : signed;
}

function decodeAnyValue(r: ProtoReader): unknown {
  let value: unknown;
  readMessage(r, {
    1: [WIRE_LEN, (f) => { value = f.string(); }],
    2: [WIRE_VARINT, (f) => { value = f.varint() !== 0n; }],
    3: [WIRE_VARINT, (f) => { value = int64Value(f.varint()); }],
    4: [WIRE_I64, (f) => { value = f.double(); }],
    5: [WIRE_LEN, (f) => {
      const items: unknown[] = [];
      readMessage(f.sub(), { 1: [WIRE_LEN, (g) => { items.push(decodeAnyValue(g.sub())); }] });
      value = items;
    }],
    6: [WIRE_LEN, (f) => { value = decodeKeyValues(f.sub(), 1); }],
    7: [WIRE_LEN, (f) => { value = Buffer.from(f.bytes()); }],
  });
  return value;
}

function decodeKeyValue(r: ProtoReader, into: Record<string, unknown>): void {
  let key = '';
  let value: unknown;
  readMessage(r, {
    1: [WIRE_LEN, (f) => { key = f.string(); }],
    2: [WIRE_LEN, (f) => { value = decodeAnyValue(f.sub()); }],
  });
  into[key] = value;
}

/** All `KeyValue` entries found under field `field` of the message in `r`. */
function decodeKeyValues(r: ProtoReader, field: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  readMessage(r, { [field]: [WIRE_LEN, (f) => decodeKeyValue(f.sub(), out)] });
  return out;
}

const hex = (b: Buffer): string => b.toString('hex');

type SpanCore = Omit<ReceivedSpan, 'serviceName' | 'resource' | 'scope'>;

function decodeSpan(r: ProtoReader): SpanCore {
  const span: SpanCore = {
    traceId: '', spanId: '', parentSpanId: '', name: '', kind: 'UNSPECIFIED',
    startTimeUnixNano: 0n, endTimeUnixNano: 0n, attributes: {},
    status: { code: 'UNSET' }, events: [], links: [], flags: 0,
  };
  readMessage(r, {
    1: [WIRE_LEN, (f) => { span.traceId = hex(f.bytes()); }],
    2: [WIRE_LEN, (f) => { span.spanId = hex(f.bytes()); }],
    3: [WIRE_LEN, (f) => { span.traceState = f.string(); }],
    4: [WIRE_LEN, (f) => { span.parentSpanId = hex(f.bytes()); }],
    5: [WIRE_LEN, (f) => { span.name = f.string(); }],
    6: [WIRE_VARINT, (f) => { span.kind = SPAN_KINDS[f.uint()] ?? 'UNSPECIFIED'; }],
    7: [WIRE_I64, (f) => { span.startTimeUnixNano = f.fixed64(); }],
    8: [WIRE_I64, (f) => { span.endTimeUnixNano = f.fixed64(); }],
    9: [WIRE_LEN, (f) => decodeKeyValue(f.sub(), span.attributes)],
    11: [WIRE_LEN, (f) => {
      const event = { name: '', attributes: {} as Record<string, unknown> };
      readMessage(f.sub(), {
        2: [WIRE_LEN, (g) => { event.name = g.string(); }],
        3: [WIRE_LEN, (g) => decodeKeyValue(g.sub(), event.attributes)],
      });
      span.events.push(event);
    }],
    13: [WIRE_LEN, (f) => {
      const link = { traceId: '', spanId: '' };
      readMessage(f.sub(), {
        1: [WIRE_LEN, (g) => { link.traceId = hex(g.bytes()); }],
        2: [WIRE_LEN, (g) => { link.spanId = hex(g.bytes()); }],
      });
      span.links.push(link);
    }],
    15: [WIRE_LEN, (f) => {
      const status: ReceivedSpan['status'] = { code: 'UNSET' };
      readMessage(f.sub(), {
        2: [WIRE_LEN, (g) => { status.message = g.string(); }],
        3: [WIRE_VARINT, (g) => { status.code = STATUS_CODES[g.uint()] ?? 'UNSET'; }],
      });
      span.status = status;
    }],
    16: [WIRE_I32, (f) => { span.flags = f.fixed32(); }],
  });
  return span;
}

function decodeScopeSpans(r: ProtoReader, resource: Record<string, unknown>, out: ReceivedSpan[]): void {
  const scope: ReceivedSpan['scope'] = { name: '' };
  const spans: SpanCore[] = [];
  readMessage(r, {
    1: [WIRE_LEN, (f) => readMessage(f.sub(), {
      1: [WIRE_LEN, (g) => { scope.name = g.string(); }],
      2: [WIRE_LEN, (g) => { scope.version = g.string(); }],
    })],
    2: [WIRE_LEN, (f) => { spans.push(decodeSpan(f.sub())); }],
  });
  const serviceName = typeof resource['service.name'] === 'string' ? resource['service.name'] : '';
  for (const span of spans) out.push({ ...span, serviceName, resource, scope });
}

/** Flattens an ExportTraceServiceRequest into one entry per span. */
export function decodeExportTraceServiceRequest(buf: Buffer): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  readMessage(new ProtoReader(buf), {
    1: [WIRE_LEN, (f) => {
      // ResourceSpans: the resource may come after its scope_spans on the wire, so collect first.
      let resource: Record<string, unknown> = {};
      const scopes: ProtoReader[] = [];
      readMessage(f.sub(), {
        1: [WIRE_LEN, (g) => { resource = decodeKeyValues(g.sub(), 1); }],
        2: [WIRE_LEN, (g) => { scopes.push(g.sub()); }],
      });
      for (const scope of scopes) decodeScopeSpans(scope, resource, out);
    }],
  });
  return out;
}

// ---------------------------------------------------------------------------------------
// The gRPC service.

const traceServiceDefinition: grpc.ServiceDefinition = {
  Export: {
    path: TRACE_EXPORT_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    // Decoding happens in the handler so a malformed request becomes an INVALID_ARGUMENT reply.
    requestDeserialize: (b: Buffer) => b,
    // An ExportTraceServiceResponse without partial_success is the empty message.
    responseSerialize: () => Buffer.alloc(0),
    responseDeserialize: (b: Buffer) => b,
  },
};

export function startOtlpReceiver(opts: ReceiverOptions = {}): Promise<OtlpReceiver> {
  let mode: ReceiverResponse = opts.respond ?? 'ok';
  let received: ReceivedSpan[] = [];
  let bodies: Buffer[] = [];
  let requests = 0;
  const metadata: Record<string, string>[] = [];
  const listeners = new Set<() => void>();
  const server = new grpc.Server();

  const export_: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    requests++;
    metadata.push(Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)])));
    if (mode === 'hang') return; // never answered; close() cancels it
    if (mode === 'unavailable') {
      callback({ code: grpc.status.UNAVAILABLE, details: 'test receiver: unavailable' });
      return;
    }
    let spans: ReceivedSpan[];
    try {
      spans = decodeExportTraceServiceRequest(call.request);
    } catch (err) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: `test receiver: ${(err as Error).message}` });
      return;
    }
    received.push(...spans);
    bodies.push(call.request);
    callback(null, Buffer.alloc(0));
    for (const notify of [...listeners]) notify();
  };
  server.addService(traceServiceDefinition, { Export: export_ });

  return new Promise((resolve, reject) => {
    const credentials = opts.tls
      ? grpc.ServerCredentials.createSsl(opts.tls.clientCa ?? null, [{ cert_chain: opts.tls.cert, private_key: opts.tls.key }], opts.tls.clientCa !== undefined)
      : grpc.ServerCredentials.createInsecure();
    const host = opts.host ?? '127.0.0.1';
    server.bindAsync(`${host}:${opts.port ?? 0}`, credentials, (err, port) => {
      if (err) {
        reject(new Error(`OTLP test receiver could not listen on ${host}:${opts.port ?? 0}: ${err.message}`));
        return;
      }
      resolve({
        endpoint: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
        port,
        spans: () => [...received],
        bodies: () => [...bodies],
        clear: () => { received = []; bodies = []; },
        get requests() { return requests; },
        metadata: () => [...metadata],
        setResponse: (next) => { mode = next; },
        waitFor: (pred, timeoutMs = 5000) => new Promise((done, fail) => {
          const check = (): boolean => {
            if (!pred(received)) return false;
            cleanup();
            done([...received]);
            return true;
          };
          const timer = setTimeout(() => {
            cleanup();
            const seen = received.map((s) => `${s.serviceName}/${s.kind}/${s.name}`).join(', ') || 'none';
            fail(new Error(`OTLP test receiver: condition not met within ${timeoutMs} ms; ${received.length} span(s) received: ${seen}`));
          }, timeoutMs);
          const cleanup = (): void => { clearTimeout(timer); listeners.delete(check); };
          listeners.add(check);
          check();
        }),
        close: () => new Promise<void>((done) => {
          let finished = false;
          const finish = (): void => { if (!finished) { finished = true; clearTimeout(force); done(); } };
          // Unanswered ('hang') calls would keep tryShutdown waiting; cut them off after a grace period.
          const force = setTimeout(() => { server.forceShutdown(); finish(); }, 500);
          server.tryShutdown(finish);
        }),
      });
    });
  });
}
