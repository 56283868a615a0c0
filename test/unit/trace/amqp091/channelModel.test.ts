import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { locateBasicPublish } from '../../../../src/amqp/methods';
import { ChannelModel, IDLE } from '../../../../src/trace/amqp091/channelModel';
import { ByteBudget } from '../../../../src/trace/byteBudget';
import { InflightScope, InflightTotals } from '../../../../src/trace/inflight';
import { createMetrics } from '../../../../src/metrics/metrics';
import { Method } from '../../../../src/amqp/constants';
import { amqplibDefs } from '../../../support/amqpVectors';

function channel(): ChannelModel {
  const totals = new InflightTotals(createMetrics({ destinationLabels: false, maxDestinationLabels: 0, collectDefault: false }));
  const budget = new ByteBudget(1 << 20);
  return new ChannelModel(new InflightScope(10, totals, budget), 10, totals, budget, new ByteBudget(1 << 20));
}

const publish = (mandatory = false) => {
  const frame = amqplibDefs.encodeMethod(Method.BasicPublish, 1, { ticket: 0, exchange: 'x', routingKey: 'k', mandatory, immediate: false });
  return locateBasicPublish(frame.subarray(7, frame.length - 1));
};

test('publishes are numbered for confirms only after confirm.select, from 1', () => {
  const ch = channel();
  ch.publish(publish());
  assert.is(ch.takePublish()?.tag, 0);
  ch.confirmSelect();
  ch.publish(publish(true));
  const first = ch.takePublish()!;
  assert.equal([first.tag, first.mandatory, first.routing.exchange], [1, true, 'x']);
  ch.publish(publish());
  assert.is(ch.takePublish()?.tag, 2);
});

test('each direction has one slot: taking it idles it, and a slot of another kind gives nothing', () => {
  const ch = channel();
  assert.is(ch.takePublish(), undefined, 'a header with no publish before it');
  ch.returned({ replyCode: 312, replyText: 'NO_ROUTE', exchange: 'x', routingKey: 'k' });
  assert.is(ch.takeDelivery(), undefined, 'a return is no delivery');
  assert.is(ch.toClient, IDLE);
  ch.deliver({ kind: 'delivery', tag: 1, routing: { exchange: '', routingKey: 'q' }, queue: 'q', operation: 'deliver', noAck: false, redelivered: false });
  ch.returned({ replyCode: 312, replyText: 'NO_ROUTE', exchange: 'x', routingKey: 'k' });
  assert.is(ch.takeReturn()?.replyCode, 312, 'the later method holds the slot');
  assert.is(ch.takeReturn(), undefined);
  ch.publish(publish());
  assert.is(ch.toClient, IDLE, 'a publish leaves the other direction alone');
  assert.is(ch.toBroker.kind, 'publish');
});

test.run();
