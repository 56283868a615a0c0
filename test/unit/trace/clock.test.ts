import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MicrosStamp, STAMP_SKEW_MS, TIME_ORIGIN_MS, publishTime } from '../../../src/trace/clock';

/** What the stamp writes, placed mid-buffer so a write outside its bytes would show. */
function written(stamp: MicrosStamp): string {
  const target = Buffer.alloc(stamp.byteLength + 4, 0x2a);
  stamp.writeTo(target, 2);
  assert.is(target.toString('latin1', 0, 2) + target.toString('latin1', target.length - 2), '****');
  return target.toString('latin1', 2, target.length - 2);
}

test('a stamp writes String(us): leading zeros of the fraction, whole seconds, small values', () => {
  const stamp = new MicrosStamp();
  const cases = [0, 7, 999_999, 1_000_000, 1_000_001, 1_000_010, 1_100_000, 1_764_000_000_000_000,
    1_764_000_000_000_001, 1_764_000_000_012_345, 1_764_000_000_999_999, 1_764_000_001_000_000, Number.MAX_SAFE_INTEGER];
  for (const us of cases) assert.is(written(stamp.micros(us)), String(us), String(us));
});

test('a stamp stays exact when the cached second changes back and forth', () => {
  const stamp = new MicrosStamp();
  const base = 1_764_000_000_000_000;
  for (let i = 0; i < 5000; i++) {
    const us = base + ((i * 7919) % 3) * 1_000_000 + ((i * 104_729) % 1_000_000);
    assert.is(written(stamp.micros(us)), String(us));
  }
});

test('a stamp falls back to String for what is not a safe integer', () => {
  const stamp = new MicrosStamp();
  for (const v of [1.5e6 + 0.5, -1, 2 ** 60]) assert.is(written(stamp.micros(v)), String(v));
});

test('a stamp is wall-clock microseconds from a performance.now() reading', () => {
  const stamp = new MicrosStamp();
  const now = performance.now();
  assert.is(written(stamp.at(now)), String(Math.round((TIME_ORIGIN_MS + now) * 1000)));
  assert.ok(Math.abs(Number(stamp.at(performance.now()).toString()) / 1000 - Date.now()) < 1000);
});

test('a publish stamp is trusted only within an operational age: ahead by more than the skew, or older than the bound, it is ignored', () => {
  const now = 1_764_000_000_000;
  const hour = 3_600_000;
  const at = (ms: number): number => ms * 1000;
  assert.is(publishTime(at(now - 250), now, hour), now - 250);
  assert.is(publishTime(at(now - hour), now, hour), now - hour, 'the bound itself is still trusted');
  assert.is(publishTime(at(now - hour - 1), now, hour), 'too_old');
  // The review's forged stamp: a six-day broker hop.
  assert.is(publishTime(at(now - 6 * 86_400_000), now, hour), 'too_old');
  assert.is(publishTime(at(now + STAMP_SKEW_MS), now, hour), now, 'a little ahead (another host\'s clock) counts as now');
  assert.is(publishTime(at(now + STAMP_SKEW_MS + 1), now, hour), 'future');
  assert.is(publishTime(at(now + 86_400_000), now, hour), 'future');
  assert.is(publishTime(1, now, hour), 'too_old');
});

test.run();
