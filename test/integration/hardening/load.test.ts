import { readFileSync, readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { BROKER_URL, requireBroker, uniqueName } from '../../support/broker';
import { TestProxy, startTestProxy } from '../../support/proxy';
import { BrokerStandIn, startBrokerStandIn } from './brokerStandIn';
import { Ledger, deleteQueues, sleep, waitFor } from './helpers';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Sample { readonly fds: number; readonly heapMb: number; readonly rssMb: number; readonly externalMb: number }

async function sample(): Promise<Sample> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(50);
  }
  const m = process.memoryUsage();
  const mb = (n: number): number => Math.round((n / 1048576) * 10) / 10;
  return { fds: readdirSync('/proc/self/fd').length, heapMb: mb(m.heapUsed), rssMb: mb(m.rss), externalMb: mb(m.external) };
}

function fdLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3] ?? 0);
}

/** Opens `count` connections through the proxy, `batch` at a time, each with a confirm channel. */
async function openClients(proxy: TestProxy, count: number, batch: number): Promise<{ conn: amqp.ChannelModel; ch: amqp.ConfirmChannel }[]> {
  const clients: { conn: amqp.ChannelModel; ch: amqp.ConfirmChannel }[] = [];
  for (let i = 0; i < count; i += batch) {
    clients.push(...await Promise.all(Array.from({ length: Math.min(batch, count - i) }, async () => {
      const conn = await amqp.connect(proxy.url);
      conn.on('error', () => undefined);
      return { conn, ch: await conn.createConfirmChannel() };
    })));
  }
  return clients;
}

const load = suite('load: many concurrent connections through one proxy');
load.before(() => requireBroker());

const LOG = process.env.LOAD_REPORT ? (s: string): void => { process.stdout.write(`\n${s}\n`); } : (): void => undefined;

load('1,000 concurrent connections with traffic on each; fds and memory return to baseline', async () => {
  // 1,000 pairs need 3,000 descriptors in this process (client, proxy's client side, upstream).
  assert.ok(fdLimit() >= 4000, `needs ulimit -n of at least 4000, have ${fdLimit()}`);
  const broker = await startBrokerStandIn();
  const proxy = await startTestProxy({ PROXY_UPSTREAM: `amqp://127.0.0.1:${broker.port}` });
  try {
    await warmUp(proxy);
    const baseline = await sample();
    const first = await thousand(proxy, broker, 0);
    const second = await thousand(proxy, broker, 1);
    LOG(`1000 connections: baseline ${JSON.stringify(baseline)}\n  loaded ${JSON.stringify(first.loaded)}\n` +
      `  after ${JSON.stringify(first.after)}\n  after a second round ${JSON.stringify(second.after)}`);
    assert.is(new Set(broker.bodies.filter((b) => b !== 'warm')).size, 10_000, 'every message reached the broker once');
    assert.ok(first.loaded.fds >= baseline.fds + 3000, `fds in use under load: ${first.loaded.fds}`);
    for (const round of [first, second]) {
      assert.ok(round.after.fds <= baseline.fds + 5, `fds back to baseline: ${baseline.fds} -> ${round.after.fds}`);
    }
    // The first round leaves caches warm (V8 code, amqplib's and the test's own); a leak would
    // show as growth from the first round's end to the second's.
    assert.ok(first.after.heapMb - baseline.heapMb < 20, `heap near baseline: ${baseline.heapMb} -> ${first.after.heapMb} MB`);
    assert.ok(second.after.heapMb - first.after.heapMb < 4, `no growth per round: ${first.after.heapMb} -> ${second.after.heapMb} MB`);
  } finally {
    await proxy.stop();
    await broker.close();
  }
});

/** 1,000 connections open at once, 5 confirmed publishes on each, then all closed. */
async function thousand(proxy: TestProxy, broker: BrokerStandIn, round: number): Promise<{ loaded: Sample; after: Sample }> {
  const clients = await openClients(proxy, 1000, 100);
  assert.is(proxy.app.server.connections.size, 1000);
  await Promise.all(clients.map(async ({ ch }, c) => {
    for (let i = 0; i < 5; i++) ch.sendToQueue('q', Buffer.from(`${round}/${c}/${i}`));
    await ch.waitForConfirms();
  }));
  const loaded = await sample();
  await Promise.all(clients.map(({ conn }) => conn.close()));
  await waitFor('every pair closed', () => proxy.app.server.connections.size === 0 && proxy.app.server.openConnections === 0, 10_000);
  await waitFor('stand-in sockets closed', () => broker.openSockets() === 0, 10_000);
  return { loaded, after: await sample() };
}

/** One round first, so that lazily created module state is not counted as a leak. */
async function warmUp(proxy: TestProxy): Promise<void> {
  const clients = await openClients(proxy, 20, 20);
  await Promise.all(clients.map(async ({ ch }) => { ch.sendToQueue('q', Buffer.from('warm')); await ch.waitForConfirms(); }));
  await Promise.all(clients.map(({ conn }) => conn.close()));
  await waitFor('warm-up closed', () => proxy.app.server.connections.size === 0, 5000);
}

load('250 concurrent connections to the real RabbitMQ: every confirmed message arrives; fds return to baseline', async () => {
  const proxy = await startTestProxy();
  const queue = uniqueName('load');
  const ledger = new Ledger();
  const direct = await amqp.connect(BROKER_URL);
  try {
    const consumer = await direct.createChannel();
    await consumer.assertQueue(queue, { durable: false });
    await consumer.consume(queue, (m) => { if (m) ledger.consume(Number(m.content.toString())); }, { noAck: true });
    const baseline = await sample();
    const clients = await openClients(proxy, 250, 50);
    await Promise.all(clients.map(async ({ ch }, c) => {
      for (let i = 0; i < 4; i++) ch.sendToQueue(queue, Buffer.from(String(c * 4 + i)));
      await ch.waitForConfirms();
      for (let i = 0; i < 4; i++) ledger.confirmed.add(c * 4 + i);
    }));
    await waitFor('every confirmed message consumed', () => ledger.allConfirmedConsumed(), 15_000);
    assert.is(ledger.confirmed.size, 1000);
    await Promise.all(clients.map(({ conn }) => conn.close()));
    await waitFor('every pair closed', () => proxy.app.server.connections.size === 0, 10_000);
    const after = await sample();
    LOG(`250 real connections: baseline ${JSON.stringify(baseline)} after ${JSON.stringify(after)}`);
    assert.ok(after.fds <= baseline.fds + 5, `fds back to baseline: ${baseline.fds} -> ${after.fds}`);
  } finally {
    await direct.close().catch(() => undefined);
    await proxy.stop();
    await deleteQueues(queue);
  }
});

load.run();
