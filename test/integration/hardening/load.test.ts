import { readFileSync, readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { TestProxy, startTestProxy } from '../../support/proxy';
import { SecondBroker, startSecondBroker } from '../../support/secondBroker';
import { Ledger, sleep, waitFor } from './helpers';

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

interface Client { readonly conn: amqp.ChannelModel; readonly ch: amqp.ConfirmChannel }

/** Opens `count` connections through the proxy, `batch` at a time, each with a confirm channel. */
async function openClients(proxy: TestProxy, count: number, batch: number): Promise<Client[]> {
  const clients: Client[] = [];
  for (let i = 0; i < count; i += batch) {
    clients.push(...await Promise.all(Array.from({ length: Math.min(batch, count - i) }, async () => {
      const conn = await amqp.connect(proxy.url);
      conn.on('error', () => undefined);
      return { conn, ch: await conn.createConfirmChannel() };
    })));
  }
  return clients;
}

const CONNECTIONS = 1000;
const PER_CONNECTION = 5;
const LOG = process.env.LOAD_REPORT ? (s: string): void => { process.stdout.write(`\n${s}\n`); } : (): void => undefined;

// The shared broker allows about 830 sockets, so the load goes to a private RabbitMQ node
// with a high descriptor limit.
const load = suite('load: 1,000 concurrent connections through one proxy to a real RabbitMQ node');
let broker: SecondBroker | undefined;
load.before(async () => {
  broker = await startSecondBroker();
  LOG(`second RabbitMQ node ${broker.nodeName} accepted AMQP after ${broker.startupMs} ms`);
});
load.after(async () => { await broker?.stop(); });

load('1,000 concurrent connections with confirmed traffic on each: every message consumed once; fds and memory return to baseline', async () => {
  // 1,000 pairs need 3,000 descriptors in this process (client, proxy's client side, upstream).
  assert.ok(fdLimit() >= 4000, `needs ulimit -n of at least 4000, have ${fdLimit()}`);
  const proxy = await startTestProxy({ PROXY_UPSTREAM: `amqp://127.0.0.1:${broker!.port}` });
  const queue = 'load';
  const ledger = new Ledger();
  const direct = await amqp.connect(broker!.url);
  try {
    const consumer = await direct.createChannel();
    await consumer.assertQueue(queue, { durable: false });
    await consumer.consume(queue, (m) => { if (m) ledger.consume(Number(m.content.toString())); }, { noAck: true });
    await warmUp(proxy, queue);
    const baseline = await sample();
    const first = await thousand(proxy, queue, ledger, 0);
    const second = await thousand(proxy, queue, ledger, 1);
    await waitFor('every confirmed message consumed', () => ledger.allConfirmedConsumed(), 15_000)
      .catch(() => assert.unreachable(`missing ${ledger.missing().length}: ${ledger.missing().slice(0, 10).join(',')}`));
    LOG(`${CONNECTIONS} connections: baseline ${JSON.stringify(baseline)}\n` +
      `  round 1 loaded ${JSON.stringify(first.loaded)} (open ${first.openMs} ms, publish ${first.publishMs} ms)\n` +
      `  round 1 after ${JSON.stringify(first.after)}\n` +
      `  round 2 loaded ${JSON.stringify(second.loaded)} (open ${second.openMs} ms, publish ${second.publishMs} ms)\n` +
      `  round 2 after ${JSON.stringify(second.after)}`);
    assert.is(ledger.confirmed.size, 2 * CONNECTIONS * PER_CONNECTION);
    assert.is(ledger.consumed.size, 2 * CONNECTIONS * PER_CONNECTION + 20, 'nothing unexpected consumed');
    assert.is(ledger.duplicates, 0, 'no connection was lost, so nothing was delivered twice');
    for (const round of [first, second]) {
      assert.ok(round.loaded.fds >= baseline.fds + 3 * CONNECTIONS, `fds in use under load: ${round.loaded.fds}`);
      assert.ok(round.after.fds <= baseline.fds + 5, `fds back to baseline: ${baseline.fds} -> ${round.after.fds}`);
    }
    // The first round leaves caches warm (V8 code, amqplib's and the test's own); a leak would
    // show as growth from the first round's end to the second's.
    assert.ok(first.after.heapMb - baseline.heapMb < 20, `heap near baseline: ${baseline.heapMb} -> ${first.after.heapMb} MB`);
    assert.ok(second.after.heapMb - first.after.heapMb < 4, `no heap growth per round: ${first.after.heapMb} -> ${second.after.heapMb} MB`);
    assert.ok(second.after.externalMb - first.after.externalMb < 4,
      `no Buffer growth per round: ${first.after.externalMb} -> ${second.after.externalMb} MB`);
    // RSS does not fall back to the baseline (the allocator keeps freed pages), and it moves by
    // a few MB either way between rounds; this only catches a native leak of some 25 KB per pair.
    assert.ok(second.after.rssMb - first.after.rssMb < 25, `no RSS growth per round: ${first.after.rssMb} -> ${second.after.rssMb} MB`);
  } finally {
    await direct.close().catch(() => undefined);
    await proxy.stop();
  }
});

interface Round { readonly loaded: Sample; readonly after: Sample; readonly openMs: number; readonly publishMs: number }

/** 1,000 connections open at once, 5 confirmed publishes on each, then all closed. */
async function thousand(proxy: TestProxy, queue: string, ledger: Ledger, round: number): Promise<Round> {
  const opening = Date.now();
  const clients = await openClients(proxy, CONNECTIONS, 100);
  const openMs = Date.now() - opening;
  assert.is(proxy.app.server.connections.size, CONNECTIONS);
  const publishing = Date.now();
  await Promise.all(clients.map(async ({ ch }, c) => {
    const ids = Array.from({ length: PER_CONNECTION }, (_, i) => (round * CONNECTIONS + c) * PER_CONNECTION + i);
    for (const id of ids) ch.sendToQueue(queue, Buffer.from(String(id)));
    await ch.waitForConfirms();
    for (const id of ids) ledger.confirmed.add(id);
  }));
  const publishMs = Date.now() - publishing;
  const loaded = await sample();
  await Promise.all(clients.map(({ conn }) => conn.close()));
  await waitFor('every pair closed', () => proxy.app.server.connections.size === 0 && proxy.app.server.openConnections === 0, 15_000);
  return { loaded, after: await sample(), openMs, publishMs };
}

/** One round first, so that lazily created module state is not counted as a leak. Ids -1..-20. */
async function warmUp(proxy: TestProxy, queue: string): Promise<void> {
  const clients = await openClients(proxy, 20, 20);
  await Promise.all(clients.map(async ({ ch }, c) => { ch.sendToQueue(queue, Buffer.from(String(-1 - c))); await ch.waitForConfirms(); }));
  await Promise.all(clients.map(({ conn }) => conn.close()));
  await waitFor('warm-up closed', () => proxy.app.server.connections.size === 0, 5000);
}

load.run();
