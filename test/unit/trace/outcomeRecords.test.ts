import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageFrame } from '../../../src/trace/amqp091/messageView';
import type { MessageInFlight } from '../../../src/trace/lifecycle';
import { MAX_RECORDED_HEADER_BYTES, PublishRecord, deliveryRecord } from '../../../src/trace/outcomeRecords';
import { referenceContentHeader } from '../../support/amqpVectors';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
const routing = { exchange: '', routingKey: 'q' };

test('a publish record keeps the message as forwarded, in its own copy, and reads its traceparent from it', () => {
  const plain = referenceContentHeader({ messageId: 'm-1' }, 1);
  const rewritten = new MessageFrame(1, plain, 0);
  assert.ok(rewritten.rewrite({ remove: [], add: [['traceparent', TRACEPARENT], ['tracestate', 'k=v']] }));
  const carried = referenceContentHeader({ headers: { traceparent: TRACEPARENT, tracestate: 'k=v' } }, 1);
  const records = [PublishRecord.of(rewritten, 'injected', undefined, routing)!, PublishRecord.of(new MessageFrame(1, carried, 0), 'continued', undefined, routing)!];
  rewritten.rewritten!.fill(0);
  plain.fill(0);
  carried.fill(0);
  for (const record of records) {
    assert.equal(record.traceparent, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 0, traceState: 'k=v' },
      'read from its own copy, after the originals were overwritten');
    assert.ok(record.quotes('b7ad6b7169203331'));
    assert.not.ok(record.quotes('00f067aa0ba902b7'));
  }
  assert.is(records[0]!.message.messageId, 'm-1', 'the forwarded copy carries the properties too');
  assert.is.not(records[0]!.routing, routing, 'the routing strings, not the method frame they came from');
});

test('quotes never throws: a record whose copy does not read quotes nothing', () => {
  const unreadable = {
    retain: () => ({ get headers(): never { throw new RangeError('bad bytes'); } }),
  } as unknown as MessageInFlight;
  assert.not.ok(PublishRecord.of(unreadable, 'injected', undefined, routing)!.quotes('b7ad6b7169203331'));
});

test('a delivery record copies the message as delivered; messages over the limit are not recorded', () => {
  const delivered = referenceContentHeader({ correlationId: 'c-1', headers: { traceparent: TRACEPARENT } }, 1);
  const head = { tag: 7, routing, queue: 'q', operation: 'deliver' as const };
  const record = deliveryRecord(head, new MessageFrame(1, delivered, 0), undefined, 1, undefined, undefined, undefined)!;
  delivered.fill(9);
  assert.is(record.message.correlationId, 'c-1');
  assert.is(record.message.headers.traceContext?.spanId, 'b7ad6b7169203331');
  assert.is(record.message.byteLength, delivered.length);
  const large = referenceContentHeader({ headers: { big: 'x'.repeat(MAX_RECORDED_HEADER_BYTES) } }, 1);
  assert.is(deliveryRecord(head, new MessageFrame(1, large, 0), undefined, 1, undefined, undefined, undefined), undefined);
  assert.is(PublishRecord.of(new MessageFrame(1, large, 0), 'continued', undefined, routing), undefined);
});

test.run();
