import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FRAME_HEADER } from '../../../../src/amqp/constants';
import { parseContentHeader, spliceHeadersFrame } from '../../../../src/amqp/contentHeader';
import { encodeFrame } from '../../../../src/amqp/frame';
import type { InflightMap, ProxyMetrics } from '../../../../src/metrics/metrics';
import { ByteBudget, ENTRY_OVERHEAD } from '../../../../src/trace/byteBudget';
import { InflightTotals } from '../../../../src/trace/inflight';
import { ReturnableCopies } from '../../../../src/trace/amqp091/returnable';
import { referenceContentHeader } from '../../../support/amqpVectors';

const CHANNEL = 3;

function setup(capacity = 8, budget?: ByteBudget) {
  const sizes: Partial<Record<InflightMap, number>> = {};
  const evicted: InflightMap[] = [];
  const metrics = {
    inflight: (map: InflightMap, size: number) => { sizes[map] = size; },
    inflightEvicted: (map: InflightMap) => { evicted.push(map); },
  } as unknown as ProxyMetrics;
  const copies = new ReturnableCopies(capacity, new InflightTotals(metrics), budget);
  return { copies, sizes, evicted };
}

/** A pretend client header and the frame the proxy forwarded for it. */
function publish(n: number): { original: Buffer; forwardedFrame: Buffer; forwarded: Buffer } {
  const original = Buffer.from(`original-${n}`);
  const forwarded = Buffer.from(`original-${n}+traceparent+stamp`);
  return { original, forwardedFrame: encodeFrame(FRAME_HEADER, CHANNEL, forwarded), forwarded };
}

test('a returned header equal to one forwarded comes back as the client\'s own frame', () => {
  const { copies, sizes } = setup();
  const p = publish(1);
  copies.remember(0, p.original, p.forwardedFrame);
  assert.is(sizes.return, 1);
  const restored = copies.restore(CHANNEL, Buffer.from(p.forwarded));
  assert.ok(restored);
  assert.ok(restored!.equals(encodeFrame(FRAME_HEADER, CHANNEL, p.original)));
  assert.is(copies.size, 0);
  assert.is(sizes.return, 0);
});

test('copies are taken: the caller\'s buffers may be reused after remember', () => {
  const { copies } = setup();
  const p = publish(1);
  copies.remember(0, p.original, p.forwardedFrame);
  const forwarded = Buffer.from(p.forwarded);
  p.original.fill(0);
  p.forwardedFrame.fill(0);
  assert.ok(copies.restore(CHANNEL, forwarded)!.equals(encodeFrame(FRAME_HEADER, CHANNEL, Buffer.from('original-1'))));
});

test('a return that matches nothing passes unchanged and drops nothing', () => {
  const { copies } = setup();
  const p = publish(1);
  copies.remember(0, p.original, p.forwardedFrame);
  assert.is(copies.restore(CHANNEL, Buffer.from('changed by the broker')), undefined);
  assert.is(copies.restore(CHANNEL, p.forwarded.subarray(0, p.forwarded.length - 1)), undefined, 'a prefix is not a match');
  assert.is(copies.size, 1);
});

test('a return drops the copies before it (routed), not the ones after', () => {
  const { copies } = setup();
  const ps = [1, 2, 3, 4].map(publish);
  for (const p of ps) copies.remember(0, p.original, p.forwardedFrame);
  assert.ok(copies.restore(CHANNEL, ps[2]!.forwarded));
  assert.is(copies.size, 1);
  assert.ok(copies.restore(CHANNEL, ps[3]!.forwarded));
  assert.is(copies.restore(CHANNEL, ps[0]!.forwarded), undefined, 'already dropped');
});

test('a confirm for tag N settles every copy up to N, including earlier ones from before confirm mode', () => {
  const { copies, sizes } = setup();
  const ps = [1, 2, 3, 4].map(publish);
  copies.remember(0, ps[0]!.original, ps[0]!.forwardedFrame);
  copies.remember(1, ps[1]!.original, ps[1]!.forwardedFrame);
  copies.remember(2, ps[2]!.original, ps[2]!.forwardedFrame);
  copies.remember(3, ps[3]!.original, ps[3]!.forwardedFrame);
  copies.settle(2);
  assert.is(copies.size, 1);
  assert.is(sizes.return, 1);
  assert.ok(copies.restore(CHANNEL, ps[3]!.forwarded));
});

test('full: the oldest copy goes; counted as an eviction only on a confirm channel (it was still expected)', () => {
  const { copies, evicted, sizes } = setup(2);
  for (let i = 1; i <= 3; i++) copies.remember(0, publish(i).original, publish(i).forwardedFrame);
  assert.equal(evicted, [], 'without confirms nothing says a copy is still needed');
  assert.is(copies.size, 2);
  for (let i = 4; i <= 6; i++) copies.remember(i, publish(i).original, publish(i).forwardedFrame);
  assert.equal(evicted, ['return'], 'the two tag-0 copies went silently, the first confirm-channel one was counted');
  assert.is(sizes.return, 2);
});

test('bounded by bytes too: large headers push the oldest copies out; one that can never fit is not kept, and counted', () => {
  const copy = 64 + ENTRY_OVERHEAD;
  const { copies, evicted, sizes } = setup(100, new ByteBudget(3 * copy));
  const big = (n: number) => ({ original: Buffer.alloc(32, n), frame: encodeFrame(FRAME_HEADER, CHANNEL, Buffer.alloc(32, n + 100)) });
  for (let i = 1; i <= 5; i++) copies.remember(i, big(i).original, big(i).frame);
  assert.is(copies.size, 3, 'three copies of 64 bytes (and their overhead) fit');
  assert.equal(evicted, ['return', 'return']);
  assert.is(sizes.return, 3);
  assert.ok(copies.restore(CHANNEL, Buffer.alloc(32, 105)), 'the newest is kept');
  assert.is(copies.restore(CHANNEL, Buffer.alloc(32, 101)), undefined, 'the oldest went');
  const one = setup(100, new ByteBudget(copy - 1));
  one.copies.remember(1, big(1).original, big(1).frame);
  assert.is(one.copies.size, 0, 'a single copy larger than the budget is not kept');
  assert.equal(one.evicted, ['return']);
});

test('channels share their connection\'s budget: a channel makes room from its own copies only, and gives it all back', () => {
  const copy = 64 + ENTRY_OVERHEAD;
  const connection = new ByteBudget(4 * copy);
  const a = setup(100, new ByteBudget(3 * copy, connection));
  const b = setup(100, new ByteBudget(3 * copy, connection));
  const big = (n: number) => ({ original: Buffer.alloc(32, n), frame: encodeFrame(FRAME_HEADER, CHANNEL, Buffer.alloc(32, n + 100)) });
  for (let i = 1; i <= 3; i++) a.copies.remember(i, big(i).original, big(i).frame);
  assert.is(connection.used, 3 * copy);
  for (let i = 4; i <= 6; i++) b.copies.remember(i, big(i).original, big(i).frame);
  assert.is(a.copies.size, 3, 'the other channel keeps its copies');
  assert.is(b.copies.size, 1, 'this one holds what is left, its newest');
  assert.equal(b.evicted, ['return', 'return']);
  assert.is(connection.used, 4 * copy);
  a.copies.clear();
  b.copies.restore(CHANNEL, Buffer.alloc(32, 106));
  assert.is(connection.used, 0, 'every byte given back');
});

test('clear releases everything (channel closed)', () => {
  const { copies, sizes } = setup();
  for (let i = 1; i <= 3; i++) copies.remember(i, publish(i).original, publish(i).forwardedFrame);
  copies.clear();
  assert.is(copies.size, 0);
  assert.is(sizes.return, 0);
});

// A broker that re-encodes what it returns (RabbitMQ 4.0 sorts the headers table by name).
const NEW_TP = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const BAD_TP = '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01';
const STAMP = 'x-trace-proxy-published-us';

/** The client's header, the frame the proxy forwarded for it, and what the broker returns. */
function reencoded(original: Record<string, unknown>, remove: string[], add: [string, string][], returnedHeaders: Record<string, unknown> | undefined) {
  const props = { contentType: 'text/plain', deliveryMode: 2 };
  const payload = referenceContentHeader(original['headers'] === undefined ? props : { ...props, headers: original['headers'] }, 5);
  const forwardedFrame = spliceHeadersFrame(CHANNEL, payload, parseContentHeader(payload), { remove, add });
  const returned = referenceContentHeader(returnedHeaders === undefined ? props : { ...props, headers: returnedHeaders }, 5);
  return { payload, forwardedFrame, returned, props };
}

test('re-encoded return, replaced context: the proxy\'s entries out, the client\'s back in name order', () => {
  const { copies } = setup();
  const { payload, forwardedFrame, returned, props } = reencoded(
    { headers: { z: '1', a: '2', traceparent: BAD_TP, tracestate: 'v=1' } },
    ['traceparent', 'tracestate'], [['traceparent', NEW_TP], [STAMP, '1796180000000000']],
    { a: '2', traceparent: NEW_TP, [STAMP]: '1796180000000000', z: '1' },
  );
  copies.remember(1, payload, forwardedFrame);
  const restored = copies.restore(CHANNEL, returned);
  assert.ok(restored);
  const expected = referenceContentHeader({ ...props, headers: { a: '2', traceparent: BAD_TP, tracestate: 'v=1', z: '1' } }, 5);
  assert.equal(restored, encodeFrame(FRAME_HEADER, CHANNEL, expected));
  assert.is(copies.size, 0);
});

test('re-encoded return, a table the proxy inserted: no headers property again', () => {
  const { copies } = setup();
  const { payload, forwardedFrame, returned, props } = reencoded(
    {}, [], [['traceparent', NEW_TP], [STAMP, '1796180000000001']], { traceparent: NEW_TP, [STAMP]: '1796180000000001' },
  );
  copies.remember(0, payload, forwardedFrame);
  assert.equal(copies.restore(CHANNEL, returned), encodeFrame(FRAME_HEADER, CHANNEL, referenceContentHeader(props, 5)));
});

test('re-encoded return, unsorted by the broker: what the proxy removed goes back at the end', () => {
  const { copies } = setup();
  const { payload, forwardedFrame, returned, props } = reencoded(
    { headers: { traceparent: NEW_TP, [STAMP]: '1' } }, [STAMP], [[STAMP, '1796180000000002']],
    { [STAMP]: '1796180000000002', z: 'broker', traceparent: NEW_TP },
  );
  copies.remember(0, payload, forwardedFrame);
  const expected = referenceContentHeader({ ...props, headers: { z: 'broker', traceparent: NEW_TP, [STAMP]: '1' } }, 5);
  assert.equal(copies.restore(CHANNEL, returned), encodeFrame(FRAME_HEADER, CHANNEL, expected));
});

test('re-encoded return that lacks an entry the proxy added is no match: passed on unchanged', () => {
  const { copies } = setup();
  const { payload, forwardedFrame, returned } = reencoded(
    { headers: { a: '1' } }, [], [['traceparent', NEW_TP], [STAMP, '1796180000000003']], { a: '1', [STAMP]: '1796180000000003' },
  );
  copies.remember(0, payload, forwardedFrame);
  assert.is(copies.restore(CHANNEL, returned), undefined);
  assert.is(copies.size, 1);
});

test.run();
