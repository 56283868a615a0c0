import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatTraceParent, parseTraceParent, randomSpanId, randomTraceId } from '../../../src/trace/traceparent';

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
