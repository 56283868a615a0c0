import type { Attributes } from '@opentelemetry/api';
import type { ProxyMetrics } from '../metrics/metrics';
import { Attr, Header, sanitize } from './attributes';
import { BoundedMap } from './boundedMap';
import { ByteBudget, ENTRY_OVERHEAD, contextBytes } from './byteBudget';
import { deadLetterHopStartMs, delayedDelivery, isFreshDeath, reasonLabel } from './deadLetter';
import { NO_HISTORY, type DeliveryHistory } from './deliveryHistory';
import type { TraceHeaderView } from './lifecycle';
import type { MessageContext, OpenSpan } from './recordedSpan';

/**
 * Retries, countdowns, dead letters and redeliveries (issue 23) as timing and outcome rules
 * of the core: what a delivery's history (deliveryHistory.ts) changes in its spans and
 * metrics, and the little the process remembers to join an attempt to the one before it.
 *
 *   earlier attempt                         this delivery
 *   ───────────────                         ─────────────
 *   process … reject (DLX known) ──┐        broker_hop from the reject (else x-death's time),
 *                                  └──────► under the rejecting process span; dead_letter.*
 *   process … nack requeue / close ───────► process linked to it (previous_attempt); redelivered
 *   Celery task id, attempt n ────────────► process of attempt n+1 linked to it (retries header)
 *   publish to celery_delayed_27 ─────────► scheduled_wait for the delay, then the broker hop
 *                                           eta ahead: scheduled_wait span until the eta,
 *                                           process (and process_seconds) from the eta
 */

/** What the core does differently for one delivery because of its history. */
export interface AttemptTiming {
  readonly history: DeliveryHistory;
  /** Epoch ms the broker hop starts at: the publish, or the dead-lettering of a dead letter. */
  readonly hopStart: number | undefined;
  /** The hop's parent instead of the creation context: the process span that rejected it into dead-lettering. */
  readonly hopParent: MessageContext | undefined;
  /** The earlier attempt's process span: a redelivery's or a Celery retry's. */
  readonly previous: MessageContext | undefined;
  /** Epoch ms of a Celery eta still ahead: the worker holds the message until then. */
  readonly waitUntil: number | undefined;
  /** Epoch ms of the delivery: where that wait starts. */
  readonly deliveredAt: number;
  /** Kombu's native delayed delivery: the publish (epoch ms) the broker delay ran from, until `hopStart`. */
  readonly delayFrom: number | undefined;
  /** x-death is about this life of the message (not carried by a republish) and no scheduled delay. */
  readonly deadLettered: boolean;
}

/** How an earlier attempt of a message ended, remembered for the next delivery of the same message. */
interface AttemptEnd {
  readonly at: number;
  readonly context: MessageContext;
}

/** The most attempt ends and dead-letter queue names remembered (each bounded by bytes too). */
export const ATTEMPT_CAPACITY = 10_000;

/**
 * A message's identity across its deliveries: the publishing proxy's stamp (µs since the
 * epoch), carried unchanged through requeues and dead-lettering, and read as a number
 * (nothing decoded or allocated per delivery). Two messages stamped in the same µs (by two
 * proxies) could be taken for each other; a message without a stamp has no identity, and
 * nothing is remembered for it.
 */
export function attemptKey(headers: TraceHeaderView): number | undefined {
  return headers.publishedAtMicros;
}

/** The process's memory of attempts, shared by every connection (a DLQ consumer is seldom the rejecter's connection). */
export class Attempts {
  private readonly ends: BoundedMap<number, AttemptEnd>;
  private readonly deadLetterQueues: BoundedMap<string, true>;
  /**
   * Recorded process spans of Celery task messages still open, by task id: a retry published
   * meanwhile marks its attempt. Held weakly: an entry whose settle never came here (its
   * pending entry evicted) must not keep an ended span alive until the map evicts it.
   */
  private readonly openTasks: BoundedMap<string, WeakRef<OpenSpan>>;

  constructor(capacity: number, private readonly metrics: ProxyMetrics, budget: ByteBudget) {
    this.ends = new BoundedMap(capacity, () => metrics.inflightEvicted('attempt'), {
      budget, sizeOf: (_key, end) => ENTRY_OVERHEAD + contextBytes(end.context),
    });
    this.deadLetterQueues = new BoundedMap(capacity, () => metrics.inflightEvicted('attempt'), {
      budget, sizeOf: (queue) => ENTRY_OVERHEAD + queue.length,
    });
    this.openTasks = new BoundedMap(capacity, () => metrics.inflightEvicted('attempt'), {
      budget, sizeOf: (taskId) => ENTRY_OVERHEAD + taskId.length,
    });
  }

  /** A recorded attempt of Celery task `taskId` is being processed (its span open until the settle). */
  attemptOpened(taskId: string, span: OpenSpan): void {
    if (!this.openTasks.set(taskId, new WeakRef(span))) this.metrics.inflightEvicted('attempt');
    this.report();
  }

  /** That attempt was settled or cut off. */
  attemptClosed(taskId: string, span: OpenSpan): void {
    if (this.openTasks.get(taskId)?.deref() === span) this.openTasks.delete(taskId);
    this.report();
  }

  /**
   * A publish of a Celery task message: a retry (retries above 0) of an attempt still open
   * (late acks: Celery acks after the attempt that called retry() returns) marks that attempt,
   * which would otherwise end as a plain success.
   */
  published(headers: TraceHeaderView): void {
    // Most publishes are no Celery task: one look at the located names, nothing decoded.
    if (this.openTasks.size === 0 || !headers.has(Header.celeryRetries)) return;
    if ((headers.history(false).celery?.retries ?? 0) === 0) return;
    const taskId = headers.taskId;
    if (taskId !== undefined) this.openTasks.get(taskId)?.deref()?.mark?.(Attr.retried, true);
  }

  /** A queue.declare with `x-dead-letter-exchange` passed this proxy: a reject from it dead-letters. */
  declaredWithDeadLetters(queue: string): void {
    if (queue !== '' && !this.deadLetterQueues.set(queue, true)) this.metrics.inflightEvicted('attempt');
    this.report();
  }

  /** Whether a reject or nack without requeue from `queue` dead-letters, as far as this proxy saw (not policies). */
  deadLetters(queue: string): boolean {
    return this.deadLetterQueues.size !== 0 && this.deadLetterQueues.get(queue) === true;
  }

  /** A recorded attempt ended without an ack (nack, reject, channel or connection closed): its next delivery links to it. */
  ended(key: number, at: number, context: MessageContext): void {
    if (!this.ends.set(key, { at, context })) this.metrics.inflightEvicted('attempt');
    this.report();
  }

  /**
   * The rules for one delivery, from its history (NO_HISTORY on the happy path: nothing is
   * looked up). `previousTask` is the continuation's context of the same Celery task id.
   */
  timing(
    history: DeliveryHistory, key: number | undefined, publishedAt: number | undefined, deliveredAt: number,
    label: (queue: string) => string, queue: string, previousTask: MessageContext | undefined,
  ): AttemptTiming {
    const { metrics } = this;
    if (history.redelivered) metrics.messageRedelivered(label(queue));
    const dl = history.deadLetter;
    const deadLettered = dl !== undefined && delayedDelivery(dl) === undefined && isFreshDeath(dl, publishedAt === undefined ? undefined : publishedAt * 1000);
    const retries = history.celery?.retries ?? 0;
    if (retries > 0 && !history.redelivered) metrics.taskRetried(label(queue));
    const earlier = key !== undefined && (history.redelivered || deadLettered) ? this.take(key) : undefined;
    let hopStart = publishedAt;
    if (deadLettered) {
      if (!history.redelivered) metrics.messageDeadLettered(reasonLabel(dl.latest.reason), label(dl.latest.queue));
      hopStart = deadLetterHopStartMs(dl, earlier?.at, publishedAt, deliveredAt) ?? publishedAt;
    }
    // Native delayed delivery: the delay the routing key asked for, then the hop proper.
    const delay = dl === undefined ? undefined : delayedDelivery(dl);
    const delayFrom = delay !== undefined && publishedAt !== undefined ? publishedAt : undefined;
    if (delayFrom !== undefined) {
      hopStart = Math.min(delayFrom + delay!.seconds * 1000, deliveredAt);
      metrics.observeScheduledWait((hopStart - delayFrom) / 1000, 'broker_delay', label(queue));
    }
    const eta = history.celery?.etaMs;
    return {
      history,
      hopStart,
      delayFrom,
      hopParent: deadLettered ? earlier?.context : undefined,
      previous: (deadLettered ? undefined : earlier?.context) ?? (retries > 0 ? previousTask : undefined),
      waitUntil: eta !== undefined && eta > deliveredAt ? eta : undefined,
      deliveredAt,
      deadLettered,
    };
  }

  private take(key: number): AttemptEnd | undefined {
    const end = this.ends.delete(key);
    this.report();
    return end;
  }

  private report(): void {
    this.metrics.inflight('attempt', this.ends.size + this.deadLetterQueues.size + this.openTasks.size);
  }
}

/** No history: the timing every first, plain delivery shares. */
export function plainTiming(publishedAt: number | undefined, deliveredAt: number): AttemptTiming {
  return {
    history: NO_HISTORY, hopStart: publishedAt, hopParent: undefined, previous: undefined, waitUntil: undefined, deliveredAt,
    delayFrom: undefined, deadLettered: false,
  };
}

/**
 * The attributes a delivery's history adds to its consumer spans (broker hop, receive,
 * process), given at span start. Nothing on the happy path.
 */
export function historyAttributes(timing: AttemptTiming, a: Attributes): void {
  const h = timing.history;
  if (h === NO_HISTORY) return;
  if (h.redelivered) a[Attr.redelivered] = true;
  if (h.deliveryCount !== undefined) a[Attr.deliveryCount] = h.deliveryCount;
  if (h.acquiredCount !== undefined) a[Attr.acquiredCount] = h.acquiredCount;
  celeryAttributes(h, a);
  const dl = h.deadLetter;
  if (dl === undefined) return;
  const delay = delayedDelivery(dl);
  if (delay !== undefined) {
    a[Attr.delaySeconds] = delay.seconds;
    return;
  }
  a[Attr.deadLetterReason] = sanitize(dl.latest.reason);
  a[Attr.deadLetterQueue] = sanitize(dl.latest.queue);
  a[Attr.deadLetterExchange] = sanitize(dl.latest.exchange);
  if (dl.latest.count !== undefined) a[Attr.deadLetterCount] = dl.latest.count;
  if (dl.entries > 1) a[Attr.deadLetterDeaths] = dl.entries;
}

/** Celery's retries (on every span of a task message that has the header) and eta. */
export function celeryAttributes(h: DeliveryHistory, a: Attributes): void {
  if (h.celery === undefined) return;
  a[Attr.celeryTaskRetries] = h.celery.retries;
  if (h.celery.eta !== undefined) a[Attr.celeryTaskEta] = sanitize(h.celery.eta);
}
