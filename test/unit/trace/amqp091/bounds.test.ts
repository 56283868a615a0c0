/**
 * What one connection's adapter remembers per channel is bounded: channels and consumers by
 * the connection's bytes, requests awaiting replies by count too. What does not fit goes
 * untraced and counted; the frames are forwarded all the same.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Method } from '../../../../src/amqp/constants';
import { CHANNEL_BYTES } from '../../../../src/trace/amqp091/adapter';
import { MAX_PENDING_REPLIES } from '../../../../src/trace/amqp091/consumers';
import { amqplibDefs } from '../../../support/amqpVectors';
import { tracerHarness } from '../../../support/tracerHarness';

const BODY = Buffer.from([3, 0, 1, 0, 0, 0, 2, 0x68, 0x69, 0xce]);
const content = (properties: Record<string, unknown>, channel = 1): Buffer => {
  const body = Buffer.from(BODY);
  body.writeUInt16BE(channel, 1);
  return Buffer.concat([amqplibDefs.encodeProperties(60, channel, 2, properties), body]);
};
const method = (m: number, fields: Record<string, unknown>, channel = 1): Buffer => amqplibDefs.encodeMethod(m, channel, fields);
const get = (queue: string, channel = 1): Buffer => method(Method.BasicGet, { ticket: 0, queue, noAck: false }, channel);
const getOk = (tag: number, channel = 1): Buffer =>
  method(Method.BasicGetOk, { deliveryTag: tag, redelivered: false, exchange: '', routingKey: 'rk', messageCount: 0 }, channel);
const getEmpty = (channel = 1): Buffer => method(Method.BasicGetEmpty, { clusterId: '' }, channel);
const consume = (queue: string, consumerTag: string, channel = 1): Buffer => method(Method.BasicConsume, {
  ticket: 0, queue, consumerTag, noLocal: false, noAck: false, exclusive: false, nowait: false, arguments: {},
}, channel);

async function evictions(h: ReturnType<typeof tracerHarness>, map: string): Promise<number> {
  const text = await h.metrics.registry.metrics();
  return Number(new RegExp(`inflight_evictions_total\\{map="${map}"\\} (\\d+)`).exec(text)![1]);
}

const gotFrom = (h: ReturnType<typeof tracerHarness>): string[] => h.names().filter((n) => n.startsWith('get ')).sort();

test('a basic.get-empty answers its get: a later get-ok is not taken for it', () => {
  const h = tracerHarness();
  h.toBroker(get('empty'));
  h.toBroker(get('full'));
  h.toClient(getEmpty());
  h.toClient(getOk(1));
  h.toClient(content({ messageId: 'm' }));
  assert.equal(gotFrom(h), ['get full']);
});

test('pipelined gets are answered in order, whichever of get-ok and get-empty comes first', () => {
  const h = tracerHarness();
  h.toBroker(get('first'));
  h.toBroker(get('second'));
  h.toBroker(get('third'));
  h.toClient(getOk(1));
  h.toClient(content({ messageId: 'a' }));
  h.toClient(getEmpty());
  h.toClient(getOk(2));
  h.toClient(content({ messageId: 'b' }));
  assert.equal(gotFrom(h), ['get first', 'get third']);
});

test('requests over the bound are not kept, counted, and their replies find nothing rather than a later request', async () => {
  const h = tracerHarness();
  for (let i = 0; i < MAX_PENDING_REPLIES + 10; i++) h.toBroker(get(`q${i}`));
  assert.is(await evictions(h, 'consumer'), 10);
  for (let i = 0; i < MAX_PENDING_REPLIES + 10; i++) h.toClient(getEmpty());
  // Room again: a get now is answered by its own reply, not by one the bound dropped.
  h.toBroker(get('late'));
  h.toClient(getOk(1));
  h.toClient(content({ messageId: 'late' }));
  assert.equal(gotFrom(h), ['get late']);
});

test('channels beyond the connection\'s budget go untraced and counted, their frames forwarded as sent; a close gives the room back', async () => {
  const limit = 64 * 1024;
  const h = tracerHarness({ env: { PROXY_CONNECTION_STATE_MAX_BYTES: String(limit) } });
  const fit = Math.floor(limit / CHANNEL_BYTES);
  const publish = (channel: number): Buffer[] => {
    h.toBroker(method(Method.BasicPublish, { ticket: 0, exchange: '', routingKey: 'q', mandatory: false, immediate: false }, channel));
    return h.toBroker(content({ messageId: `m${channel}` }, channel));
  };
  const rewritten = (channel: number): boolean => !Buffer.concat(publish(channel)).equals(content({ messageId: `m${channel}` }, channel));
  for (let channel = 1; channel <= fit; channel++) assert.ok(rewritten(channel), `channel ${channel} is traced`);
  for (let channel = fit + 1; channel <= fit + 20; channel++) assert.not.ok(rewritten(channel), `channel ${channel} passes as sent`);
  assert.ok(await evictions(h, 'channel') >= 20);
  h.toBroker(method(Method.ChannelClose, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }, 1));
  assert.ok(rewritten(fit + 21), 'traced once a channel closed');
});

test('consumers are bounded by the connection\'s bytes: over them a delivery is traced without its queue, counted', async () => {
  const h = tracerHarness({ env: { PROXY_CONNECTION_STATE_MAX_BYTES: String(64 * 1024) } });
  const tag = (i: number): string => `consumer-${i}`.padEnd(200, '.');
  const queue = (i: number): string => `queue-${i}`.padEnd(200, '.');
  for (let i = 0; i < 1000; i++) {
    h.toBroker(consume(queue(i), tag(i)));
    h.toClient(method(Method.BasicConsumeOk, { consumerTag: tag(i) }));
  }
  assert.ok(await evictions(h, 'consumer') > 800, 'most did not fit');
  for (const [i, deliveryTag] of [[0, 1], [999, 2]]) {
    h.toClient(method(Method.BasicDeliver, { consumerTag: tag(i), deliveryTag, redelivered: false, exchange: '', routingKey: 'rk' }));
    h.toClient(content({ messageId: `to-${i}` }));
  }
  h.toBroker(method(Method.BasicAck, { deliveryTag: 2, multiple: true }));
  const processed = h.names().filter((n) => n.startsWith('process'));
  assert.is(processed.length, 2, processed.join());
  assert.ok(processed.includes(`process ${queue(0)}`), 'a consumer that fitted keeps its queue');
  assert.not.ok(processed.some((n) => n.includes(queue(999))), 'one that did not is traced without it');
});

test('unacked records filling the connection\'s budget leave a channel and a consumer opened meanwhile known', () => {
  const h = tracerHarness({ sampled: false, env: { PROXY_CONNECTION_STATE_MAX_BYTES: String(64 * 1024) } });
  h.consume('jobs', 'c1');
  // Outcome export keeps a copy of each unacked delivery's header: four of 15 KiB fill 64 KiB.
  for (let tag = 1; tag <= 6; tag++) h.deliver('c1', tag, '', 'jobs', { messageId: `m${tag}`, headers: { pad: 'p'.repeat(15 * 1024) } });
  h.consume('other', 'c2', 2);
  h.toBroker(method(Method.BasicAck, { deliveryTag: 0, multiple: true }));
  h.deliver('c2', 1, '', 'other', { messageId: 'failed' }, 2);
  h.toBroker(method(Method.BasicNack, { deliveryTag: 1, multiple: false, requeue: false }, 2));
  // Kept for its outcome (a nack), under the queue its consumer was opened on.
  assert.ok(h.names().includes('process other'), h.names().join());
});

test('the gauges count the channels followed and their consumers, back to 0 when they close', async () => {
  const h = tracerHarness();
  const gauge = async (map: string): Promise<number> =>
    Number(new RegExp(`inflight_spans\\{map="${map}"\\} (\\d+)`).exec(await h.metrics.registry.metrics())![1]);
  h.consume('a', 'c1');
  h.consume('b', 'c2');
  h.consume('c', 'c3', 2);
  h.toBroker(method(Method.BasicCancel, { consumerTag: 'c2', nowait: false }));
  h.toClient(method(Method.BasicCancelOk, { consumerTag: 'c2' }));
  assert.is(await gauge('channel'), 2);
  assert.is(await gauge('consumer'), 2);
  h.toBroker(method(Method.ChannelClose, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }, 2));
  assert.is(await gauge('consumer'), 1);
  h.close('connection_closed');
  assert.is(await gauge('channel'), 0);
  assert.is(await gauge('consumer'), 0);
});

test.run();
