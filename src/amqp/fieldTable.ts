/**
 * Field tables (spec 4.2.5.5) with RabbitMQ's value tags.
 *
 *   table:
 *   0        4
 *   +--------+---------+---------+- - -+---------+
 *   | length |  entry  |  entry  |     |  entry  |     length = bytes after the length field
 *   +--------+---------+---------+- - -+---------+
 *     long
 *
 *   entry:
 *   +-----+------------+-----+---------------------------+
 *   | len | name       | tag | value                     |
 *   +-----+------------+-----+---------------------------+
 *    octet  len octets  octet  fixed size given by the tag,
 *    (a shortstr)              or long length + bytes (S x A F)
 *
 *   field-array (tag A): long length, then tag + value pairs without names.
 *
 * The tags are the ones RabbitMQ and every client talking to it use, not the grammar in
 * the 0-9-1 spec (which has 's' for short-string); see RabbitMQ's "AMQP 0-9-1 errata" page
 * and amqplib's lib/codec.js. The spec's 'U' (signed 16-bit) and 'L' (signed 64-bit) are
 * known too: no client gives them another meaning, RabbitMQ 3.10 accepts 'L' and refuses
 * 'U' (connection.close), and a proxy that can walk past them leaves that to the broker.
 * A tag outside this set cannot be skipped, because its size is unknown, so it is a decode
 * error: the scanner then forwards that frame untouched and its message goes untraced.
 *
 * The hot path (`findTableEntries`, `skipFieldValue`) only walks entries; values are
 * decoded by `decodeTable`, which exists for tests and diagnostics.
 */

import { AmqpDecodeError, ensureAvailable } from './errors';

/** What each tag's value decodes to in `decodeTable`. */
export type FieldValueByTag = {
  t: boolean;
  b: number;
  B: number;
  s: number;
  u: number;
  U: number;
  I: number;
  i: number;
  l: bigint;
  L: bigint;
  f: number;
  d: number;
  D: { scale: number; digits: number };
  S: string;
  x: Buffer;
  A: FieldValue[];
  T: bigint;
  F: FieldTable;
  V: null;
};

export type FieldTag = keyof FieldValueByTag;

/** A decoded value that keeps its wire type, so tests can tell an int16 from an int32. */
export type FieldValue = { [K in FieldTag]: { type: K; value: FieldValueByTag[K] } }[FieldTag];

export type FieldTable = Record<string, FieldValue>;

/** start = offset of the name's length octet; end = offset after the value. */
export type TableEntry = { name: string; start: number; end: number; tag: number; valueStart: number };

/** end = offset after the whole table (tableOffset + 4 + length). */
export type TableScan = { end: number; entries: TableEntry[] };

/** Value size for tags followed by a long length and that many bytes. */
const LENGTH_PREFIXED = -1;
const UNKNOWN_TAG = -2;

type FieldType<K extends FieldTag> = {
  /** Bytes after the tag, or LENGTH_PREFIXED. */
  size: number;
  /** Decodes the value occupying [at, end), `at` being just after the tag. */
  decode: (buf: Buffer, at: number, end: number) => FieldValueByTag[K];
};

const FIELD_TYPES: { readonly [K in FieldTag]: FieldType<K> } = {
  t: { size: 1, decode: (buf, at) => buf[at] !== 0 },
  b: { size: 1, decode: (buf, at) => buf.readInt8(at) },
  B: { size: 1, decode: (buf, at) => buf.readUInt8(at) },
  s: { size: 2, decode: (buf, at) => buf.readInt16BE(at) },
  u: { size: 2, decode: (buf, at) => buf.readUInt16BE(at) },
  U: { size: 2, decode: (buf, at) => buf.readInt16BE(at) },
  I: { size: 4, decode: (buf, at) => buf.readInt32BE(at) },
  i: { size: 4, decode: (buf, at) => buf.readUInt32BE(at) },
  l: { size: 8, decode: (buf, at) => buf.readBigInt64BE(at) },
  L: { size: 8, decode: (buf, at) => buf.readBigInt64BE(at) },
  f: { size: 4, decode: (buf, at) => buf.readFloatBE(at) },
  d: { size: 8, decode: (buf, at) => buf.readDoubleBE(at) },
  // decimal-value = scale octet + long (spec 4.2.5.5); RabbitMQ reads the digits unsigned.
  D: { size: 5, decode: (buf, at) => ({ scale: buf[at], digits: buf.readUInt32BE(at + 1) }) },
  S: { size: LENGTH_PREFIXED, decode: (buf, at, end) => buf.toString('utf8', at + 4, end) },
  x: { size: LENGTH_PREFIXED, decode: (buf, at, end) => Buffer.from(buf.subarray(at + 4, end)) },
  A: { size: LENGTH_PREFIXED, decode: (buf, at, end) => decodeArrayBody(buf, at + 4, end) },
  T: { size: 8, decode: (buf, at) => buf.readBigUInt64BE(at) },
  F: { size: LENGTH_PREFIXED, decode: (buf, at, end) => decodeTableBody(buf, at + 4, end) },
  V: { size: 0, decode: () => null },
};

/** FIELD_TYPES' sizes indexed by tag octet, so skipping a value is one array read. */
const VALUE_SIZE_BY_TAG_OCTET: Int8Array = buildSizeLookup();

function buildSizeLookup(): Int8Array {
  const sizes = new Int8Array(256).fill(UNKNOWN_TAG);
  for (const tag of Object.keys(FIELD_TYPES) as FieldTag[]) {
    sizes[tag.charCodeAt(0)] = FIELD_TYPES[tag].size;
  }
  return sizes;
}

export const TAG_LONGSTR = 0x53; // 'S'
const TAG_BYTES = 0x78; // 'x'

/** Offset after the shortstr at `offset`; BAD_SHORTSTR when its length runs past `limit`. */
export function skipShortStr(buf: Buffer, offset: number, limit: number = buf.length): number {
  ensureAvailable(offset, 1, limit, 'shortstr length');
  const end = offset + 1 + buf[offset];
  if (end > limit) {
    throw new AmqpDecodeError('BAD_SHORTSTR', `shortstr of ${buf[offset]} bytes runs ${end - limit} bytes past its container`, offset);
  }
  return end;
}

/** Offset after the table whose length field is at `offset`; TRUNCATED when it runs past `limit`. */
export function skipTable(buf: Buffer, offset: number, limit: number = buf.length): number {
  ensureAvailable(offset, 4, limit, 'field table length');
  const length = buf.readUInt32BE(offset);
  ensureAvailable(offset + 4, length, limit, 'field table');
  return offset + 4 + length;
}

/** Offset after the tagged value at `offset` (the tag octet); throws on an unknown tag or overrun. */
export function skipFieldValue(buf: Buffer, offset: number, limit: number = buf.length): number {
  ensureAvailable(offset, 1, limit, 'field value tag');
  const tag = buf[offset];
  const size = VALUE_SIZE_BY_TAG_OCTET[tag];
  if (size === UNKNOWN_TAG) {
    throw new AmqpDecodeError('UNKNOWN_FIELD_TYPE', `unknown field type tag 0x${tag.toString(16).padStart(2, '0')}`, offset);
  }
  const valueStart = offset + 1;
  if (size === LENGTH_PREFIXED) {
    ensureAvailable(valueStart, 4, limit, 'field value length');
    const length = buf.readUInt32BE(valueStart);
    ensureAvailable(valueStart + 4, length, limit, `field value '${String.fromCharCode(tag)}'`);
    return valueStart + 4 + length;
  }
  ensureAvailable(valueStart, size, limit, `field value '${String.fromCharCode(tag)}'`);
  return valueStart + size;
}

/**
 * Encoded names, so entry names are compared as bytes instead of decoding a string per entry.
 * Callers pass a few constant names; the cap only guards against names built per message.
 */
const encodedNames = new Map<string, Buffer>();
const ENCODED_NAMES_LIMIT = 64;

function encodedName(name: string): Buffer {
  let encoded = encodedNames.get(name);
  if (encoded === undefined) {
    if (encodedNames.size >= ENCODED_NAMES_LIMIT) {
      encodedNames.clear();
    }
    encoded = Buffer.from(name, 'utf8');
    encodedNames.set(name, encoded);
  }
  return encoded;
}

const encodedLists = new WeakMap<readonly string[], readonly Buffer[]>();

/**
 * A frozen list of names (a caller's constant, looked up once per message) is encoded once;
 * any other list, which may be built per call, is encoded each time.
 */
function encodedList(names: readonly string[]): readonly Buffer[] {
  if (!Object.isFrozen(names)) return names.map(encodedName);
  let list = encodedLists.get(names);
  if (list === undefined) {
    list = names.map(encodedName);
    encodedLists.set(names, list);
  }
  return list;
}

/** Index in `wanted` of the shortstr name at `nameOffset`, or -1. */
function indexOfName(buf: Buffer, nameOffset: number, wanted: readonly Buffer[]): number {
  const length = buf[nameOffset];
  for (let i = 0; i < wanted.length; i++) {
    const candidate = wanted[i];
    if (candidate.length === length && bytesEqual(buf, nameOffset + 1, candidate)) {
      return i;
    }
  }
  return -1;
}

function bytesEqual(buf: Buffer, offset: number, expected: Buffer): boolean {
  for (let i = 0; i < expected.length; i++) {
    if (buf[offset + i] !== expected[i]) {
      return false;
    }
  }
  return true;
}

/**
 * Walks the table at `tableOffset` (its length field) and returns the entries named in
 * `names`, in wire order, duplicates included. Every entry is bounds-checked against the
 * table's own length; nested tables and arrays are skipped by length, not inspected.
 */
export function findTableEntries(buf: Buffer, tableOffset: number, names: readonly string[]): TableScan {
  const end = skipTable(buf, tableOffset);
  const wanted = encodedList(names);
  const entries: TableEntry[] = [];
  let offset = tableOffset + 4;
  while (offset < end) {
    const tagOffset = skipShortStr(buf, offset, end);
    const entryEnd = skipFieldValue(buf, tagOffset, end);
    const index = wanted.length === 0 ? -1 : indexOfName(buf, offset, wanted);
    if (index >= 0) {
      entries.push({ name: names[index], start: offset, end: entryEnd, tag: buf[tagOffset], valueStart: tagOffset + 1 });
    }
    offset = entryEnd;
  }
  return { end, entries };
}

/** One entry of a table: [start, end) of the whole entry, and where its name ends (the tag's offset). */
export type EntryRange = { start: number; nameEnd: number; end: number };

/** Every entry of the table at `tableOffset` in wire order, with the same checks as findTableEntries. */
export function listTableEntries(buf: Buffer, tableOffset: number): EntryRange[] {
  const end = skipTable(buf, tableOffset);
  const entries: EntryRange[] = [];
  let offset = tableOffset + 4;
  while (offset < end) {
    const tagOffset = skipShortStr(buf, offset, end);
    const entryEnd = skipFieldValue(buf, tagOffset, end);
    entries.push({ start: offset, nameEnd: tagOffset, end: entryEnd });
    offset = entryEnd;
  }
  return entries;
}

/** In `locateStringValues` results: the name is absent, or present with a value that is not a string. */
export const ABSENT = -1;
export const NOT_A_STRING = -2;

/**
 * One walk of the table at `tableOffset`, with the same checks as findTableEntries, that
 * records where the value of each name in `names` (a frozen list) is: `positions[2i]` and
 * `positions[2i + 1]` become the [start, end) of the i-th name's `S` or `x` value bytes
 * (the last occurrence wins, as a decoder building an object would have it); for another
 * type NOT_A_STRING and the offset of its tag (for fieldValues.ts's readers), or stay ABSENT.
 * Nothing is allocated or decoded: the proxy reads most of these values only as bytes (a
 * traceparent's flags, a stamp's digits). Returns whether an entry is named in `also`
 * (names the caller reads rarely, located later only when there): noted, not located.
 */
export function locateStringValues(buf: Buffer, tableOffset: number, names: readonly string[], positions: number[], also?: NameSet): boolean {
  const end = skipTable(buf, tableOffset);
  const wanted = encodedList(names);
  let seen = false;
  let offset = tableOffset + 4;
  while (offset < end) {
    const tagOffset = skipShortStr(buf, offset, end);
    const entryEnd = skipFieldValue(buf, tagOffset, end);
    const index = indexOfName(buf, offset, wanted);
    if (index >= 0) {
      const tag = buf[tagOffset];
      const isString = tag === TAG_LONGSTR || tag === TAG_BYTES;
      positions[2 * index] = isString ? tagOffset + 5 : NOT_A_STRING;
      positions[2 * index + 1] = isString ? entryEnd : tagOffset;
    } else if (!seen && also !== undefined) {
      seen = also.includes(buf, offset);
    }
    offset = entryEnd;
  }
  return seen;
}

/**
 * A few constant names to notice in a walk without locating them: a name of none of their
 * lengths costs one array read, so a table without them pays next to nothing for the check.
 */
export class NameSet {
  private readonly encoded: readonly Buffer[];
  private readonly lengths = new Uint8Array(256);

  constructor(names: readonly string[]) {
    this.encoded = names.map((n) => Buffer.from(n, 'utf8'));
    for (const name of this.encoded) this.lengths[name.length] = 1;
  }

  /** Whether the shortstr name at `nameOffset` is one of these. */
  includes(buf: Buffer, nameOffset: number): boolean {
    return this.lengths[buf[nameOffset]!] === 1 && indexOfName(buf, nameOffset, this.encoded) >= 0;
  }
}

/**
 * Whether a value located by `locateStringValues` (its [start, end)) is an `S` longstr, not
 * `x` bytes: the tag sits before the value's 4-byte length.
 */
export function isLongStrValue(buf: Buffer, start: number): boolean {
  return start >= 5 && buf[start - 5] === TAG_LONGSTR;
}

/** The value of an `S` (longstr) or `x` (bytes) entry as UTF-8; undefined for other types. */
export function readStringValue(buf: Buffer, entry: TableEntry): string | undefined {
  if (entry.tag !== TAG_LONGSTR && entry.tag !== TAG_BYTES) {
    return undefined;
  }
  return buf.toString('utf8', entry.valueStart + 4, entry.end);
}

/** Fully decodes the table at `offset`. For tests and diagnostics, not the data path. */
export function decodeTable(buf: Buffer, offset: number): { value: FieldTable; end: number } {
  const end = skipTable(buf, offset);
  return { value: decodeTableBody(buf, offset + 4, end), end };
}

function decodeTableBody(buf: Buffer, start: number, end: number): FieldTable {
  const table: FieldTable = {};
  let offset = start;
  while (offset < end) {
    const tagOffset = skipShortStr(buf, offset, end);
    const valueEnd = skipFieldValue(buf, tagOffset, end);
    // defineProperty, because a peer may send an entry called "__proto__".
    Object.defineProperty(table, buf.toString('utf8', offset + 1, tagOffset), {
      value: decodeFieldValue(buf, tagOffset, valueEnd),
      enumerable: true,
      writable: true,
      configurable: true,
    });
    offset = valueEnd;
  }
  return table;
}

function decodeArrayBody(buf: Buffer, start: number, end: number): FieldValue[] {
  const values: FieldValue[] = [];
  let offset = start;
  while (offset < end) {
    const valueEnd = skipFieldValue(buf, offset, end);
    values.push(decodeFieldValue(buf, offset, valueEnd));
    offset = valueEnd;
  }
  return values;
}

/** Decodes the value whose tag is at `tagOffset`; the caller has bounds-checked it with skipFieldValue. */
function decodeFieldValue(buf: Buffer, tagOffset: number, end: number): FieldValue {
  const type = String.fromCharCode(buf[tagOffset]) as FieldTag;
  return decodeAs(type, buf, tagOffset + 1, end);
}

function decodeAs<K extends FieldTag>(type: K, buf: Buffer, at: number, end: number): FieldValue {
  return { type, value: FIELD_TYPES[type].decode(buf, at, end) } as FieldValue;
}
