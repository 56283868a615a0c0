import type { ProxyMetrics } from '../metrics/metrics';
import { BoundedMap } from './boundedMap';
import { ByteBudget, ENTRY_OVERHEAD, UNLIMITED } from './byteBudget';
import { DestinationKind, NAMED, reservedKind } from './semconv';

/**
 * Enough for every temporary queue alive at once on a busy broker (one per RPC client
 * process or thread, one per exclusive subscriber); a name evicted early is learned again.
 */
export const QUEUE_KIND_CAPACITY = 50_000;

const REPLY_QUEUE: DestinationKind = Object.freeze({ temporary: true, anonymous: false });
const SERVER_NAMED_REPLY_QUEUE: DestinationKind = Object.freeze({ temporary: true, anonymous: true });
/**
 * `reply_to` names one connection remembers (a shortstr: at most 255 bytes each). An RPC
 * server answers a handful of reply queues at a time; an evicted one is learned again from
 * its next request.
 */
export const REPLY_HINT_CAPACITY = 256;

const nameBytes = (name: string): number => ENTRY_OVERHEAD + name.length;

/**
 * Which queues are temporary or anonymous, learned from what the proxy can trust and shared
 * by every connection of the process:
 *
 * - `queue.declare` flags: exclusive, auto-delete or x-expires make a queue temporary, an
 *   empty name makes it server-named (its name arrives in `queue.declare-ok`);
 * - names the broker reserves (semconv.ts reservedKind), known without having seen anything.
 *
 * A message's `reply_to` is written by whoever sent the message, possibly a third party, so
 * it teaches only the connection that saw it (ConnectionQueueKinds): it never changes how a
 * queue is named or labelled for the rest of the process (docs/CONVENTIONS.md).
 *
 * The map is bounded; an evicted name that shows up again is learned again from its next
 * declaration, and the evictions are counted.
 */
export class QueueKinds {
  private readonly learned: BoundedMap<string, DestinationKind>;

  constructor(capacity: number, private readonly metrics: ProxyMetrics, budget: ByteBudget = UNLIMITED) {
    this.learned = new BoundedMap(capacity, () => metrics.inflightEvicted('queue'), { budget, sizeOf: nameBytes });
  }

  get size(): number {
    return this.learned.size;
  }

  kindOf(name: string): DestinationKind {
    if (name === '') return NAMED;
    return this.learned.get(name) ?? reservedKind(name) ?? NAMED;
  }

  /** The kind a declaration gave the queue, if one passed this process. */
  declaredKind(name: string): DestinationKind | undefined {
    return this.learned.get(name);
  }

  /** A `queue.declare` (or its declare-ok, for a server-named queue) the proxy forwarded. */
  declared(name: string, kind: DestinationKind): void {
    if (name === '') return;
    if (!this.learned.set(name, kind)) this.metrics.inflightEvicted('queue');
    this.metrics.inflight('queue', this.learned.size);
  }
}

/**
 * One connection's view of queue kinds: the process-wide facts, then the `reply_to` names of
 * messages published or delivered on this connection (an RPC server's reply publishes, a
 * client's reply queue), which a declaration always overrides.
 */
export class ConnectionQueueKinds {
  /** Created at the first reply_to: most connections never see one. */
  private replies: BoundedMap<string, true> | undefined;

  /** `budget`: the connection's; names are shortstrs, 255 bytes at most. */
  constructor(private readonly shared: QueueKinds, private readonly metrics: ProxyMetrics, private readonly budget: ByteBudget = UNLIMITED) {}

  kindOf(name: string): DestinationKind {
    if (name === '') return NAMED;
    const declared = this.shared.declaredKind(name);
    if (declared !== undefined) return declared;
    const reserved = reservedKind(name);
    if (this.replies?.get(name) !== true) return reserved ?? NAMED;
    return reserved?.anonymous === true ? SERVER_NAMED_REPLY_QUEUE : REPLY_QUEUE;
  }

  declared(name: string, kind: DestinationKind): void {
    this.shared.declared(name, kind);
  }

  /** A `reply_to` seen on a message of this connection: its queue receives replies, so it is temporary here. */
  replyQueue(name: string): void {
    // Direct reply-to names are known to be temporary without remembering them (one per request).
    if (name === '' || reservedKind(name)?.temporary === true || this.shared.declaredKind(name) !== undefined) return;
    this.replies ??= new BoundedMap(REPLY_HINT_CAPACITY, () => this.metrics.inflightEvicted('queue'), { budget: this.budget, sizeOf: nameBytes });
    if (!this.replies.set(name, true)) this.metrics.inflightEvicted('queue');
  }
}
