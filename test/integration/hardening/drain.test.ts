import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { BROKER_URL, requireBroker, uniqueName } from '../../support/broker';
import { Ledger, deleteQueues, sleep, startChildProxy, waitFor } from './helpers';

const DRAIN_MS = 1500;
const drainTest = suite('graceful drain (SIGTERM to node dist/main.js)');

drainTest.before(() => requireBroker());

drainTest('clients keep working through the drain period, then get 320; confirmed publishes all arrive; exit 0', async () => {
  const proxy = await startChildProxy(0, { DRAIN_TIMEOUT_MS: String(DRAIN_MS), METRICS_LISTEN: '127.0.0.1:0' });
  const metricsPort = proxy.metricsPort!;
  const queue = uniqueName('drain');
  const ledger = new Ledger();
  try {
    const direct = await amqp.connect(BROKER_URL);
    await (await direct.createChannel()).assertQueue(queue, { durable: false });
    await direct.close();

    const conn = await amqp.connect(proxy.url);
    let closeError: (Error & { code?: number }) | undefined;
    const closed = new Promise<void>((resolve) => conn.once('close', (err?: Error) => {
      closeError = err;
      resolve();
    }));
    conn.on('error', () => undefined);
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    let open = true;
    void closed.then(() => { open = false; });
    let next = 0;
    const publisher = (async () => {
      while (open) {
        const id = next++;
        try {
          ch.sendToQueue(queue, Buffer.from(String(id)), { messageId: String(id) }, (err) => {
            if (!err) ledger.confirmed.add(id);
          });
        } catch {
          break; // the channel is closed: the 320 arrived
        }
        await sleep(3);
      }
    })();
    await waitFor('traffic before the signal', () => ledger.confirmed.size >= 50, 10_000);

    const signalledAt = Date.now();
    proxy.process.kill('SIGTERM');
    const confirmedAtSignal = ledger.confirmed.size;
    await sleep(300);
    const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
    assert.is(ready.status, 503, '/readyz reports not-ready while draining');
    const refused = await amqp.connect(proxy.url).then((c) => { void c.close(); return false; }, () => true);
    assert.ok(refused, 'no new connections while draining');

    await closed;
    const closedAfter = Date.now() - signalledAt;
    await publisher;
    assert.ok(closeError, 'the client saw the connection close with an error');
    assert.is(closeError!.code, 320, `connection.close 320 CONNECTION_FORCED, got ${closeError!.message}`);
    assert.ok(closedAfter >= DRAIN_MS - 100, `connection kept for the drain period (closed after ${closedAfter} ms)`);
    assert.ok(ledger.confirmed.size > confirmedAtSignal + 50,
      `publishes kept being confirmed during the drain (${confirmedAtSignal} at SIGTERM, ${ledger.confirmed.size} at 320)`);

    const exit = await Promise.race([proxy.exited, sleep(DRAIN_MS + 6000).then(() => undefined)]);
    assert.ok(exit, 'the proxy exited');
    assert.is(exit!.code, 0, proxy.output());
    assert.ok(Date.now() - signalledAt < DRAIN_MS + 6000, 'exit within the drain period and the close grace');

    const check = await amqp.connect(BROKER_URL);
    const cc = await check.createChannel();
    for (;;) {
      const msg = await cc.get(queue, { noAck: true });
      if (msg === false) break;
      ledger.consume(Number(msg.content.toString()));
    }
    await check.close();
    assert.equal(ledger.missing(), [], 'every confirmed message is in the queue');
  } finally {
    proxy.process.kill('SIGKILL');
    await deleteQueues(queue);
  }
});

drainTest('a second signal exits at once', async () => {
  const proxy = await startChildProxy(0, { DRAIN_TIMEOUT_MS: '30000' });
  const conn = await amqp.connect(proxy.url);
  conn.on('error', () => undefined);
  try {
    proxy.process.kill('SIGTERM');
    await sleep(200);
    const started = Date.now();
    proxy.process.kill('SIGINT');
    const exit = await proxy.exited;
    assert.ok(Date.now() - started < 2000, 'exited promptly');
    assert.is.not(exit.code, 0, 'a forced exit is not a clean drain');
  } finally {
    proxy.process.kill('SIGKILL');
    await conn.close().catch(() => undefined);
  }
});

drainTest.run();
