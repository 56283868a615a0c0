import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A port that was free a moment ago (bind to 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Where the kernel's ephemeral ports start: listen(0) and connect() are only given ports from there up. */
export function ephemeralPortsStart(): number | undefined {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : undefined;
  } catch {
    return undefined; // not Linux
  }
}

const STABLE_PORTS_FROM = 20_000;

function bindsOn(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free port below the kernel's ephemeral range, for a server that must get the same port back
 * after a restart. A port from freePort() is in that range: while the server is down, any
 * listen(0) or outgoing connection on the machine may be given it, and a client reconnecting to
 * the port then reaches that other program (seen: a private RabbitMQ node's port was taken
 * during its restart by another test's proxy to the shared broker, so the clients went on
 * there). Ports below the range are only ever bound by number. Falls back to freePort() where the range cannot be read.
 */
export async function stablePort(): Promise<number> {
  const end = ephemeralPortsStart();
  if (end === undefined || end - STABLE_PORTS_FROM < 1000) return freePort();
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = STABLE_PORTS_FROM + Math.floor(Math.random() * (end - STABLE_PORTS_FROM));
    if (await bindsOn(port)) return port;
  }
  throw new Error(`no free port in ${STABLE_PORTS_FROM}-${end - 1} after 50 tries`);
}
