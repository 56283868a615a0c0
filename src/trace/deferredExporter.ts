import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

/** A batch of spans and its whole OTLP request, serialized (see SerializedBatchSender). */
export interface SerializedBatch {
  readonly spans: readonly ReadableSpan[];
  readonly bytes: Uint8Array;
}

/** Sends a batch whose request is already serialized: the OTLP exporter, minus its serializer. */
export interface SerializedBatchSender {
  send(batch: SerializedBatch, done: (result: ExportResult) => void): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/** Serializes some spans into a complete ExportTraceServiceRequest; undefined for none. */
export type RequestSerializer = (spans: ReadableSpan[]) => Uint8Array | undefined;

/**
 * Spans per slice: about 6 µs each to serialize (docs/PERFORMANCE.md), so a slice holds
 * the event loop well under half a millisecond.
 */
export const SLICE_SPANS = 64;

/**
 * Serializes each batch in slices, one slice per turn of the event loop, and sends the
 * slices as one request.
 *
 * The SDK's batch processor exports from `span.end()` when its buffer reaches a full batch,
 * and the proxy ends spans inside the scanner hook of a message, before that message's bytes
 * are written on. Serializing there would hold that message (and the rest of its socket
 * chunk) for the whole export; serializing 512 spans in one piece later still held the event
 * loop 3-7 ms, the p99.9 of the latency workload. Here nothing is serialized in the turn that
 * ended the span, and each later turn serializes at most SLICE_SPANS spans, with socket reads
 * in between.
 *
 * One request per batch all the same, since each request costs about 0.7 ms of CPU whatever
 * its size: ExportTraceServiceRequest is `repeated ResourceSpans resource_spans = 1`, and
 * protobuf concatenates such messages by appending their repeated fields, so the slices'
 * bytes laid end to end are one valid request (one ResourceSpans per slice, each with the
 * same resource).
 */
export class DeferredExporter implements SpanExporter {
  constructor(
    private readonly sender: SerializedBatchSender,
    private readonly serialize: RequestSerializer,
    private readonly sliceSpans = SLICE_SPANS,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const parts: Uint8Array[] = [];
    let from = 0;
    const step = (): void => {
      try {
        const bytes = this.serialize(spans.slice(from, from + this.sliceSpans));
        if (bytes !== undefined) parts.push(bytes);
      } catch (err) {
        done({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) });
        return;
      }
      from += this.sliceSpans;
      if (from < spans.length) {
        setImmediate(step);
        return;
      }
      if (parts.length === 0) {
        done({ code: ExportResultCode.FAILED, error: new Error('nothing to send') });
        return;
      }
      this.sender.send({ spans, bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts) }, done);
    };
    setImmediate(step);
  }

  shutdown(): Promise<void> {
    return this.sender.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.sender.forceFlush();
  }
}
