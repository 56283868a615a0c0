import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cachedCheck } from '../../../src/proxy/upstreamConnector';
import { echoServer } from '../../support/echoServer';
import { startTestProxy } from '../../support/proxy';
import { sleep } from '../../support/wait';

test('cachedCheck: one check in flight for every caller; its answer reused for maxAge, then checked again', async () => {
  let clock = 0;
  let checks = 0;
  let answer = true;
  let release: (() => void) | undefined;
  const check = cachedCheck(() => {
    checks++;
    return new Promise<boolean>((resolve) => { release = () => resolve(answer); });
  }, 1000, () => clock);
  const waiting = Array.from({ length: 20 }, () => check());
  assert.is(checks, 1);
  release!();
  assert.equal(await Promise.all(waiting), Array(20).fill(true));
  clock = 999;
  assert.is(await check(), true);
  assert.is(checks, 1);
  clock = 1000;
  answer = false;
  const again = check();
  release!();
  assert.is(await again, false);
  assert.is(checks, 2);
});

test('cachedCheck: a check that throws reads as not reachable, and is not cached as running', async () => {
  let clock = 0;
  let calls = 0;
  const check = cachedCheck(() => { calls++; return Promise.reject(new Error('boom')); }, 1000, () => clock);
  assert.is(await check(), false);
  clock = 2000;
  assert.is(await check(), false);
  assert.is(calls, 2);
});

test('/readyz under frequent probes: 100 at once and one every 20 ms for 1.5 s open at most 3 broker connections, and answer ready', async () => {
  const upstream = await echoServer();
  // 100 connections at once are past the default cap of the metrics listener (--http-max-connections).
  const proxy = await startTestProxy({ PROXY_UPSTREAM: `amqp://127.0.0.1:${upstream.port}`, HTTP_MAX_CONNECTIONS: '100' });
  try {
    const probe = async (): Promise<number> => (await fetch(`${proxy.metricsUrl}/readyz`)).status;
    const burst = await Promise.all(Array.from({ length: 100 }, probe));
    assert.ok(burst.every((s) => s === 200), String(burst));
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      assert.is(await probe(), 200);
      await sleep(20);
    }
    assert.ok(upstream.accepted() >= 1 && upstream.accepted() <= 3, `${upstream.accepted()} connections`);
  } finally {
    await proxy.stop();
    upstream.close();
  }
});

test.run();
