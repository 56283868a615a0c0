/**
 * F4 of issue 21: a connection that stops being AMQP 0-9-1 during the handshake (an AMQP 1.0
 * client of RabbitMQ 4 on the same port) goes on as an opaque pipe, as the log says; the
 * proxy's 0-9-1 handshake deadline, which waits for a connection.open-ok such a connection
 * never sends, must not cut it. Hermetic: the upstream is an echo server, so only the proxy
 * can close the connection (test/docker/rabbitmq4.test.ts does the same with a real AMQP 1.0
 * client and broker). That a 0-9-1 client stalling in its handshake is still closed at the
 * deadline is test/integration/hardening/handshake-timeout.test.ts. A pipe that then goes
 * silent, as a peer that never finishes its handshake does, is closed at the opaque idle
 * deadline (--opaque-idle-timeout-ms) instead of held for as long as the upstream lets it.
 */
import { Socket, connect } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { requireBroker } from '../../support/broker';
import { EchoServer, echoServer } from '../../support/echoServer';
import { TestProxy, startTestProxy } from '../../support/proxy';
import { sleep, waitFor } from '../hardening/helpers';

const DEADLINE_MS = 400;
/** AMQP 1.0's protocol header (OASIS AMQP 1.0 part 2.2): "AMQP" 0 1 0 0. */
const AMQP_1_0_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0x00, 0x01, 0x00, 0x00]);

interface Pipe {
  readonly socket: Socket;
  received(): Buffer;
  readonly closed: () => boolean;
}

async function open(port: number): Promise<Pipe> {
  const socket = connect({ host: '127.0.0.1', port });
  let data = Buffer.alloc(0);
  let closed = false;
  socket.on('data', (d: Buffer) => { data = Buffer.concat([data, d]); });
  socket.on('error', () => undefined);
  socket.on('close', () => { closed = true; });
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, received: () => data, closed: () => closed };
}

const pipe = suite<{ proxy: TestProxy; echo: EchoServer }>('adversarial: opaque pipes and the handshake deadline', {
  proxy: undefined as unknown as TestProxy, echo: undefined as unknown as EchoServer,
});

pipe.before(async (ctx) => {
  ctx.echo = await echoServer();
  ctx.proxy = await startTestProxy({ PROXY_UPSTREAM: `amqp://127.0.0.1:${ctx.echo.port}`, PROXY_HANDSHAKE_TIMEOUT_MS: String(DEADLINE_MS) });
});
pipe.after(async (ctx) => {
  await ctx.proxy.stop();
  ctx.echo.close();
});

pipe('an AMQP 1.0 connection keeps exchanging bytes past the 0-9-1 handshake deadline', async ({ proxy }) => {
  const c = await open(proxy.port);
  c.socket.write(AMQP_1_0_HEADER);
  await waitFor('the header echoed back', () => c.received().length >= 8, 2000);
  await sleep(DEADLINE_MS * 3);
  assert.not.ok(c.closed(), 'the pipe is still open past the deadline');
  c.socket.write('after the deadline');
  await waitFor('bytes after the deadline echoed', () => c.received().toString('latin1').endsWith('after the deadline'), 2000);
  c.socket.destroy();
});

pipe('a pipe that goes silent after its header is closed at the opaque idle deadline; one that keeps talking is not', async ({ echo }) => {
  const IDLE_MS = 600;
  const proxy = await startTestProxy({
    PROXY_UPSTREAM: `amqp://127.0.0.1:${echo.port}`, PROXY_HANDSHAKE_TIMEOUT_MS: String(DEADLINE_MS), PROXY_OPAQUE_IDLE_TIMEOUT_MS: String(IDLE_MS),
  });
  try {
    const silent = await open(proxy.port);
    const talking = await open(proxy.port);
    const opened = Date.now();
    for (const c of [silent, talking]) c.socket.write(AMQP_1_0_HEADER);
    await waitFor('both headers echoed back', () => silent.received().length >= 8 && talking.received().length >= 8, 2000);
    // Past the handshake deadline and three idle deadlines, a heartbeat's worth of bytes every 150 ms.
    for (let i = 0; i < 14; i++) {
      await sleep(150);
      talking.socket.write('.');
    }
    await waitFor('the silent pipe closed', () => silent.closed(), 3000);
    assert.ok(Date.now() - opened >= IDLE_MS, 'not before its idle deadline');
    assert.not.ok(talking.closed(), 'the talking pipe is open');
    await waitFor('its last bytes echoed', () => talking.received().length >= 8 + 14, 2000);
    talking.socket.destroy();
  } finally {
    await proxy.stop();
  }
});

pipe('a 0-9-1 connection that fails open after connection.open-ok is the broker\'s client: the opaque idle deadline does not close it', async () => {
  await requireBroker();
  const IDLE_MS = 300;
  // Frames over 4096 bytes are not held after the handshake: a large content header makes the connection opaque.
  const proxy = await startTestProxy({ PROXY_OPAQUE_IDLE_TIMEOUT_MS: String(IDLE_MS), PROXY_MAX_FRAME_HOLD_BYTES: '4096' });
  const failOpens = async (): Promise<number> =>
    Number(/fail_open_total\{reason="oversized_frame"\} (\d+)/.exec(await (await fetch(`${proxy.metricsUrl}/metrics`)).text())?.[1] ?? 0);
  const conn = await amqp.connect(`${proxy.url}?frameMax=131072`);
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createConfirmChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    ch.sendToQueue(queue, Buffer.from('x'), { headers: { pad: 'p'.repeat(8192) } });
    await ch.waitForConfirms();
    await waitFor('the connection gone opaque', async () => (await failOpens()) === 1, 5000, 50);
    // Crossing the proxy's timer is the point: no bytes either way for three times its deadline.
    await sleep(IDLE_MS * 3);
    assert.is((await ch.checkQueue(queue)).messageCount, 1, 'the connection still answers');
  } finally {
    await conn.close().catch(() => undefined);
    await proxy.stop();
  }
});

pipe.run();
