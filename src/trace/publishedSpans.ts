import type { TraceOutcome } from '../metrics/metrics';
import { BoundedMap } from './boundedMap';
import { ByteBudget, ENTRY_OVERHEAD, UNLIMITED, contextBytes } from './byteBudget';
import type { MessageContext } from './messageSpans';

/**
 * Unsampled publishes remembered per process: the 10,000 most recent. An entry is about
 * 200 bytes (a span id, two times, the context kind and a continuation's parent), so the
 * map stays under ~2 MiB; at 1,000 unsampled publishes a second a consumer's failure is
 * matched to its publish for about 10 s after the publish settled.
 */
export const PUBLISHED_CAPACITY = 10_000;

/** What a publish span needs that the delivery of the same message cannot supply. */
export interface PublishedSpan {
  /** Epoch ms: the publish, and its confirm (or the publish again, without confirms). */
  readonly startedAt: number;
  readonly endedAt: number;
  /** How the context was found: injected or continued_by_* (the proxy created it). */
  readonly context: TraceOutcome;
  /** The context a continuation found, the publish span's parent. */
  readonly parent: MessageContext | undefined;
}

export interface PublishedMetrics {
  inflight(map: 'published', size: number): void;
  inflightEvicted(map: 'published'): void;
}

/**
 * Unsampled publishes whose trace context the proxy created, settled without being kept,
 * by the span id of the traceparent it forwarded (which is their publish span's own id).
 * When a consumer's outcome later keeps a delivery of one of them through this process,
 * its publish span is made too, so the broker-hop span's parent is not missing. Shared by
 * every connection: publisher and consumer are usually different connections.
 */
export class PublishedSpans {
  private readonly map: BoundedMap<string, PublishedSpan>;

  constructor(capacity: number, private readonly metrics: PublishedMetrics, budget: ByteBudget = UNLIMITED) {
    this.map = new BoundedMap(capacity, () => metrics.inflightEvicted('published'), {
      budget, sizeOf: (spanId, p) => ENTRY_OVERHEAD + spanId.length + contextBytes(p.parent),
    });
  }

  remember(spanId: string, published: PublishedSpan): void {
    if (!this.map.set(spanId, published)) this.metrics.inflightEvicted('published');
    this.metrics.inflight('published', this.map.size);
  }

  /** The publish of this span id, removed: its span is made once. */
  take(spanId: string): PublishedSpan | undefined {
    const published = this.map.delete(spanId);
    if (published !== undefined) this.metrics.inflight('published', this.map.size);
    return published;
  }
}
