import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { requireBroker, uniqueName } from '../../support/broker';
import { startTestProxy } from '../../support/proxy';
import { Method } from '../../../src/amqp/constants';
import { Ledger, deleteQueues, sleep, waitFor } from './helpers';
import { RawClient } from './rawClient';

const MESSAGES = 600;
const BODY = 64 * 1024;

const slow = suite('slow consumer under a fast publisher');
slow.before(() => requireBroker());

slow('a consumer that stops reading: the proxy buffers a bounded amount, the rest waits in the broker; nothing lost', async () => {
  const proxy = await startTestProxy();
  const queue = uniqueName('slow');
  const ledger = new Ledger();
  const publisherConn = await amqp.connect(proxy.url);
  try {
    const ch = await publisherConn.createConfirmChannel();
    await ch.assertQueue(queue, { durable: false });
    // A hand-written consumer, because a library keeps reading whatever the test asks of it.
    // noAck and no prefetch limit: the broker pushes as fast as TCP lets it.
    const consumer = await RawClient.open(proxy.port);
    consumer.sendMethod(1, Method.BasicConsume, {
      ticket: 0, queue, consumerTag: 'slow', noLocal: false, noAck: true, exclusive: false, nowait: false, arguments: {},
    });
    await consumer.method(Method.BasicConsumeOk);
    const consumerPair = [...proxy.app.server.connections].find((p) => p.client.remotePort === consumer.socket.localPort);
    consumer.socket.pause();

    let maxBuffered = 0;
    let maxHeld = 0;
    const probe = setInterval(() => {
      maxBuffered = Math.max(maxBuffered, consumerPair!.client.writableLength);
      let held = 0;
      for (const pair of proxy.app.server.connections) held += pair.bufferedBytes;
      maxHeld = Math.max(maxHeld, held);
    }, 5);
    for (let id = 0; id < MESSAGES; id++) {
      const body = Buffer.alloc(BODY, id % 251);
      body.writeUInt32BE(id, 0);
      ch.sendToQueue(queue, body);
      if (id % 50 === 49) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();
    for (let id = 0; id < MESSAGES; id++) ledger.confirmed.add(id);
    await sleep(500);
    clearInterval(probe);
    const flooded = MESSAGES * BODY;
    process.stdout.write(process.env.LOAD_REPORT
      ? `\nslow consumer: ${(flooded / 1048576).toFixed(0)} MB published; proxy's buffered bytes to the client at most ` +
        `${(maxBuffered / 1024).toFixed(0)} KB; all its socket buffers together at most ${(maxHeld / 1024).toFixed(0)} KB\n`
      : '');
    assert.ok(consumer.bodyIds.length < MESSAGES / 2, `the consumer really stalled (${consumer.bodyIds.length} received)`);
    // Backpressure: the proxy stops reading the broker when the client side cannot take more,
    // so what it holds is a socket's worth of bytes plus at most a chunk, not the flood.
    assert.ok(maxBuffered < 1024 * 1024, `proxy buffered ${maxBuffered} bytes for the stalled client`);
    assert.ok(maxHeld < 2 * 1024 * 1024, `the proxy held ${maxHeld} bytes in socket buffers while ${flooded} were published`);

    consumer.socket.resume();
    await waitFor('every message consumed once the consumer reads again', () => consumer.bodyIds.length >= MESSAGES, 30_000);
    for (const id of consumer.bodyIds) ledger.consume(id);
    assert.equal(ledger.missing(), []);
    assert.is(ledger.duplicates, 0);
  } finally {
    await publisherConn.close().catch(() => undefined);
    await proxy.stop();
    await deleteQueues(queue);
  }
});

slow.run();
