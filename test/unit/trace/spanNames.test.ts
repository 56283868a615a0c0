/**
 * Span names, kinds and attributes as the tracer makes them from frames: what the
 * proxy learns from queue.declare / declare-ok, consumers and reply_to, and that the set of
 * names stays fixed however many temporary queues and routing keys pass.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SpanKind } from '@opentelemetry/api';
import { Method } from '../../../src/amqp/constants';
import { Attr } from '../../../src/trace/attributes';
import { tracerHarness } from '../../support/tracerHarness';

type DeclareFlags = { exclusive?: boolean; autoDelete?: boolean; passive?: boolean; nowait?: boolean; expires?: boolean };
const declare = (queue: string, flags: DeclareFlags = {}) => ({
  ticket: 0, queue, passive: flags.passive ?? false, durable: false, exclusive: flags.exclusive ?? false,
  autoDelete: flags.autoDelete ?? false, nowait: flags.nowait ?? false, arguments: flags.expires ? { 'x-expires': 86_400_000 } : {},
});
const declareOk = (queue: string) => ({ queue, messageCount: 0, consumerCount: 0 });

test('publish: `publish {destination}`, send, PRODUCER when the proxy makes the creation context', () => {
  const h = tracerHarness();
  h.publish('', 'llm', { messageId: 'm-1' });
  const [started] = h.spans();
  assert.is(started!.name, 'publish llm');
  assert.is(started!.kind, SpanKind.PRODUCER);
  assert.equal(
    [Attr.messagingSystem, Attr.operationType, Attr.operationName, Attr.destinationName, Attr.serverAddress, Attr.serverPort]
      .map((a) => started!.attributes[a]),
    ['rabbitmq', 'send', 'publish', 'llm', '127.0.0.1', 5672],
  );
  assert.is(started!.attributes[Attr.routingKey], 'llm');
  assert.is(started!.attributes[Attr.destinationTemporary], undefined, 'false is left out');
});

test('publish with the publisher\'s own traceparent: CLIENT (its context is the creation context, not the proxy\'s)', () => {
  const h = tracerHarness();
  h.publish('orders', 'order.created', { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } });
  assert.is(h.spans()[0]!.kind, SpanKind.CLIENT);
  assert.is(h.spans()[0]!.name, 'publish orders');
  assert.is(h.spans()[0]!.attributes[Attr.destinationName], 'orders:order.created');
});

test('routing keys never reach a span name; the destination attribute keeps them', () => {
  const h = tracerHarness();
  h.consume('audit', 'c-audit');
  for (let i = 0; i < 50; i++) {
    h.publish('events', `user.${i}.updated`);
    h.deliver('c-audit', i + 1, 'events', `user.${i}.updated`);
  }
  assert.equal([...new Set(h.names())].sort(), ['broker_hop events:audit', 'publish events']);
  const destinations = new Set(h.spans().map((s) => s.attributes[Attr.destinationName]));
  assert.is(destinations.size, 100, 'every routing key is still in messaging.destination.name');
  const hop = h.spans().find((s) => s.name.startsWith('broker_hop'))!;
  assert.is(hop.attributes[Attr.destinationName], 'events:user.0.updated:audit');
  assert.is(hop.attributes[Attr.subscriptionName], 'audit');
});

test('consumer side: broker_hop and process share the destination; the hop has no operation type and stays CONSUMER', () => {
  const h = tracerHarness();
  h.consume('celery', 'c-1');
  h.deliver('c-1', 1, 'celery', 'celery', { headers: { task: 'llm.summarize', id: 't-1' } });
  h.client(Method.BasicAck, { deliveryTag: 1, multiple: false });
  const byName = new Map(h.spans().map((s) => [s.name, s]));
  const hop = byName.get('broker_hop celery:celery')!;
  const process = byName.get('process celery:celery')!;
  assert.ok(hop && process, h.names().join(', '));
  assert.is(hop.kind, SpanKind.CONSUMER);
  assert.is(hop.attributes[Attr.operationType], undefined);
  assert.is(hop.attributes[Attr.operationName], 'broker_hop');
  assert.is(hop.attributes[Attr.proxySpan], 'broker_hop');
  assert.is(process.kind, SpanKind.CONSUMER);
  assert.equal([process.attributes[Attr.operationType], process.attributes[Attr.operationName]], ['process', 'process']);
  assert.is(process.attributes[Attr.destinationName], 'celery:celery');
  assert.is(process.attributes[Attr.celeryTaskName], 'llm.summarize');
  assert.is(process.parentSpanContext?.spanId, hop.spanContext().spanId);
});

test('server-named queues: learned from declare-ok, the name in attributes, a word in the span name', () => {
  const h = tracerHarness();
  const names = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const queue = `amq.gen-${i.toString(36)}Xq9`;
    h.client(Method.QueueDeclare, declare('', { exclusive: true }));
    h.server(Method.QueueDeclareOk, declareOk(queue));
    h.consume('', `c-${i}`); // an empty queue name means the channel's last declared queue
    h.publish('', queue);
    h.deliver(`c-${i}`, i + 1, '', queue);
    h.client(Method.BasicAck, { deliveryTag: i + 1, multiple: false });
    for (const n of h.names()) names.add(n);
  }
  assert.equal([...names].sort(), ['broker_hop (temporary)', 'process (temporary)', 'publish (temporary)']);
  const publish = h.spans().find((s) => s.name === 'publish (temporary)')!;
  assert.match(String(publish.attributes[Attr.destinationName]), /^amq\.gen-/);
  assert.equal([publish.attributes[Attr.destinationTemporary], publish.attributes[Attr.destinationAnonymous]], [true, true]);
  const hop = h.spans().find((s) => s.name === 'broker_hop (temporary)')!;
  assert.match(String(hop.attributes[Attr.subscriptionName]), /^amq\.gen-/, 'the consumer on "" was bound to the declared queue');
});

test('exclusive, auto-delete and x-expires declarations make a queue temporary; durable ones and passive checks do not', () => {
  const h = tracerHarness();
  h.client(Method.QueueDeclare, declare('excl', { exclusive: true }));
  h.client(Method.QueueDeclare, declare('auto', { autoDelete: true }));
  h.client(Method.QueueDeclare, declare('expiring', { expires: true }));
  h.client(Method.QueueDeclare, declare('durable'));
  h.client(Method.QueueDeclare, declare('checked', { passive: true }));
  h.client(Method.QueueDeclare, declare('fast', { autoDelete: true, nowait: true }));
  // Declare-oks come back in order, after the no-wait one (which gets none).
  for (const q of ['excl', 'auto', 'expiring', 'durable', 'checked']) h.server(Method.QueueDeclareOk, declareOk(q));
  for (const q of ['excl', 'auto', 'expiring', 'durable', 'checked', 'fast']) h.publish('', q);
  assert.equal(h.names(), [
    'publish (temporary)', 'publish (temporary)', 'publish (temporary)', 'publish durable', 'publish checked', 'publish (temporary)',
  ]);
});

test('reply_to teaches the worker side: the reply publish is named by a word, the reply queue kept in attributes', () => {
  const h = tracerHarness();
  h.consume('llm', 'c-llm');
  const replies = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const oid = `8e75e5f3-119c-3b79-abee-${String(i).padStart(12, '0')}`;
    h.deliver('c-llm', i + 1, 'llm', 'llm', { replyTo: oid, correlationId: `task-${i}`, headers: { task: 'llm.summarize', id: `task-${i}` } });
    h.client(Method.BasicAck, { deliveryTag: i + 1, multiple: false });
    h.publish('', oid, { correlationId: `task-${i}` }, 2);
    replies.add(oid);
  }
  assert.equal([...new Set(h.names())].sort(), ['broker_hop llm:llm', 'process llm:llm', 'publish (temporary)']);
  const replyPublishes = h.spans().filter((s) => s.name === 'publish (temporary)');
  assert.equal(new Set(replyPublishes.map((s) => s.attributes[Attr.routingKey])), replies);
  assert.ok(replyPublishes.every((s) => s.attributes[Attr.proxyContext] === 'continued_by_correlation'));
});

test('direct reply-to needs nothing learned', () => {
  const h = tracerHarness();
  h.publish('', 'amq.rabbitmq.reply-to.g1h2AA5yZXBseUAyNzE2MTkzNQAAZ0MAAAAAY0vjtg==');
  assert.equal(h.names(), ['publish (temporary)']);
});

test('basic.get: broker_hop, a CLIENT receive span `get {destination}` from the request, and process until the ack', () => {
  const h = tracerHarness();
  h.get('jobs', 1, '', 'jobs');
  h.client(Method.BasicAck, { deliveryTag: 1, multiple: false });
  const byName = new Map(h.spans().map((s) => [s.name, s]));
  assert.equal([...byName.keys()].sort(), ['broker_hop jobs', 'get jobs', 'process jobs']);
  const receive = byName.get('get jobs')!;
  assert.is(receive.kind, SpanKind.CLIENT);
  assert.equal([receive.attributes[Attr.operationType], receive.attributes[Attr.operationName]], ['receive', 'get']);
  assert.is(receive.parentSpanContext?.spanId, byName.get('broker_hop jobs')!.spanContext().spanId);
  assert.is(byName.get('process jobs')!.parentSpanContext?.spanId, byName.get('broker_hop jobs')!.spanContext().spanId);
});

test('consumers are per channel: the same tag on two channels, forgotten at cancel-ok or channel close', () => {
  const h = tracerHarness();
  h.consume('orders', 'worker', 1);
  h.consume('audit', 'worker', 2);
  h.deliver('worker', 1, 'shop', 'order.created', {}, 1);
  h.deliver('worker', 1, 'shop', 'order.created', {}, 2);
  h.client(Method.BasicAck, { deliveryTag: 1, multiple: false }, 1);
  h.client(Method.BasicAck, { deliveryTag: 1, multiple: false }, 2);
  h.client(Method.BasicCancel, { consumerTag: 'worker', nowait: false }, 1);
  h.deliver('worker', 2, 'shop', 'order.created', {}, 1); // still before cancel-ok: still its queue
  h.server(Method.BasicCancelOk, { consumerTag: 'worker' }, 1);
  h.deliver('worker', 3, 'shop', 'order.created', {}, 1); // after: the proxy no longer knows the queue
  h.client(Method.BasicAck, { deliveryTag: 3, multiple: true }, 1);
  h.client(Method.ChannelClose, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }, 2);
  h.deliver('worker', 2, 'shop', 'order.created', {}, 2);
  h.client(Method.BasicAck, { deliveryTag: 2, multiple: false }, 2);
  assert.equal(h.names().filter((n) => n.startsWith('process')),
    ['process shop:orders', 'process shop:audit', 'process shop:orders', 'process shop', 'process shop']);
});

test('the process span links to the message\'s creation context when the message carried one', () => {
  const h = tracerHarness();
  const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  h.consume('llm', 'c-1');
  h.deliver('c-1', 1, '', 'llm', { headers: { traceparent } });
  h.deliver('c-1', 2, '', 'llm');
  h.client(Method.BasicAck, { deliveryTag: 2, multiple: true });
  const [withContext, without] = h.spans().filter((s) => s.name === 'process llm');
  assert.equal(withContext!.links.map((l) => [l.context.traceId, l.context.spanId]), [['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7']]);
  assert.equal(without!.links, [], 'a message without context has none to link');
});

test('a consumer started again under the same tag before the cancel-ok is kept', () => {
  const h = tracerHarness();
  h.consume('first', 'c');
  h.client(Method.BasicCancel, { consumerTag: 'c', nowait: false });
  h.client(Method.BasicConsume, {
    ticket: 0, queue: 'second', consumerTag: 'c', noLocal: false, noAck: false, exclusive: false, nowait: false, arguments: {},
  });
  h.server(Method.BasicCancelOk, { consumerTag: 'c' });
  h.server(Method.BasicConsumeOk, { consumerTag: 'c' });
  h.deliver('c', 1, '', 'second');
  h.client(Method.BasicAck, { deliveryTag: 1, multiple: false });
  assert.equal(h.names().filter((n) => n.startsWith('process')), ['process second']);
});

test('a return span (no confirms) is named as its publish span (return, not publish), carries its publish\'s destination attributes, and the reply code, under the publish span', () => {
  const h = tracerHarness();
  h.client(Method.QueueDeclare, declare('replies-1', { exclusive: true }));
  h.server(Method.QueueDeclareOk, declareOk('replies-1'));
  const cases: [string, string][] = [['', 'nowhere'], ['orders', 'order.created'], ['', 'replies-1']];
  for (const [exchange, routingKey] of cases) {
    h.publish(exchange, routingKey, { messageId: `m-${routingKey}`, correlationId: 'c-1', headers: { task: 'llm.summarize', id: 't-1' } });
    const publish = h.spans().at(-1)!;
    const { traceId, spanId } = publish.spanContext();
    // The broker hands the message back as it received it: with the proxy's traceparent.
    h.returned(exchange, routingKey, { messageId: `m-${routingKey}`, correlationId: 'c-1', headers: { task: 'llm.summarize', id: 't-1', traceparent: `00-${traceId}-${spanId}-01` } });
    const ret = h.spans().at(-1)!;
    assert.is(ret.name, publish.name.replace(/^publish /, 'return '), 'the publish span\'s bounded destination');
    assert.is(ret.parentSpanContext?.spanId, spanId, 'under its publish span');
    assert.is(ret.attributes[Attr.errorType], 'unroutable');
    assert.is(ret.attributes['amqp.reply_code'], 312);
    assert.is(ret.attributes[Attr.proxySpan], 'return');
    assert.equal([ret.attributes[Attr.operationType], ret.attributes[Attr.operationName]], [undefined, undefined], 'basic.return is no operation of the conventions');
    for (const a of [Attr.messagingSystem, Attr.serverAddress, Attr.destinationName, Attr.routingKey, Attr.destinationTemporary,
      Attr.destinationAnonymous, Attr.bodySize, Attr.messageId, Attr.conversationId, Attr.celeryTaskId, Attr.celeryTaskName]) {
      assert.is(ret.attributes[a], publish.attributes[a], `${a} as on the publish span to ${exchange}:${routingKey}`);
    }
  }
  const [plain, topic, reply] = h.spans().filter((s) => s.attributes[Attr.proxySpan] === 'return');
  assert.equal([plain, topic, reply].map((s) => s!.name), ['return nowhere', 'return orders', 'return (temporary)'], 'no routing key, no temporary queue name');
  assert.equal([plain, topic, reply].map((s) => s!.attributes[Attr.destinationName]), ['nowhere', 'orders:order.created', 'replies-1']);
  assert.is(reply!.attributes[Attr.destinationTemporary], true);
});

test('a no-wait consume with an empty tag is never taken for a later consume; its broker-named tag is its own when it is the only one', () => {
  const h = tracerHarness();
  const consume = (queue: string, nowait: boolean): void => h.client(Method.BasicConsume, {
    ticket: 0, queue, consumerTag: '', noLocal: false, noAck: false, exclusive: false, nowait, arguments: {},
  });
  consume('first', true);
  consume('second', false);
  h.server(Method.BasicConsumeOk, { consumerTag: 'amq.ctag-second' });
  h.deliver('amq.ctag-second', 1, '', 'second');
  h.deliver('amq.ctag-first', 2, '', 'first');
  h.deliver('amq.ctag-first', 3, '', 'first');
  assert.equal(h.spans().filter((s) => s.name.startsWith('broker_hop')).map((s) => s.attributes[Attr.subscriptionName]), ['second', 'first', 'first']);

  // Two unnamed consumers: a tag cannot be told apart, so no queue rather than a wrong one.
  const two = tracerHarness();
  for (const queue of ['a', 'b']) {
    two.client(Method.BasicConsume, { ticket: 0, queue, consumerTag: '', noLocal: false, noAck: false, exclusive: false, nowait: true, arguments: {} });
  }
  two.deliver('amq.ctag-b', 1, '', 'b');
  assert.is(two.spans().find((s) => s.name.startsWith('broker_hop'))!.attributes[Attr.subscriptionName], undefined);
});

test('a third party\'s reply_to does not make a queue temporary for other connections; the reply itself is named as one', () => {
  const worker = tracerHarness();
  worker.consume('llm', 'c-llm');
  // A request naming a durable queue no declaration passed here as its reply queue.
  worker.deliver('c-llm', 1, '', 'llm', { replyTo: 'orders', correlationId: 'forged-1' });
  const shop = worker.another();
  shop.consume('orders', 'c-orders');
  shop.deliver('c-orders', 1, '', 'orders');
  shop.publish('', 'orders');
  assert.ok(shop.names().includes('broker_hop orders') && shop.names().includes('publish orders'), 'orders keeps its name elsewhere');
  // The worker's reply, from a third connection, is found by its correlation id: that message is a reply.
  const replier = worker.another();
  replier.publish('', 'orders', { correlationId: 'forged-1' });
  const reply = replier.spans().find((s) => s.attributes[Attr.proxyContext] === 'continued_by_correlation')!;
  assert.is(reply.name, 'publish (temporary)');
  replier.publish('', 'orders', { correlationId: 'another' });
  assert.is(replier.spans().at(-1)!.name, 'publish orders', 'a message to orders that is not that reply keeps the name');
});

test('a forged publish stamp days old, or ahead of the clock, times no broker hop and is counted', async () => {
  const h = tracerHarness({ publishStampMaxAgeMs: 3_600_000 });
  h.consume('orders', 'c-orders');
  const stamp = (offsetMs: number): string => String(Math.round((Date.now() + offsetMs) * 1000));
  h.deliver('c-orders', 1, '', 'orders', { headers: { 'x-trace-proxy-published-us': stamp(-2 * 86_400_000) } });
  h.deliver('c-orders', 2, '', 'orders', { headers: { 'x-trace-proxy-published-us': stamp(60_000) } });
  h.deliver('c-orders', 3, '', 'orders', { headers: { 'x-trace-proxy-published-us': stamp(-50) } });
  const text = await h.metrics.registry.metrics();
  assert.match(text, /amqp_trace_proxy_broker_hop_seconds_count 1\n/, 'only the plausible stamp was timed');
  assert.match(text, /amqp_trace_proxy_publish_stamps_ignored_total\{reason="too_old"\} 1/);
  assert.match(text, /amqp_trace_proxy_publish_stamps_ignored_total\{reason="future"\} 1/);
  const hops = h.spans().filter((s) => s.name.startsWith('broker_hop'));
  const startMs = (s: (typeof hops)[number]): number => s.startTime[0] * 1000 + s.startTime[1] / 1e6;
  assert.ok(hops.slice(0, 2).every((s) => Date.now() - startMs(s) < 60_000), 'the ignored stamps start no span days back');
});

test.run();
