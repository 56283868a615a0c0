import type { ProxyMetrics } from '../metrics/metrics';
import { BoundedMap } from './boundedMap';
import { DestinationKind, NAMED, reservedKind } from './semconv';

/** How the proxy learned a queue's kind; a declaration is a fact, a `reply_to` a strong hint. */
type Source = 'declare' | 'reply_to';

interface Learned {
  readonly kind: DestinationKind;
  readonly source: Source;
}

/**
 * Which queues are temporary or anonymous, learned from what passes the proxy and shared by
 * every connection of the process (a Celery worker consumes a request on one connection and
 * publishes the reply on another):
 *
 * - `queue.declare` flags: exclusive or auto-delete make a queue temporary, an empty name
 *   makes it server-named (its name arrives in `queue.declare-ok`);
 * - the `reply_to` of messages published or delivered: a reply queue (Celery's rpc://
 *   results, hand-written RPC) is temporary, unless a declaration said otherwise;
 * - names the broker reserves (semconv.ts reservedKind), known without having seen anything.
 *
 * The map is bounded; an evicted name that shows up again is learned again from its next
 * reply_to or declaration, and the evictions are counted.
 */
export class QueueKinds {
  private readonly learned: BoundedMap<string, Learned>;

  constructor(capacity: number, private readonly metrics: ProxyMetrics) {
    this.learned = new BoundedMap(capacity, () => metrics.inflightEvicted('queue'));
  }

  get size(): number {
    return this.learned.size;
  }

  kindOf(name: string): DestinationKind {
    if (name === '') return NAMED;
    return this.learned.get(name)?.kind ?? reservedKind(name) ?? NAMED;
  }

  /** A `queue.declare` (or its declare-ok, for a server-named queue) the proxy forwarded. */
  declared(name: string, kind: DestinationKind): void {
    if (name === '') return;
    this.remember(name, { kind, source: 'declare' });
  }

  /** A `reply_to` seen on a message: its queue receives replies, so it is temporary. */
  replyQueue(name: string): void {
    // Direct reply-to names are known to be temporary without remembering them (one per request).
    const reserved = reservedKind(name);
    if (name === '' || reserved?.temporary) return;
    const known = this.learned.get(name);
    if (known?.source === 'declare' || known?.kind.temporary) return;
    this.remember(name, { kind: { temporary: true, anonymous: reserved?.anonymous ?? false }, source: 'reply_to' });
  }

  private remember(name: string, entry: Learned): void {
    this.learned.set(name, entry);
    this.metrics.inflight('queue', this.learned.size);
  }
}
