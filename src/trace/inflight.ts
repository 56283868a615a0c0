import type { Attributes } from '@opentelemetry/api';
import type { InflightMap, ProxyMetrics } from '../metrics/metrics';
import { BoundedMap } from './boundedMap';
import { ByteBudget, ENTRY_OVERHEAD } from './byteBudget';
import type { OpenSpan } from './messageSpans';
import type { DeliveryRecord, PublishRecord } from './outcomeRecords';

export interface Pending {
  readonly span: OpenSpan | undefined;
  readonly startedAt: number;
  /** Queue (deliveries) or exchange (publishes), for the optional destination label. */
  readonly destination: string;
  /** Span ids a basic.return may quote in its traceparent (publishes only). */
  readonly ids?: readonly string[];
  /** The basic.return of a publish, as the attributes of its span event. */
  returned?: Attributes;
  /** What an unsampled message's spans are made from if its outcome keeps them (outcome.ts). */
  readonly publishRecord?: PublishRecord;
  readonly deliveryRecord?: DeliveryRecord;
  /** An unsampled publish whose context the proxy created: its publish span's id (PublishedSpans). */
  readonly createdSpanId?: string;
  /** A delivery held until its eta: when the wait began (`startedAt` is then the eta, where the work starts). */
  readonly waitFrom?: number;
  /** A recorded delivery's message identity (attempts.ts), to link its next attempt to this one. */
  readonly attemptKey?: number;
  /** Its queue was declared with a dead-letter exchange through this proxy: a reject without requeue dead-letters. */
  readonly deadLetters?: boolean;
  /** A recorded Celery task delivery: its task id, to forget its open attempt at the settle (attempts.ts). */
  readonly taskId?: string;
}

/**
 * The bytes a pending entry holds: the message its record copied, and its own objects; a
 * record's delivery history is decoded from that copy's headers, so no more than as many again.
 */
function pendingBytes(_tag: number, p: Pending): number {
  return ENTRY_OVERHEAD + p.destination.length + (p.taskId?.length ?? 0) + (p.publishRecord?.message.byteLength ?? 0) + (p.deliveryRecord?.message.byteLength ?? 0)
    + (p.deliveryRecord?.timing ? p.deliveryRecord.message.byteLength : 0);
}

/** Process-wide sizes of the per-channel maps, reported as gauges. */
export class InflightTotals {
  private readonly sizes: Record<InflightMap, number> = { confirm: 0, ack: 0, task: 0, rpc: 0, queue: 0, return: 0, published: 0, attempt: 0, consumer: 0, channel: 0 };

  constructor(readonly metrics: ProxyMetrics) {}

  add(map: InflightMap, delta: number): void {
    this.sizes[map] += delta;
    this.metrics.inflight(map, this.sizes[map]);
  }
}

/**
 * Open spans of one channel keyed by delivery tag: publishes awaiting a confirm, or
 * deliveries awaiting the consumer's ack. Tags grow monotonically per channel, so insertion
 * order is tag order and `multiple` settles a prefix.
 */
export class PendingByTag {
  private readonly map: BoundedMap<number, Pending>;

  constructor(private readonly kind: InflightMap, capacity: number, private readonly totals: InflightTotals, budget: ByteBudget) {
    this.map = new BoundedMap(capacity, (_tag, evicted) => {
      totals.add(kind, -1);
      totals.metrics.inflightEvicted(kind);
      evicted.span?.end('evicted');
    }, { budget, sizeOf: pendingBytes });
  }

  /** Kept unless the connection's or the process's byte budget has no room for it: then it ends as evicted, counted. */
  add(tag: number, pending: Pending): void {
    if (this.map.set(tag, pending)) {
      this.totals.add(this.kind, 1);
      return;
    }
    this.totals.metrics.inflightEvicted(this.kind);
    pending.span?.end('evicted');
  }

  /** Removes and returns the entries settled by an ack/nack/reject (tag 0 + multiple = all). */
  settle(tag: number, multiple: boolean): Pending[] {
    if (!multiple) {
      const one = this.map.delete(tag);
      if (one === undefined) return [];
      this.totals.add(this.kind, -1);
      return [one];
    }
    const settled: Pending[] = [];
    for (const [t, p] of this.map.entries()) {
      if (tag !== 0 && t > tag) break;
      settled.push(p);
      this.map.delete(t);
    }
    this.totals.add(this.kind, -settled.length);
    return settled;
  }

  find(spanId: string): Pending | undefined {
    for (const [, p] of this.map.entries()) {
      if (p.ids?.includes(spanId) || p.publishRecord?.quotes(spanId) === true) return p;
    }
    return undefined;
  }

  /** Ends every open span with an error: the channel or connection went away. */
  abandon(errorType: string): Pending[] {
    const all = this.settle(0, true);
    for (const p of all) p.span?.end(errorType);
    return all;
  }
}

/**
 * The messages in flight in one scope of tags (a 0-9-1 channel): publishes awaiting the
 * broker's confirm and deliveries awaiting the consumer's settle, each keyed by its tag.
 */
export class InflightScope {
  readonly confirms: PendingByTag;
  readonly acks: PendingByTag;

  /** `budget`: the connection's, shared by its scopes. */
  constructor(capacity: number, totals: InflightTotals, budget: ByteBudget) {
    this.confirms = new PendingByTag('confirm', capacity, totals, budget);
    this.acks = new PendingByTag('ack', capacity, totals, budget);
  }
}
