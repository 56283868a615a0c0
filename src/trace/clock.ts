import type { IgnoredStampReason } from '../metrics/metrics';
import type { AsciiBytes } from './lifecycle';

/**
 * Wall-clock stamps for the `x-trace-proxy-published-us` header, taken on every publish.
 *
 * The stamp is written straight into the header as digits (an AsciiBytes for
 * spliceHeaders), never built as a string: Number#toString on a 16-digit number takes V8's
 * double-to-string path (~120 ns), and even a composed string costs an allocation and a
 * copy. The seconds' digits change once a second and are kept as bytes; the six
 * sub-second digits are written one by one.
 */

/** performance.timeOrigin is a getter that crosses into C++; it never changes. */
export const TIME_ORIGIN_MS = performance.timeOrigin;

/**
 * Where the tracer reads time: milliseconds on performance.now()'s monotonic scale
 * (TIME_ORIGIN_MS + now() is epoch milliseconds). Injected, as KeepLimiter's `now` is, so
 * that tests move time forward instead of sleeping past a threshold.
 */
export interface Clock {
  now(): number;
}

export const SYSTEM_CLOCK: Clock = { now: () => performance.now() };

/** Epoch ms of a `Clock` reading. */
export const epochOf = (monotonicMs: number): number => TIME_ORIGIN_MS + monotonicMs;

const MICROS_PER_SECOND = 1_000_000;
const FRACTION_DIGITS = 6;

/**
 * One stamp at a time: `at` (or `micros`) sets it, `writeTo` writes its digits, which are
 * exactly String(us). One instance is shared by every connection, so a write must follow
 * its `at` within the same synchronous call.
 */
export class MicrosStamp implements AsciiBytes {
  byteLength = 0;
  private readonly secondsDigits = Buffer.alloc(24);
  private secondsLength = 0;
  private seconds = -1;
  private fraction = 0;
  /** Values outside the fast path (below one second, not a safe integer) are written as String(us). */
  private fallback: string | undefined;

  /** Microseconds since the Unix epoch from a performance.now() reading. */
  at(monotonicMs: number): this {
    return this.micros(Math.round((TIME_ORIGIN_MS + monotonicMs) * 1000));
  }

  micros(us: number): this {
    if (!Number.isSafeInteger(us) || us < MICROS_PER_SECOND) {
      this.fallback = String(us);
      this.byteLength = this.fallback.length;
      return this;
    }
    this.fallback = undefined;
    const seconds = Math.floor(us / MICROS_PER_SECOND);
    if (seconds !== this.seconds) {
      this.seconds = seconds;
      this.secondsLength = this.secondsDigits.write(String(seconds), 0, 'latin1');
    }
    this.fraction = us - seconds * MICROS_PER_SECOND;
    this.byteLength = this.secondsLength + FRACTION_DIGITS;
    return this;
  }

  writeTo(target: Buffer, offset: number): void {
    if (this.fallback !== undefined) {
      target.write(this.fallback, offset, 'latin1');
      return;
    }
    for (let i = 0; i < this.secondsLength; i++) target[offset + i] = this.secondsDigits[i]!;
    let rest = this.fraction;
    for (let i = offset + this.byteLength - 1; i >= offset + this.secondsLength; i--) {
      target[i] = 0x30 + (rest % 10);
      rest = Math.floor(rest / 10);
    }
  }

  /** The digits as a string, for tests and logs. */
  toString(): string {
    const out = Buffer.alloc(this.byteLength);
    this.writeTo(out, 0);
    return out.toString('latin1');
  }
}

/**
 * How far ahead of this host's clock a publish stamp may be: the publishing proxy may run on
 * another host, whose clock NTP keeps within milliseconds of this one.
 */
export const STAMP_SKEW_MS = 1000;

/**
 * The publish time (epoch ms) a delivery's stamp gives, or why it is not trusted. Anyone who
 * can publish can write the header, so only an operationally plausible age is believed: a
 * forged stamp days old would otherwise drive the broker-hop histogram, its alerts and the
 * outcome rules. A stamp ahead by no more than the skew counts as now.
 */
export function publishTime(micros: number, nowMs: number, maxAgeMs: number): number | IgnoredStampReason {
  const ms = micros / 1000;
  if (ms > nowMs + STAMP_SKEW_MS) return 'future';
  if (nowMs - ms > maxAgeMs) return 'too_old';
  return Math.min(ms, nowMs);
}
