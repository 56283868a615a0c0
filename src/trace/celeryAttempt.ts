/**
 * Celery retries and countdowns as a message carries them (message protocol 2, celery
 * app/amqp.py `as_task_v2`, app/task.py `retry`):
 *
 * - `Task.retry()` republishes the task as a new message with the same `id` and
 *   `retries` = the attempt's retries + 1; the first attempt has `retries` 0. So the attempt
 *   number is `retries` + 1.
 * - `countdown=` / `eta=` become the `eta` header, `isoformat()` of an aware datetime
 *   (`2026-12-06T22:30:10.225135+00:00`; no fraction when the microseconds are 0). A worker
 *   holds such a message unacked until then. A naive `eta=` is sent without an offset and read
 *   in the worker's local time zone, which the proxy cannot know: it is no ETA here.
 */

/** What a delivered task message says about its attempt. */
export interface CeleryAttempt {
  /** The `retries` header: 0 for the first attempt. */
  readonly retries: number;
  /** The `eta` header as sent, when it is a string. */
  readonly eta: string | undefined;
  /** The ETA in ms since the epoch; undefined when absent or without a UTC offset. */
  readonly etaMs: number | undefined;
}

/** The attempt number a span shows: the first attempt is 1. */
export function attemptNumber(retries: number): number {
  return retries + 1;
}

const ISO_WITH_OFFSET = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * An ISO-8601 date-time with a UTC offset (`Z` or ±hh:mm) in ms since the epoch (fractions of a
 * ms kept); undefined for anything else, a naive time included.
 */
export function parseEta(text: string): number | undefined {
  const m = ISO_WITH_OFFSET.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (month! < 1 || month! > 12 || day! < 1 || day! > 31 || hour! > 23 || minute! > 59 || second! > 59) return undefined;
  const utc = Date.UTC(year!, month! - 1, day!, hour!, minute!, second!);
  // Date.UTC rolls 31 February into March; a date that does not exist is no ETA.
  if (new Date(utc).getUTCDate() !== day) return undefined;
  const fraction = m[7] === undefined ? 0 : Number(`0.${m[7]}`) * 1000;
  return utc + fraction - offsetMinutes(m[8]!) * 60_000;
}

function offsetMinutes(offset: string): number {
  if (offset === 'Z') return 0;
  const sign = offset[0] === '-' ? -1 : 1;
  return sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
}

/** A retry's attempt continues the attempt of the same task id with one retry fewer. */
export function isRetryOf(retries: number, previousRetries: number): boolean {
  return retries === previousRetries + 1;
}

/**
 * The wait a worker spends holding a delivered message until its ETA (ms): from the delivery
 * to the ETA, at most until the settle; 0 when the ETA had passed. The ETA is the publisher's
 * wall clock, the delivery this host's.
 */
export function etaWaitMs(etaMs: number | undefined, deliveredAtMs: number, settledAtMs: number): number {
  if (etaMs === undefined || etaMs <= deliveredAtMs) return 0;
  return Math.min(etaMs, settledAtMs) - deliveredAtMs;
}
