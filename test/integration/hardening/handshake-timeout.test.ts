/**
 * --handshake-timeout-ms bounds the whole AMQP handshake, not just the protocol header: a
 * client that stalls at any step before connection.open-ok is closed by the proxy at its own
 * deadline, well before the broker's handshake_timeout (RabbitMQ: 10 s), and one that has
 * finished the handshake may stay quiet for as long as it likes.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Method, PROTOCOL_HEADER, methodKey } from '../../../src/amqp/constants';
import { requireBroker } from '../../support/broker';
import { TestProxy, startTestProxy } from '../../support/proxy';
import { sleep, waitFor } from './helpers';
import { FRAME_MAX, RawClient } from './rawClient';

const TIMEOUT_MS = 1000;
/** Far below RabbitMQ's own 10 s, so only the proxy can have closed the connection. */
const CLOSED_WITHIN_MS = 4000;

async function refused(proxy: TestProxy): Promise<number> {
  const text = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
  return Number(/connections_refused_total\{reason="handshake_timeout"\} (\d+)/.exec(text)?.[1] ?? 'NaN');
}

/** The client's side of the handshake, step by step; a test stalls after one of them. */
const STEPS: readonly { name: string; run: (c: RawClient) => Promise<void> | void }[] = [
  { name: 'the protocol header', run: async (c) => {
    c.socket.write(PROTOCOL_HEADER);
    await c.method(Method.ConnectionStart);
  } },
  { name: 'connection.start-ok', run: async (c) => {
    c.sendMethod(0, methodKey(10, 11), { clientProperties: {}, mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US' });
    await c.method(Method.ConnectionTune);
  } },
  { name: 'connection.tune-ok', run: (c) => c.sendMethod(0, Method.ConnectionTuneOk, { channelMax: 16, frameMax: FRAME_MAX, heartbeat: 0 }) },
  // The first bytes of a connection.open frame, the rest never sent.
  { name: 'half of connection.open', run: (c) => { c.socket.write(Buffer.from([1, 0, 0, 0, 0, 0, 8, 0, 10, 0])); } },
];

const handshake = suite<{ proxy: TestProxy }>('handshake timeout up to connection.open-ok', { proxy: undefined as unknown as TestProxy });

handshake.before(async (ctx) => {
  await requireBroker();
  ctx.proxy = await startTestProxy({ PROXY_HANDSHAKE_TIMEOUT_MS: String(TIMEOUT_MS) });
});
handshake.after(async (ctx) => ctx.proxy.stop());

for (const [index, { name }] of STEPS.entries()) {
  handshake(`a client that stalls after ${name} is closed at the proxy's deadline, both sides`, async ({ proxy }) => {
    const before = await refused(proxy);
    const started = Date.now();
    const c = await RawClient.connect(proxy.port);
    for (const step of STEPS.slice(0, index + 1)) await step.run(c);
    await waitFor('the proxy closes the client', () => c.closed, CLOSED_WITHIN_MS);
    const after = Date.now() - started;
    assert.ok(after >= TIMEOUT_MS - 50, `not before the deadline (${after} ms)`);
    await waitFor('the broker side is gone too', () => proxy.app.server.connections.size === 0, 2000);
    assert.is(await refused(proxy), before + 1);
  });
}

handshake('a client that finished the handshake may stay quiet past the deadline', async ({ proxy }) => {
  const before = await refused(proxy);
  const c = await RawClient.open(proxy.port);
  await sleep(TIMEOUT_MS * 2);
  assert.not.ok(c.closed);
  c.sendMethod(1, Method.ChannelClose, { replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 });
  await c.method(Method.ChannelCloseOk);
  assert.is(await refused(proxy), before);
  c.socket.destroy();
});

handshake.run();
