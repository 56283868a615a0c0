import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PROPERTY_FLAG, parseContentHeader } from '../../../../src/amqp/contentHeader';
import { TraceHeaders } from '../../../../src/trace/amqp091/traceHeaders';
import { NO_HISTORY, REDELIVERED } from '../../../../src/trace/deliveryHistory';
import { contentHeaderPayload, entry, longstr, referenceContentHeader, table, u32 } from '../../../support/amqpVectors';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function headersOf(headers: Record<string, unknown> | undefined): TraceHeaders {
  const payload = referenceContentHeader(headers === undefined ? { contentType: 'x' } : { contentType: 'x', headers, deliveryMode: 2 }, 5);
  return new TraceHeaders(payload, parseContentHeader(payload).headersOffset);
}

test('finds every header the proxy reads, decoding strings only when asked', () => {
  const found = headersOf({
    other: { type: 'table', value: { traceparent: 'nested, not ours' } },
    traceparent: TRACEPARENT,
    tracestate: 'congo=t61rcWkgMzE',
    'x-trace-proxy-published-us': '1764000000123456',
    id: 'c6ab0f1e', task: 'tasks.add', parent_id: 'a1b2',
    last: 7,
  });
  assert.is(found.traceparent, TRACEPARENT);
  assert.is(found.traceFlags, 1);
  assert.is(found.tracestate, 'congo=t61rcWkgMzE');
  assert.is(found.publishedAtMicros, 1764000000123456);
  assert.is(found.taskId, 'c6ab0f1e');
  assert.is(found.taskName, 'tasks.add');
  assert.is(found.parentTaskId, 'a1b2');
  assert.ok(found.has('traceparent') && found.has('tracestate') && found.has('x-trace-proxy-published-us'));
});

test('no headers table, or none of ours: everything absent', () => {
  for (const found of [headersOf(undefined), headersOf({}), headersOf({ app: 'x' })]) {
    assert.is(found.traceparent, undefined);
    assert.is(found.traceFlags, -1);
    assert.is(found.tracestate, undefined);
    assert.is(found.publishedAtMicros, undefined);
    assert.is(found.taskId, undefined);
    assert.not.ok(found.has('traceparent') || found.has('tracestate') || found.has('x-trace-proxy-published-us'));
  }
});

test('a traceparent that is not a string is present but invalid; the last duplicate wins', () => {
  const numeric = headersOf({ traceparent: 5 });
  assert.ok(numeric.has('traceparent'));
  assert.is(numeric.traceparent, '');
  assert.is(numeric.traceFlags, -1);
  // A table can hold a name twice only when built by hand: the later entry is the one read.
  const body = table([
    entry('traceparent', 'S', longstr(TRACEPARENT)),
    entry('x-trace-proxy-published-us', 'S', longstr('1')),
    entry('traceparent', 'S', longstr(TRACEPARENT.replace(/-01$/, '-00'))),
    entry('x-trace-proxy-published-us', 'S', longstr('2')),
  ]);
  const payload = contentHeaderPayload([PROPERTY_FLAG.headers], body);
  const twice = new TraceHeaders(payload, parseContentHeader(payload).headersOffset);
  assert.is(twice.traceFlags, 0);
  assert.is(twice.publishedAtMicros, 2);
});

test('a traceparent of type x (bytes) is present but invalid: propagators read strings only', () => {
  const bytes = headersOf({ traceparent: Buffer.from(TRACEPARENT) });
  assert.ok(bytes.has('traceparent'));
  assert.is(bytes.traceFlags, -1);
  assert.is(bytes.traceContext, undefined);
  // The same bytes as a longstr are valid: only the type differs.
  assert.is(headersOf({ traceparent: TRACEPARENT }).traceFlags, 1);
});

test('the publish stamp is read only when it is 1 to 17 ASCII digits', () => {
  const stamp = (value: unknown): number | undefined => headersOf({ 'x-trace-proxy-published-us': value }).publishedAtMicros;
  assert.is(stamp('1'), 1);
  assert.is(stamp('12345678901234567'), 12345678901234567);
  for (const bad of ['', '123456789012345678', '12a4', '-12', ' 12', '1.5', 42]) assert.is(stamp(bad), undefined, String(bad));
});

test('the delivery history comes from the same walk: trace headers and x-delivery-count, retries, eta in any order', () => {
  const found = headersOf({
    'x-delivery-count': { '!': 'long', value: 3 }, traceparent: TRACEPARENT, retries: { '!': 'int', value: 2 },
    eta: '2026-12-06T22:30:10+00:00', id: 't-1', task: 'tasks.add',
  });
  assert.is(found.traceFlags, 1);
  const history = found.history(true);
  assert.is(history.deliveryCount, 3);
  assert.is(history.redelivered, true);
  assert.equal(history.celery, { retries: 2, eta: '2026-12-06T22:30:10+00:00', etaMs: Date.UTC(2026, 11, 6, 22, 30, 10) });
});

test('no history headers: the shared NO_HISTORY, or REDELIVERED; a history header that runs past its own length is ignored', () => {
  assert.is(headersOf({ traceparent: TRACEPARENT }).history(false), NO_HISTORY);
  assert.is(headersOf(undefined).history(true), REDELIVERED);
  // An x-death array whose one table claims 100 bytes inside an array of 5: the table walk
  // skips the array by its own length, the history reader finds the lie and gives up.
  const lying = Buffer.concat([Buffer.from('A'), u32(5), Buffer.from('F'), u32(100)]);
  const bytes = table([entry('x-death', 'A', lying.subarray(1)), entry('traceparent', 'S', longstr(TRACEPARENT))]);
  const payload = contentHeaderPayload([PROPERTY_FLAG.headers], bytes);
  const headers = new TraceHeaders(payload, parseContentHeader(payload).headersOffset);
  assert.is(headers.traceFlags, 1, 'the trace context is still read');
  assert.is(headers.history(false), NO_HISTORY);
  assert.is(headers.history(true), REDELIVERED);
});

test.run();
