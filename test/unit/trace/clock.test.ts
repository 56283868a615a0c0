import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TIME_ORIGIN_MS, epochMicros, formatMicros } from '../../../src/trace/clock';

test('formatMicros gives String(us): leading zeros of the fraction, whole seconds, small values', () => {
  const cases = [0, 7, 999_999, 1_000_000, 1_000_001, 1_000_010, 1_100_000, 1_764_000_000_000_000,
    1_764_000_000_000_001, 1_764_000_000_012_345, 1_764_000_000_999_999, 1_764_000_001_000_000, Number.MAX_SAFE_INTEGER];
  for (const us of cases) assert.is(formatMicros(us), String(us), String(us));
});

test('formatMicros stays exact when the cached second changes back and forth', () => {
  const base = 1_764_000_000_000_000;
  for (let i = 0; i < 5000; i++) {
    const us = base + ((i * 7919) % 3) * 1_000_000 + ((i * 104_729) % 1_000_000);
    assert.is(formatMicros(us), String(us));
  }
});

test('formatMicros falls back to String for what is not a safe integer', () => {
  for (const v of [1.5e6 + 0.5, -1, 2 ** 60, Number.NaN]) assert.is(formatMicros(v), String(v));
});

test('epochMicros is wall-clock microseconds from a performance.now() reading', () => {
  const now = performance.now();
  assert.is(epochMicros(now), String(Math.round((TIME_ORIGIN_MS + now) * 1000)));
  assert.ok(Math.abs(Number(epochMicros(performance.now())) / 1000 - Date.now()) < 1000);
});

test.run();
