/**
 * The destination and span-name rules of semconv.ts, against the text of the conventions
 * (rabbitmq.md note [1], messaging-spans.md "Span name") as tables of named cases.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../../src/metrics/metrics';
import { ConnectionQueueKinds, QueueKinds, REPLY_HINT_CAPACITY } from '../../../src/trace/queueKinds';
import {
  ANONYMOUS_WORD, DestinationKind, NAMED, TEMPORARY_WORD, consumerDestination, consumerSpanDestination, producerDestination,
  producerSpanDestination, reservedKind, spanName,
} from '../../../src/trace/semconv';

const TEMPORARY: DestinationKind = { temporary: true, anonymous: false };
const SERVER_NAMED: DestinationKind = { temporary: false, anonymous: true };

test('producer destination: {exchange}:{routing key}, the non-empty one alone, amq.default when both are empty', () => {
  const cases: [string, string, string, string][] = [
    ['both present', 'orders', 'order.created', 'orders:order.created'],
    ['default exchange', '', 'llm', 'llm'],
    ['no routing key (fanout)', 'broadcast', '', 'broadcast'],
    ['neither', '', '', 'amq.default'],
  ];
  for (const [what, exchange, routingKey, expected] of cases) assert.is(producerDestination(exchange, routingKey), expected, what);
});

test('consumer destination: {exchange}:{routing key}:{queue}, empty parts dropped, routing key once when it equals the queue', () => {
  const cases: [string, string, string, string, string][] = [
    ['all three differ', 'events', 'user.42.updated', 'audit', 'events:user.42.updated:audit'],
    ['routing key equals queue', 'celery', 'celery', 'celery', 'celery:celery'],
    ['default exchange, routing key is the queue', '', 'llm', 'llm', 'llm'],
    ['fanout: no routing key', 'broadcast', '', 'amq.gen-abc', 'broadcast:amq.gen-abc'],
    ['queue unknown', 'events', 'user.1.created', '', 'events:user.1.created'],
    ['default exchange, routing key differs from queue', '', 'a', 'b', 'a:b'],
    ['nothing known', '', '', '', 'amq.default'],
  ];
  for (const [what, exchange, routingKey, queue, expected] of cases) {
    assert.is(consumerDestination(exchange, routingKey, queue), expected, what);
  }
});

test('span-name destinations never carry a routing key, nor a temporary or server-named queue', () => {
  const producer: [string, string, string, DestinationKind, string][] = [
    ['named exchange: the exchange alone', 'events', 'user.1234.updated', NAMED, 'events'],
    ['default exchange to a named queue', '', 'llm', NAMED, 'llm'],
    ['default exchange to a reply queue', '', '8e75e5f3-119c-3b79-abee-a6860bf1cc38', TEMPORARY, TEMPORARY_WORD],
    ['default exchange to a server-named queue', '', 'amq.gen-JzTY20BRgKO', SERVER_NAMED, ANONYMOUS_WORD],
    ['default exchange, no routing key', '', '', NAMED, 'amq.default'],
  ];
  for (const [what, exchange, routingKey, kind, expected] of producer) {
    assert.is(producerSpanDestination(exchange, routingKey, kind), expected, what);
  }
  const consumer: [string, string, string, DestinationKind, string][] = [
    ['named exchange and queue', 'events', 'audit', NAMED, 'events:audit'],
    ['default exchange', '', 'llm', NAMED, 'llm'],
    ['exclusive subscriber queue', 'broadcast', 'amq.gen-abc', { temporary: true, anonymous: true }, `broadcast:${TEMPORARY_WORD}`],
    ['reply queue', '', '8e75e5f3', TEMPORARY, TEMPORARY_WORD],
    ['server-named, not temporary', '', 'amq.gen-x', SERVER_NAMED, ANONYMOUS_WORD],
    ['queue unknown', 'events', '', NAMED, 'events'],
    ['nothing known', '', '', NAMED, 'amq.default'],
  ];
  for (const [what, exchange, queue, kind, expected] of consumer) {
    assert.is(consumerSpanDestination(exchange, queue, kind), expected, what);
  }
  assert.is(spanName('publish', 'llm'), 'publish llm');
});

test('reserved names: amq.gen- is server-named, direct reply-to is temporary and anonymous, others unknown', () => {
  assert.equal(reservedKind('amq.gen-JzTY20BRgKO-HjmUJj0wLg'), { temporary: false, anonymous: true });
  assert.equal(reservedKind('amq.rabbitmq.reply-to'), { temporary: true, anonymous: true });
  assert.equal(reservedKind('amq.rabbitmq.reply-to.g1h2AA5yZXBseUAyNzE2MTkzNQAAZ0MAAAAAY0vjtg=='), { temporary: true, anonymous: true });
  assert.is(reservedKind('amq.direct'), undefined);
  assert.is(reservedKind('llm'), undefined);
});

test('QueueKinds: declarations are facts, reply_to a hint for its own connection only, reserved names known unseen', () => {
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
  const kinds = new QueueKinds(100, metrics);
  const one = new ConnectionQueueKinds(kinds, metrics);
  const other = new ConnectionQueueKinds(kinds, metrics);
  assert.equal(one.kindOf('llm'), NAMED);
  one.declared('llm', NAMED);
  one.replyQueue('llm');
  assert.equal(one.kindOf('llm'), NAMED, 'a declared durable queue used as reply_to stays named');
  one.replyQueue('b0c1e5de-1d9b-3b2a-9a0b-5e1bd0c8e3a1');
  assert.equal(one.kindOf('b0c1e5de-1d9b-3b2a-9a0b-5e1bd0c8e3a1'), TEMPORARY);
  assert.equal(other.kindOf('b0c1e5de-1d9b-3b2a-9a0b-5e1bd0c8e3a1'), NAMED, 'another connection is not told by a reply_to');
  assert.equal(kinds.kindOf('b0c1e5de-1d9b-3b2a-9a0b-5e1bd0c8e3a1'), NAMED, 'nor is the process');
  other.declared('tmp', { temporary: true, anonymous: false });
  assert.equal(one.kindOf('tmp'), TEMPORARY, 'a declaration on any connection is a fact for all');
  assert.equal(one.kindOf('amq.gen-unseen'), SERVER_NAMED);
  one.declared('amq.gen-seen', { temporary: true, anonymous: true });
  assert.equal(one.kindOf('amq.gen-seen'), { temporary: true, anonymous: true }, 'what was declared beats the prefix');
  one.replyQueue('amq.gen-replies');
  assert.equal(one.kindOf('amq.gen-replies'), { temporary: true, anonymous: true }, 'a server-named reply queue is both');
  one.replyQueue('amq.rabbitmq.reply-to.abc');
  assert.is(kinds.size, 3, 'only declarations are remembered process-wide');
  assert.equal(one.kindOf(''), NAMED);
});

test('QueueKinds and a connection\'s reply_to hints are bounded and count what they evict', async () => {
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false });
  const kinds = new QueueKinds(3, metrics);
  for (let i = 0; i < 10; i++) kinds.declared(`tmp-${i}`, TEMPORARY);
  assert.is(kinds.size, 3);
  assert.equal(kinds.kindOf('tmp-9'), TEMPORARY);
  assert.equal(kinds.kindOf('tmp-0'), NAMED, 'the oldest were evicted');
  const hints = new ConnectionQueueKinds(kinds, metrics);
  for (let i = 0; i < REPLY_HINT_CAPACITY + 5; i++) hints.replyQueue(`reply-${i}`);
  assert.equal(hints.kindOf(`reply-${REPLY_HINT_CAPACITY + 4}`), TEMPORARY);
  assert.equal(hints.kindOf('reply-0'), NAMED, 'the oldest hints were evicted');
  const text = await metrics.registry.metrics();
  assert.match(text, /amqp_trace_proxy_inflight_evictions_total\{map="queue"\} 12/);
  assert.match(text, /amqp_trace_proxy_inflight_spans\{map="queue"\} 3/);
});

test.run();
