/**
 * Wall-clock stamps for the `x-trace-proxy-published-us` header, taken on every publish.
 *
 * Number#toString on a 16-digit number takes V8's double-to-string path (~120 ns); the
 * seconds part changes once a second and the sub-second part is a small integer, so
 * composing the two costs about a third of that and gives the same digits.
 */

/** performance.timeOrigin is a getter that crosses into C++; it never changes. */
export const TIME_ORIGIN_MS = performance.timeOrigin;

const ZEROS = ['000000', '00000', '0000', '000', '00', '0', ''];
const MICROS_PER_SECOND = 1_000_000;

let cachedSeconds = -1;
let cachedSecondsText = '';

/** String(us) for a non-negative integer number of microseconds, without the slow path. */
export function formatMicros(us: number): string {
  if (!Number.isSafeInteger(us) || us < MICROS_PER_SECOND) return String(us);
  const seconds = Math.floor(us / MICROS_PER_SECOND);
  if (seconds !== cachedSeconds) {
    cachedSeconds = seconds;
    cachedSecondsText = String(seconds);
  }
  const fraction = String(us - seconds * MICROS_PER_SECOND);
  return cachedSecondsText + ZEROS[fraction.length] + fraction;
}

/** Microseconds since the Unix epoch, as decimal digits, from a performance.now() reading. */
export function epochMicros(monotonicMs: number): string {
  return formatMicros(Math.round((TIME_ORIGIN_MS + monotonicMs) * 1000));
}
