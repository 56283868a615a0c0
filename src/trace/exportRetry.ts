import { ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { SerializedBatch, SerializedBatchSender } from './deferredExporter';

/**
 * gRPC status codes the OTLP specification calls retryable ("OTLP/gRPC Response",
 * RESOURCE_EXHAUSTED only with RetryInfo, which the exporter does not pass on): what a
 * collector that is restarting, overloaded or unreachable answers.
 */
const RETRYABLE_GRPC_CODES: ReadonlySet<number> = new Set([
  1, // CANCELLED
  4, // DEADLINE_EXCEEDED
  10, // ABORTED
  11, // OUT_OF_RANGE
  14, // UNAVAILABLE
  15, // DATA_LOSS
]);

const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 4000;

export interface RetryOptions {
  /** No retry starts later than this after the first attempt. */
  readonly windowMs: number;
  /** Called before each retry (the proxy counts them). */
  readonly onRetry: () => void;
  readonly setTimer?: (run: () => void, ms: number) => { unref(): unknown };
}

/**
 * Sends a batch again when the collector refused it with a retryable gRPC status, with
 * doubling backoff (0.25 s up to 4 s, jittered), until `windowMs` after its first attempt.
 * The @opentelemetry/exporter-trace-otlp-grpc exporter (0.223) retries nothing: its gRPC
 * transport reports every error as final, so a collector restart lost every batch sent
 * meanwhile. The request is serialized once (DeferredExporter); a retry sends the same bytes.
 * The batch processor exports one batch at a time and waits up to its export timeout for
 * it; the window is kept inside that timeout (telemetry.ts), so a batch is settled before
 * the processor gives up on it. Forwarding never waits on any of this.
 *
 * `stopRetrying` (at shutdown) ends retries at once, so a flush with no collector is not
 * held up by backoff.
 */
export class RetryingSender implements SerializedBatchSender {
  private stopped = false;
  private readonly waiting = new Set<() => void>();

  constructor(private readonly inner: SerializedBatchSender, private readonly options: RetryOptions) {}

  send(batch: SerializedBatch, done: (result: ExportResult) => void): void {
    const deadline = Date.now() + this.options.windowMs;
    let backoff = FIRST_BACKOFF_MS;
    const attempt = (): void => {
      this.inner.send(batch, (result) => {
        const delay = backoff * (0.8 + 0.4 * Math.random());
        if (this.stopped || result.code === ExportResultCode.SUCCESS || !isRetryable(result) || Date.now() + delay > deadline) {
          done(result);
          return;
        }
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        this.options.onRetry();
        this.wait(delay, attempt, () => done(result));
      });
    };
    attempt();
  }

  /** Runs `next` after `ms`, or `abandon` at once if retries are stopped meanwhile. */
  private wait(ms: number, next: () => void, abandon: () => void): void {
    const setTimer = this.options.setTimer ?? setTimeout;
    const entry = (): void => {
      this.waiting.delete(entry);
      abandon();
    };
    this.waiting.add(entry);
    setTimer(() => {
      if (!this.waiting.delete(entry)) return;
      next();
    }, ms).unref();
  }

  stopRetrying(): void {
    this.stopped = true;
    for (const abandon of [...this.waiting]) abandon();
  }

  shutdown(): Promise<void> {
    this.stopRetrying();
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
}

function isRetryable(result: ExportResult): boolean {
  const code = (result.error as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' && RETRYABLE_GRPC_CODES.has(code);
}
