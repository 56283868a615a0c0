import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../../src/metrics/metrics';
import { BoundedMap } from '../../../src/trace/boundedMap';
import { ByteBudget, ENTRY_OVERHEAD } from '../../../src/trace/byteBudget';
import { Continuation, MAX_TASK_ID_LENGTH } from '../../../src/trace/continuation';
import { InflightTotals, PendingByTag } from '../../../src/trace/inflight';
import type { DeliveryRecord } from '../../../src/trace/outcomeRecords';

/** A map of byte vectors whose size is their length. */
function sized(budget: ByteBudget, capacity = 100): { map: BoundedMap<string, Buffer>; evicted: string[] } {
  const evicted: string[] = [];
  const map = new BoundedMap<string, Buffer>(capacity, (key) => evicted.push(key), { budget, sizeOf: (_k, v) => v.length });
  return { map, evicted };
}

test('ByteBudget: a child takes from its parent too, and gives back to it', () => {
  const process = new ByteBudget(100);
  const connection = new ByteBudget(60, process);
  assert.ok(connection.tryTake(60));
  assert.not.ok(connection.tryTake(1), 'the connection is full');
  assert.is(process.used, 60);
  const other = new ByteBudget(60, process);
  assert.not.ok(other.tryTake(41), 'the process has 40 left');
  assert.is(other.used, 0, 'nothing taken when the parent refuses');
  assert.is(other.room(), 40);
  connection.give(60);
  assert.is(process.used, 0);
  assert.is(other.room(), 60);
});

test('BoundedMap with a budget: the oldest make room, bytes are given back on delete, evict and clear', () => {
  const budget = new ByteBudget(100);
  const { map, evicted } = sized(budget);
  map.set('a', Buffer.alloc(40));
  map.set('b', Buffer.alloc(40));
  assert.ok(map.set('c', Buffer.alloc(40)), 'kept, after the oldest went');
  assert.equal(evicted, ['a']);
  assert.is(budget.used, 80);
  map.set('b', Buffer.alloc(10));
  assert.is(budget.used, 50, 'a key set again is charged its new size');
  map.delete('c');
  assert.is(budget.used, 10);
  map.clear();
  assert.is(budget.used, 0);
});

test('BoundedMap with a budget: an entry that cannot fit is refused without emptying the map', () => {
  const process = new ByteBudget(100);
  const other = sized(new ByteBudget(100, process));
  other.map.set('theirs', Buffer.alloc(70));
  const { map, evicted } = sized(new ByteBudget(100, process));
  map.set('mine', Buffer.alloc(20));
  assert.not.ok(map.set('huge', Buffer.alloc(101)), 'larger than the budget');
  assert.not.ok(map.set('large', Buffer.alloc(40)), 'more than this map could free (20 + 10 left)');
  assert.equal(evicted, [], 'nothing evicted for an entry that would not fit anyway');
  assert.ok(map.set('fits', Buffer.alloc(25)), 'room made from this map\'s own oldest');
  assert.equal(evicted, ['mine']);
  assert.equal(other.evicted, [], 'another map\'s entries are never taken');
  assert.is(process.used, 95);
});

test('Continuation: a task id longer than a sane bound is not kept at all, and counted', async () => {
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
  const budget = new ByteBudget(1024 * 1024);
  const continuation = new Continuation(100_000, metrics, budget);
  const context = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 0, traceState: undefined };
  continuation.rememberTask('c6ab0f1e-5f4e-4b8a-9d1e-0123456789ab', context);
  continuation.rememberTask('x'.repeat(MAX_TASK_ID_LENGTH + 1), context);
  // The review's reproduction: 60 KiB ids.
  for (let i = 0; i < 20; i++) continuation.rememberTask(`${i}`.padEnd(60 * 1024, 'x'), context);
  assert.ok(continuation.parentTask('c6ab0f1e-5f4e-4b8a-9d1e-0123456789ab'));
  assert.is(budget.used, ENTRY_OVERHEAD + 36 + 48);
  const text = await metrics.registry.metrics();
  assert.match(text, /amqp_trace_proxy_inflight_evictions_total\{map="task"\} 21/);
  assert.match(text, /amqp_trace_proxy_inflight_spans\{map="task"\} 1/);
});

test('Continuation: the process budget bounds what huge tracestates can hold', () => {
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
  const budget = new ByteBudget(64 * 1024);
  const continuation = new Continuation(100_000, metrics, budget);
  const traceState = 'k=' + 'v'.repeat(16 * 1024);
  for (let i = 0; i < 50; i++) {
    continuation.rememberReply(`reply-${i}`, `c-${i}`, { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 0, traceState });
  }
  assert.ok(budget.used <= 64 * 1024);
  assert.ok(continuation.replyTo('', 'reply-49', 'c-49'), 'the newest are kept');
  assert.is(continuation.replyTo('', 'reply-0', 'c-0'), undefined);
});

test('PendingByTag: unacked delivery records are bounded by their connection\'s bytes, evictions counted and spans ended', async () => {
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
  const totals = new InflightTotals(metrics);
  const connection = new ByteBudget(10 * (16 * 1024 + ENTRY_OVERHEAD + 1));
  const channels = [new PendingByTag('ack', 10_000, totals, connection), new PendingByTag('ack', 10_000, totals, connection)];
  const record = { message: { byteLength: 16 * 1024 } } as DeliveryRecord;
  const ended: string[] = [];
  for (let tag = 1; tag <= 20; tag++) {
    for (const ch of channels) ch.add(tag, { span: { end: (e?: string) => ended.push(e ?? 'ok') } as never, startedAt: 0, destination: 'q', deliveryRecord: record });
  }
  assert.ok(connection.used <= connection.limit);
  assert.is(channels[1]!.settle(0, true).length + channels[0]!.settle(0, true).length, 10, 'ten records fit');
  assert.is(connection.used, 0, 'all given back');
  assert.is(ended.length, 30, 'the others ended as evicted');
  assert.ok(ended.every((e) => e === 'evicted'));
  const text = await metrics.registry.metrics();
  assert.match(text, /amqp_trace_proxy_inflight_evictions_total\{map="ack"\} 30/);
  assert.match(text, /amqp_trace_proxy_inflight_spans\{map="ack"\} 0/);
});

test.run();
