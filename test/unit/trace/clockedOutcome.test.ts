/**
 * The latency rules of outcome keeping, driven by an injected clock (test/support/fakeClock.ts):
 * a threshold is crossed by moving the clock, not by sleeping, and the boundary is exact.
 * The tracer runs behind real scanners (tracerHarness), sampler at 0, outcome export on.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Method } from '../../../src/amqp/constants';
import { Attr } from '../../../src/trace/attributes';
import { FakeClock } from '../../support/fakeClock';
import { tracerHarness } from '../../support/tracerHarness';

const kept = (h: ReturnType<typeof tracerHarness>): string[] =>
  h.spans().map((s) => `${String(s.attributes[Attr.proxySpan])} ${String(s.attributes[Attr.keptRule])}`);

test('confirm_latency: a confirm after exactly the threshold keeps nothing, one ms later keeps the publish', () => {
  const clock = new FakeClock();
  const h = tracerHarness({ clock, sampled: false, env: { PROXY_OUTCOME_CONFIRM_OVER_MS: '1000' } });
  h.client(Method.ConfirmSelect, { nowait: false });
  h.publish('', 'orders', { messageId: 'on-time' });
  clock.advance(1000);
  h.server(Method.BasicAck, { deliveryTag: 1, multiple: false });
  assert.equal(kept(h), [], 'not over the threshold');
  h.publish('', 'orders', { messageId: 'late' });
  clock.advance(1001);
  h.server(Method.BasicAck, { deliveryTag: 2, multiple: false });
  assert.equal(kept(h), ['publish confirm_latency']);
  assert.is(h.spans()[0]!.attributes[Attr.messageId], 'late');
});

test('process_latency: a consumer that settles after the threshold keeps the hop and the process span', () => {
  const clock = new FakeClock();
  const h = tracerHarness({ clock, sampled: false, env: { PROXY_OUTCOME_PROCESS_OVER_MS: '5000' } });
  h.consume('jobs', 'c1');
  h.deliver('c1', 1, '', 'jobs', { messageId: 'quick' });
  clock.advance(5000);
  h.client(Method.BasicAck, { deliveryTag: 1, multiple: false });
  assert.equal(kept(h), []);
  h.deliver('c1', 2, '', 'jobs', { messageId: 'slow' });
  clock.advance(5001);
  h.client(Method.BasicAck, { deliveryTag: 2, multiple: false });
  assert.equal(kept(h).filter((k) => k !== 'publish process_latency').sort(), ['broker_hop process_latency', 'process process_latency']);
});

test('broker_hop_latency: the hop is measured from the publish stamp to the clock at delivery', () => {
  const clock = new FakeClock();
  const h = tracerHarness({ clock, sampled: false, env: { PROXY_OUTCOME_BROKER_HOP_OVER_MS: '2000' } });
  const stampUs = (ms: number): string => String(Math.round((performance.timeOrigin + ms) * 1000));
  h.consume('jobs', 'c1');
  h.deliver('c1', 1, '', 'jobs', { messageId: 'fresh', headers: { 'x-trace-proxy-published-us': stampUs(clock.now() - 2000) } });
  h.client(Method.BasicAck, { deliveryTag: 1, multiple: false });
  assert.equal(kept(h), []);
  h.deliver('c1', 2, '', 'jobs', { messageId: 'queued', headers: { 'x-trace-proxy-published-us': stampUs(clock.now() - 2001) } });
  h.client(Method.BasicAck, { deliveryTag: 2, multiple: false });
  assert.ok(kept(h).includes('broker_hop broker_hop_latency'), kept(h).join(', '));
});

test.run();
