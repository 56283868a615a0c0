/**
 * Consumers whose tag the client never learns (a no-wait basic.consume with an empty tag:
 * the broker names it and sends no consume-ok), against the real broker: deliveries are
 * never attributed to another consumer's queue.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { Method } from '../../../src/amqp/constants';
import { requireBroker, uniqueName } from '../../support/broker';
import { startTestProxy } from '../../support/proxy';
import { waitFor } from '../hardening/helpers';
import { RawClient } from '../hardening/rawClient';

function consume(client: RawClient, queue: string, nowait: boolean): void {
  client.sendMethod(1, Method.BasicConsume, { ticket: 0, queue, consumerTag: '', noLocal: false, noAck: true, exclusive: false, nowait, arguments: {} });
}

async function hops(metricsUrl: string, queue: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const m = new RegExp(`amqp_trace_proxy_broker_hop_seconds_count\\{queue="${queue}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

test('a no-wait consume with an empty tag does not take over a later consumer\'s deliveries; its own are its queue\'s', async () => {
  await requireBroker();
  const proxy = await startTestProxy({ METRICS_DESTINATION_LABELS: 'true' });
  const conn = await amqp.connect(proxy.url);
  const ch = await conn.createConfirmChannel();
  const unnamed = uniqueName('nowait-unnamed');
  const named = uniqueName('nowait-later');
  const client = await RawClient.open(proxy.port);
  try {
    for (const q of [unnamed, named]) await ch.assertQueue(q, { durable: false });
    consume(client, unnamed, true);
    consume(client, named, false);
    await client.method(Method.BasicConsumeOk);
    ch.sendToQueue(named, Buffer.alloc(4));
    ch.sendToQueue(unnamed, Buffer.alloc(4));
    ch.sendToQueue(named, Buffer.alloc(4));
    await ch.waitForConfirms();
    await waitFor('three deliveries', () => client.methodsReceived().filter((m) => m === Method.BasicDeliver).length === 3, 5000);
    assert.is(await hops(proxy.metricsUrl, named), 2, 'the later consumer\'s deliveries are its queue\'s');
    assert.is(await hops(proxy.metricsUrl, unnamed), 1, 'the broker-named consumer\'s delivery is its queue\'s');
  } finally {
    client.socket.destroy();
    for (const q of [unnamed, named]) await ch.deleteQueue(q);
    await conn.close();
    await proxy.stop();
  }
});

test.run();
