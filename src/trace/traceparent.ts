/**
 * W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header).
 *
 *   version "-" trace-id "-" parent-id "-" trace-flags
 *   00      -   32 hex   -   16 hex    -   2 hex        (55 characters for version 00)
 *
 * Only lowercase hex is valid. Version ff is forbidden. All-zero trace-id or parent-id is
 * invalid. Version 00 must be exactly 55 characters; a higher version may carry more fields
 * after a "-", which a version-00 receiver ignores (section 3.2.4, "versioning").
 */

import { randomFillSync } from 'node:crypto';

export interface TraceParent {
  readonly traceId: string;
  readonly spanId: string;
  /** 8-bit trace flags; bit 0 is "sampled". */
  readonly traceFlags: number;
}

const VERSION_00_LENGTH = 55;
const TRACE_ID_HEX = 32;
const SPAN_ID_HEX = 16;
const ZERO_TRACE_ID = '0'.repeat(TRACE_ID_HEX);
const ZERO_SPAN_ID = '0'.repeat(SPAN_ID_HEX);

/** Value of each lowercase hex digit by char code; -1 for anything else (uppercase included). */
const HEX_VALUE: Int8Array = (() => {
  const table = new Int8Array(128).fill(-1);
  for (let d = 0; d < 16; d++) table['0123456789abcdef'.charCodeAt(d)] = d;
  return table;
})();

/**
 * Returns the parsed context, or undefined for anything the spec calls invalid. The rules
 * are checked once, on the UTF-8 bytes (traceParentFlagsAt): a valid value's first 55
 * bytes are ASCII, so they are its first 55 characters too.
 */
export function parseTraceParent(value: string): TraceParent | undefined {
  const bytes = Buffer.from(value, 'utf8');
  const traceFlags = traceParentFlagsAt(bytes, 0, bytes.length);
  return traceFlags < 0 ? undefined : { traceId: value.slice(3, 35), spanId: spanIdOfFormatted(value), traceFlags };
}

/** HEX_VALUE for a byte. */
function hexByte(buf: Buffer, at: number): number {
  const c = buf[at]!;
  return c < 128 ? HEX_VALUE[c]! : -1;
}

function isNonZeroLowerHexBytes(buf: Buffer, from: number, to: number): boolean {
  let any = 0;
  for (let i = from; i < to; i++) {
    const v = hexByte(buf, i);
    if (v < 0) return false;
    any |= v;
  }
  return any !== 0;
}

const DASH = 0x2d;

/**
 * The W3C rules (see the top of this file) applied to the value in buf[start, end): its
 * trace flags when valid, -1 when not. No strings: most deliveries need only to know
 * whether their parent is valid and sampled.
 */
export function traceParentFlagsAt(buf: Buffer, start: number, end: number): number {
  const length = end - start;
  if (length < VERSION_00_LENGTH) return -1;
  const v0 = hexByte(buf, start);
  const v1 = hexByte(buf, start + 1);
  if (v0 < 0 || v1 < 0 || (v0 === 15 && v1 === 15)) return -1;
  const version00 = v0 === 0 && v1 === 0;
  if (version00 && length !== VERSION_00_LENGTH) return -1;
  if (!version00 && length > VERSION_00_LENGTH && buf[start + VERSION_00_LENGTH] !== DASH) return -1;
  if (buf[start + 2] !== DASH || buf[start + 35] !== DASH || buf[start + 52] !== DASH) return -1;
  if (!isNonZeroLowerHexBytes(buf, start + 3, start + 35) || !isNonZeroLowerHexBytes(buf, start + 36, start + 52)) return -1;
  const f0 = hexByte(buf, start + 53);
  const f1 = hexByte(buf, start + 54);
  if (f0 < 0 || f1 < 0) return -1;
  return f0 * 16 + f1;
}

/** The parent-id of a traceparent formatTraceParent wrote (version 00, so at a fixed place; not checked again). */
export function spanIdOfFormatted(traceparent: string): string {
  return traceparent.slice(36, 52);
}

/** Always emits version 00, whatever version was received (spec 3.2.4). */
export function formatTraceParent(ctx: TraceParent): string {
  const flags = (ctx.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${ctx.traceId}-${ctx.spanId}-${flags}`;
}

/*
 * Random ids come from a pool refilled in blocks: one randomFillSync per 170 contexts
 * instead of one per message keeps id generation off the per-message CPU budget.
 */
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

function randomHex(bytes: number, zero: string): string {
  for (;;) {
    if (poolOffset + bytes > POOL_SIZE) {
      randomFillSync(pool);
      poolOffset = 0;
    }
    const hex = pool.toString('hex', poolOffset, poolOffset + bytes);
    poolOffset += bytes;
    if (hex !== zero) return hex;
  }
}

export function randomTraceId(): string {
  return randomHex(TRACE_ID_HEX / 2, ZERO_TRACE_ID);
}

export function randomSpanId(): string {
  return randomHex(SPAN_ID_HEX / 2, ZERO_SPAN_ID);
}

const TRACE_ID_BYTES = TRACE_ID_HEX / 2;
const SPAN_ID_BYTES = SPAN_ID_HEX / 2;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

function allZero(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

function hexInto(target: Buffer, at: number, source: Buffer, from: number, to: number): number {
  let o = at;
  for (let i = from; i < to; i++) {
    const b = source[i]!;
    target[o++] = HEX_DIGITS[b >> 4]!;
    target[o++] = HEX_DIGITS[b & 15]!;
  }
  return o;
}

/**
 * A new root context kept as bytes: trace id then span id, drawn from the same pool as the
 * string ids. Most new contexts are unsampled and only ever written into one header, so
 * they are written from the bytes (`writeTo`, 55 ASCII bytes) and become strings only
 * when something reads them. One instance is reused: `draw` replaces its ids, so the
 * previous ones must have been written (or read as strings) by then.
 */
export class NewTraceContext {
  readonly byteLength = VERSION_00_LENGTH;
  private readonly ids = Buffer.alloc(TRACE_ID_BYTES + SPAN_ID_BYTES);

  /** Draws a non-zero trace id and span id. */
  draw(): this {
    do {
      if (poolOffset + this.ids.length > POOL_SIZE) {
        randomFillSync(pool);
        poolOffset = 0;
      }
      for (let i = 0; i < this.ids.length; i++) this.ids[i] = pool[poolOffset + i]!;
      poolOffset += this.ids.length;
    } while (allZero(this.ids, 0, TRACE_ID_BYTES) || allZero(this.ids, TRACE_ID_BYTES, this.ids.length));
    return this;
  }

  get traceId(): string {
    return this.ids.toString('hex', 0, TRACE_ID_BYTES);
  }

  get spanId(): string {
    return this.ids.toString('hex', TRACE_ID_BYTES);
  }

  /**
   * The trace id's four big-endian 32-bit words XORed: what OpenTelemetry's
   * TraceIdRatioBasedSampler computes from the hex string (compared in the unit tests).
   */
  get ratioKey(): number {
    const ids = this.ids;
    return (ids.readUInt32BE(0) ^ ids.readUInt32BE(4) ^ ids.readUInt32BE(8) ^ ids.readUInt32BE(12)) >>> 0;
  }

  /** `00-<trace id>-<span id>-00`: an unsampled traceparent, written as ASCII at `offset`. */
  writeTo(target: Buffer, offset: number): void {
    target[offset] = 0x30;
    target[offset + 1] = 0x30;
    target[offset + 2] = 0x2d;
    let at = hexInto(target, offset + 3, this.ids, 0, TRACE_ID_BYTES);
    target[at++] = 0x2d;
    at = hexInto(target, at, this.ids, TRACE_ID_BYTES, this.ids.length);
    target[at] = 0x2d;
    target[at + 1] = 0x30;
    target[at + 2] = 0x30;
  }
}
