import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../../../src/config/config';
import {
  KeepLimiter, OutcomeOptions, OutcomeRules, outcomeOptions,
} from '../../../src/trace/outcome';
import { KeepReason, OUTCOME_RULES, OutcomeRule, REASON_OF } from '../../../src/trace/outcomeNames';

/** A clock the test moves by hand, in ms. */
function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

function rules(overrides: Partial<OutcomeOptions> = {}, now?: () => number) {
  const kept: [KeepReason, OutcomeRule][] = [];
  const dropped: OutcomeRule[] = [];
  const options: OutcomeOptions = {
    rules: new Set(OUTCOME_RULES), confirmOverMs: 1000, brokerHopOverMs: 5000, processOverMs: 5000, perSecond: 100, ...overrides,
  };
  const r = new OutcomeRules(options, { outcomeKept: (reason, rule) => kept.push([reason, rule]), outcomeDropped: (rule) => dropped.push(rule) }, now);
  return { r, kept, dropped };
}

test('the limiter admits a burst of perSecond, then refills at perSecond', () => {
  const c = clock();
  const limiter = new KeepLimiter(5, c.now);
  const burst = Array.from({ length: 8 }, () => limiter.admit());
  assert.equal(burst, [true, true, true, true, true, false, false, false]);
  c.advance(199);
  assert.is(limiter.admit(), false, 'under one token after 199 ms at 5/s');
  c.advance(1);
  assert.is(limiter.admit(), true, 'one token every 200 ms');
  c.advance(60_000);
  assert.is(Array.from({ length: 10 }, () => limiter.admit()).filter(Boolean).length, 5, 'an idle minute refills to the burst, not beyond');
});

test('publish: nack and return are errors; a slow confirm is latency; a fast ack keeps nothing', () => {
  const { r } = rules();
  assert.is(r.atConfirm('nack', false, 1), 'publish_nack');
  assert.is(r.atConfirm('ack', true, 1), 'publish_returned');
  assert.is(r.atConfirm('nack', true, 1), 'publish_nack', 'a nack wins over a return');
  assert.is(r.atConfirm('ack', false, 1001), 'confirm_latency');
  assert.is(r.atConfirm('ack', false, 1000), undefined, 'the threshold itself is not above it');
});

test('delivery: redelivered and a slow hop at delivery; nack, reject, close and slow processing at settle', () => {
  const { r } = rules();
  assert.is(r.atDelivery(true, 1), 'redelivered');
  assert.is(r.atDelivery(false, 5001), 'broker_hop_latency');
  assert.is(r.atDelivery(false, undefined), undefined, 'no trusted stamp, no hop rule');
  assert.is(r.atDelivery(false, 10), undefined);
  assert.is(r.atSettle('nack', 1), 'delivery_nack');
  assert.is(r.atSettle('reject', 1), 'delivery_reject');
  assert.is(r.atSettle('closed', 1), 'delivery_closed');
  assert.is(r.atSettle('ack', 5001), 'process_latency');
  assert.is(r.atSettle('ack', 10), undefined);
  assert.is(r.atSettle('auto_ack', 0), undefined);
});

test('a rule switched off keeps nothing by itself, and lets a latency rule still decide', () => {
  const { r } = rules({ rules: new Set(OUTCOME_RULES.filter((x) => !['publish_nack', 'delivery_reject', 'redelivered'].includes(x))) });
  assert.is(r.atConfirm('nack', false, 1), undefined);
  assert.is(r.atConfirm('nack', false, 2000), 'confirm_latency');
  assert.is(r.atSettle('reject', 1), undefined);
  assert.is(r.atSettle('reject', 6000), 'process_latency');
  assert.is(r.atDelivery(true, 1), undefined);
  assert.is(r.atDelivery(true, 6000), 'broker_hop_latency');
});

test('admit counts kept by reason and rule, and what the limit drops', () => {
  const c = clock();
  const { r, kept, dropped } = rules({ perSecond: 2 }, c.now);
  assert.equal([r.admit('delivery_reject'), r.admit('process_latency'), r.admit('delivery_nack')], [true, true, false]);
  assert.equal(kept, [['error', 'delivery_reject'], ['latency', 'process_latency']]);
  assert.equal(dropped, ['delivery_nack']);
});

test('every rule has a reason; the reasons are error and latency', () => {
  assert.equal(Object.keys(REASON_OF).sort(), [...OUTCOME_RULES].sort());
  assert.equal([...new Set(Object.values(REASON_OF))].sort(), ['error', 'latency']);
});

test('options: defaults (5 s processing as in the ADR), rules switched off by name, unknown names rejected', () => {
  const defaults = outcomeOptions(loadConfig([], {}));
  assert.equal(
    [defaults.rules.size, defaults.confirmOverMs, defaults.brokerHopOverMs, defaults.processOverMs, defaults.perSecond],
    [OUTCOME_RULES.length, 1000, 5000, 5000, 100],
  );
  const off = outcomeOptions(loadConfig(['--outcome-rules-off', 'redelivered, process_latency'], {}));
  assert.equal([...off.rules].filter((x) => x === 'redelivered' || x === 'process_latency'), []);
  assert.is(off.rules.size, OUTCOME_RULES.length - 2);
  assert.is(outcomeOptions(loadConfig([], { PROXY_OUTCOME_RULES_OFF: 'none' })).rules.size, OUTCOME_RULES.length);
  assert.throws(() => loadConfig([], { PROXY_OUTCOME_RULES_OFF: 'reject', PROXY_OUTCOME_RATE_LIMIT: '0' }), (err: Error) =>
    /PROXY_OUTCOME_RULES_OFF: unknown "reject"; expected any of publish_nack/.test(err.message) && /PROXY_OUTCOME_RATE_LIMIT: 0 is out of range/.test(err.message));
  assert.is(loadConfig(['--outcome-export', 'false'], {}).outcomeExport, false);
});


test.run();
