import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { FRAME_BODY, FRAME_HEADER, FRAME_METHOD, Method, PROTOCOL_HEADER } from '../../../src/amqp/constants';
import { encodeFrame } from '../../../src/amqp/frame';
import { BROKER_URL, requireBroker, uniqueName } from '../../support/broker';
import { rawFrame, referenceContentHeader, referenceMethodPayload, tuneOkFrame } from '../../support/amqpVectors';
import { TestProxy, startTestProxy } from '../../support/proxy';
import { Ledger, deleteQueues, sleep, waitFor } from './helpers';
import { RawClient } from './rawClient';

import { FRAME_MAX } from './rawClient';

const publishFrame = (queue: string): Buffer => encodeFrame(FRAME_METHOD, 1, referenceMethodPayload(Method.BasicPublish, {
  ticket: 0, exchange: '', routingKey: queue, mandatory: false, immediate: false,
}));

function withEnd(frame: Buffer, end: number): Buffer {
  const copy = Buffer.from(frame);
  copy[copy.length - 1] = end;
  return copy;
}

interface HostileCase {
  readonly name: string;
  readonly handshake: boolean;
  readonly bytes: () => Buffer;
  /** The fail-open reason the proxy records, or undefined when the bytes are frames it forwards as they are. */
  readonly failOpen: string | undefined;
  /** The handshake anomaly the proxy counts (amqp_trace_proxy_handshake_anomalies_total), if any. */
  readonly anomaly?: string;
}

const CASES: HostileCase[] = [
  { name: 'garbage right after the protocol header', handshake: false, failOpen: 'oversized_frame',
    bytes: () => Buffer.concat([PROTOCOL_HEADER, Buffer.alloc(64, 0xff)]) },
  { name: 'an unknown frame type after the handshake', handshake: true, failOpen: 'bad_frame_type',
    bytes: () => Buffer.concat([encodeFrame(9, 1, Buffer.from('???')), Buffer.alloc(32, 0x5a)]) },
  { name: 'text after the handshake (its first bytes read as a huge frame)', handshake: true, failOpen: 'oversized_frame',
    bytes: () => Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n') },
  { name: 'an oversized frame (beyond the negotiated frame_max)', handshake: true, failOpen: 'oversized_frame',
    bytes: () => Buffer.concat([rawFrame(FRAME_BODY, 1, FRAME_MAX * 16), Buffer.alloc(100)]) },
  { name: 'a tune-ok before the broker\'s tune asking for 4 GiB frames, then a 5000-byte publish (not held: over frame-min-size)', handshake: false,
    failOpen: 'oversized_frame', anomaly: 'tune_ok_unasked',
    bytes: () => Buffer.concat([PROTOCOL_HEADER, tuneOkFrame(0xffffffff),
      encodeFrame(FRAME_METHOD, 1, Buffer.concat([referenceMethodPayload(Method.BasicPublish, { ticket: 0, exchange: '', routingKey: 'x', mandatory: false, immediate: false }), Buffer.alloc(5000)]))]) },
  { name: 'a basic.publish frame with a bad end byte', handshake: true, failOpen: 'bad_frame_end',
    bytes: () => withEnd(publishFrame('nowhere'), 0x00) },
  { name: 'a content header without a publish', handshake: true, failOpen: undefined,
    bytes: () => encodeFrame(FRAME_HEADER, 1, referenceContentHeader({ headers: { a: 1 } }, 0)) },
  { name: 'a publish whose content header has a headers table longer than its frame (forwarded unread, not failed open)', handshake: true, failOpen: undefined,
    bytes: () => {
      const header = referenceContentHeader({ headers: { a: 'b' } }, 0);
      header.writeUInt32BE(0x7fff, 14); // the table's length field
      return Buffer.concat([publishFrame('nowhere'), encodeFrame(FRAME_HEADER, 1, header)]);
    } },
];

async function counted(proxy: TestProxy, metric: string, label: string, value: string): Promise<number> {
  const text = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
  return Number(new RegExp(`${metric}\\{${label}="${value}"\\} (\\d+)`).exec(text)?.[1] ?? 'NaN');
}
const failOpenCount = (proxy: TestProxy, reason: string): Promise<number> => counted(proxy, 'fail_open_total', 'reason', reason);
const anomalyCount = (proxy: TestProxy, kind: string): Promise<number> => counted(proxy, 'handshake_anomalies_total', 'kind', kind);

const hostile = suite('hostile input through the proxy');

hostile('each bad connection fails open or is closed; a well-behaved client is served all along', async () => {
  await requireBroker();
  const proxy = await startTestProxy();
  const queue = uniqueName('hostile');
  const ledger = new Ledger();
  const direct = await amqp.connect(BROKER_URL);
  const good = await amqp.connect(proxy.url);
  let running = true;
  try {
    const consumer = await direct.createChannel();
    await consumer.assertQueue(queue, { durable: false });
    await consumer.consume(queue, (m) => { if (m) ledger.consume(Number(m.content.toString())); }, { noAck: true });
    const ch = await good.createConfirmChannel();
    let next = 0;
    let failure: Error | undefined;
    const publishing = (async () => {
      while (running) {
        const id = next++;
        ch.sendToQueue(queue, Buffer.from(String(id)));
        await ch.waitForConfirms();
        ledger.confirmed.add(id);
        await sleep(2);
      }
    })().catch((err: Error) => { failure = err; });

    const outcomes: string[] = [];
    for (const c of CASES) {
      const before = c.failOpen ? await failOpenCount(proxy, c.failOpen) : 0;
      const anomaliesBefore = c.anomaly ? await anomalyCount(proxy, c.anomaly) : 0;
      const confirmedBefore = ledger.confirmed.size;
      const raw = c.handshake ? await RawClient.open(proxy.port) : await RawClient.connect(proxy.port);
      raw.socket.write(c.bytes());
      // The broker answers with connection.close (or just closes); either is a clean end.
      const ended = (): boolean => raw.closed || raw.methodsReceived().includes(Method.ConnectionClose);
      await waitFor(`${c.name}: the broker ends the connection`, ended, 8000).catch(() => undefined);
      assert.ok(ended(), `${c.name}: the connection ends cleanly, it is not left hanging`);
      outcomes.push(`${c.name}: ${raw.closed ? 'closed' : 'connection.close'}`);
      raw.socket.destroy();
      if (c.failOpen) assert.is(await failOpenCount(proxy, c.failOpen), before + 1, `${c.name}: fail-open counted`);
      if (c.anomaly) assert.is(await anomalyCount(proxy, c.anomaly), anomaliesBefore + 1, `${c.name}: anomaly counted`);
      await waitFor(`${c.name}: the proxy drops its side`, () => proxy.app.server.connections.size === 1, 5000);
      await waitFor('the good client keeps going', () => ledger.confirmed.size > confirmedBefore + 20, 5000);
    }
    running = false;
    await publishing;
    if (process.env.HOSTILE_DEBUG) console.log(outcomes.join('\n'));
    assert.is(failure, undefined, 'the good client never saw an error');
    await waitFor('every confirmed message consumed', () => ledger.allConfirmedConsumed(), 10_000);
  } finally {
    running = false;
    await good.close().catch(() => undefined);
    await direct.close().catch(() => undefined);
    await proxy.stop();
    await deleteQueues(queue);
  }
});

hostile.run();
