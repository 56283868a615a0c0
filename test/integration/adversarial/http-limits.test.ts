/**
 * F6 of issue 21: the metrics and admin listeners bound how long a connection may say
 * nothing or drip a request, and how many connections they hold. Before the fix, Node's
 * defaults kept an idle socket 70 s and a dripped body 300 s, and with a 256 file
 * descriptor limit, 300 idle sockets on the metrics port locked AMQP clients out.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket } from 'node:net';
import { requireBroker } from '../../support/broker';
import { sleep } from '../hardening/helpers';
import { CHECK_INTERVAL_MS } from '../../../src/http/limits';
import { HttpProxy, closedWithin, openSocket, roundTrip, startHttpProxy, stopChild } from './httpPeers';

const limits = suite('adversarial: HTTP listener limits');

const TIMEOUT_MS = 1000;
/**
 * The deadline, the listeners' check interval and a loaded machine's slack (a full run on two
 * shared cores once took longer than 3 s of slack). Without the limits Node keeps such a socket
 * 60 s or more, so the slack leaves the test able to fail.
 */
const CLOSED_WITHIN_MS = TIMEOUT_MS + CHECK_INTERVAL_MS + 8000;
/**
 * A connection past the cap is closed on accept; slack for a loaded machine. Longer than the idle
 * deadline, so the test also asserts the held connections, opened before it, are still open: an
 * idle close would have taken them first.
 */
const REFUSED_WITHIN_MS = 2000;

let proxy: HttpProxy | undefined;

limits.before(async () => {
  await requireBroker();
  proxy = await startHttpProxy({ HTTP_REQUEST_TIMEOUT_MS: String(TIMEOUT_MS), HTTP_MAX_CONNECTIONS: '8' });
});

limits.after(async () => {
  if (proxy) await stopChild(proxy.process);
});

/** Writes `head` at once, then one byte of `drip` every 100 ms until the socket closes. */
function drip(socket: Socket, head: string, drip: string): void {
  socket.write(head);
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed) return clearInterval(timer);
    socket.write(drip[i++ % drip.length]!);
  }, 100);
  socket.once('close', () => clearInterval(timer));
}

for (const listener of ['metrics', 'admin'] as const) {
  const port = (): number => (listener === 'admin' ? proxy!.adminPort : proxy!.metricsPort);

  limits(`${listener}: a connection that sends nothing is closed within the timeout`, async () => {
    const socket = await openSocket(port());
    assert.ok(await closedWithin(socket, CLOSED_WITHIN_MS), 'the idle socket is still open');
  });

  limits(`${listener}: headers dripped a byte at a time are cut off within the timeout`, async () => {
    const socket = await openSocket(port());
    drip(socket, 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'X-Slow: aaaaaaaaaa\r\n');
    assert.ok(await closedWithin(socket, CLOSED_WITHIN_MS), 'the dripping socket is still open');
  });

  limits(`${listener}: a body dripped a byte at a time is cut off within the timeout`, async () => {
    const socket = await openSocket(port());
    drip(socket, 'POST /mode HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n', ' ');
    assert.ok(await closedWithin(socket, CLOSED_WITHIN_MS), 'the dripping socket is still open');
  });

  limits(`${listener}: past the connection cap, a new connection is closed at once while the first ones are held`, async () => {
    const held = await Promise.all(Array.from({ length: 8 }, () => openSocket(port())));
    try {
      await sleep(100);
      const extra = await openSocket(port());
      assert.ok(await closedWithin(extra, REFUSED_WITHIN_MS), 'the connection past the cap stayed open');
      assert.ok(held.every((s) => !s.destroyed), 'a connection under the cap was closed');
    } finally {
      for (const s of held) s.destroy();
    }
  });
}

limits('300 idle sockets on the metrics port under a 256 file descriptor limit leave AMQP clients able to connect', async () => {
  const small = await startHttpProxy({}, ['prlimit', '--nofile=256', '--']);
  const sockets: Socket[] = [];
  try {
    for (let i = 0; i < 300; i++) {
      const socket = await openSocket(small.metricsPort).catch(() => undefined);
      if (socket) {
        socket.on('error', () => undefined);
        sockets.push(socket);
      }
    }
    await sleep(200);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no AMQP round trip within 10 s:\n${small.output().slice(-2000)}`)), 10_000);
    });
    try {
      await Promise.race([roundTrip(small.url), deadline]);
    } finally {
      clearTimeout(timer);
    }
    assert.is(small.process.exitCode, null);
  } finally {
    for (const s of sockets) s.destroy();
    await stopChild(small.process);
  }
});

limits.run();
