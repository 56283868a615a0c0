import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  decodeTable,
  findTableEntries,
  locateStringValues,
  NameSet,
  readStringValue,
  skipFieldValue,
  type FieldTable,
  type FieldValue,
} from '../../../src/amqp/fieldTable';
import { encodeStringEntry } from '../../../src/amqp/fieldTableWrite';
import {
  EVERY_FIELD_TYPE,
  entry,
  everyFieldTypeInput,
  expectDecodeError,
  longstr,
  referenceDecodeTable,
  referenceTable,
  shortstr,
  table,
  u32,
} from '../../support/amqpVectors';

/** amqplib's representation of a decoded value, to compare decodeTable with its decodeFields. */
function asAmqplib(field: FieldValue): unknown {
  switch (field.type) {
    case 'l':
      return Number(field.value);
    case 'T':
      return { '!': 'timestamp', value: Number(field.value) };
    case 'D':
      return { '!': 'decimal', value: { places: field.value.scale, digits: field.value.digits } };
    case 'A':
      return field.value.map(asAmqplib);
    case 'F':
      return tableAsAmqplib(field.value);
    default:
      return field.value;
  }
}

function tableAsAmqplib(fields: FieldTable): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).map(([name, field]) => [name, asAmqplib(field)]));
}

const tag = (character: string): Buffer => Buffer.from(character, 'latin1');
const TRAILING = Buffer.from([0xee, 0xee, 0xee]);

// ---- decodeTable -------------------------------------------------------------------------

test('decodeTable keeps the wire type of every RabbitMQ field type', () => {
  const bytes = referenceTable(everyFieldTypeInput());
  const { value, end } = decodeTable(bytes, 0);
  assert.is(end, bytes.length);
  assert.equal(Object.keys(value), EVERY_FIELD_TYPE.map(({ name }) => name));
  for (const { name, tag: expectedTag } of EVERY_FIELD_TYPE) {
    assert.is(value[name].type, expectedTag, name);
  }
  assert.equal(value, {
    bool: { type: 't', value: true },
    int8: { type: 'b', value: -7 },
    uint8: { type: 'B', value: 250 },
    int16: { type: 's', value: -1234 },
    uint16: { type: 'u', value: 65000 },
    int32: { type: 'I', value: -123456789 },
    uint32: { type: 'i', value: 4000000000 },
    int64: { type: 'l', value: -5000000000n },
    float: { type: 'f', value: 1.5 },
    double: { type: 'd', value: 3.25 },
    decimal: { type: 'D', value: { scale: 2, digits: 12345 } },
    longstr: { type: 'S', value: 'h\u00e9llo w\u00f6rld' },
    bytes: { type: 'x', value: Buffer.from([0x00, 0xff, 0xce, 0x01]) },
    array: {
      type: 'A',
      value: [
        { type: 'b', value: 1 },
        { type: 'S', value: 'two' },
        { type: 't', value: false },
        { type: 'V', value: null },
        { type: 'A', value: [{ type: 's', value: 300 }] },
      ],
    },
    timestamp: { type: 'T', value: 1700000000n },
    table: {
      type: 'F',
      value: { inner: { type: 'S', value: 'yes' }, depth: { type: 'F', value: { n: { type: 'I', value: 70000 } } } },
    },
    void: { type: 'V', value: null },
  });
});

test('decodeTable agrees with amqplib decodeFields', () => {
  const bytes = referenceTable(everyFieldTypeInput());
  assert.equal(tableAsAmqplib(decodeTable(bytes, 0).value), referenceDecodeTable(bytes));
});

test('decodeTable reads a table at an offset and reports its end', () => {
  const bytes = Buffer.concat([TRAILING, table([entry('k', 'S', longstr('v'))]), TRAILING]);
  const { value, end } = decodeTable(bytes, 3);
  assert.equal(value, { k: { type: 'S', value: 'v' } });
  assert.is(end, bytes.length - TRAILING.length);
});

test("decodeTable reads the spec's U (int16) and L (int64), which amqplib cannot encode", () => {
  const neg16 = Buffer.from([0x80, 0x01]);
  const neg64 = Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 1]);
  const { value } = decodeTable(table([entry('u', 'U', neg16), entry('l', 'L', neg64)]), 0);
  assert.equal(value, { u: { type: 'U', value: -32767 }, l: { type: 'L', value: -9223372036854775807n } });
});

test('decodeTable stores an entry named __proto__ as a plain own property', () => {
  const { value } = decodeTable(table([entry('__proto__', 'I', u32(1))]), 0);
  assert.ok(Object.hasOwn(value, '__proto__'));
  assert.is(Object.getPrototypeOf(value), Object.prototype);
});

// ---- skipFieldValue ----------------------------------------------------------------------

const FIXED_SIZES: Record<string, number> = { t: 1, b: 1, B: 1, s: 2, u: 2, U: 2, I: 4, i: 4, l: 8, L: 8, f: 4, d: 8, D: 5, T: 8, V: 0 };

test('skipFieldValue skips every fixed-size type by its size', () => {
  for (const [character, size] of Object.entries(FIXED_SIZES)) {
    const bytes = Buffer.concat([TRAILING, tag(character), Buffer.alloc(size, 0xab), TRAILING]);
    assert.is(skipFieldValue(bytes, 3), 3 + 1 + size, character);
    if (size > 0) {
      expectDecodeError(() => skipFieldValue(bytes, 3, 3 + size), 'TRUNCATED');
    }
  }
});

test('skipFieldValue skips every length-prefixed type by its length field', () => {
  for (const character of ['S', 'x', 'A', 'F']) {
    const bytes = Buffer.concat([tag(character), u32(3), Buffer.from([1, 2, 3]), TRAILING]);
    assert.is(skipFieldValue(bytes, 0), 8, character);
    expectDecodeError(() => skipFieldValue(bytes, 0, 7), 'TRUNCATED');
    expectDecodeError(() => skipFieldValue(bytes, 0, 4), 'TRUNCATED');
  }
});

test('skipFieldValue rejects tags neither RabbitMQ nor the spec defines', () => {
  for (const character of ['Z', 'z', 'X', '\u0000', '\u00ff']) {
    expectDecodeError(() => skipFieldValue(Buffer.concat([tag(character), Buffer.alloc(8)]), 0), 'UNKNOWN_FIELD_TYPE');
  }
});

// ---- findTableEntries --------------------------------------------------------------------

test('findTableEntries returns only the named entries, in wire order, duplicates included', () => {
  const entries = [
    entry('traceparent', 'S', longstr('00-abc')),
    entry('other', 'I', u32(5)),
    entry('tracestate', 'S', longstr('k=v')),
    entry('trace', 'S', longstr('prefix of a wanted name')),
    entry('traceparentx', 'S', longstr('a wanted name is its prefix')),
    entry('traceparent', 'x', longstr('dup')),
  ];
  const prefix = Buffer.from([9, 9, 9, 9, 9]);
  const bytes = Buffer.concat([prefix, table(entries), TRAILING]);
  const starts: number[] = [];
  let offset = prefix.length + 4;
  for (const encoded of entries) {
    starts.push(offset);
    offset += encoded.length;
  }

  const scan = findTableEntries(bytes, prefix.length, ['traceparent', 'tracestate']);
  assert.is(scan.end, bytes.length - TRAILING.length);
  assert.equal(scan.entries, [
    { name: 'traceparent', start: starts[0], end: starts[1], tag: 0x53, valueStart: starts[0] + 1 + 11 + 1 },
    { name: 'tracestate', start: starts[2], end: starts[3], tag: 0x53, valueStart: starts[2] + 1 + 10 + 1 },
    { name: 'traceparent', start: starts[5], end: scan.end, tag: 0x78, valueStart: starts[5] + 1 + 11 + 1 },
  ]);
});

test('findTableEntries gives the same answer for a frozen (cached) name list, call after call', () => {
  const bytes = table([entry('tracestate', 'S', longstr('k=v')), entry('traceparent', 'S', longstr('00-abc')), entry('id', 'I', u32(1))]);
  const names = ['traceparent', 'tracestate', 'cl\u00e9'];
  const expected = findTableEntries(bytes, 0, names);
  const frozen = Object.freeze([...names]);
  for (let i = 0; i < 3; i++) assert.equal(findTableEntries(bytes, 0, frozen), expected);
  assert.equal(findTableEntries(bytes, 0, Object.freeze(['id'])).entries.map((e) => e.name), ['id'], 'another frozen list, its own names');
});

test('findTableEntries with no names still walks the table and reports its end', () => {
  const bytes = table([entry('a', 'V', Buffer.alloc(0)), entry('b', 't', Buffer.from([1]))]);
  assert.equal(findTableEntries(bytes, 0, []), { end: bytes.length, entries: [] });
  expectDecodeError(() => findTableEntries(table([entry('a', 'Z', Buffer.alloc(0))]), 0, []), 'UNKNOWN_FIELD_TYPE');
});

test('findTableEntries compares names as UTF-8 bytes', () => {
  const bytes = table([entry('cl\u00e9', 'S', longstr('accent')), entry('cle', 'S', longstr('plain'))]);
  const scan = findTableEntries(bytes, 0, ['cl\u00e9']);
  assert.is(scan.entries.length, 1);
  assert.is(readStringValue(bytes, scan.entries[0]), 'accent');
});

test('findTableEntries on an empty table', () => {
  assert.equal(findTableEntries(table([]), 0, ['traceparent']), { end: 4, entries: [] });
});

// ---- readStringValue / encodeStringEntry -------------------------------------------------

test('readStringValue reads S and x entries and ignores other types', () => {
  const bytes = table([
    entry('s', 'S', longstr('long string')),
    entry('x', 'x', longstr('raw bytes')),
    entry('i', 'I', u32(7)),
    entry('short', 's', Buffer.from([0, 1])),
  ]);
  const entries = findTableEntries(bytes, 0, ['s', 'x', 'i', 'short']).entries;
  assert.equal(
    entries.map((found) => readStringValue(bytes, found)),
    ['long string', 'raw bytes', undefined, undefined],
  );
});

test('encodeStringEntry encodes what amqplib encodes for a string value', () => {
  const value = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const reference = referenceTable({ traceparent: value });
  assert.ok(encodeStringEntry('traceparent', value).equals(reference.subarray(4)));
  const unicode = referenceTable({ 'n\u00e4me': 'v\u00e4lue' });
  assert.ok(encodeStringEntry('n\u00e4me', 'v\u00e4lue').equals(unicode.subarray(4)));
});

test('encodeStringEntry accepts a 255-byte name and refuses a longer one', () => {
  assert.is(encodeStringEntry('n'.repeat(255), '')[0], 255);
  assert.throws(() => encodeStringEntry('n'.repeat(256), ''), RangeError);
});

// ---- malformed tables --------------------------------------------------------------------

test('a table whose length runs past the buffer is TRUNCATED', () => {
  const bytes = table([entry('a', 'S', longstr('hello'))]);
  const cut = bytes.subarray(0, bytes.length - 1);
  expectDecodeError(() => findTableEntries(cut, 0, ['a']), 'TRUNCATED');
  expectDecodeError(() => decodeTable(cut, 0), 'TRUNCATED');
  expectDecodeError(() => findTableEntries(Buffer.from([0, 0, 0]), 0, ['a']), 'TRUNCATED');
});

test('an entry running past the table length is TRUNCATED even when bytes follow', () => {
  const body = entry('a', 'S', longstr('hello'));
  const bytes = Buffer.concat([table([body], body.length - 2), TRAILING]);
  expectDecodeError(() => findTableEntries(bytes, 0, ['a']), 'TRUNCATED');
  expectDecodeError(() => decodeTable(bytes, 0), 'TRUNCATED');
});

test('an entry name without a tag is TRUNCATED', () => {
  expectDecodeError(() => findTableEntries(table([shortstr('name')]), 0, ['name']), 'TRUNCATED');
});

test('an unknown tag is UNKNOWN_FIELD_TYPE, also inside nested arrays and tables', () => {
  expectDecodeError(() => findTableEntries(table([entry('a', 'Z', u32(0))]), 0, ['a']), 'UNKNOWN_FIELD_TYPE');
  const inArray = table([entry('a', 'A', Buffer.concat([u32(2), tag('Z'), Buffer.from([0])]))]);
  expectDecodeError(() => decodeTable(inArray, 0), 'UNKNOWN_FIELD_TYPE');
  const inTable = table([entry('a', 'F', table([entry('b', 'Q', Buffer.alloc(0))]))]);
  expectDecodeError(() => decodeTable(inTable, 0), 'UNKNOWN_FIELD_TYPE');
});

test('an entry name overrunning the table is BAD_SHORTSTR', () => {
  const body = Buffer.concat([shortstr('abc', 50)]);
  const bytes = Buffer.concat([table([body]), Buffer.alloc(60, 0x41)]);
  expectDecodeError(() => findTableEntries(bytes, 0, ['abc']), 'BAD_SHORTSTR');
  expectDecodeError(() => decodeTable(bytes, 0), 'BAD_SHORTSTR');
});

// ---- locateStringValues: findTableEntries' walk, positions only --------------------------

const LOCATE = Object.freeze(['traceparent', 'n', 'absent']);

function locate(bytes: Buffer, offset = 0): number[] {
  const positions = [-1, -1, -1, -1, -1, -1];
  locateStringValues(bytes, offset, LOCATE, positions);
  return positions;
}

test('locateStringValues gives each named S or x value\'s byte range; other types are NOT_A_STRING and their tag\'s offset', () => {
  const prefix = Buffer.from('junk');
  const bytes = Buffer.concat([prefix, table([
    entry('n', 'I', u32(7)),
    entry('other', 'S', longstr('skip me')),
    entry('traceparent', 'x', longstr('bytes')),
  ])]);
  const positions = locate(bytes, prefix.length);
  assert.is(bytes.toString('latin1', positions[0], positions[1]), 'bytes');
  assert.equal(positions.slice(2), [-2, prefix.length + 4 + 2, -1, -1], 'n\'s tag follows its length field and name');
  // The same entries findTableEntries finds, read the same way.
  const found = findTableEntries(bytes, prefix.length, ['traceparent']).entries[0]!;
  assert.is(readStringValue(bytes, found), bytes.toString('utf8', positions[0], positions[1]));
});

test('locateStringValues: the last of duplicate entries wins; a later non-string one too', () => {
  const bytes = table([entry('n', 'S', longstr('first')), entry('n', 'S', longstr('second')), entry('traceparent', 'S', longstr('t')), entry('traceparent', 't', Buffer.from([1]))]);
  const positions = locate(bytes);
  assert.is(bytes.toString('latin1', positions[2], positions[3]), 'second');
  assert.equal(positions[0], -2);
});

test('locateStringValues notes whether an entry is named in `also` (exact name, any type), without locating it', () => {
  const also = new NameSet(['x-death', 'eta']);
  const positions = [-1, -1, -1, -1, -1, -1];
  const walk = (entries: Buffer[]): boolean => locateStringValues(table(entries), 0, LOCATE, positions, also);
  assert.ok(walk([entry('n', 'S', longstr('v')), entry('x-death', 'A', u32(0))]));
  assert.ok(walk([entry('eta', 'V', Buffer.alloc(0))]));
  // Same lengths, other names; a name of `names` is never one of `also`'s.
  assert.not.ok(walk([entry('x-Death', 'S', longstr('v')), entry('ETA', 'S', longstr('v')), entry('x-deat', 'S', longstr('v')), entry('n', 'S', longstr('v'))]));
  assert.not.ok(locateStringValues(table([entry('x-death', 'A', u32(0))]), 0, LOCATE, positions));
  assert.equal(positions.slice(0, 2), [-1, -1]);
});

test('locateStringValues fails on malformed tables as findTableEntries does (the scanner then fails open)', () => {
  const good = table([entry('a', 'S', longstr('hello'))]);
  expectDecodeError(() => locate(good.subarray(0, good.length - 1)), 'TRUNCATED');
  expectDecodeError(() => locate(table([entry('a', 'Z', u32(0))])), 'UNKNOWN_FIELD_TYPE');
  expectDecodeError(() => locate(table([shortstr('name')])), 'TRUNCATED');
  expectDecodeError(() => locate(Buffer.concat([table([shortstr('abc', 50)]), Buffer.alloc(60, 0x41)])), 'BAD_SHORTSTR');
});

test.run();
