/**
 * What a delivered message says about its earlier lives: dead-lettering, as RabbitMQ records
 * it in `x-death`, and the rules that turn it into a trace. Shapes and pure rules; the 0-9-1
 * adapter reads the bytes (amqp091/deliveryHistory.ts), the core decides what the spans say.
 *
 * Facts the rules rest on (RabbitMQ 3.10 to 4.3, rabbit_dead_letter.erl, mc.erl):
 * - one x-death entry per (queue, reason), the most recently changed first;
 * - an entry's `time` is the FIRST death of that (queue, reason) and is never updated, its
 *   `count` is bumped: `time` is the latest dead-lettering only while `count` is 1;
 * - `time` is whole seconds on the broker's clock;
 * - a client that republishes a dead-lettered message with its headers carries x-death along
 *   (4.x ignores and later overwrites it), so an x-death can be history from before the
 *   message's last publish.
 */

/** The reasons RabbitMQ writes (`reason()` in rabbit_dead_letter.erl); anything else is `other`. */
export const DEAD_LETTER_REASONS = ['rejected', 'expired', 'maxlen', 'delivery_limit'] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number] | 'other';

/** One x-death entry; fields the entry lacks or has in another type are undefined or ''. */
export interface Death {
  readonly reason: string;
  /** The queue the message was dead-lettered from. */
  readonly queue: string;
  /** The exchange the message had been published (or dead-lettered) to before this death. */
  readonly exchange: string;
  readonly count: number | undefined;
  /** Seconds since the epoch, broker clock: the first death of this (queue, reason). */
  readonly timeSeconds: number | undefined;
}

export interface DeadLetterHistory {
  /** x-death's first entry: the most recent death. */
  readonly latest: Death;
  /** The entries read, latest first (at most MAX_DEATHS_READ). */
  readonly deaths: readonly Death[];
  /** How many entries x-death has. */
  readonly entries: number;
  /** `x-first-death-queue` / `-reason`: written once, on the first death, never updated. */
  readonly firstQueue: string | undefined;
  readonly firstReason: string | undefined;
}

/** Entries decoded from one x-death; the rest are counted only. Native delayed delivery writes at most 28. */
export const MAX_DEATHS_READ = 32;

export function reasonLabel(reason: string): DeadLetterReason {
  return (DEAD_LETTER_REASONS as readonly string[]).includes(reason) ? (reason as DeadLetterReason) : 'other';
}

/**
 * Whether the latest death happened during the message's current life, not before a
 * republish that carried the header along. The publishing proxy stamps every publish
 * (µs); a death stamped (whole seconds) before the publish's second is history. Without
 * a stamp nothing tells them apart, and the death is taken as fresh.
 */
export function isFreshDeath(history: DeadLetterHistory, publishedAtMicros: number | undefined): boolean {
  const time = history.latest.timeSeconds;
  if (publishedAtMicros === undefined || time === undefined) return true;
  return time >= Math.floor(publishedAtMicros / 1e6);
}

/** When the latest dead-lettering happened according to x-death (ms), known only while its count is 1. */
export function latestDeathAtMs(history: DeadLetterHistory): number | undefined {
  const { count, timeSeconds } = history.latest;
  return count === 1 && timeSeconds !== undefined ? timeSeconds * 1000 : undefined;
}

/**
 * Where the dead-letter queue's broker hop starts (ms): the reject this proxy saw, else
 * x-death's time when it is the latest death's (count 1). The result lies between the
 * publish and the delivery: x-death's whole seconds on the broker's clock may fall before
 * the publish or after the delivery by up to a second plus clock skew.
 */
export function deadLetterHopStartMs(
  history: DeadLetterHistory, rejectSeenAtMs: number | undefined, publishedAtMs: number | undefined, deliveredAtMs: number,
): number | undefined {
  const start = rejectSeenAtMs ?? latestDeathAtMs(history);
  if (start === undefined) return undefined;
  return Math.min(deliveredAtMs, Math.max(publishedAtMs ?? start, start));
}

/** Kombu's native delayed delivery: exchanges and queues `celery_delayed_0` … `celery_delayed_27`. */
const DELAY_LEVEL = /^celery_delayed_(\d{1,2})$/;
export const DELAY_LEVELS = 28;
const DELAY_EXCHANGE = /^celery_delayed_(\d{1,2}|delivery)$/;
/** The one name span names give the delayed-delivery exchanges a delivery can arrive from. */
export const DELAY_EXCHANGE_NAME = 'celery_delayed';

/**
 * A delayed message arrives from the exchange its last level dead-lettered it to
 * (`celery_delayed_0` … `_26` or `celery_delayed_delivery`, by the bits of its delay): in a
 * span name they are one, so a queue's retries share a name whatever their countdown.
 */
export function spanNameExchange(exchange: string): string {
  // The prefix first: most exchanges are not these, and a regular expression per delivery shows in bench/hotpath.ts.
  return exchange.startsWith(DELAY_EXCHANGE_NAME) && DELAY_EXCHANGE.test(exchange) ? DELAY_EXCHANGE_NAME : exchange;
}

/**
 * Kombu ≥ 5.5's native delayed delivery (kombu/transport/native_delayed_delivery.py): a
 * message waits in TTL queues `celery_delayed_L` (2^L s each) chained by dead-letter
 * exchanges, one x-death entry `expired` per level it waited in. Those deaths are a
 * scheduled delay, not dead letters. Returns the delay in seconds (the sum of the levels)
 * and the number of levels, or undefined when any death is something else.
 */
export function delayedDelivery(history: DeadLetterHistory): { seconds: number; levels: number } | undefined {
  if (history.entries > history.deaths.length) return undefined;
  let seconds = 0;
  for (const death of history.deaths) {
    const level = DELAY_LEVEL.exec(death.queue);
    if (level === null || death.reason !== 'expired') return undefined;
    const bit = Number(level[1]);
    if (bit >= DELAY_LEVELS) return undefined;
    seconds += 2 ** bit;
  }
  return history.deaths.length === 0 ? undefined : { seconds, levels: history.deaths.length };
}

/**
 * A delayed-delivery routing key: 28 bits as `0.`/`1.` then the real key
 * (`0.0.….1.0.1.tasks`). The delay in seconds, or undefined for any other key.
 */
export function delayRoutingKey(routingKey: string): { seconds: number; routingKey: string } | undefined {
  const prefix = 2 * DELAY_LEVELS;
  if (routingKey.length < prefix) return undefined;
  let seconds = 0;
  for (let i = 0; i < prefix; i += 2) {
    const bit = routingKey.charCodeAt(i) - 0x30;
    if ((bit !== 0 && bit !== 1) || routingKey.charCodeAt(i + 1) !== 0x2e) return undefined;
    seconds = seconds * 2 + bit;
  }
  return { seconds, routingKey: routingKey.slice(prefix) };
}
