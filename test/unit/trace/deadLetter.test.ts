import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  type DeadLetterHistory, type Death, deadLetterHopStartMs, delayRoutingKey, delayedDelivery, isFreshDeath, latestDeathAtMs, reasonLabel,
  spanNameExchange,
} from '../../../src/trace/deadLetter';

const death = (over: Partial<Death> = {}): Death => ({ reason: 'rejected', queue: 'work', exchange: '', count: 1, timeSeconds: 1_700_000_000, ...over });
const history = (...deaths: Death[]): DeadLetterHistory =>
  ({ latest: deaths[0]!, deaths, entries: deaths.length, firstQueue: deaths.at(-1)!.queue, firstReason: deaths.at(-1)!.reason });

test('reasons RabbitMQ writes are their own label value; anything else is other', () => {
  for (const r of ['rejected', 'expired', 'maxlen', 'delivery_limit']) assert.is(reasonLabel(r), r);
  assert.is(reasonLabel('Rejected'), 'other');
  assert.is(reasonLabel(''), 'other');
});

test('x-death time is the latest death only while its count is 1 (later deaths bump count, not time)', () => {
  assert.is(latestDeathAtMs(history(death())), 1_700_000_000_000);
  assert.is(latestDeathAtMs(history(death({ count: 3 }))), undefined);
  assert.is(latestDeathAtMs(history(death({ timeSeconds: undefined }))), undefined);
});

test('a death before the publish\'s second is history carried by a republish; without a stamp it is fresh', () => {
  const h = history(death({ timeSeconds: 1_700_000_000 }));
  assert.ok(isFreshDeath(h, 1_700_000_000_999_999), 'same second as the publish');
  assert.ok(isFreshDeath(h, 1_699_999_999_000_000), 'published before it died');
  assert.not.ok(isFreshDeath(h, 1_700_000_001_000_000), 'republished after it died');
  assert.ok(isFreshDeath(h, undefined));
});

test('the DLQ hop starts at the reject the proxy saw, else at x-death time (count 1), clipped to publish..delivery', () => {
  const h = history(death());
  const published = 1_700_000_000_400;
  assert.is(deadLetterHopStartMs(h, 1_700_000_000_700, published, 1_700_000_000_800), 1_700_000_000_700);
  // x-death's whole second falls before the publish: the hop cannot start before it.
  assert.is(deadLetterHopStartMs(h, undefined, published, 1_700_000_000_800), published);
  assert.is(deadLetterHopStartMs(history(death({ timeSeconds: 1_700_000_002 })), undefined, published, 1_700_000_001_000), 1_700_000_001_000);
  assert.is(deadLetterHopStartMs(history(death({ count: 2 })), undefined, published, 1_700_000_001_000), undefined);
  assert.is(deadLetterHopStartMs(h, undefined, undefined, 1_700_000_001_000), 1_700_000_000_000);
});

test('native delayed delivery: expiry from celery_delayed_N levels is a delay of the summed powers of two', () => {
  const level = (n: number): Death => death({ reason: 'expired', queue: `celery_delayed_${n}`, exchange: `celery_delayed_${n + 1}` });
  assert.equal(delayedDelivery(history(level(0), level(2))), { seconds: 5, levels: 2 });
  assert.equal(delayedDelivery(history(level(27))), { seconds: 2 ** 27, levels: 1 });
  assert.is(delayedDelivery(history(level(0), death())), undefined, 'a real dead letter after the delay');
  assert.is(delayedDelivery(history(death({ reason: 'rejected', queue: 'celery_delayed_1' }))), undefined);
  assert.is(delayedDelivery(history(death({ reason: 'expired', queue: 'celery_delayed_28' }))), undefined);
  assert.is(delayedDelivery({ ...history(level(0)), entries: 40 }), undefined, 'entries not read cannot be vouched for');
});

test('the delayed-delivery exchanges share one span-name word; every other exchange keeps its name', () => {
  for (const x of ['celery_delayed_0', 'celery_delayed_26', 'celery_delayed_delivery']) assert.is(spanNameExchange(x), 'celery_delayed', x);
  for (const x of ['celery_delayed', 'celery_delayed_x', 'orders', '']) assert.is(spanNameExchange(x), x, x);
});

test('a delayed-delivery routing key: 28 bits then the key; anything else is none', () => {
  const key = (seconds: number, rk: string): string => `${[...seconds.toString(2).padStart(28, '0')].join('.')}.${rk}`;
  assert.equal(delayRoutingKey(key(5, 'tasks')), { seconds: 5, routingKey: 'tasks' });
  assert.equal(delayRoutingKey(key(2 ** 28 - 1, 'a.b')), { seconds: 2 ** 28 - 1, routingKey: 'a.b' });
  assert.equal(delayRoutingKey(key(2, '')), { seconds: 2, routingKey: '' });
  assert.is(delayRoutingKey('tasks'), undefined);
  assert.is(delayRoutingKey(key(5, 'tasks').replace(/^0/, '2')), undefined);
  assert.is(delayRoutingKey(key(5, 'tasks').replace(/^0\./, '0-')), undefined);
});

test.run();
