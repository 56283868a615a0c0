import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InOrderReplies } from '../../../../src/trace/amqp091/replies';
import { ByteBudget } from '../../../../src/trace/byteBudget';

/** Replies bounded by `max` and `bytes`, with requests a and b (10 bytes each) sent. */
function twoSent(max: number, bytes: number): { r: InOrderReplies<string>; budget: ByteBudget } {
  const budget = new ByteBudget(bytes);
  const r = new InOrderReplies<string>(max, budget);
  assert.ok(r.request('a', 10));
  assert.ok(r.request('b', 10));
  return { r, budget };
}

test('replies take requests in order; a request over the count is not kept and its reply finds nothing', () => {
  const { r, budget } = twoSent(2, 1000);
  assert.not.ok(r.request('c', 10), 'over the count');
  assert.is(r.reply(), 'a');
  assert.ok(r.request('d', 10), 'room again');
  assert.equal([r.reply(), r.reply(), r.reply()], ['b', undefined, 'd'], 'c\'s reply finds nothing, d\'s finds d');
  assert.is(budget.used, 0);
});

test('a request over the bytes is not kept; clear gives every byte back', () => {
  const { r, budget } = twoSent(10, 25);
  assert.not.ok(r.request('c', 10), 'over the bytes');
  assert.is(budget.used, 20);
  r.clear();
  assert.is(budget.used, 0);
  assert.is(r.size, 0);
});

test('a reply to a request never seen does not shift the replies after it', () => {
  const r = new InOrderReplies<string>(10, new ByteBudget(1000));
  assert.is(r.reply(), undefined, 'a reply before any request');
  r.request('a', 1);
  r.request('b', 1);
  assert.equal([r.reply(), r.reply()], ['a', 'b']);
});

test.run();
