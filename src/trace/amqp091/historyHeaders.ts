import { skipTable } from '../../amqp/fieldTable';
import {
  NO_VALUE, arrayElements, locateValueTags, readIntegerValue, readLongStrValue, tableBody,
} from '../../amqp/fieldValues';
import { Header } from '../attributes';
import { parseEta, type CeleryAttempt } from '../celeryAttempt';
import { MAX_DEATHS_READ, type DeadLetterHistory, type Death } from '../deadLetter';
import { NO_HISTORY, hasHistory, type DeliveryHistory } from '../deliveryHistory';

/**
 * The headers of a 0-9-1 delivery that tell of earlier attempts (deliveryHistory.ts), read
 * from the bytes. x-death's wire form, as RabbitMQ 3.10 sent it (captured):
 *
 *   07 "x-death" 41 <len>                              A: one F per (queue, reason)
 *     46 <len>                                         F: the latest death first
 *       05 "count"  6c <int64>                         l (a client republish: b, from amqplib)
 *       06 "reason" 53 <len> "rejected"                S
 *       05 "queue"  53 <len> "orders"                  S: the queue it died in
 *       04 "time"   54 <uint64 seconds>                T
 *       08 "exchange" 53 <len> ""                      S
 *       0c "routing-keys" 41 ...                       A of S
 *     46 ...
 *
 * Entry fields come in two orders (a first entry as written, later ones sorted by name, and
 * 3.13+ another), so they are found by name.
 */

const encode = (names: readonly string[]): readonly Buffer[] => names.map((n) => Buffer.from(n, 'latin1'));

/** The header names read here; a name's position is its slot in the tag offsets. */
export const HISTORY_HEADERS: readonly string[] = Object.freeze([
  Header.xDeath, Header.xFirstDeathQueue, Header.xFirstDeathReason, Header.xDeliveryCount, Header.xAcquiredCount,
  Header.celeryRetries, Header.celeryEta,
]);
const [X_DEATH, FIRST_QUEUE, FIRST_REASON, DELIVERY_COUNT, ACQUIRED_COUNT, RETRIES, ETA] = HISTORY_HEADERS.keys();
const HISTORY_NAMES = encode(HISTORY_HEADERS);

const DEATH_FIELD_NAMES = ['reason', 'queue', 'exchange', 'count', 'time'] as const;
const DEATH_FIELDS = encode(DEATH_FIELD_NAMES);
const [REASON, QUEUE, EXCHANGE, COUNT, TIME] = DEATH_FIELD_NAMES.keys();

/** Tag offsets of HISTORY_HEADERS in the table at `tableOffset` (its length field), NO_VALUE when absent. */
export function locateHistoryHeaders(buf: Buffer, tableOffset: number): number[] {
  const tags = HISTORY_HEADERS.map(() => NO_VALUE);
  locateValueTags(buf, tableOffset + 4, skipTable(buf, tableOffset), HISTORY_NAMES, tags);
  return tags;
}

/**
 * The delivery history from the tag offsets `locateHistoryHeaders` found; NO_HISTORY when the
 * delivery is not redelivered and carries none of the headers. Throws AmqpDecodeError only
 * for values running past their container; values of another type read as absent.
 */
export function readDeliveryHistory(buf: Buffer, tags: readonly number[], redelivered: boolean, limit: number = buf.length): DeliveryHistory {
  if (!redelivered && tags.every((t) => t === NO_VALUE)) return NO_HISTORY;
  const integer = (slot: number): number | undefined => (tags[slot] === NO_VALUE ? undefined : readIntegerValue(buf, tags[slot]!, limit));
  const history = {
    redelivered,
    deliveryCount: integer(DELIVERY_COUNT),
    acquiredCount: integer(ACQUIRED_COUNT),
    deadLetter: tags[X_DEATH] === NO_VALUE ? undefined : readXDeath(buf, tags, limit),
    celery: celeryAttempt(buf, tags, integer(RETRIES), limit),
  };
  // Every Celery message carries `retries` (0) and `eta` (void): its first attempt says nothing new.
  return hasHistory(history) ? history : NO_HISTORY;
}

function celeryAttempt(buf: Buffer, tags: readonly number[], retries: number | undefined, limit: number): CeleryAttempt | undefined {
  const eta = tags[ETA] === NO_VALUE ? undefined : readLongStrValue(buf, tags[ETA]!, limit);
  if (!retries && eta === undefined) return undefined;
  return { retries: retries ?? 0, eta, etaMs: eta === undefined ? undefined : parseEta(eta) };
}

function readXDeath(buf: Buffer, tags: readonly number[], limit: number): DeadLetterHistory | undefined {
  const elements = arrayElements(buf, tags[X_DEATH]!, MAX_DEATHS_READ, limit);
  if (elements === undefined) return undefined;
  const deaths: Death[] = [];
  for (const tag of elements.tags) {
    const death = readDeath(buf, tag, limit);
    if (death !== undefined) deaths.push(death);
  }
  if (deaths.length === 0) return undefined;
  const text = (slot: number): string | undefined => (tags[slot] === NO_VALUE ? undefined : readLongStrValue(buf, tags[slot]!, limit));
  return { latest: deaths[0]!, deaths, entries: elements.count, firstQueue: text(FIRST_QUEUE), firstReason: text(FIRST_REASON) };
}

function readDeath(buf: Buffer, tagOffset: number, limit: number): Death | undefined {
  const body = tableBody(buf, tagOffset, limit);
  if (body === undefined) return undefined;
  const at = DEATH_FIELDS.map(() => NO_VALUE);
  locateValueTags(buf, body.start, body.end, DEATH_FIELDS, at);
  const text = (slot: number): string => (at[slot] === NO_VALUE ? '' : readLongStrValue(buf, at[slot]!, body.end) ?? '');
  const integer = (slot: number): number | undefined => (at[slot] === NO_VALUE ? undefined : readIntegerValue(buf, at[slot]!, body.end));
  return { reason: text(REASON), queue: text(QUEUE), exchange: text(EXCHANGE), count: integer(COUNT), timeSeconds: integer(TIME) };
}
