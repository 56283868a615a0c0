/**
 * Content header frame payloads (spec 4.2.6.1) and the one rewrite the proxy makes to
 * them: editing the `headers` table.
 *
 *   0          2          4                      12               14
 *   +----------+----------+----------------------+----------------+--------------- - -
 *   | class-id |  weight  |      body-size       | property-flags | property-list
 *   +----------+----------+----------------------+----------------+--------------- - -
 *     short      short(0)      longlong            short; another short follows
 *                                                  while bit 0 of the last one is set
 *
 *   First property-flags word of class basic (spec 1.8, BasicProperties):
 *     bit 15 content-type      shortstr     bit 8 expiration   shortstr
 *     bit 14 content-encoding  shortstr     bit 7 message-id   shortstr
 *     bit 13 headers           table        bit 6 timestamp    longlong
 *     bit 12 delivery-mode     octet        bit 5 type         shortstr
 *     bit 11 priority          octet        bit 4 user-id      shortstr
 *     bit 10 correlation-id    shortstr     bit 3 app-id       shortstr
 *     bit  9 reply-to          shortstr     bit 2 cluster-id   shortstr
 *     bit  1 no property in 0-9-1           bit 0 continuation
 *
 * Present properties follow the flag words in bit order, highest first, untagged and
 * unpadded. Bit 1 and the bits of continuation words name no 0-9-1 property; if a peer sets
 * them, their values come after cluster-id, and since everything after the headers table is
 * copied verbatim by `spliceHeaders`, they survive a rewrite without being understood.
 */

import { copyBytes } from './bytes';
import { FRAME_END, FRAME_HEADER, FRAME_HEADER_SIZE, FRAME_OVERHEAD } from './constants';
import { ensureAvailable } from './errors';
import { findTableEntries, skipShortStr, skipTable } from './fieldTable';
import { AsciiValue, stringEntrySize, writeStringEntry } from './fieldTableWrite';

const BODY_SIZE_OFFSET = 4;
const PROPERTY_FLAGS_OFFSET = 12;
const PROPERTY_LIST_OFFSET = 14;
const FLAG_CONTINUATION = 0x0001;
const HEADERS_BIT = 13;
const FLAG_HEADERS = 1 << HEADERS_BIT;

type PropertyKind = 'shortstr' | 'octet' | 'timestamp' | 'table';

/** BasicProperties in wire order, named as amqplib and most clients name them. */
const PROPERTIES = [
  { name: 'contentType', bit: 15, kind: 'shortstr' },
  { name: 'contentEncoding', bit: 14, kind: 'shortstr' },
  { name: 'headers', bit: HEADERS_BIT, kind: 'table' },
  { name: 'deliveryMode', bit: 12, kind: 'octet' },
  { name: 'priority', bit: 11, kind: 'octet' },
  { name: 'correlationId', bit: 10, kind: 'shortstr' },
  { name: 'replyTo', bit: 9, kind: 'shortstr' },
  { name: 'expiration', bit: 8, kind: 'shortstr' },
  { name: 'messageId', bit: 7, kind: 'shortstr' },
  { name: 'timestamp', bit: 6, kind: 'timestamp' },
  { name: 'type', bit: 5, kind: 'shortstr' },
  { name: 'userId', bit: 4, kind: 'shortstr' },
  { name: 'appId', bit: 3, kind: 'shortstr' },
  { name: 'clusterId', bit: 2, kind: 'shortstr' },
] as const satisfies readonly { name: string; bit: number; kind: PropertyKind }[];

export type PropertyName = (typeof PROPERTIES)[number]['name'];
export type ShortStrPropertyName = Extract<(typeof PROPERTIES)[number], { kind: 'shortstr' }>['name'];

/** Bit mask of each property in the first flags word, e.g. for building vectors. */
export const PROPERTY_FLAG: Readonly<Record<PropertyName, number>> = Object.fromEntries(
  PROPERTIES.map((property) => [property.name, 1 << property.bit]),
) as Record<PropertyName, number>;

/** [start, end) of a property's encoded bytes; a shortstr's range includes its length octet. */
export type PropertyRange = { start: number; end: number };

export interface ContentHeader {
  readonly classId: number;
  readonly bodySize: number;
  /** The first property-flags word, continuation bit included. */
  readonly flags: number;
  /** Offset of the headers table's length field, when the table is present. */
  readonly headersOffset: number | undefined;
  /** Where a headers table belongs: after content-encoding, before delivery-mode. */
  readonly headersInsertAt: number;
  /** Where each present property is; located on first read (most messages never ask). */
  readonly props: Partial<Record<PropertyName, PropertyRange>>;
}

const PROPERTY_END: Readonly<Record<PropertyKind, (payload: Buffer, offset: number) => number>> = {
  shortstr: (payload, offset) => skipShortStr(payload, offset),
  octet: (payload, offset) => fixedEnd(payload, offset, 1),
  timestamp: (payload, offset) => fixedEnd(payload, offset, 8),
  table: (payload, offset) => skipTable(payload, offset),
};

function fixedEnd(payload: Buffer, offset: number, size: number): number {
  ensureAvailable(offset, size, payload.length, 'content header property');
  return offset + size;
}

class ParsedContentHeader implements ContentHeader {
  private ranges: Partial<Record<PropertyName, PropertyRange>> | undefined;

  constructor(
    private readonly payload: Buffer,
    readonly classId: number,
    readonly bodySize: number,
    readonly flags: number,
    private readonly listOffset: number,
    readonly headersOffset: number | undefined,
    readonly headersInsertAt: number,
  ) {}

  get props(): Partial<Record<PropertyName, PropertyRange>> {
    this.ranges ??= propertyRanges(this.payload, this.flags, this.listOffset);
    return this.ranges;
  }

  on(copy: Buffer): ContentHeader {
    return new ParsedContentHeader(copy, this.classId, this.bodySize, this.flags, this.listOffset, this.headersOffset, this.headersInsertAt);
  }
}

/**
 * The same header over `copy`, a byte-for-byte copy of the payload it was parsed from,
 * without walking it again (a record's own copy of a message's header).
 */
export function contentHeaderOn(header: ContentHeader, copy: Buffer): ContentHeader {
  return header instanceof ParsedContentHeader ? header.on(copy) : parseContentHeader(copy);
}

/** Every present property's range (parseContentHeader has already checked the bounds). */
function propertyRanges(payload: Buffer, flags: number, listOffset: number): Partial<Record<PropertyName, PropertyRange>> {
  const props: Partial<Record<PropertyName, PropertyRange>> = {};
  walkProperties(payload, flags, listOffset, props);
  return props;
}

/**
 * Walks the present properties, checking each one's bounds, and records their ranges in
 * `ranges` when given. Returns where the headers table is, or would go when absent.
 */
function walkProperties(payload: Buffer, flags: number, listOffset: number, ranges?: Partial<Record<PropertyName, PropertyRange>>): number {
  let offset = listOffset;
  let headersAt = listOffset;
  for (const property of PROPERTIES) {
    if (property.bit === HEADERS_BIT) headersAt = offset;
    if ((flags & (1 << property.bit)) !== 0) {
      const end = PROPERTY_END[property.kind](payload, offset);
      if (ranges) ranges[property.name] = { start: offset, end };
      offset = end;
    }
  }
  return headersAt;
}

/**
 * Locates the headers table and checks that every present property fits, without decoding
 * any value or allocating per property. Runs for every message in both directions.
 */
export function parseContentHeader(payload: Buffer): ContentHeader {
  ensureAvailable(0, PROPERTY_LIST_OFFSET, payload.length, 'content header');
  const flags = payload.readUInt16BE(PROPERTY_FLAGS_OFFSET);
  const listOffset = skipContinuationFlagWords(payload, flags);
  const headersInsertAt = walkProperties(payload, flags, listOffset);
  const headersOffset = (flags & FLAG_HEADERS) !== 0 ? headersInsertAt : undefined;
  return new ParsedContentHeader(
    payload,
    payload.readUInt16BE(0),
    // Two 32-bit reads instead of a BigInt: exact up to 2^53, far beyond any body RabbitMQ accepts.
    payload.readUInt32BE(BODY_SIZE_OFFSET) * 2 ** 32 + payload.readUInt32BE(BODY_SIZE_OFFSET + 4),
    flags,
    listOffset,
    headersOffset,
    headersInsertAt,
  );
}

/** Whether a property is present, from the first flags word alone. */
export function hasProperty(header: ContentHeader, name: PropertyName): boolean {
  return (header.flags & PROPERTY_FLAG[name]) !== 0;
}

/** Offset of the property list. Only the first word's bits are defined; later words are skipped. */
function skipContinuationFlagWords(payload: Buffer, firstWord: number): number {
  let word = firstWord;
  let offset = PROPERTY_LIST_OFFSET;
  while ((word & FLAG_CONTINUATION) !== 0) {
    ensureAvailable(offset, 2, payload.length, 'property flags continuation word');
    word = payload.readUInt16BE(offset);
    offset += 2;
  }
  return offset;
}

/** The value of a present shortstr property, decoded as UTF-8. */
export function readShortStrProperty(payload: Buffer, header: ContentHeader, name: ShortStrPropertyName): string | undefined {
  // The flags word answers "absent" without locating every property.
  if (!hasProperty(header, name)) return undefined;
  const range = header.props[name];
  return range === undefined ? undefined : payload.toString('utf8', range.start + 1, range.end);
}

/**
 * Names in `remove` are cut out (every occurrence); `add` entries are appended as longstr
 * (`S`). To replace an entry, name it in both.
 */
export type HeadersEdit = { remove: readonly string[]; add: readonly (readonly [string, string | AsciiValue])[] };

/**
 * Returns a new payload with the headers table edited. Every byte outside removed entries is
 * copied verbatim, whatever its type or meaning; only the table's length field and, when the
 * table has to be inserted, the first flags word are rewritten. The result may be larger than
 * the original: callers must check it still fits the negotiated frame_max.
 */
export function spliceHeaders(payload: Buffer, header: ContentHeader, edit: HeadersEdit): Buffer {
  return splice(payload, header, edit, 0);
}

/**
 * spliceHeaders, returned as a whole content header frame for `channel`: the frame is built
 * in the same single allocation, so the forwarding path copies the header once, not twice.
 */
export function spliceHeadersFrame(channel: number, payload: Buffer, header: ContentHeader, edit: HeadersEdit): Buffer {
  const frame = splice(payload, header, edit, FRAME_HEADER_SIZE);
  const size = frame.length - FRAME_OVERHEAD;
  frame[0] = FRAME_HEADER;
  frame.writeUInt16BE(channel, 1);
  frame.writeUInt32BE(size, 3);
  frame[FRAME_HEADER_SIZE + size] = FRAME_END;
  return frame;
}

/**
 * A new payload whose headers table holds exactly `entries` (whole encoded entries: name,
 * tag and value, copied as they are), or that has no headers table when `entries` is
 * undefined (flag bit 13 cleared). Everything outside the table is copied verbatim.
 */
export function replaceHeadersTable(payload: Buffer, header: ContentHeader, entries: readonly Buffer[] | undefined): Buffer {
  const from = header.headersOffset ?? header.headersInsertAt;
  const to = header.headersOffset === undefined ? from : skipTable(payload, header.headersOffset);
  const table = entries === undefined ? [] : [u32(entries.reduce((n, e) => n + e.length, 0)), ...entries];
  const out = Buffer.concat([payload.subarray(0, from), ...table, payload.subarray(to)]);
  const flags = entries === undefined ? header.flags & ~FLAG_HEADERS : header.flags | FLAG_HEADERS;
  out.writeUInt16BE(flags, PROPERTY_FLAGS_OFFSET);
  return out;
}

function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
}

/** The edited payload at `base` in a buffer with room for a frame's header and end octet when base > 0. */
function splice(payload: Buffer, header: ContentHeader, edit: HeadersEdit, base: number): Buffer {
  if (header.headersOffset !== undefined) {
    return spliceExistingTable(payload, header.headersOffset, edit, base);
  }
  const extra = base === 0 ? 0 : FRAME_OVERHEAD;
  if (edit.add.length === 0) {
    const out = Buffer.allocUnsafe(payload.length + extra);
    payload.copy(out, base);
    return out;
  }
  return insertTable(payload, header, edit.add, base, extra);
}

function spliceExistingTable(payload: Buffer, tableOffset: number, edit: HeadersEdit, base: number): Buffer {
  // Nothing to cut (the common case): the table's end comes from its length field, no scan.
  const scan = edit.remove.length === 0
    ? { end: tableOffset + 4 + payload.readUInt32BE(tableOffset), entries: [] }
    : findTableEntries(payload, tableOffset, edit.remove);
  if (scan.end > payload.length) findTableEntries(payload, tableOffset, []); // throws TRUNCATED
  let removedSize = 0;
  for (const entry of scan.entries) {
    removedSize += entry.end - entry.start;
  }
  const addedSize = entriesSize(edit.add);
  const bodyStart = tableOffset + 4;
  const out = Buffer.allocUnsafe(payload.length - removedSize + addedSize + (base === 0 ? 0 : FRAME_OVERHEAD));

  // Everything up to the first removed entry (usually the whole table) in one copy; the
  // table's length field is then overwritten.
  let from = scan.entries.length > 0 ? scan.entries[0]!.start : scan.end;
  let at = base + payload.copy(out, base, 0, from);
  out.writeUInt32BE(scan.end - bodyStart - removedSize + addedSize, base + tableOffset);
  for (let i = 0; i < scan.entries.length; i++) {
    const entry = scan.entries[i]!;
    at += copyBytes(payload, out, at, from, entry.start);
    from = entry.end;
  }
  at += copyBytes(payload, out, at, from, scan.end);
  at = writeEntries(out, at, edit.add);
  copyBytes(payload, out, at, scan.end, payload.length);
  return out;
}

function insertTable(payload: Buffer, header: ContentHeader, add: HeadersEdit['add'], base: number, extra: number): Buffer {
  const addedSize = entriesSize(add);
  const out = Buffer.allocUnsafe(payload.length + 4 + addedSize + extra);
  let at = base + payload.copy(out, base, 0, header.headersInsertAt);
  at = out.writeUInt32BE(addedSize, at);
  at = writeEntries(out, at, add);
  copyBytes(payload, out, at, header.headersInsertAt, payload.length);
  out.writeUInt16BE(header.flags | FLAG_HEADERS, base + PROPERTY_FLAGS_OFFSET);
  return out;
}

function entriesSize(entries: HeadersEdit['add']): number {
  let size = 0;
  for (const [name, value] of entries) {
    size += stringEntrySize(name, value);
  }
  return size;
}

function writeEntries(target: Buffer, offset: number, entries: HeadersEdit['add']): number {
  let at = offset;
  for (const [name, value] of entries) {
    at = writeStringEntry(target, at, name, value);
  }
  return at;
}
