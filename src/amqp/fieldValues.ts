/**
 * Reading single values out of a field table (spec 4.2.5.5) by their tag offset, for the few
 * headers the proxy reads that are not strings: RabbitMQ's `x-death` (an `A` of `F` tables),
 * quorum queues' `x-delivery-count` (`l`), Celery's `retries` (`I` from py-amqp, `b` from
 * amqplib for small numbers). Nothing here throws for a value of an unexpected type: it is
 * `undefined`, and the message is traced without that fact. Bounds are checked as
 * fieldTable.ts checks them (a value running past its container is a decode error).
 *
 *   x-death:  A ─ len ─┬─ F ─ len ─ entries (count l, reason S, queue S, time T, ...)
 *                      ├─ F ─ ...                        one table per (queue, reason)
 *                      └─ ...
 */

import { skipFieldValue, skipShortStr, skipTable } from './fieldTable';

/** In `locateValueTags` results: the name is not in the table. */
export const NO_VALUE = -1;

const TAG_LONGSTR = 0x53; // 'S'
const TAG_ARRAY = 0x41; // 'A'
const TAG_TABLE = 0x46; // 'F'

/**
 * The integer of a signed or unsigned integer value, or of a timestamp (`T`, seconds), whose
 * tag is at `tagOffset`; undefined for any other type and for 64-bit values beyond
 * Number.MAX_SAFE_INTEGER (no count or time the proxy reads gets there).
 */
export function readIntegerValue(buf: Buffer, tagOffset: number, limit: number = buf.length): number | undefined {
  skipFieldValue(buf, tagOffset, limit);
  const at = tagOffset + 1;
  switch (String.fromCharCode(buf[tagOffset]!)) {
    case 'b': return buf.readInt8(at);
    case 'B': return buf.readUInt8(at);
    case 's': case 'U': return buf.readInt16BE(at);
    case 'u': return buf.readUInt16BE(at);
    case 'I': return buf.readInt32BE(at);
    case 'i': return buf.readUInt32BE(at);
    case 'l': case 'L': return safe(buf.readBigInt64BE(at));
    case 'T': return safe(buf.readBigUInt64BE(at));
    default: return undefined;
  }
}

function safe(value: bigint): number | undefined {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : undefined;
}

/** The text of an `S` value whose tag is at `tagOffset`; undefined for any other type. */
export function readLongStrValue(buf: Buffer, tagOffset: number, limit: number = buf.length): string | undefined {
  const end = skipFieldValue(buf, tagOffset, limit);
  return buf[tagOffset] === TAG_LONGSTR ? buf.toString('utf8', tagOffset + 5, end) : undefined;
}

/**
 * One walk of the table body [start, end) that records, for each name in `names`, the offset of
 * its value's tag in `tags` (the last occurrence wins, as in locateStringValues), or leaves
 * NO_VALUE. Names are compared as bytes; `names` is a handful of constants.
 */
export function locateValueTags(buf: Buffer, start: number, end: number, names: readonly Buffer[], tags: number[]): void {
  let offset = start;
  while (offset < end) {
    const tagOffset = skipShortStr(buf, offset, end);
    const entryEnd = skipFieldValue(buf, tagOffset, end);
    const length = buf[offset]!;
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      if (name.length === length && buf.compare(name, 0, length, offset + 1, tagOffset) === 0) tags[i] = tagOffset;
    }
    offset = entryEnd;
  }
}

/** `locateValueTags` over the table whose length field is at `tableOffset`. */
export function locateTableValueTags(buf: Buffer, tableOffset: number, names: readonly Buffer[], tags: number[]): void {
  locateValueTags(buf, tableOffset + 4, skipTable(buf, tableOffset), names, tags);
}

/**
 * The tag offsets of the elements of the `A` value whose tag is at `tagOffset`, at most
 * `max` of them, and how many there are in all; undefined when the value is no array.
 */
export function arrayElements(buf: Buffer, tagOffset: number, max: number, limit: number = buf.length): { tags: number[]; count: number } | undefined {
  const end = skipFieldValue(buf, tagOffset, limit);
  if (buf[tagOffset] !== TAG_ARRAY) return undefined;
  const tags: number[] = [];
  let count = 0;
  for (let offset = tagOffset + 5; offset < end; offset = skipFieldValue(buf, offset, end)) {
    if (count++ < max) tags.push(offset);
  }
  return { tags, count };
}

/** [start, end) of the body of the `F` value whose tag is at `tagOffset`; undefined when it is no table. */
export function tableBody(buf: Buffer, tagOffset: number, limit: number = buf.length): { start: number; end: number } | undefined {
  const end = skipFieldValue(buf, tagOffset, limit);
  return buf[tagOffset] === TAG_TABLE ? { start: tagOffset + 5, end } : undefined;
}
