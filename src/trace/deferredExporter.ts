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
 * Spans per slice when batches come back to back: about 6 µs each to serialize
 * (docs/PERFORMANCE.md), so a slice holds the event loop well under half a millisecond.
 */
export const SLICE_SPANS = 64;

/**
 * Spans per slice of a batch smaller than a full one, and the pause before each next slice.
 * A batch that the batch processor's timer sent before it filled means spans are coming
 * slower than the exporter can take them: nothing is lost by spreading it out, so each
 * slice holds the event loop about 0.1-0.2 ms and the loop is free for the millisecond in
 * between. Back to back, a sidecar's batch of 190 spans kept the loop busy for about 2 ms,
 * and more than half the messages that crossed the proxy in those 2 ms were slower than the
 * p99 of all (issue 24, docs/PERFORMANCE.md "The tail at 500 msg/s").
 */
export const PACED_SLICE_SPANS = 16;
export const PACED_PAUSE_MS = 1;

/** How the next slice is scheduled: at once after I/O (full batches) or after a pause (smaller ones). */
export interface SliceScheduler {
  next(step: () => void): void;
  paced(step: () => void): void;
}

const EVENT_LOOP: SliceScheduler = {
  next: (step) => void setImmediate(step),
  paced: (step) => void setTimeout(step, PACED_PAUSE_MS),
};

export interface DeferredExporterOptions {
  /** Spans per slice of a full batch (SLICE_SPANS). */
  sliceSpans?: number;
  /** Spans per slice of a smaller batch (PACED_SLICE_SPANS). */
  pacedSliceSpans?: number;
  /** The batch processor's batch size: a batch this large is serialized back to back. */
  fullBatch?: number;
  scheduler?: SliceScheduler;
}

/**
 * Serializes each batch in slices, with socket reads between them, and sends the
 * slices as one request.
 *
 * The SDK's batch processor exports from `span.end()` when its buffer reaches a full batch,
 * and the proxy ends spans inside the scanner hook of a message, before that message's bytes
 * are written on. Serializing there would hold that message (and the rest of its socket
 * chunk) for the whole export; serializing 512 spans in one piece later still held the event
 * loop 3-7 ms, the p99.9 of the latency workload. Here nothing is serialized in the turn that
 * ended the span. A full batch (the processor is behind: spans arrive as fast as they are
 * exported) is serialized a slice per turn, with socket reads in between; a smaller one in
 * smaller slices with a pause between them (PACED_SLICE_SPANS).
 *
 * One request per batch all the same, since each request costs about 0.7 ms of CPU whatever
 * its size: ExportTraceServiceRequest is `repeated ResourceSpans resource_spans = 1`, and
 * protobuf concatenates such messages by appending their repeated fields, so the slices'
 * bytes laid end to end are one valid request (one ResourceSpans per slice, each with the
 * same resource).
 */
export class DeferredExporter implements SpanExporter {
  private readonly sliceSpans: number;
  private readonly pacedSliceSpans: number;
  private readonly fullBatch: number;
  private readonly scheduler: SliceScheduler;

  constructor(
    private readonly sender: SerializedBatchSender,
    private readonly serialize: RequestSerializer,
    options: DeferredExporterOptions = {},
  ) {
    this.sliceSpans = options.sliceSpans ?? SLICE_SPANS;
    this.pacedSliceSpans = options.pacedSliceSpans ?? PACED_SLICE_SPANS;
    this.fullBatch = options.fullBatch ?? Number.POSITIVE_INFINITY;
    this.scheduler = options.scheduler ?? EVENT_LOOP;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const full = spans.length >= this.fullBatch;
    const slice = full ? this.sliceSpans : this.pacedSliceSpans;
    const schedule = full ? this.scheduler.next : this.scheduler.paced;
    const parts: Uint8Array[] = [];
    let from = 0;
    const step = (): void => {
      try {
        const bytes = this.serialize(spans.slice(from, from + slice));
        if (bytes !== undefined) parts.push(bytes);
      } catch (err) {
        done({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) });
        return;
      }
      from += slice;
      if (from < spans.length) {
        schedule(step);
        return;
      }
      if (parts.length === 0) {
        done({ code: ExportResultCode.FAILED, error: new Error('nothing to send') });
        return;
      }
      this.sender.send({ spans, bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts) }, done);
    };
    // The first slice never runs in the turn that ended the span.
    this.scheduler.next(step);
  }

  shutdown(): Promise<void> {
    return this.sender.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.sender.forceFlush();
  }
}
