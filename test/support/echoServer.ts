import { Server, Socket, createServer } from 'node:net';

export interface EchoServer {
  readonly port: number;
  /** TCP connections accepted so far. */
  accepted(): number;
  close(): void;
}

/** A TCP server on loopback that echoes and counts the connections it got: a stand-in upstream. */
export async function echoServer(): Promise<EchoServer> {
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    accepted: () => accepted,
    close: () => { for (const s of sockets) s.destroy(); server.close(); },
  };
}
