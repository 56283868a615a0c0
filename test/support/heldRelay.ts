import { Server, Socket, connect, createServer } from 'node:net';
import { tieSockets } from './forwarder';

/**
 * A TCP relay in front of the broker whose broker-to-client direction the test can hold:
 * while held, what the broker sends (confirms, close-ok) waits in the relay, so a proxy
 * behind it sees its client's frames and none of the answers. That makes "a publish still
 * unconfirmed when its channel closes" a fact of the script instead of a race.
 */
export interface HeldRelay {
  readonly port: number;
  /** Stop passing the broker's bytes on (they are queued). */
  hold(): void;
  /** Pass on what was queued, and everything after. */
  release(): void;
  /** Everything clients sent to the broker since the last hold(), as one buffer. */
  sentSinceHold(): Buffer;
  close(): Promise<void>;
}

export async function startHeldRelay(host: string, port: number): Promise<HeldRelay> {
  const sockets = new Set<Socket>();
  let held = false;
  let sent: Buffer[] = [];
  const releases = new Set<() => void>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host, port });
    tieSockets(client, upstream, sockets);
    client.on('data', (chunk: Buffer) => {
      if (held) sent.push(chunk);
      upstream.write(chunk);
    });
    const queued: Buffer[] = [];
    const flush = (): void => {
      for (const chunk of queued.splice(0)) client.write(chunk);
    };
    releases.add(flush);
    client.on('close', () => releases.delete(flush));
    upstream.on('data', (chunk: Buffer) => {
      if (held) queued.push(chunk);
      else client.write(chunk);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay has no port');
  return {
    port: address.port,
    hold() {
      held = true;
      sent = [];
    },
    release() {
      held = false;
      for (const flush of releases) flush();
    },
    sentSinceHold: () => Buffer.concat(sent),
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}
