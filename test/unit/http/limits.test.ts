import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { applyLimits, createLimitedHttpServer, serverOptions } from '../../../src/http/limits';
import { sleep, waitFor } from '../../support/wait';

const LIMITS = { maxConnections: 8, requestTimeoutMs: 400 };

const answer = (req: IncomingMessage, res: ServerResponse): void => {
  req.resume();
  req.on('end', () => res.end('ok\n'));
};

/** Node's check (serverOptions and applyLimits, as the webhook) or per-connection deadlines. */
function limitedServer(keeper: 'node' | 'per-connection'): Server {
  if (keeper === 'per-connection') return createLimitedHttpServer(LIMITS, answer);
  const server = createServer(serverOptions(LIMITS), answer);
  applyLimits(server, LIMITS);
  return server;
}

async function listening(keeper: 'node' | 'per-connection'): Promise<{ server: Server; port: number }> {
  const server = limitedServer(keeper);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as { port: number }).port };
}

/** Timers the process holds: Node's connection check is one of them. */
const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

async function closed(socket: Socket): Promise<number> {
  const started = performance.now();
  await once(socket, 'close');
  return performance.now() - started;
}

test("per-connection deadlines: Node's interval check is off, and a timer exists only while a connection is open", async () => {
  // Node's check is an unref'd interval from listen on, so it is not counted below; its period is what wakes an idle process.
  const interval = (server: Server): unknown => (server as Server & { connectionsCheckingInterval?: number }).connectionsCheckingInterval;
  assert.is(interval(limitedServer('node')), 400);
  assert.is(interval(limitedServer('per-connection')), 2_147_483_647, 'never, in practice');
  const before = timers();
  const { server, port } = await listening('per-connection');
  try {
    assert.is(timers(), before, 'a listener nobody uses holds no timer');
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    await waitFor('the server to take the connection', () => timers() > before, 2000, 10);
    assert.is(timers(), before + 1, 'the open connection has its deadline');
    socket.destroy();
    await waitFor('the connection to close', () => timers() === before, 2000, 10);
  } finally {
    server.close();
  }
});

test('per-connection deadlines: a request dripped past the deadline is cut; whole requests on one connection are answered', async () => {
  const { server, port } = await listening('per-connection');
  try {
    const slow = connect(port, '127.0.0.1');
    await once(slow, 'connect');
    slow.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n');
    const drip = setInterval(() => slow.write('a'), 50);
    const ms = await closed(slow);
    clearInterval(drip);
    assert.ok(ms < LIMITS.requestTimeoutMs * 3, `cut after ${ms.toFixed(0)} ms`);

    const keep = connect(port, '127.0.0.1');
    await once(keep, 'connect');
    let answers = 0;
    keep.on('data', (b: Buffer) => (answers += b.toString().split('ok\n').length - 1));
    for (let i = 0; i < 3; i++) {
      keep.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      // Each request within its own deadline, three deadlines' worth in all.
      await sleep(LIMITS.requestTimeoutMs / 2);
    }
    assert.is(answers, 3, 'every whole request answered on the kept-alive connection');
    keep.destroy();
  } finally {
    server.close();
  }
});

test.run();
