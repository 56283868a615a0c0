/**
 * The 0-9-1 adapter fed byte vectors (amqplib's encoder, behind real scanners): frames become
 * lifecycle events with the right message, each content header is read once, and channel or
 * connection close ends what is in flight.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Method } from '../../../../src/amqp/constants';
import { contentHeaderReads } from '../../../../src/trace/amqp091/messageView';
import { historyHeaderWalks } from '../../../../src/trace/amqp091/traceHeaders';
import { Attr } from '../../../../src/trace/attributes';
import { amqplibDefs, referenceDecodeProperties } from '../../../support/amqpVectors';
import { tracerHarness } from '../../../support/tracerHarness';

const BODY = Buffer.from([3, 0, 1, 0, 0, 0, 2, 0x68, 0x69, 0xce]);
const header = (properties: Record<string, unknown>, channel = 1): Buffer =>
  Buffer.concat([amqplibDefs.encodeProperties(60, channel, 2, properties), BODY]);
const publishMethod = (exchange: string, routingKey: string, mandatory = false): Buffer =>
  amqplibDefs.encodeMethod(Method.BasicPublish, 1, { ticket: 0, exchange, routingKey, mandatory, immediate: false });

const summary = (h: ReturnType<typeof tracerHarness>): string[] =>
  h.spans().map((s) => `${s.name} ${String(s.attributes[Attr.messageId])} ${String(s.attributes[Attr.errorType] ?? 'ok')}`).sort();

test('the two directions of a channel wait apart: a delivery between a publish and its header takes neither\'s place', () => {
  const h = tracerHarness();
  h.consume('jobs', 'c1');
  h.toBroker(publishMethod('orders', 'new'));
  h.deliver('c1', 1, '', 'jobs', { messageId: 'delivered' });
  h.toBroker(header({ messageId: 'published' }));
  h.client(Method.BasicAck, { deliveryTag: 1, multiple: false });
  assert.equal(summary(h), [
    'broker_hop jobs delivered ok', 'process jobs delivered ok', 'publish orders published ok',
  ]);
});

test('each content header is read once on its way through, sampled or not', () => {
  for (const sampled of [true, false]) {
    const h = tracerHarness({ sampled });
    h.client(Method.ConfirmSelect, { nowait: false });
    h.consume('jobs', 'c1');
    const before = contentHeaderReads();
    for (let i = 0; i < 10; i++) {
      h.publish('', 'jobs', { messageId: `m-${i}`, replyTo: 'replies', correlationId: `c-${i}`, headers: { id: `t-${i}`, task: 'work' } });
      h.deliver('c1', i + 1, '', 'jobs', { messageId: `m-${i}`, replyTo: 'replies', correlationId: `c-${i}`, headers: { id: `t-${i}`, task: 'work' } });
    }
    h.server(Method.BasicAck, { deliveryTag: 10, multiple: true });
    h.client(Method.BasicAck, { deliveryTag: 10, multiple: true });
    assert.is(contentHeaderReads() - before, 20, `sampled ${String(sampled)}: 10 publishes and 10 deliveries`);
  }
});

test('a message without history headers is never walked for them, sampled or not; one with x-death or Celery\'s retries is, once a delivery', () => {
  for (const sampled of [true, false]) {
    const h = tracerHarness({ sampled });
    h.client(Method.ConfirmSelect, { nowait: false });
    h.consume('jobs', 'c1');
    // Names of the history headers' lengths (7, 16, 19, 20, 3) that are none of them, and the trace headers.
    const plain = { 'x-app': 'a', root_id: 'r', expires: 'e', 'x-delivery-limit': 1, 'x-first-death-queuE': 'q', abc: 1, id: 't', task: 'work' };
    const before = historyHeaderWalks();
    for (let i = 0; i < 10; i++) {
      h.publish('', 'jobs', { messageId: `m-${i}`, headers: plain });
      h.deliver('c1', i + 1, '', 'jobs', { messageId: `m-${i}`, headers: plain }, 1, i % 2 === 1);
    }
    h.server(Method.BasicAck, { deliveryTag: 10, multiple: true });
    h.client(Method.BasicNack, { deliveryTag: 10, multiple: true, requeue: true });
    assert.is(historyHeaderWalks() - before, 0, `sampled ${String(sampled)}: plain messages`);
    const death = [{ count: { '!': 'long', value: 1 }, reason: 'rejected', queue: 'jobs', exchange: '', time: { '!': 'timestamp', value: 1 } }];
    h.deliver('c1', 11, '', 'jobs', { headers: { ...plain, 'x-death': death } });
    h.deliver('c1', 12, '', 'jobs', { headers: { ...plain, retries: { '!': 'int', value: 0 } } });
    assert.is(historyHeaderWalks() - before, 2, `sampled ${String(sampled)}: x-death, retries`);
  }
});

test('a kept delivery is made from its record without reading the header again; a kept publish reads the copy it forwarded once', () => {
  const h = tracerHarness({ sampled: false });
  h.consume('jobs', 'c1');
  let before = contentHeaderReads();
  h.deliver('c1', 1, '', 'jobs', { messageId: 'rejected' });
  h.client(Method.BasicReject, { deliveryTag: 1, requeue: false });
  assert.ok(summary(h).includes('process jobs rejected reject'));
  assert.is(contentHeaderReads() - before, 1);
  h.client(Method.ConfirmSelect, { nowait: false });
  before = contentHeaderReads();
  h.publish('', 'jobs', { messageId: 'nacked' });
  h.server(Method.BasicNack, { deliveryTag: 1, multiple: false, requeue: false });
  assert.ok(summary(h).includes('publish jobs nacked nack'));
  assert.is(contentHeaderReads() - before, 2, 'the client\'s header, then the proxy\'s own copy when kept');
});

test('a mandatory publish returned with its table re-encoded in name order (RabbitMQ 4) goes back to the client as it sent it', () => {
  const h = tracerHarness();
  const original = amqplibDefs.encodeProperties(60, 1, 2, { contentType: 'text/plain', headers: { 'x-app': 'a' } });
  const forwarded = h.toBroker(Buffer.concat([publishMethod('', 'nowhere', true), original, BODY]));
  const forwardedHeader = forwarded.find((f) => f[0] === 2)!;
  assert.not.ok(forwardedHeader.equals(original), 'the proxy added its headers');
  const props = referenceDecodeProperties(forwardedHeader.subarray(7, forwardedHeader.length - 1)) as { headers: Record<string, unknown> };
  const sortedHeaders = Object.fromEntries(Object.entries(props.headers).sort(([a], [b]) => (a < b ? -1 : 1)));
  const reEncoded = amqplibDefs.encodeProperties(60, 1, 2, { ...props, headers: sortedHeaders });
  assert.not.ok(reEncoded.equals(forwardedHeader), 'not byte-equal: only undoing the edit restores it');
  const returnMethod = amqplibDefs.encodeMethod(Method.BasicReturn, 1, { replyCode: 312, replyText: 'NO_ROUTE', exchange: '', routingKey: 'nowhere' });
  const toClient = h.toClient(Buffer.concat([returnMethod, reEncoded, BODY]));
  assert.ok(toClient.find((f) => f[0] === 2)!.equals(original));
  assert.equal(summary(h), ['publish nowhere undefined ok', 'return nowhere undefined unroutable']);
});

test('channel.close from either side and a lost connection end what is in flight with the reason', () => {
  const h = tracerHarness();
  h.consume('jobs', 'c1');
  h.client(Method.ConfirmSelect, { nowait: false });
  h.publish('', 'jobs', { messageId: 'unconfirmed' });
  h.deliver('c1', 1, '', 'jobs', { messageId: 'unacked' });
  h.client(Method.ChannelClose, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
  assert.ok(summary(h).includes('publish jobs unconfirmed channel_closed'), summary(h).join('\n'));
  assert.ok(summary(h).includes('process jobs unacked channel_closed'));

  h.consume('jobs', 'c2', 2);
  h.deliver('c2', 1, '', 'jobs', { messageId: 'closed-by-broker' }, 2);
  h.server(Method.ChannelClose, { replyCode: 406, replyText: 'PRECONDITION_FAILED', classId: 60, methodId: 80 }, 2);
  assert.ok(summary(h).includes('process jobs closed-by-broker channel_closed'));

  h.consume('jobs', 'c3', 3);
  h.deliver('c3', 1, '', 'jobs', { messageId: 'lost' }, 3);
  h.close('connection_closed');
  assert.ok(summary(h).includes('process jobs lost connection_closed'));
  h.client(Method.BasicAck, { deliveryTag: 1, multiple: false }, 3);
  assert.equal(summary(h).filter((s) => s.startsWith('process jobs lost')), ['process jobs lost connection_closed'], 'a settle after the close finds nothing');
});

test.run();
