/**
 * Issue 23 in the core: what a delivery's history changes in its spans and metrics, through
 * the 0-9-1 adapter fed frames amqplib encodes (test/support/tracerHarness.ts). Retries,
 * the eta wait, dead letters and redeliveries, each against a plain delivery that must not
 * change.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import { Method } from '../../../src/amqp/constants';
import { Attr, Header } from '../../../src/trace/attributes';
import { tracerHarness, type TracerHarness } from '../../support/tracerHarness';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const STAMP = String(Date.now() * 1000);
const message = (headers: Record<string, unknown> = {}) => ({ headers: { [Header.traceparent]: TRACEPARENT, [Header.publishedAt]: STAMP, ...headers } });
const T = (seconds: number) => ({ '!': 'timestamp', value: seconds });

const role = (spans: ReadableSpan[], name: string): ReadableSpan[] => spans.filter((s) => s.attributes[Attr.proxySpan] === name);
const startMs = (s: ReadableSpan): number => hrTimeToMilliseconds(s.startTime);
const endMs = (s: ReadableSpan): number => hrTimeToMilliseconds(s.endTime);
async function count(h: TracerHarness, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await h.metrics.registry.getMetricsAsJSON()).find((m) => m.name === `amqp_trace_proxy_${name}`);
  const values = (metric?.values ?? []) as { labels: Record<string, unknown>; value: number; metricName?: string }[];
  return values.filter((v) => (v.metricName ?? metric!.name) === (name.endsWith('_seconds') ? `amqp_trace_proxy_${name}_count` : metric!.name)
    && Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}
const ack = (h: TracerHarness, deliveryTag: number) => h.client(Method.BasicAck, { deliveryTag, multiple: false });

test('a plain delivery carries none of the new attributes and counts nothing new', async () => {
  const h = tracerHarness();
  h.consume('orders', 'c1');
  h.deliver('c1', 1, '', 'orders', message({ id: 't-1', task: 'orders.ship', retries: 0, eta: null }));
  ack(h, 1);
  const [process] = role(h.spans(), 'process');
  for (const key of [Attr.redelivered, Attr.deliveryCount, Attr.deadLetterReason, Attr.celeryTaskEta, Attr.delaySeconds]) {
    assert.is(process!.attributes[key], undefined, key);
  }
  assert.is(process!.attributes[Attr.celeryTaskRetries], undefined, 'a first attempt is the plain case');
  assert.is(role(h.spans(), 'scheduled_wait').length, 0);
  assert.is(await count(h, 'messages_redelivered_total'), 0);
  assert.is(await count(h, 'task_retries_total'), 0);
});

test('a redelivery is marked, with the quorum count, and linked to the attempt the consumer gave back', async () => {
  const h = tracerHarness();
  h.consume('orders', 'c1');
  h.deliver('c1', 1, '', 'orders', message());
  h.client(Method.BasicNack, { deliveryTag: 1, multiple: false, requeue: true });
  h.deliver('c1', 2, '', 'orders', message({ 'x-delivery-count': 1 }), 1, true);
  ack(h, 2);
  const [first, second] = role(h.spans(), 'process');
  assert.is(first!.attributes[Attr.redelivered], undefined);
  assert.is(second!.attributes[Attr.redelivered], true);
  assert.is(second!.attributes[Attr.deliveryCount], 1);
  const previous = second!.links.find((l) => l.attributes?.[Attr.linkRelation] === 'previous_attempt');
  assert.is(previous?.context.spanId, first!.spanContext().spanId);
  assert.is(await count(h, 'messages_redelivered_total'), 1);
});

test('a reject into a dead-letter exchange: the reject says so, the DLQ hop starts there under it, with reason and source queue', async () => {
  const h = tracerHarness();
  h.client(Method.QueueDeclare, { queue: 'work', passive: false, durable: true, exclusive: false, autoDelete: false, nowait: false, arguments: { 'x-dead-letter-exchange': 'dlx' } });
  h.server(Method.QueueDeclareOk, { queue: 'work', messageCount: 0, consumerCount: 0 });
  h.consume('work', 'c1');
  h.consume('dead', 'c2');
  h.deliver('c1', 1, '', 'work', message());
  h.client(Method.BasicReject, { deliveryTag: 1, requeue: false });
  const now = Math.floor(Date.now() / 1000);
  h.deliver('c2', 2, 'dlx', 'work', message({
    'x-death': [{ count: 1, reason: 'rejected', queue: 'work', time: T(now), exchange: '', 'routing-keys': ['work'] }],
    'x-first-death-queue': 'work', 'x-first-death-reason': 'rejected', 'x-first-death-exchange': '',
  }));
  ack(h, 2);
  const [rejected, dlq] = role(h.spans(), 'process');
  assert.is(rejected!.attributes[Attr.errorType], 'reject');
  assert.is(rejected!.attributes[Attr.deadLettered], true, 'the queue was declared with a dead-letter exchange through the proxy');
  const hops = role(h.spans(), 'broker_hop');
  const dlqHop = hops.find((s) => s.name === 'broker_hop dlx:dead')!;
  assert.is(dlqHop.parentSpanContext?.spanId, rejected!.spanContext().spanId, 'the DLQ hop continues the attempt that rejected it');
  assert.ok(startMs(dlqHop) >= endMs(rejected!) - 1, `the hop starts at the reject (${startMs(dlqHop)} vs ${endMs(rejected!)}), not at the publish`);
  for (const s of [dlqHop, dlq!]) {
    assert.is(s.attributes[Attr.deadLetterReason], 'rejected', s.name);
    assert.is(s.attributes[Attr.deadLetterQueue], 'work', s.name);
    assert.is(s.attributes[Attr.deadLetterCount], 1, s.name);
  }
  assert.is(await count(h, 'messages_dead_lettered_total', { reason: 'rejected' }), 1);
});

test('a reject from a queue the proxy saw no dead-letter exchange for says nothing more; requeue never dead-letters', () => {
  const h = tracerHarness();
  h.consume('plain', 'c1');
  h.deliver('c1', 1, '', 'plain', message());
  h.client(Method.BasicReject, { deliveryTag: 1, requeue: false });
  assert.is(role(h.spans(), 'process')[0]!.attributes[Attr.deadLettered], undefined);
});

test('TTL expiry seen only in x-death: the hop starts at x-death time (count 1), never before the publish; stale history is not counted', async () => {
  const h = tracerHarness();
  h.consume('dead', 'c2');
  const publishedSec = Math.floor(Number(STAMP) / 1e6);
  h.deliver('c2', 1, 'dlx', 'ttl', message({ 'x-death': [{ count: 1, reason: 'expired', queue: 'ttl', time: T(publishedSec + 1), exchange: '' }] }));
  ack(h, 1);
  const hop = role(h.spans(), 'broker_hop')[0]!;
  assert.ok(Math.abs(startMs(hop) - Math.min((publishedSec + 1) * 1000, endMs(hop))) < 1, 'x-death time, clipped to the delivery');
  assert.is(hop.attributes[Attr.deadLetterReason], 'expired');
  assert.is(await count(h, 'messages_dead_lettered_total', { reason: 'expired' }), 1);

  // Republished by a client with its old x-death: history, not a death of this life.
  h.deliver('c2', 2, 'dlx', 'ttl', message({ 'x-death': [{ count: 1, reason: 'expired', queue: 'ttl', time: T(publishedSec - 60), exchange: '' }] }));
  ack(h, 2);
  const stale = role(h.spans(), 'broker_hop')[1]!;
  assert.ok(Math.abs(startMs(stale) - Number(STAMP) / 1000) < 1, 'the hop of a republish starts at its publish');
  assert.is(await count(h, 'messages_dead_lettered_total', { reason: 'expired' }), 1);
});

test('an eta ahead: a scheduled_wait span until it, and the process span and process_seconds from it', async () => {
  const h = tracerHarness();
  h.consume('llm', 'c1');
  const eta = new Date(Date.now() + 60_000);
  h.deliver('c1', 1, 'llm', 'llm', message({ id: 't-2', task: 'llm.summarize', retries: 1, eta: eta.toISOString().replace('Z', '+00:00') }));
  ack(h, 1);
  const [wait] = role(h.spans(), 'scheduled_wait');
  const [process] = role(h.spans(), 'process');
  const [hop] = role(h.spans(), 'broker_hop');
  assert.ok(wait, h.names().join(', '));
  assert.is(wait!.name, process!.name.replace('process', 'scheduled_wait'));
  assert.is(wait!.parentSpanContext?.spanId, hop!.spanContext().spanId);
  assert.ok(Math.abs(endMs(wait!) - eta.getTime()) < 1);
  assert.ok(Math.abs(startMs(process!) - eta.getTime()) < 1, 'the work starts at the eta');
  assert.is(process!.attributes[Attr.celeryTaskEta], eta.toISOString().replace('Z', '+00:00'));
  assert.is(await count(h, 'scheduled_wait_seconds', { mechanism: 'worker_hold' }), 1);
  const processSeconds = (await h.metrics.registry.getSingleMetricAsString('amqp_trace_proxy_process_seconds'));
  assert.match(processSeconds, /process_seconds_bucket\{le="0.001",outcome="ack"\} 1/, 'acked before the eta: no work measured');
});

test('a Celery retry: attempt marked, linked to the attempt it continues, counted', async () => {
  const h = tracerHarness();
  h.consume('llm', 'c1');
  h.deliver('c1', 1, 'llm', 'llm', message({ id: 't-3', task: 'llm.summarize', retries: 0 }));
  ack(h, 1);
  h.deliver('c1', 2, 'llm', 'llm', message({ id: 't-3', task: 'llm.summarize', retries: 1, parent_id: 't-3' }));
  ack(h, 2);
  const [first, retry] = role(h.spans(), 'process');
  assert.is(retry!.attributes[Attr.celeryTaskRetries], 1);
  assert.is(retry!.links.find((l) => l.attributes?.[Attr.linkRelation] === 'previous_attempt')?.context.spanId, first!.spanContext().spanId);
  assert.is(await count(h, 'task_retries_total'), 1);
});

test('late acks: an attempt whose retry is published before its ack is marked retried; acked first (early acks), it cannot be', () => {
  const h = tracerHarness();
  h.consume('llm', 'c1');
  h.deliver('c1', 1, 'llm', 'llm', message({ id: 't-5', task: 'llm.summarize', retries: 0 }));
  h.publish('llm', 'llm', message({ id: 't-5', task: 'llm.summarize', retries: 1, parent_id: 't-5', eta: new Date().toISOString() }));
  ack(h, 1);
  h.deliver('c1', 2, 'llm', 'llm', message({ id: 't-6', task: 'llm.summarize', retries: 0 }));
  ack(h, 2);
  h.publish('llm', 'llm', message({ id: 't-6', task: 'llm.summarize', retries: 1, parent_id: 't-6' }));
  const [late, early] = role(h.spans(), 'process');
  assert.is(late!.attributes[Attr.retried], true);
  assert.is(early!.attributes[Attr.retried], undefined);
  const retries = role(h.spans(), 'publish').map((s) => s.attributes[Attr.celeryTaskRetries]);
  assert.equal(retries, [1, 1], 'the retry publishes say so');
});

test('native delayed delivery: expiry through celery_delayed_N is a delay (a scheduled_wait before the hop), not a dead letter', async () => {
  const h = tracerHarness();
  h.consume('tasks', 'c1');
  const now = Math.floor(Date.now() / 1000);
  const published = Date.now() - 6000;
  h.deliver('c1', 1, 'celery_delayed_delivery', `${'0.'.repeat(25)}1.0.1.tasks`, message({
    [Header.publishedAt]: String(published * 1000),
    'x-death': [
      { count: 1, reason: 'expired', queue: 'celery_delayed_0', time: T(now), exchange: 'celery_delayed_1' },
      { count: 1, reason: 'expired', queue: 'celery_delayed_2', time: T(now), exchange: 'celery_delayed_27' },
    ],
  }));
  ack(h, 1);
  const [process] = role(h.spans(), 'process');
  assert.is(process!.name, 'process celery_delayed:tasks', 'one name whichever level it came from');
  assert.is(process!.attributes[Attr.destinationName], `celery_delayed_delivery:${'0.'.repeat(25)}1.0.1.tasks:tasks`, 'the real names stay in attributes');
  assert.is(process!.attributes[Attr.delaySeconds], 5);
  assert.is(process!.attributes[Attr.deadLetterReason], undefined);
  assert.is(await count(h, 'messages_dead_lettered_total'), 0);
  // The delay is a scheduled_wait from the publish, under the creation context; the hop is what came after it.
  const [wait] = role(h.spans(), 'scheduled_wait');
  const [hop] = role(h.spans(), 'broker_hop');
  assert.ok(wait && hop, h.names().join(', '));
  assert.is(wait!.parentSpanContext?.spanId, TRACEPARENT.split('-')[2]);
  assert.ok(Math.abs(startMs(wait!) - published) < 1);
  assert.ok(Math.abs(endMs(wait!) - (published + 5000)) < 1);
  assert.ok(Math.abs(startMs(hop!) - (published + 5000)) < 1, 'the broker hop starts where the delay ends');
  assert.is(await count(h, 'scheduled_wait_seconds', { mechanism: 'broker_delay' }), 1);
});

test.run();
