import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as index from 'prom-client';
import * as ours from '../../../src/metrics/promClient';

// src/metrics/promClient.ts loads prom-client's files one by one, past its index: each must
// be what the index exports, or a prom-client release has moved it.
test('each part the proxy loads from prom-client is the one its index exports', () => {
  assert.is(ours.Counter, index.Counter);
  assert.is(ours.Gauge, index.Gauge);
  assert.is(ours.Registry, index.Registry);
  assert.is(ours.collectDefaultMetrics, index.collectDefaultMetrics);
});

test.run();
