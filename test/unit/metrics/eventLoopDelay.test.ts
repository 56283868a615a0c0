import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EventLoopDelay } from '../../../src/metrics/eventLoopDelay';
import { Registry } from '../../../src/metrics/promClient';
import { sleep } from '../../support/wait';

test('the monitor starts with traffic, keeps sampling while it flows, and rests after a window without (issue 24)', async () => {
  const monitor = new EventLoopDelay(new Registry(), 20, 150);
  try {
    assert.not.ok(monitor.sampling, 'no traffic yet: nothing samples');
    monitor.touch();
    assert.ok(monitor.sampling);
    for (let i = 0; i < 5; i++) {
      await sleep(60);
      monitor.touch(); // traffic every 60 ms: no 150 ms window is empty
    }
    assert.ok(monitor.sampling, 'still sampling while traffic flows');
    await sleep(400); // two windows with nothing
    assert.not.ok(monitor.sampling, 'rested');
    monitor.touch();
    assert.ok(monitor.sampling, 'the next chunk starts it again');
  } finally {
    monitor.close();
  }
});

test('a scrape reads what was sampled since the last one', async () => {
  const registry = new Registry();
  const monitor = new EventLoopDelay(registry, 20);
  try {
    monitor.touch();
    await registry.metrics();
    await sleep(100);
    const max = async (): Promise<number> => (await registry.getSingleMetric('nodejs_eventloop_lag_max_seconds')!.get()).values[0]!.value;
    await registry.metrics();
    assert.ok((await max()) >= 0.015, `max ${await max()}`);
  } finally {
    monitor.close();
  }
});

test.run();
