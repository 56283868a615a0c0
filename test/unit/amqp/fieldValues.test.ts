import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NO_VALUE, arrayElements, locateTableValueTags, readIntegerValue, readLongStrValue, tableBody } from '../../../src/amqp/fieldValues';
import { entry, expectDecodeError, longstr, table, u32, u64, u8 } from '../../support/amqpVectors';

const names = (...n: string[]): Buffer[] => n.map((s) => Buffer.from(s));
const i16 = (v: number): Buffer => { const b = Buffer.alloc(2); b.writeInt16BE(v); return b; };
const i32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(v); return b; };

/** Each integer tag a client or the broker sends for a count, a retry number or a time. */
const INTEGERS: readonly [string, Buffer, number | undefined][] = [
  ['b', Buffer.from([0xff]), -1],
  ['B', u8(200), 200],
  ['s', i16(-2), -2],
  ['u', i16(-2), 65534],
  ['U', i16(7), 7],
  ['I', i32(3), 3],
  ['i', u32(4_000_000_000), 4_000_000_000],
  ['l', u64(2), 2],
  ['L', u64(5), 5],
  ['T', u64(1796596080), 1796596080],
  ['l', u64(2n ** 62n), undefined],
];

test('integers of every width and sign, and timestamps, read as numbers; beyond safe integers as absent', () => {
  for (const [tag, value, expected] of INTEGERS) {
    const buf = Buffer.concat([Buffer.from(tag), value]);
    assert.is(readIntegerValue(buf, 0), expected, `${tag} ${value.toString('hex')}`);
  }
});

test('a value of another type is absent, not an error; a truncated one is a decode error', () => {
  assert.is(readIntegerValue(Buffer.concat([Buffer.from('S'), longstr('3')]), 0), undefined);
  assert.is(readIntegerValue(Buffer.from('V'), 0), undefined);
  assert.is(readLongStrValue(Buffer.concat([Buffer.from('I'), i32(3)]), 0), undefined);
  assert.is(readLongStrValue(Buffer.concat([Buffer.from('S'), longstr('rejected')]), 0), 'rejected');
  expectDecodeError(() => readIntegerValue(Buffer.from([0x6c, 0, 0, 0]), 0), 'TRUNCATED');
  expectDecodeError(() => readIntegerValue(Buffer.from('Z'), 0), 'UNKNOWN_FIELD_TYPE');
});

test('values are found by name in any order, the last of a duplicate winning, absent ones left NO_VALUE', () => {
  const buf = table([
    entry('time', 'T', u64(10)), entry('count', 'l', u64(1)), entry('reason', 'S', longstr('expired')), entry('count', 'b', u8(2)),
  ]);
  const tags = [NO_VALUE, NO_VALUE, NO_VALUE, NO_VALUE];
  locateTableValueTags(buf, 0, names('count', 'reason', 'time', 'queue'), tags);
  assert.is(readIntegerValue(buf, tags[0]!), 2);
  assert.is(readLongStrValue(buf, tags[1]!), 'expired');
  assert.is(readIntegerValue(buf, tags[2]!), 10);
  assert.is(tags[3], NO_VALUE);
});

test('array elements are listed up to a maximum and counted in all; tables give their body', () => {
  const inner = (n: number): Buffer => Buffer.concat([Buffer.from('F'), table([entry('count', 'l', u64(n))])]);
  const body = Buffer.concat([inner(1), inner(2), inner(3)]);
  const buf = Buffer.concat([Buffer.from('A'), u32(body.length), body]);
  const elements = arrayElements(buf, 0, 2)!;
  assert.is(elements.count, 3);
  assert.is(elements.tags.length, 2);
  const second = tableBody(buf, elements.tags[1]!)!;
  const tags = [NO_VALUE];
  locateTableValueTags(buf, second.start - 4, names('count'), tags);
  assert.is(readIntegerValue(buf, tags[0]!), 2);
  assert.is(arrayElements(Buffer.concat([Buffer.from('S'), longstr('x')]), 0, 2), undefined);
  assert.is(tableBody(buf, 0), undefined);
  // An element running past the array's own length is the array's decode error.
  const lying = Buffer.concat([Buffer.from('A'), u32(3), Buffer.from('l'), u64(1)]);
  expectDecodeError(() => arrayElements(lying, 0, 2), 'TRUNCATED');
});

test.run();
