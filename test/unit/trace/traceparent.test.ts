import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatTraceParent, parseTraceParent, randomSpanId, randomTraceId, traceParentFlagsAt } from '../../../src/trace/traceparent';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

const valid: [string, string, { traceId: string; spanId: string; traceFlags: number }][] = [
  ['sampled', `00-${TRACE}-${SPAN}-01`, { traceId: TRACE, spanId: SPAN, traceFlags: 1 }],
  ['not sampled', `00-${TRACE}-${SPAN}-00`, { traceId: TRACE, spanId: SPAN, traceFlags: 0 }],
  ['unknown flag bits kept', `00-${TRACE}-${SPAN}-09`, { traceId: TRACE, spanId: SPAN, traceFlags: 9 }],
  ['future version, same length', `cc-${TRACE}-${SPAN}-01`, { traceId: TRACE, spanId: SPAN, traceFlags: 1 }],
  ['future version with extra field', `cc-${TRACE}-${SPAN}-01-what-the-future-holds`, { traceId: TRACE, spanId: SPAN, traceFlags: 1 }],
];

const invalid: [string, string][] = [
  ['empty', ''],
  ['too short', `00-${TRACE}-${SPAN}-0`],
  ['version 00 too long', `00-${TRACE}-${SPAN}-01-extra`],
  ['version 00 trailing character', `00-${TRACE}-${SPAN}-01x`],
  ['version ff', `ff-${TRACE}-${SPAN}-01`],
  ['version not hex', `0g-${TRACE}-${SPAN}-01`],
  ['upper-case version', `0A-${TRACE}-${SPAN}-01`],
  ['upper-case trace id', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
  ['upper-case span id', `00-${TRACE}-${SPAN.toUpperCase().replace('0', 'A')}-01`],
  ['upper-case flags', `00-${TRACE}-${SPAN}-0A`],
  ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
  ['all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
  ['trace id too short', `00-${TRACE.slice(1)}-${SPAN}-01x`],
  ['span id too long', `00-${TRACE}-${SPAN}0-1`],
  ['wrong separator', `00_${TRACE}-${SPAN}-01`],
  ['missing separator', `00${TRACE}-${SPAN}-01-`],
  ['non-hex in trace id', `00-${TRACE.slice(0, 31)}z-${SPAN}-01`],
  ['non-hex in flags', `00-${TRACE}-${SPAN}-0z`],
  ['future version, extra without dash', `cc-${TRACE}-${SPAN}-01x`],
  ['whitespace padded', ` 00-${TRACE}-${SPAN}-01`],
];

for (const [name, input, expected] of valid) {
  test(`valid: ${name}`, () => {
    assert.equal(parseTraceParent(input), expected);
  });
}

for (const [name, input] of invalid) {
  test(`invalid: ${name}`, () => {
    assert.is(parseTraceParent(input), undefined);
  });
}

/** The byte-level check's verdict on `value` placed mid-buffer, between foreign bytes. */
function flagsFromBytes(value: Buffer): number {
  const buf = Buffer.concat([Buffer.from('01'), value, Buffer.from('-9')]);
  return traceParentFlagsAt(buf, 2, 2 + value.length);
}

test('traceParentFlagsAt gives parseTraceParent\'s verdict on every vector, read from bytes', () => {
  for (const [name, input, expected] of valid) assert.is(flagsFromBytes(Buffer.from(input)), expected.traceFlags, name);
  for (const [name, input] of invalid) assert.is(flagsFromBytes(Buffer.from(input)), -1, name);
});

/**
 * The spec's rules written a second, independent way (a regular expression per part), as
 * the reference for the byte-level check that parseTraceParent and the proxy both use.
 */
function specVerdict(value: string): { traceId: string; spanId: string; traceFlags: number } | undefined {
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(.*)$/s.exec(value);
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === 'ff') return undefined;
  if (version === '00' ? rest !== '' : rest !== '' && !rest!.startsWith('-')) return undefined;
  if (/^0+$/.test(traceId!) || /^0+$/.test(spanId!)) return undefined;
  return { traceId: traceId!, spanId: spanId!, traceFlags: parseInt(flags!, 16) };
}

test('the byte-level check and parseTraceParent agree with the spec on 20,000 mutated values, non-ASCII bytes included', () => {
  // Deterministic: a small linear congruential generator, so a failure reproduces.
  let seed = 12345;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const alphabet = Buffer.from('0123456789abcdefABCDEF-xz \u00e9', 'utf8');
  let validSeen = 0;
  for (let i = 0; i < 20_000; i++) {
    const base = Buffer.from(i % 2 === 0 ? `00-${TRACE}-${SPAN}-01` : `cc-${TRACE}-${SPAN}-01-more`);
    const mutations = next(3);
    let bytes = base;
    for (let m = 0; m < mutations; m++) {
      const kind = next(3);
      const at = next(bytes.length + 1);
      const b = alphabet[next(alphabet.length)]!;
      if (kind === 0 && at < bytes.length) bytes[at] = b;
      else if (kind === 1) bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([b]), bytes.subarray(at)]);
      else bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
    }
    const text = bytes.toString('utf8');
    const expected = specVerdict(text);
    if (expected) validSeen++;
    assert.is(flagsFromBytes(bytes), expected ? expected.traceFlags : -1, JSON.stringify(bytes.toString('latin1')));
    assert.equal(parseTraceParent(text), expected, JSON.stringify(text));
  }
  // Both verdicts must occur for the comparison to mean anything.
  assert.ok(validSeen > 2000 && validSeen < 18_000, `${validSeen} valid of 20,000`);
});

test('format always writes version 00 with two-digit flags', () => {
  assert.is(formatTraceParent({ traceId: TRACE, spanId: SPAN, traceFlags: 1 }), `00-${TRACE}-${SPAN}-01`);
  assert.is(formatTraceParent({ traceId: TRACE, spanId: SPAN, traceFlags: 0 }), `00-${TRACE}-${SPAN}-00`);
});

test('random ids are valid, distinct and round-trip', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const ctx = { traceId: randomTraceId(), spanId: randomSpanId(), traceFlags: 1 };
    const text = formatTraceParent(ctx);
    assert.equal(parseTraceParent(text), ctx);
    seen.add(ctx.traceId);
  }
  assert.is(seen.size, 1000);
});

test.run();
