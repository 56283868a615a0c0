import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CONTENT_METHODS, Method } from '../../../src/amqp/constants';
import { amqplibDefs } from '../../support/amqpVectors';

// The method ids are hand-written from the spec; amqplib generates its own from the
// RabbitMQ edition of the XML spec, so it is an independent check of every id we use.
test('every method id matches the one amqplib generates from the spec', () => {
  const defs = amqplibDefs as unknown as Record<string, unknown>;
  for (const [name, id] of Object.entries(Method)) {
    assert.is(id, defs[name], name);
  }
});

test('content-bearing methods are exactly publish, return, deliver and get-ok', () => {
  assert.equal([...CONTENT_METHODS].sort(), [Method.BasicPublish, Method.BasicReturn, Method.BasicDeliver, Method.BasicGetOk].sort());
});

test.run();
