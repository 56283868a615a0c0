import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/**
 * Hands each batch to the real exporter on the next turn of the event loop.
 *
 * The SDK's batch processor exports from `span.end()` when its buffer reaches a full batch,
 * and the proxy ends spans inside the scanner hook of a message, before that message's bytes
 * are written on. Serializing a batch to protobuf and starting its gRPC call there would
 * hold that message (and the rest of its socket chunk) for the whole export. Deferred, the
 * chunk is forwarded first and the export runs between socket reads.
 */
export class DeferredExporter implements SpanExporter {
  constructor(private readonly inner: SpanExporter) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    setImmediate(() => this.inner.export(spans, done));
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}
