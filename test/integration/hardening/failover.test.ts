import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { consumeN, withConnection } from '../../support/amqp';
import { BROKER_HOST, BROKER_PORT, BROKER_URL, requireBroker, uniqueName } from '../../support/broker';
import { startTestProxy } from '../../support/proxy';
import { startSecondBroker } from '../../support/secondBroker';
import { managedClients } from './clients';
import { Ledger, deleteQueues, stablePort, startForwarder, waitFor } from './helpers';

const LOG = process.env.LOAD_REPORT ? (s: string): void => { process.stdout.write(`\n${s}\n`); } : (): void => undefined;

const failover = suite('upstream failover');
failover.before(() => requireBroker());

async function metricsText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

failover('the first upstream is dead: connections go to the second, and the dead one moves to the back', async () => {
  // Nothing may listen there for the whole test: a port no listen(0) is given.
  const dead = await stablePort();
  const proxy = await startTestProxy({ PROXY_UPSTREAM: `amqp://127.0.0.1:${dead},amqp://${BROKER_HOST}:${BROKER_PORT}` });
  try {
    for (let round = 0; round < 3; round++) {
      await withConnection(BROKER_URL, async (direct) => {
        const consumer = await direct.createChannel();
        const queue = (await consumer.assertQueue(uniqueName('failover'), { exclusive: true })).queue;
        const received = consumeN(consumer, queue, 20);
        await withConnection(proxy.url, async (conn) => {
          const ch = await conn.createConfirmChannel();
          for (let i = 0; i < 20; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
          await ch.waitForConfirms();
        });
        const msgs = await received;
        assert.equal(msgs.map((m) => m.content.toString()), Array.from({ length: 20 }, (_, i) => String(i)));
      });
    }
    const failures = new RegExp(`upstream_connect_failures_total\\{upstream="127.0.0.1:${dead}"\\} (\\d+)`).exec(await metricsText(proxy.metricsUrl));
    assert.is(failures?.[1], '1', 'tried once, then skipped while it is recently failed');
  } finally {
    await proxy.stop();
  }
});

failover('RabbitMQ restarts during traffic (a private node, stopped and started): every confirmed message is consumed, none disappears', async () => {
  const broker = await startSecondBroker();
  const proxy = await startTestProxy({ PROXY_UPSTREAM: `amqp://127.0.0.1:${broker.port}`, PROXY_UPSTREAM_RETRY_AFTER_MS: '0' });
  // Durable queue and persistent messages (see managedClients): what the broker confirmed is on
  // disk. The consumer takes about 200 messages a second, slower than the publisher, so at the
  // restart some confirmed messages are still queued and some delivered but not yet acked.
  const queue = uniqueName('restart');
  const ledger = new Ledger();
  const clients = managedClients(proxy.url, queue, ledger, { prefetch: 20, ackDelayMs: 100 });
  try {
    const during = clients.publish(0, 600, 2);
    // Under load the publisher can fall behind the consumer for a while: the restart waits for a
    // backlog, the case it is there to test (asserted below), rather than stop an empty queue.
    await waitFor('traffic before the restart, with confirmed messages queued',
      () => ledger.consumed.size >= 100 && ledger.missing().length > 0, 15_000);
    const connectsBefore = clients.connects.count;
    const onlyInBroker = ledger.missing().length;
    const confirmedBefore = ledger.confirmed.size;
    const restarting = Date.now();
    await broker.restart();
    const restartMs = Date.now() - restarting;
    await during;
    await clients.publish(600, 800, 2);
    await waitFor('every confirmed message consumed', () => ledger.allConfirmedConsumed(), 30_000)
      .catch(() => assert.unreachable(`missing ${ledger.missing().length}: ${ledger.missing().slice(0, 10).join(',')}`));
    LOG(`restart took ${restartMs} ms (start ${broker.startupMs} ms); at the stop ${confirmedBefore} confirmed, ` +
      `${onlyInBroker} of them not yet consumed; in all ${ledger.confirmed.size} confirmed, ` +
      `${ledger.duplicates} consumed twice (redelivered); reconnects ${clients.connects.count - connectsBefore}`);
    assert.ok(confirmedBefore < 600, `the restart came in the middle of the publishing (${confirmedBefore} confirmed before it)`);
    assert.ok(onlyInBroker > 0, 'some confirmed messages were only in the broker when it stopped');
    assert.is(ledger.confirmed.size, 800);
    assert.ok(clients.connects.count >= connectsBefore + 2, 'publisher and consumer both reconnected through the proxy');
    const metrics = await metricsText(proxy.metricsUrl);
    assert.match(metrics, /connections_refused_total\{reason="upstream_unavailable"\} [1-9]/, 'clients were refused while the node was down');
  } finally {
    await clients.close();
    await proxy.stop();
    await broker.stop();
  }
});

failover('the first of two upstreams goes away during traffic: clients continue on the second', async () => {
  const [a, b] = [await startForwarder(), await startForwarder()];
  const proxy = await startTestProxy({ PROXY_UPSTREAM: `amqp://127.0.0.1:${a.port},amqp://127.0.0.1:${b.port}` });
  const queue = uniqueName('two-nodes');
  const ledger = new Ledger();
  const clients = managedClients(proxy.url, queue, ledger);
  try {
    const publishing = clients.publish(0, 500, 5);
    await waitFor('traffic before the outage', () => ledger.consumed.size >= 100, 15_000);
    const outage = a.outage(4000);
    await publishing;
    await waitFor('every confirmed message consumed', () => ledger.allConfirmedConsumed(), 30_000)
      .catch(() => assert.unreachable(`missing ${ledger.missing().length}`));
    await outage;
    assert.is(ledger.confirmed.size, 500);
  } finally {
    await clients.close();
    await proxy.stop();
    await Promise.all([a.close(), b.close()]);
    await deleteQueues(queue);
  }
});

failover.run();
