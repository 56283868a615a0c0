import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyBytes, writeAscii } from '../../../src/amqp/bytes';

const source = Buffer.from(Array.from({ length: 100 }, (_, i) => i));

test('copyBytes matches Buffer#copy for short (looped) and long (native) ranges', () => {
  for (const [targetStart, sourceStart, sourceEnd] of [[0, 0, 0], [3, 5, 6], [0, 10, 42], [1, 0, 33], [7, 20, 100], [0, 0, 32]] as const) {
    const expected = Buffer.alloc(120, 0xee);
    const actual = Buffer.alloc(120, 0xee);
    const n = copyBytes(source, actual, targetStart, sourceStart, sourceEnd);
    assert.is(n, source.copy(expected, targetStart, sourceStart, sourceEnd));
    assert.equal(actual, expected, `${targetStart} ${sourceStart}-${sourceEnd}`);
  }
});

test('copyBytes never writes past the target: short copies that do not fit behave as Buffer#copy', () => {
  const expected = Buffer.alloc(8, 0xee);
  const actual = Buffer.alloc(8, 0xee);
  assert.is(copyBytes(source, actual, 4, 0, 10), source.copy(expected, 4, 0, 10));
  assert.equal(actual, expected);
});

test('writeAscii matches latin1 writes, short and long', () => {
  for (const value of ['', 'x-trace-proxy-published-us', '1764000000123456', `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`]) {
    const expected = Buffer.alloc(80, 0xee);
    const actual = Buffer.alloc(80, 0xee);
    assert.is(writeAscii(actual, 3, value), expected.write(value, 3, 'latin1'));
    assert.equal(actual, expected, value);
  }
  const tight = Buffer.alloc(4);
  assert.is(writeAscii(tight, 2, 'abcdef'), Buffer.alloc(4).write('abcdef', 2, 'latin1'), 'truncated like Buffer#write');
});

test.run();
