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

function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    // 0-9 or a-f
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** Returns the parsed context, or undefined for anything the spec calls invalid. */
export function parseTraceParent(value: string): TraceParent | undefined {
  if (value.length < VERSION_00_LENGTH) return undefined;
  if (!isLowerHex(value, 0, 2) || value.startsWith('ff')) return undefined;
  const version00 = value.startsWith('00');
  if (version00 && value.length !== VERSION_00_LENGTH) return undefined;
  // A future version may append fields, but only after another "-".
  if (!version00 && value.length > VERSION_00_LENGTH && value[VERSION_00_LENGTH] !== '-') return undefined;
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return undefined;
  if (!isLowerHex(value, 3, 35) || !isLowerHex(value, 36, 52) || !isLowerHex(value, 53, 55)) return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return undefined;
  return { traceId, spanId, traceFlags: parseInt(value.slice(53, 55), 16) };
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
