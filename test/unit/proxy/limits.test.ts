import { Socket, connect } from 'node:net';
import pino from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PROTOCOL_HEADER } from '../../../src/amqp/constants';
import { parseUpstreamList } from '../../../src/config/upstream';
import { createMetrics } from '../../../src/metrics/metrics';
import { type ConnectionLimits, DEFAULT_MAX_FRAME_HOLD_BYTES } from '../../../src/proxy/limits';
import { ProxyServer } from '../../../src/proxy/proxyServer';
import { UpstreamConnector } from '../../../src/proxy/upstreamConnector';
import { echoServer } from '../../support/echoServer';
import { sleep } from '../../support/wait';

async function proxyWith(limits: ConnectionLimits) {
  const upstream = await echoServer();
  const metrics = createMetrics({ destinationLabels: false, maxDestinationLabels: 1, collectDefault: false });
  const server = new ProxyServer({
    listen: { host: '127.0.0.1', port: 0 },
    connector: new UpstreamConnector({ upstreams: parseUpstreamList(`amqp://127.0.0.1:${upstream.port}`), connectTimeoutMs: 1000, retryAfterMs: 0 }),
    sessionFor: () => undefined,
    metrics,
    logger: pino({ level: 'silent' }),
    limits,
  });
  const { port } = await server.listen();
  const refused = async (reason: string): Promise<number> =>
    Number(new RegExp(`connections_refused_total\\{reason="${reason}"\\} (\\d+)`).exec(await metrics.registry.metrics())?.[1]);
  return {
    port, server, upstream, refused,
    async stop() { await server.close(); upstream.close(); },
  };
}

function open(port: number): Promise<{ socket: Socket; closed: Promise<number>; received: () => Buffer }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const started = Date.now();
    let data = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => { data = Buffer.concat([data, d]); });
    socket.on('error', () => undefined);
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - started)));
    socket.once('connect', () => resolve({ socket, closed, received: () => data }));
  });
}

test('handshake timeout: a silent client is closed, and never costs an upstream connection', async () => {
  const p = await proxyWith({ maxConnections: 0, handshakeTimeoutMs: 200, idleTimeoutMs: 0, maxFrameHoldBytes: DEFAULT_MAX_FRAME_HOLD_BYTES });
  try {
    const silent = await open(p.port);
    const after = await silent.closed;
    assert.ok(after >= 180 && after < 1000, `closed after ${after} ms`);
    assert.is(p.upstream.accepted(), 0);
    assert.is(await p.refused('handshake_timeout'), 1);
  } finally {
    await p.stop();
  }
});

test('handshake timeout: a header sent a byte at a time in time is enough, and no byte is lost', async () => {
  const p = await proxyWith({ maxConnections: 0, handshakeTimeoutMs: 500, idleTimeoutMs: 0, maxFrameHoldBytes: DEFAULT_MAX_FRAME_HOLD_BYTES });
  try {
    const c = await open(p.port);
    for (const byte of PROTOCOL_HEADER) {
      c.socket.write(Buffer.from([byte]));
      await sleep(20);
    }
    c.socket.write('after');
    await sleep(700);
    assert.is(c.received().toString('latin1'), `${PROTOCOL_HEADER.toString('latin1')}after`, 'echoed exactly');
    assert.is(p.upstream.accepted(), 1);
    assert.is(await p.refused('handshake_timeout'), 0);
    c.socket.destroy();
  } finally {
    await p.stop();
  }
});

test('max connections: the one over the limit is closed at once and counted; a slot frees on close', async () => {
  const p = await proxyWith({ maxConnections: 2, handshakeTimeoutMs: 0, idleTimeoutMs: 0, maxFrameHoldBytes: DEFAULT_MAX_FRAME_HOLD_BYTES });
  try {
    const a = await open(p.port);
    const b = await open(p.port);
    const c = await open(p.port);
    assert.ok((await c.closed) < 500);
    assert.is(await p.refused('max_connections'), 1);
    a.socket.destroy();
    await a.closed;
    await sleep(50);
    const d = await open(p.port);
    d.socket.write(PROTOCOL_HEADER);
    await sleep(100);
    assert.ok(!d.socket.destroyed && d.received().length === 8, 'a freed slot is usable');
    b.socket.destroy();
    d.socket.destroy();
  } finally {
    await p.stop();
  }
});

test('idle timeout: no bytes either way closes the connection; traffic keeps it open', async () => {
  const p = await proxyWith({ maxConnections: 0, handshakeTimeoutMs: 0, idleTimeoutMs: 300, maxFrameHoldBytes: DEFAULT_MAX_FRAME_HOLD_BYTES });
  try {
    const busy = await open(p.port);
    const idle = await open(p.port);
    busy.socket.write(PROTOCOL_HEADER);
    idle.socket.write(PROTOCOL_HEADER);
    for (let i = 0; i < 8; i++) {
      await sleep(100);
      busy.socket.write('x');
    }
    assert.ok(idle.socket.destroyed || (await Promise.race([idle.closed, sleep(10).then(() => -1)])) >= 0, 'idle one closed');
    assert.not.ok(busy.socket.destroyed, 'busy one still open');
    assert.is(await p.refused('idle_timeout'), 1);
    busy.socket.destroy();
  } finally {
    await p.stop();
  }
});

test.run();
