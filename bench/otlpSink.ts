/**
 * The bench's OTLP receiver: a gRPC server for
 * `opentelemetry.proto.collector.trace.v1.TraceService/Export` that takes each request as
 * raw bytes, counts requests, bytes and spans, and answers with an empty
 * ExportTraceServiceResponse (zero bytes of protobuf). It runs in its own process so its
 * CPU is not charged to the harness or the proxy.
 *
 * Spans are counted by walking just three levels of the protobuf:
 *   ExportTraceServiceRequest 1: ResourceSpans*  ->  ResourceSpans 2: ScopeSpans*  ->  ScopeSpans 2: Span*
 *
 * IPC: sends { type: 'listening', port } once bound; answers { type: 'stats' } with SinkStats.
 */
import * as grpc from '@grpc/grpc-js';

export interface SinkStats {
  requests: number;
  bytes: number;
  spans: number;
  /** Requests whose bytes did not walk as protobuf (counted, still answered OK). */
  malformed: number;
  /** Date.now() of the last request, 0 before the first. */
  lastRequestAt: number;
}

const stats: SinkStats = { requests: 0, bytes: 0, spans: 0, malformed: 0, lastRequestAt: 0 };
const EMPTY_RESPONSE = Buffer.alloc(0);

/** Calls `onField(fieldNumber, start, end)` for every length-delimited field of a message. */
function eachLengthDelimited(buf: Buffer, start: number, end: number, onField: (field: number, s: number, e: number) => void): void {
  let pos = start;
  const varint = (): number => {
    let value = 0;
    let shift = 0;
    for (;;) {
      if (pos >= end) throw new RangeError('truncated varint');
      const byte = buf[pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
      shift += 7;
    }
  };
  while (pos < end) {
    const key = varint();
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        varint();
        break;
      case 1:
        pos += 8;
        break;
      case 2: {
        const len = varint();
        if (pos + len > end) throw new RangeError('truncated field');
        onField(field, pos, pos + len);
        pos += len;
        break;
      }
      case 5:
        pos += 4;
        break;
      default:
        throw new RangeError(`unsupported wire type ${key & 7}`);
    }
  }
}

export function countSpans(request: Buffer): number {
  let spans = 0;
  eachLengthDelimited(request, 0, request.length, (f1, s1, e1) => {
    if (f1 !== 1) return;
    eachLengthDelimited(request, s1, e1, (f2, s2, e2) => {
      if (f2 !== 2) return;
      eachLengthDelimited(request, s2, e2, (f3) => {
        if (f3 === 2) spans += 1;
      });
    });
  });
  return spans;
}

const identity = (b: Buffer): Buffer => b;
const traceService: grpc.ServiceDefinition = {
  Export: {
    path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

function exportHandler(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>): void {
  stats.requests += 1;
  stats.bytes += call.request.length;
  stats.lastRequestAt = Date.now();
  try {
    stats.spans += countSpans(call.request);
  } catch {
    stats.malformed += 1;
  }
  callback(null, EMPTY_RESPONSE);
}

function main(): void {
  const server = new grpc.Server();
  server.addService(traceService, { Export: exportHandler });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      process.stderr.write(`otlpSink: ${err.message}\n`);
      process.exit(1);
    }
    process.send?.({ type: 'listening', port });
  });
  process.on('message', (m: { type: string }) => {
    if (m.type === 'stats') process.send?.({ type: 'stats', stats });
  });
  process.on('disconnect', () => process.exit(0));
}

if (require.main === module) main();
