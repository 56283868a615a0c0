import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  PROPERTY_FLAG,
  parseContentHeader,
  readShortStrProperty,
  replaceHeadersTable,
  spliceHeaders,
  spliceHeadersFrame,
  type PropertyName,
  type ShortStrPropertyName,
} from '../../../src/amqp/contentHeader';
import { FRAME_HEADER } from '../../../src/amqp/constants';
import { encodeFrame } from '../../../src/amqp/frame';
import { decodeTable, findTableEntries, listTableEntries, readStringValue } from '../../../src/amqp/fieldTable';
import { encodeStringEntry } from '../../../src/amqp/fieldTableWrite';
import {
  EVERY_FIELD_TYPE,
  contentHeaderPayload,
  entry,
  everyFieldTypeInput,
  expectDecodeError,
  longstr,
  referenceContentHeader,
  referenceDecodeProperties,
  shortstr,
  table,
  u32,
  u64,
  u8,
} from '../../support/amqpVectors';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const TRACESTATE = 'congo=t61rcWkgMzE';
const ADD_TRACE: [string, string][] = [
  ['traceparent', TRACEPARENT],
  ['tracestate', TRACESTATE],
];
const FLAGS_OFFSET = 12;
const CONTINUATION = 0x0001;

const ALL_BUT_HEADERS = {
  contentType: 'application/json',
  contentEncoding: 'gzip',
  deliveryMode: 2,
  priority: 9,
  correlationId: 'corr-1',
  replyTo: 'amq.rabbitmq.reply-to',
  expiration: '60000',
  messageId: 'msg-\u00e9',
  timestamp: 1700000000,
  type: 'order.created',
  userId: 'guest',
  appId: 'billing',
  clusterId: 'c1',
};
const SHORTSTR_PROPERTIES: ShortStrPropertyName[] = [
  'contentType',
  'contentEncoding',
  'correlationId',
  'replyTo',
  'expiration',
  'messageId',
  'type',
  'userId',
  'appId',
  'clusterId',
];

function tableLength(payload: Buffer, offset: number): number {
  return 4 + payload.readUInt32BE(offset);
}

// ---- parseContentHeader ------------------------------------------------------------------

test('parseContentHeader locates all 14 properties', () => {
  const payload = referenceContentHeader({ ...ALL_BUT_HEADERS, headers: { a: 'b' } }, 1234);
  const header = parseContentHeader(payload);
  assert.is(header.classId, 60);
  assert.is(header.bodySize, 1234);
  assert.is(header.flags, 0xfffc);

  const order = Object.keys(PROPERTY_FLAG) as PropertyName[];
  assert.is(order.length, 14);
  let offset = 14;
  for (const name of order) {
    const range = header.props[name];
    assert.ok(range, name);
    assert.is(range?.start, offset, `${name} starts where the previous property ends`);
    offset = range?.end ?? -1;
  }
  assert.is(offset, payload.length);

  for (const name of SHORTSTR_PROPERTIES) {
    assert.is(readShortStrProperty(payload, header, name), ALL_BUT_HEADERS[name], name);
  }
  assert.is(header.headersOffset, header.props.headers?.start);
  assert.is(header.headersInsertAt, header.props.headers?.start);
  assert.is(header.props.headers?.end, (header.headersOffset ?? 0) + tableLength(payload, header.headersOffset ?? 0));
  assert.is(payload[header.props.deliveryMode?.start ?? 0], 2);
  assert.is(payload[header.props.priority?.start ?? 0], 9);
  assert.is(payload.readBigUInt64BE(header.props.timestamp?.start ?? 0), 1700000000n);
});

test('parseContentHeader reads a body size above 32 bits', () => {
  assert.is(parseContentHeader(referenceContentHeader({}, 2 ** 40 + 5)).bodySize, 2 ** 40 + 5);
});

test('parseContentHeader without properties', () => {
  const header = parseContentHeader(referenceContentHeader({}));
  assert.equal(header.props, {});
  assert.is(header.flags, 0);
  assert.is(header.headersOffset, undefined);
  assert.is(header.headersInsertAt, 14);
  assert.is(readShortStrProperty(referenceContentHeader({}), header, 'contentType'), undefined);
});

test('parseContentHeader puts the headers insertion point after content-encoding', () => {
  const payload = referenceContentHeader(ALL_BUT_HEADERS);
  const header = parseContentHeader(payload);
  assert.is(header.headersOffset, undefined);
  assert.is(header.props.headers, undefined);
  assert.is(header.headersInsertAt, header.props.contentEncoding?.end);
  assert.is(header.headersInsertAt, header.props.deliveryMode?.start);
});

// ---- spliceHeaders: headers absent -------------------------------------------------------

test('spliceHeaders inserts a table between content-encoding and delivery-mode, setting flag 13', () => {
  const original = referenceContentHeader(ALL_BUT_HEADERS, 99);
  const header = parseContentHeader(original);
  const insertAt = header.headersInsertAt;
  const out = spliceHeaders(original, header, { remove: ['traceparent', 'tracestate'], add: ADD_TRACE });

  const added = Buffer.concat(ADD_TRACE.map(([name, value]) => encodeStringEntry(name, value)));
  assert.is(out.length, original.length + 4 + added.length);
  assert.ok(out.subarray(0, FLAGS_OFFSET).equals(original.subarray(0, FLAGS_OFFSET)), 'class, weight, body size');
  assert.is(out.readUInt16BE(FLAGS_OFFSET), original.readUInt16BE(FLAGS_OFFSET) | 0x2000);
  assert.ok(out.subarray(14, insertAt).equals(original.subarray(14, insertAt)), 'properties before the table');
  assert.is(out.readUInt32BE(insertAt), added.length);
  assert.ok(out.subarray(insertAt + 4, insertAt + 4 + added.length).equals(added));
  assert.ok(out.subarray(insertAt + 4 + added.length).equals(original.subarray(insertAt)), 'properties after the table');

  assert.equal(referenceDecodeProperties(out), {
    ...referenceDecodeProperties(original),
    headers: { traceparent: TRACEPARENT, tracestate: TRACESTATE },
  });
  const reparsed = parseContentHeader(out);
  assert.is(reparsed.headersOffset, insertAt);
  assert.is(readShortStrProperty(out, reparsed, 'clusterId'), 'c1');
});

test('spliceHeaders inserts right after the flags when no property precedes headers', () => {
  const original = referenceContentHeader({ deliveryMode: 1, messageId: 'm' });
  const header = parseContentHeader(original);
  assert.is(header.headersInsertAt, 14);
  const out = spliceHeaders(original, header, { remove: [], add: [['traceparent', TRACEPARENT]] });
  assert.equal(referenceDecodeProperties(out), {
    ...referenceDecodeProperties(original),
    headers: { traceparent: TRACEPARENT },
  });
  assert.is(parseContentHeader(out).headersOffset, 14);
});

test('spliceHeaders on a header without any property', () => {
  const original = referenceContentHeader({}, 5);
  const out = spliceHeaders(original, parseContentHeader(original), { remove: [], add: ADD_TRACE });
  assert.is(out.readUInt16BE(FLAGS_OFFSET), 0x2000);
  assert.equal(referenceDecodeProperties(out).headers, { traceparent: TRACEPARENT, tracestate: TRACESTATE });
  assert.is(parseContentHeader(out).props.headers?.end, out.length);
});

test('spliceHeaders with nothing to add leaves an absent table absent', () => {
  const original = referenceContentHeader({ contentType: 'text/plain' });
  const out = spliceHeaders(original, parseContentHeader(original), { remove: ['traceparent'], add: [] });
  assert.ok(out.equals(original));
  assert.is.not(out, original);
});

// ---- spliceHeaders: headers present ------------------------------------------------------

test('spliceHeaders fills an empty headers table', () => {
  const original = referenceContentHeader({ contentType: 'text/plain', headers: {}, deliveryMode: 2 });
  const header = parseContentHeader(original);
  assert.is(original.readUInt32BE(header.headersOffset ?? 0), 0);
  const out = spliceHeaders(original, header, { remove: ['traceparent', 'tracestate'], add: ADD_TRACE });
  assert.is(out.readUInt16BE(FLAGS_OFFSET), original.readUInt16BE(FLAGS_OFFSET));
  assert.equal(referenceDecodeProperties(out), {
    ...referenceDecodeProperties(original),
    headers: { traceparent: TRACEPARENT, tracestate: TRACESTATE },
  });
});

test('spliceHeaders when headers is the only property', () => {
  const original = referenceContentHeader({ headers: { app: 'x' } });
  const header = parseContentHeader(original);
  assert.is(header.headersOffset, 14);
  const out = spliceHeaders(original, header, { remove: ['app'], add: [['traceparent', TRACEPARENT]] });
  assert.is(out.readUInt16BE(FLAGS_OFFSET), 0x2000);
  assert.equal(referenceDecodeProperties(out).headers, { traceparent: TRACEPARENT });
  assert.is(out.length, 14 + 4 + encodeStringEntry('traceparent', TRACEPARENT).length);
});

test('spliceHeadersFrame is the same splice, framed: one buffer, every table shape and edit', () => {
  const shapes = [
    referenceContentHeader({}, 10),
    referenceContentHeader({ contentType: 'text/plain', deliveryMode: 2 }, 10),
    referenceContentHeader({ ...ALL_BUT_HEADERS, headers: {} }, 10),
    referenceContentHeader({ ...ALL_BUT_HEADERS, headers: everyFieldTypeInput() }, 4096),
    referenceContentHeader({ headers: { traceparent: TRACEPARENT, traceparent2: 'x', tracestate: TRACESTATE } }, 1),
  ];
  const edits = [
    { remove: [], add: ADD_TRACE },
    { remove: ['traceparent', 'tracestate'], add: ADD_TRACE },
    { remove: ['traceparent'], add: [] },
    { remove: [], add: [] },
  ];
  for (const [i, original] of shapes.entries()) {
    for (const [j, edit] of edits.entries()) {
      const header = parseContentHeader(original);
      for (const channel of [0, 1, 65535]) {
        const frame = spliceHeadersFrame(channel, original, header, edit);
        assert.equal(frame, encodeFrame(FRAME_HEADER, channel, spliceHeaders(original, header, edit)), `shape ${i}, edit ${j}, channel ${channel}`);
      }
    }
  }
});

test('spliceHeaders keeps every field type and every other byte while removing and adding entries', () => {
  const original = referenceContentHeader({ ...ALL_BUT_HEADERS, headers: everyFieldTypeInput() }, 4096);
  const header = parseContentHeader(original);
  const removed = 'int16';
  const out = spliceHeaders(original, header, { remove: [removed, 'traceparent', 'tracestate'], add: ADD_TRACE });
  const reparsed = parseContentHeader(out);
  const tableOffset = header.headersOffset ?? -1;
  assert.is(reparsed.headersOffset, tableOffset);

  // Our decoder: same entries with the same wire types, minus the removed one, plus the added ones.
  const before = decodeTable(original, tableOffset).value;
  const after = decodeTable(out, tableOffset).value;
  const expected = Object.fromEntries(Object.entries(before).filter(([name]) => name !== removed));
  assert.equal(after, {
    ...expected,
    traceparent: { type: 'S', value: TRACEPARENT },
    tracestate: { type: 'S', value: TRACESTATE },
  });
  assert.equal(
    Object.values(after).map((field) => field.type),
    [...EVERY_FIELD_TYPE.filter(({ name }) => name !== removed).map(({ tag }) => tag), 'S', 'S'],
  );

  // amqplib's decoder: all other properties equal, headers as expected.
  const referenceBefore = referenceDecodeProperties(original);
  const referenceAfter = referenceDecodeProperties(out);
  const headersBefore = { ...(referenceBefore.headers as Record<string, unknown>) };
  delete headersBefore[removed];
  assert.equal(referenceAfter, {
    ...referenceBefore,
    headers: { ...headersBefore, traceparent: TRACEPARENT, tracestate: TRACESTATE },
  });

  // Bytes: untouched entries, everything before the table and everything after it are identical.
  const names = EVERY_FIELD_TYPE.map(({ name }) => name);
  const entriesBefore = findTableEntries(original, tableOffset, names).entries;
  const entriesAfter = findTableEntries(out, tableOffset, names).entries;
  assert.equal(
    entriesAfter.map(({ name }) => name),
    names.filter((name) => name !== removed),
  );
  for (const kept of entriesAfter) {
    const source = entriesBefore.find(({ name }) => name === kept.name);
    assert.ok(source);
    if (source) {
      assert.ok(out.subarray(kept.start, kept.end).equals(original.subarray(source.start, source.end)), kept.name);
    }
  }
  assert.ok(out.subarray(0, tableOffset).equals(original.subarray(0, tableOffset)));
  const endBefore = header.props.headers?.end ?? -1;
  const endAfter = reparsed.props.headers?.end ?? -1;
  assert.ok(out.subarray(endAfter).equals(original.subarray(endBefore)));
  const removedEntry = entriesBefore.find(({ name }) => name === removed);
  const removedSize = removedEntry ? removedEntry.end - removedEntry.start : 0;
  assert.is(removedSize, 1 + removed.length + 1 + 2);
  assert.is(out.length, original.length - removedSize + ADD_TRACE.reduce((sum, [n, v]) => sum + encodeStringEntry(n, v).length, 0));
});

test('spliceHeaders replaces an existing traceparent and removes every duplicate', () => {
  const headers = table([
    entry('traceparent', 'S', longstr('old-1')),
    entry('keep', 'I', u32(42)),
    entry('traceparent', 'x', longstr('old-2')),
  ]);
  const original = contentHeaderPayload([PROPERTY_FLAG.headers], headers);
  const out = spliceHeaders(original, parseContentHeader(original), {
    remove: ['traceparent'],
    add: [['traceparent', TRACEPARENT]],
  });
  const scan = findTableEntries(out, 14, ['traceparent', 'keep']);
  assert.equal(
    scan.entries.map(({ name }) => name),
    ['keep', 'traceparent'],
  );
  assert.is(readStringValue(out, scan.entries[1]), TRACEPARENT);
  assert.is(scan.end, out.length);
});

test('spliceHeaders can only remove', () => {
  const original = referenceContentHeader({ headers: { a: 'x', traceparent: 'old', b: 1 }, priority: 3 });
  const out = spliceHeaders(original, parseContentHeader(original), { remove: ['traceparent'], add: [] });
  assert.equal(referenceDecodeProperties(out), { ...referenceDecodeProperties(original), headers: { a: 'x', b: 1 } });
});

// ---- continuation flag words -------------------------------------------------------------

test('property flags with continuation words: later words are skipped and copied verbatim', () => {
  const first = PROPERTY_FLAG.contentType | PROPERTY_FLAG.headers | PROPERTY_FLAG.deliveryMode | CONTINUATION;
  // The second word sets a bit no 0-9-1 property owns; its value comes after the known ones.
  const unknownProperty = shortstr('not a 0-9-1 property');
  const headers = table([entry('a', 'S', longstr('b'))]);
  const original = contentHeaderPayload([first, 0x8000 | CONTINUATION, 0x4000], Buffer.concat([shortstr('text/plain'), headers, u8(2), unknownProperty]));
  const header = parseContentHeader(original);
  assert.is(header.flags, first);
  assert.equal(header.props.contentType, { start: 18, end: 18 + 11 });
  assert.is(header.headersOffset, 29);
  assert.equal(header.props.deliveryMode, { start: 29 + headers.length, end: 30 + headers.length });
  assert.is(readShortStrProperty(original, header, 'contentType'), 'text/plain');

  const out = spliceHeaders(original, header, { remove: ['a'], add: [['traceparent', TRACEPARENT]] });
  assert.ok(out.subarray(0, 29).equals(original.subarray(0, 29)), 'flag words and content-type');
  assert.ok(out.subarray(out.length - 1 - unknownProperty.length).equals(original.subarray(original.length - 1 - unknownProperty.length)));
  assert.equal(decodeTable(out, 29).value, { traceparent: { type: 'S', value: TRACEPARENT } });
});

test('a table inserted under continuation words sets bit 13 in the first word only', () => {
  const first = PROPERTY_FLAG.contentType | CONTINUATION;
  const original = contentHeaderPayload([first, 0x0000], Buffer.concat([shortstr('t'), u8(0xab)]));
  const header = parseContentHeader(original);
  assert.is(header.headersInsertAt, 16 + 2);
  const out = spliceHeaders(original, header, { remove: [], add: [['k', 'v']] });
  assert.is(out.readUInt16BE(12), first | PROPERTY_FLAG.headers);
  assert.is(out.readUInt16BE(14), 0);
  assert.ok(out.subarray(16, 18).equals(original.subarray(16, 18)));
  assert.equal(decodeTable(out, 18).value, { k: { type: 'S', value: 'v' } });
  assert.is(out[out.length - 1], 0xab);
});

// ---- malformed ---------------------------------------------------------------------------

test('malformed content headers throw AmqpDecodeError with a stable code', () => {
  expectDecodeError(() => parseContentHeader(referenceContentHeader({}).subarray(0, 13)), 'TRUNCATED');
  expectDecodeError(() => parseContentHeader(contentHeaderPayload([CONTINUATION], Buffer.from([0]))), 'TRUNCATED');
  expectDecodeError(
    () => parseContentHeader(contentHeaderPayload([PROPERTY_FLAG.contentType], shortstr('abc', 40))),
    'BAD_SHORTSTR',
  );
  expectDecodeError(
    () => parseContentHeader(contentHeaderPayload([PROPERTY_FLAG.headers], Buffer.concat([u32(10), Buffer.alloc(9)]))),
    'TRUNCATED',
  );
  expectDecodeError(() => parseContentHeader(contentHeaderPayload([PROPERTY_FLAG.deliveryMode], Buffer.alloc(0))), 'TRUNCATED');
  expectDecodeError(() => parseContentHeader(contentHeaderPayload([PROPERTY_FLAG.timestamp], u64(1).subarray(0, 7))), 'TRUNCATED');
});

test('spliceHeaders appends after entries it cannot read, leaving them byte for byte; removing from such a table is refused', () => {
  const unknown = entry('a', 'Z', Buffer.alloc(0));
  const original = contentHeaderPayload([PROPERTY_FLAG.headers], table([unknown]));
  const header = parseContentHeader(original);
  const spliced = spliceHeaders(original, header, { remove: [], add: ADD_TRACE });
  const tableStart = header.headersOffset! + 4;
  assert.ok(spliced.subarray(tableStart, tableStart + unknown.length).equals(unknown), 'the unknown entry survives');
  assert.is(spliced.readUInt32BE(header.headersOffset!), unknown.length + ADD_TRACE.reduce((n, [k, v]) => n + 2 + k.length + 4 + v.length, 0));
  expectDecodeError(() => spliceHeaders(original, header, { remove: ['traceparent'], add: ADD_TRACE }), 'UNKNOWN_FIELD_TYPE');
});

test('listTableEntries: every entry in wire order, whole (name, tag, value)', () => {
  const payload = referenceContentHeader({ headers: everyFieldTypeInput(), contentType: 'a/b' });
  const header = parseContentHeader(payload);
  const entries = listTableEntries(payload, header.headersOffset!);
  assert.equal(entries.map((e) => payload.toString('latin1', e.start + 1, e.nameEnd)), Object.keys(everyFieldTypeInput()));
  assert.is(entries[entries.length - 1]!.end, header.headersOffset! + 4 + payload.readUInt32BE(header.headersOffset!));
  for (let i = 1; i < entries.length; i++) assert.is(entries[i]!.start, entries[i - 1]!.end);
  expectDecodeError(() => listTableEntries(table([entry('k', 'Z', u8(1))]), 0), 'UNKNOWN_FIELD_TYPE');
});

test('replaceHeadersTable: new entries, no table at all, or a table inserted; other properties untouched', () => {
  const props = { contentType: 'text/plain', deliveryMode: 2, messageId: 'm', appId: 'app' };
  const withHeaders = referenceContentHeader({ ...props, headers: { a: 'x', b: 7 } }, 42);
  const header = parseContentHeader(withHeaders);
  const entries = listTableEntries(withHeaders, header.headersOffset!).map((e) => withHeaders.subarray(e.start, e.end));

  assert.equal(replaceHeadersTable(withHeaders, header, [entries[1]!]), referenceContentHeader({ ...props, headers: { b: 7 } }, 42));
  assert.equal(replaceHeadersTable(withHeaders, header, [entries[1]!, entries[0]!]), referenceContentHeader({ ...props, headers: { b: 7, a: 'x' } }, 42));
  assert.equal(replaceHeadersTable(withHeaders, header, []), referenceContentHeader({ ...props, headers: {} }, 42));
  assert.equal(replaceHeadersTable(withHeaders, header, undefined), referenceContentHeader(props, 42));

  const without = referenceContentHeader(props, 42);
  assert.equal(replaceHeadersTable(without, parseContentHeader(without), entries), withHeaders);
  assert.equal(replaceHeadersTable(without, parseContentHeader(without), undefined), without);
});

test.run();
