import { Server, Socket, connect, createServer } from 'node:net';
import { stablePort } from './ports';

/**
 * A TCP port the test controls in front of the shared broker: it can refuse connections and
 * cut existing ones, standing in for a broker that goes down, without touching the real one.
 */
export interface Forwarder {
  readonly port: number;
  /** Cut every connection and stop listening (the "broker" is down). */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export interface ForwarderOptions {
  /** Listen on this port (default: a free one below the ephemeral range, so up() gets it back after down()). */
  readonly port?: number;
  /** Sees every chunk the target sends to each client, in order, one callback per connection. */
  readonly tapFromTarget?: () => (chunk: Buffer) => void;
  /** Sees every chunk each client sends to the target, in order, one callback per connection. */
  readonly tapToTarget?: () => (chunk: Buffer) => void;
}

/** Tracks both sockets in `sockets` until they close; either one closing destroys the other. */
export function tieSockets(client: Socket, upstream: Socket, sockets: Set<Socket>): void {
  for (const s of [client, upstream]) {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => {
      sockets.delete(s);
      client.destroy();
      upstream.destroy();
    });
  }
}

export async function startForwarder(targetHost: string, targetPort: number, options: ForwarderOptions = {}): Promise<Forwarder> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let boundPort = options.port ?? await stablePort();
  const listen = async (): Promise<void> => {
    server = createServer((client) => {
      const upstream = connect({ host: targetHost, port: targetPort });
      tieSockets(client, upstream, sockets);
      const tapTo = options.tapToTarget?.();
      if (tapTo) client.on('data', tapTo);
      client.pipe(upstream);
      const tap = options.tapFromTarget?.();
      if (tap) upstream.on('data', tap);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(boundPort, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address && typeof address !== 'string') boundPort = address.port;
  };
  const down = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  };
  await listen();
  return {
    get port() {
      return boundPort;
    },
    down,
    up: listen,
    close: down,
  };
}
