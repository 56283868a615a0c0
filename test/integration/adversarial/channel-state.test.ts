/**
 * What one client can make the 0-9-1 adapter keep per channel is bounded by its
 * connection's budget (--connection-state-max-bytes): channel models, consumers by tag.
 * A real client (amqplib) authenticates through a child proxy, then writes, on its own
 * socket, a basic.consume with a 255-character tag on every channel from 2 to 65535 (none
 * opened) and thousands on its one open channel. The broker closes such a connection at
 * the first frame on an unopened channel, but the proxy reads every frame before that close
 * reaches it; here a relay holds the broker's answers until the proxy has forwarded them
 * all, so that is a fact of the script, not a race. Without the bound the proxy held a
 * model of about 2 KB per channel and every consumer: its peak RSS grew by 154 MiB; with
 * it, by 59 MiB (the 16 MiB of state, the 25 MB burst passing through, garbage).
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { Method } from '../../../src/amqp/constants';
import { amqplibDefs } from '../../support/amqpVectors';
import { BROKER_HOST, BROKER_PORT, requireBroker, uniqueName } from '../../support/broker';
import { startHeldRelay } from '../../support/heldRelay';
import { deleteQueues, startChildProxy, waitFor } from '../hardening/helpers';

const MIB = 1024 * 1024;
/** The consumes on the one open channel, each with its own tag. */
const CONSUMERS_ON_OPEN_CHANNEL = 20_000;
/** Peak RSS growth allowed: between the two measured above, with room for a loaded machine. */
const GROWTH_BUDGET = 100 * MIB;

function peakRss(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

const consume = (channel: number, tag: string, queue: string): Buffer => amqplibDefs.encodeMethod(Method.BasicConsume, channel, {
  ticket: 0, queue, consumerTag: tag, noLocal: false, noAck: true, exclusive: false, nowait: true, arguments: {},
});

test('consumes on every channel number and thousands of consumers on one: the proxy\'s memory stays bounded, and it keeps forwarding', async () => {
  await requireBroker();
  const relay = await startHeldRelay(BROKER_HOST, BROKER_PORT);
  const proxy = await startChildProxy(0, { PROXY_UPSTREAM: `amqp://127.0.0.1:${relay.port}`, METRICS_LISTEN: '127.0.0.1:0' });
  const queue = uniqueName('channel-state');
  try {
    const attacker = await amqp.connect(proxy.url);
    attacker.on('error', () => undefined);
    await (await attacker.createChannel()).assertQueue(queue, { durable: false });
    const socket = (attacker as unknown as { connection: { stream: Socket } }).connection.stream;
    const before = peakRss(proxy.process.pid!);

    relay.hold();
    const frames: Buffer[] = [];
    const long = (prefix: string, i: number): string => `${prefix}-${i}-`.padEnd(255, 'x');
    for (let channel = 2; channel <= 65535; channel++) frames.push(consume(channel, long('tag', channel), ''));
    for (let i = 0; i < CONSUMERS_ON_OPEN_CHANNEL; i++) frames.push(consume(1, long('tag', i), queue));
    const burst = Buffer.concat(frames);
    socket.write(burst);
    await waitFor('the proxy to forward the whole burst', () => relay.sentSinceHold().length >= burst.length, 60_000, 100);
    const growth = peakRss(proxy.process.pid!) - before;
    relay.release();

    const metrics = await (await fetch(`http://127.0.0.1:${proxy.metricsPort!}/metrics`)).text();
    const evicted = (map: string): number => Number(new RegExp(`inflight_evictions_total\\{map="${map}"\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    assert.ok(growth < GROWTH_BUDGET, `peak RSS grew by ${(growth / MIB).toFixed(1)} MiB, budget ${GROWTH_BUDGET / MIB} MiB`);
    assert.ok(evicted('channel') > 0, 'channels over the budget are counted');
    assert.ok(evicted('consumer') > 0, 'consumers over the budget are counted');

    // The proxy goes on: a bystander's round trip through it.
    const bystander = await amqp.connect(proxy.url);
    const ch = await bystander.createChannel();
    await ch.assertQueue(queue, { durable: false });
    ch.sendToQueue(queue, Buffer.from('still here'));
    await waitFor('the bystander\'s message', async () => (await ch.get(queue, { noAck: true })) !== false, 10_000);
    await bystander.close();
    await attacker.close().catch(() => undefined);
  } finally {
    await deleteQueues(queue);
    proxy.process.kill('SIGTERM');
    await proxy.exited;
    await relay.close();
  }
});

test.run();
