import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Symbols, goldenDiff, goldenSpans } from '../../support/goldenSpans';
import type { ReceivedSpan } from '../../support/otlpReceiver';

function span(traceId: string, spanId: string, parentSpanId: string, name: string, attributes: Record<string, unknown>): ReceivedSpan {
  return {
    traceId, spanId, parentSpanId, name, kind: 'CONSUMER', startTimeUnixNano: 1n, endTimeUnixNano: 2n, attributes,
    status: { code: 'UNSET' }, events: [], links: [], serviceName: 's', resource: {}, scope: { name: 'x' }, flags: 0x101,
  };
}

const queue = 'atp-test-golden-123-abc';
const twoTraces = (): ReceivedSpan[] => [
  span('a'.repeat(32), '1'.repeat(16), '', `publish ${queue}`, { id: 'm-1' }),
  span('a'.repeat(32), '2'.repeat(16), '1'.repeat(16), `process ${queue}`, { id: 'm-1', tag: 1 }),
  span('b'.repeat(32), '3'.repeat(16), '', `publish ${queue}`, { id: 'm-2' }),
];

test('ids, per-run names and arrival order do not change the golden spans', () => {
  const symbols = new Symbols();
  symbols.name(queue, '<q:x>');
  const golden = goldenSpans(twoTraces(), symbols);
  const reordered = twoTraces().reverse().map((s) => ({ ...s, traceId: s.traceId === 'a'.repeat(32) ? 'c'.repeat(32) : 'd'.repeat(32) }));
  assert.equal(goldenSpans(reordered, symbols), golden);
  assert.equal(golden.map((g) => `${g.trace} ${g.span}`), [
    'trace-1 CONSUMER process <q:x> ← CONSUMER publish <q:x>',
    'trace-1 CONSUMER publish <q:x>',
    'trace-2 CONSUMER publish <q:x>',
  ]);
});

test('a changed attribute is named with both values', () => {
  const symbols = new Symbols();
  const recorded = goldenSpans(twoTraces(), symbols);
  const changed = twoTraces();
  changed[1]!.attributes.tag = 2;
  const diff = goldenDiff('s', recorded, goldenSpans(changed, symbols));
  assert.ok(diff?.includes('attributes.tag: recorded 1, now 2'), diff);
  assert.is(goldenDiff('s', recorded, goldenSpans(twoTraces(), symbols)), undefined);
});

test.run();
