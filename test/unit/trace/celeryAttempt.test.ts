import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { attemptNumber, etaWaitMs, isRetryOf, parseEta } from '../../../src/trace/celeryAttempt';

const AT = Date.UTC(2026, 11, 6, 22, 30, 10);

/** ETAs as Celery sends them (isoformat of an aware datetime), and what must not pass as one. */
const ETAS: readonly [string, string, number | undefined][] = [
  ['UTC with microseconds', '2026-12-06T22:30:10.225135+00:00', AT + 225.135],
  ['microseconds 0: no fraction', '2026-12-06T22:30:10+00:00', AT],
  ['an app timezone east of UTC', '2026-12-06T23:30:10.5+01:00', AT + 500],
  ['west of UTC, half hours', '2026-12-06T19:00:10-03:30', AT],
  ['Z', '2026-12-06T22:30:10Z', AT],
  ['naive (read in the worker\'s zone): unknown', '2026-12-06T22:30:10.225135', undefined],
  ['date only', '2026-12-06', undefined],
  ['31 February', '2026-02-31T00:00:00+00:00', undefined],
  ['hour 24', '2026-12-06T24:00:00+00:00', undefined],
  ['garbage', 'soon', undefined],
  ['empty', '', undefined],
];

test('eta: ISO-8601 with an offset becomes ms since the epoch; without one it is unknown', () => {
  for (const [name, text, expected] of ETAS) assert.is(parseEta(text), expected, name);
});

test('attempt numbers and retry order follow the retries header', () => {
  assert.is(attemptNumber(0), 1);
  assert.is(attemptNumber(2), 3);
  assert.ok(isRetryOf(1, 0));
  assert.not.ok(isRetryOf(2, 0));
  assert.not.ok(isRetryOf(0, 0));
});

test('the ETA wait runs from the delivery to the ETA, cut at the settle; a past ETA is no wait', () => {
  assert.is(etaWaitMs(AT + 2000, AT, AT + 3000), 2000);
  assert.is(etaWaitMs(AT + 2000, AT, AT + 500), 500, 'settled (or closed) before the ETA');
  assert.is(etaWaitMs(AT - 10, AT, AT + 5), 0);
  assert.is(etaWaitMs(undefined, AT, AT + 5), 0);
});

test.run();
