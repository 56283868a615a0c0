import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FRAME_METHOD, Method, ReplyCode } from '../../../src/amqp/constants';
import { AmqpDecodeError } from '../../../src/amqp/errors';
import { readFrameHead } from '../../../src/amqp/frame';
import {
  decodeBasicAck,
  decodeBasicCancel,
  decodeBasicCancelOk,
  decodeBasicConsume,
  decodeBasicConsumeOk,
  decodeBasicDeliver,
  decodeBasicGet,
  decodeBasicGetOk,
  decodeBasicNack,
  decodeBasicPublish,
  decodeBasicReject,
  decodeBasicReturn,
  decodeClose,
  decodeConnectionTune,
  decodeQueueDeclare,
  decodeQueueDeclareOk,
  encodeConnectionClose,
  locateBasicDeliver,
  locateBasicPublish,
  methodKeyOf,
} from '../../../src/amqp/methods';
import { amqplibFrame, expectDecodeError, referenceDecodeMethod, referenceMethodPayload } from '../../support/amqpVectors';

const BIG_TAG = 2 ** 40 + 3;

test('methodKeyOf combines class-id and method-id', () => {
  assert.is(methodKeyOf(referenceMethodPayload(Method.BasicPublish, { exchange: 'e', routingKey: 'r' })), Method.BasicPublish);
  assert.is(methodKeyOf(Buffer.from([0x00, 0x14, 0x00, 0x28])), Method.ChannelClose);
  expectDecodeError(() => methodKeyOf(Buffer.from([0, 60, 0])), 'TRUNCATED');
});

test('decodeBasicPublish', () => {
  for (const [mandatory, immediate] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ]) {
    const payload = referenceMethodPayload(Method.BasicPublish, { ticket: 7, exchange: 'orders', routingKey: 'order.cr\u00e9ated', mandatory, immediate });
    assert.equal(decodeBasicPublish(payload), { exchange: 'orders', routingKey: 'order.cr\u00e9ated', mandatory, immediate });
  }
  assert.equal(decodeBasicPublish(referenceMethodPayload(Method.BasicPublish, {})), {
    exchange: '',
    routingKey: '',
    mandatory: false,
    immediate: false,
  });
});

test('locateBasicPublish reads the mandatory bit, not immediate', () => {
  for (const [mandatory, immediate] of [[false, false], [true, false], [false, true], [true, true]]) {
    const payload = referenceMethodPayload(Method.BasicPublish, { exchange: 'e', routingKey: 'r', mandatory, immediate });
    assert.is(locateBasicPublish(payload).mandatory, mandatory);
  }
});

test('decodeBasicReturn', () => {
  const fields = { replyCode: 312, replyText: 'NO_ROUTE', exchange: 'orders', routingKey: 'nowhere' };
  assert.equal(decodeBasicReturn(referenceMethodPayload(Method.BasicReturn, fields)), fields);
});

test('decodeBasicDeliver', () => {
  for (const redelivered of [false, true]) {
    const fields = { consumerTag: 'amq.ctag-1', deliveryTag: BIG_TAG, redelivered, exchange: 'orders', routingKey: 'k' };
    assert.equal(decodeBasicDeliver(referenceMethodPayload(Method.BasicDeliver, fields)), fields);
  }
});

test('locateBasicPublish and locateBasicDeliver decode routing fields on read, equal to the full decoders', () => {
  for (const [exchange, routingKey] of [['orders', 'order.cr\u00e9ated'], ['', ''], ['', 'amq.gen-x'], ['e'.repeat(255), 'k'.repeat(255)]]) {
    const publish = referenceMethodPayload(Method.BasicPublish, { ticket: 7, exchange, routingKey, mandatory: true });
    const located = locateBasicPublish(publish);
    assert.is(located.routingKey, decodeBasicPublish(publish).routingKey);
    assert.is(located.exchange, decodeBasicPublish(publish).exchange);
    assert.is(located.exchange, exchange, 'stable on a second read');
    assert.is(located.mandatory, true);
    for (const redelivered of [true, false]) {
      const fields = { consumerTag: 'amq.ctag-1', deliveryTag: BIG_TAG, redelivered, exchange, routingKey };
      const deliver = locateBasicDeliver(referenceMethodPayload(Method.BasicDeliver, fields));
      assert.equal({
        consumerTag: deliver.consumerTag, deliveryTag: deliver.deliveryTag, redelivered: deliver.redelivered,
        exchange: deliver.routing.exchange, routingKey: deliver.routing.routingKey,
      }, fields);
    }
  }
});

test('locateBasicDeliver reuses the previous consumer tag only when the bytes spell it', () => {
  const deliver = (consumerTag: string): Buffer => referenceMethodPayload(Method.BasicDeliver, {
    consumerTag, deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'k',
  });
  const previous = 'amq.ctag-1';
  assert.is(locateBasicDeliver(deliver(previous), previous).consumerTag, previous);
  for (const [tag, known] of [
    ['amq.ctag-2', previous], ['amq.ctag-10', previous], ['', previous], [previous, ''],
    // Non-ASCII: 'é' is two bytes, so a two-character known string of the same codes must not match.
    ['\u00e9', '\u00c3\u00a9'], ['\u00e9', '\u00e9'], ['caf\u00e9', 'caf\u00e9'],
  ]) {
    assert.is(locateBasicDeliver(deliver(tag!), known).consumerTag, tag, `${tag} after ${known}`);
  }
});

test('decodeBasicGet', () => {
  for (const noAck of [false, true]) {
    assert.equal(decodeBasicGet(referenceMethodPayload(Method.BasicGet, { ticket: 1, queue: 'work', noAck })), { queue: 'work', noAck });
  }
});

test('decodeBasicGetOk', () => {
  const fields = { deliveryTag: 17, redelivered: true, exchange: '', routingKey: 'work', messageCount: 4000000000 };
  assert.equal(decodeBasicGetOk(referenceMethodPayload(Method.BasicGetOk, fields)), fields);
});

test('decodeBasicAck, decodeBasicNack, decodeBasicReject', () => {
  for (const multiple of [false, true]) {
    assert.equal(decodeBasicAck(referenceMethodPayload(Method.BasicAck, { deliveryTag: BIG_TAG, multiple })), { deliveryTag: BIG_TAG, multiple });
    for (const requeue of [false, true]) {
      const fields = { deliveryTag: 9, multiple, requeue };
      assert.equal(decodeBasicNack(referenceMethodPayload(Method.BasicNack, fields)), fields);
    }
  }
  for (const requeue of [false, true]) {
    assert.equal(decodeBasicReject(referenceMethodPayload(Method.BasicReject, { deliveryTag: 3, requeue })), { deliveryTag: 3, requeue });
  }
});

test('decodeBasicConsume decodes each flag bit and the arguments table', () => {
  const flags = ['noLocal', 'noAck', 'exclusive', 'noWait'] as const;
  for (const set of flags) {
    const payload = referenceMethodPayload(Method.BasicConsume, {
      queue: 'work',
      consumerTag: 'c-1',
      noLocal: set === 'noLocal',
      noAck: set === 'noAck',
      exclusive: set === 'exclusive',
      nowait: set === 'noWait',
      arguments: { 'x-priority': 5, 'x-stream-offset': 'first' },
    });
    const decoded = decodeBasicConsume(payload);
    assert.equal(decoded, {
      queue: 'work',
      consumerTag: 'c-1',
      noLocal: set === 'noLocal',
      noAck: set === 'noAck',
      exclusive: set === 'exclusive',
      noWait: set === 'noWait',
      arguments: { 'x-priority': { type: 'b', value: 5 }, 'x-stream-offset': { type: 'S', value: 'first' } },
    });
  }
});

test('decodeQueueDeclare decodes each flag bit and whether the arguments ask for x-expires or a dead-letter exchange', () => {
  const flags = ['passive', 'durable', 'exclusive', 'autoDelete', 'noWait'] as const;
  for (const set of flags) {
    const payload = referenceMethodPayload(Method.QueueDeclare, {
      queue: set === 'passive' ? '' : 'replies',
      passive: set === 'passive',
      durable: set === 'durable',
      exclusive: set === 'exclusive',
      autoDelete: set === 'autoDelete',
      nowait: set === 'noWait',
      arguments: set === 'durable' ? { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': '' } : { 'x-expires': 60_000 },
    });
    assert.equal(decodeQueueDeclare(payload), {
      queue: set === 'passive' ? '' : 'replies',
      passive: set === 'passive',
      durable: set === 'durable',
      exclusive: set === 'exclusive',
      autoDelete: set === 'autoDelete',
      noWait: set === 'noWait',
      expires: set !== 'durable',
      deadLetterExchange: set === 'durable',
    });
  }
  expectDecodeError(() => decodeQueueDeclare(referenceMethodPayload(Method.QueueDeclare, { queue: 'q', arguments: {} }).subarray(0, 8)), 'TRUNCATED');
});

test('decodeQueueDeclareOk returns the name the server chose', () => {
  const payload = referenceMethodPayload(Method.QueueDeclareOk, { queue: 'amq.gen-JzTY20BRgKO-HjmUJj0wLg', messageCount: 7, consumerCount: 2 });
  assert.equal(decodeQueueDeclareOk(payload), { queue: 'amq.gen-JzTY20BRgKO-HjmUJj0wLg', messageCount: 7, consumerCount: 2 });
  expectDecodeError(() => decodeQueueDeclareOk(payload.subarray(0, payload.length - 1)), 'TRUNCATED');
  expectDecodeError(() => decodeQueueDeclareOk(referenceMethodPayload(Method.BasicConsumeOk, { consumerTag: 'x' })), 'UNEXPECTED_METHOD');
});

test('decodeBasicConsumeOk, decodeBasicCancel and decodeBasicCancelOk', () => {
  assert.equal(decodeBasicConsumeOk(referenceMethodPayload(Method.BasicConsumeOk, { consumerTag: 'amq.ctag-x' })), { consumerTag: 'amq.ctag-x' });
  assert.equal(decodeBasicCancelOk(referenceMethodPayload(Method.BasicCancelOk, { consumerTag: 'amq.ctag-x' })), { consumerTag: 'amq.ctag-x' });
  expectDecodeError(() => decodeBasicCancelOk(referenceMethodPayload(Method.BasicConsumeOk, { consumerTag: 'x' })), 'UNEXPECTED_METHOD');
  for (const nowait of [false, true]) {
    assert.equal(decodeBasicCancel(referenceMethodPayload(Method.BasicCancel, { consumerTag: 'c-1', nowait })), { consumerTag: 'c-1', noWait: nowait });
  }
});

test('decodeConnectionTune reads tune and tune-ok', () => {
  const fields = { channelMax: 2047, frameMax: 131072, heartbeat: 60 };
  assert.equal(decodeConnectionTune(referenceMethodPayload(Method.ConnectionTune, fields)), fields);
  assert.equal(decodeConnectionTune(referenceMethodPayload(Method.ConnectionTuneOk, { ...fields, heartbeat: 0 })), { ...fields, heartbeat: 0 });
});

test('decodeClose reads connection.close and channel.close', () => {
  const fields = { replyCode: 406, replyText: 'PRECONDITION_FAILED - unknown delivery tag 1', classId: 60, methodId: 80 };
  assert.equal(decodeClose(referenceMethodPayload(Method.ChannelClose, fields)), fields);
  assert.equal(decodeClose(referenceMethodPayload(Method.ConnectionClose, fields)), fields);
});

test('a decoder handed another method throws UNEXPECTED_METHOD', () => {
  const ack = referenceMethodPayload(Method.BasicAck, { deliveryTag: 1 });
  expectDecodeError(() => decodeBasicReject(ack), 'UNEXPECTED_METHOD');
  expectDecodeError(() => decodeConnectionTune(ack), 'UNEXPECTED_METHOD');
});

test('truncated or overrunning arguments throw', () => {
  const deliver = referenceMethodPayload(Method.BasicDeliver, { consumerTag: 'c', deliveryTag: 1, exchange: 'e', routingKey: 'r' });
  for (let length = 4; length < deliver.length; length++) {
    const cut = deliver.subarray(0, length);
    assert.throws(
      () => decodeBasicDeliver(cut),
      (error: unknown) => error instanceof AmqpDecodeError && (error.code === 'TRUNCATED' || error.code === 'BAD_SHORTSTR'),
      `${length} of ${deliver.length} bytes`,
    );
  }
  for (let length = 4; length < deliver.length; length++) {
    assert.throws(() => locateBasicDeliver(deliver.subarray(0, length)), (error: unknown) => error instanceof AmqpDecodeError,
      `locate: ${length} of ${deliver.length} bytes`);
  }
  const publish = referenceMethodPayload(Method.BasicPublish, { exchange: 'e', routingKey: 'r' });
  for (let length = 4; length < publish.length; length++) {
    assert.throws(() => locateBasicPublish(publish.subarray(0, length)), (error: unknown) => error instanceof AmqpDecodeError,
      `locate: ${length} of ${publish.length} bytes`);
  }
  publish[6] = 200; // exchange length now overruns the payload
  expectDecodeError(() => decodeBasicPublish(publish), 'BAD_SHORTSTR');
  expectDecodeError(() => locateBasicPublish(publish), 'BAD_SHORTSTR');
  expectDecodeError(() => locateBasicDeliver(publish), 'UNEXPECTED_METHOD');
  const ack = referenceMethodPayload(Method.BasicAck, { deliveryTag: 1 });
  expectDecodeError(() => decodeBasicAck(ack.subarray(0, ack.length - 1)), 'TRUNCATED');
});

test('encodeConnectionClose builds a connection.close frame on channel 0', () => {
  const frame = encodeConnectionClose(ReplyCode.ConnectionForced, 'proxy is shutting down', 0, 0);
  assert.equal(readFrameHead(frame, 0), { type: FRAME_METHOD, channel: 0, size: frame.length - 8 });
  const parsed = amqplibFrame.parseFrame(frame);
  assert.ok(parsed);
  if (parsed) {
    assert.is(parsed.rest.length, 0);
    assert.is(methodKeyOf(parsed.payload), Method.ConnectionClose);
    const expected = { replyCode: 320, replyText: 'proxy is shutting down', classId: 0, methodId: 0 };
    assert.equal(referenceDecodeMethod(parsed.payload), expected);
    assert.equal(decodeClose(parsed.payload), expected);
  }
});

test('encodeConnectionClose cuts a long reply text at 255 bytes on a character boundary', () => {
  const frame = encodeConnectionClose(541, '\u00e9'.repeat(200), 60, 40);
  const closed = decodeClose(frame.subarray(7, frame.length - 1));
  assert.is(closed.replyText, '\u00e9'.repeat(127));
  assert.equal([closed.replyCode, closed.classId, closed.methodId], [541, 60, 40]);
});

test.run();
