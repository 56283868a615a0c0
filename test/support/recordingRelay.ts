import { Server, Socket, createServer, connect } from 'node:net';
import { FRAME_HEADER, FRAME_OVERHEAD } from '../../src/amqp/constants';
import { readFrameHead } from '../../src/amqp/frame';

export interface RecordingRelay {
  readonly port: number;
  /** Payloads of every content-header frame the broker sent to clients of this relay. */
  contentHeaders(): Buffer[];
  close(): Promise<void>;
}

/**
 * A plain TCP relay in front of a broker that keeps the broker → client bytes, so a test can
 * see the exact encoding a consumer received (client libraries decode away the type tags).
 */
export async function startRecordingRelay(host: string, port: number): Promise<RecordingRelay> {
  const streams: Buffer[][] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host, port });
    const recorded: Buffer[] = [];
    streams.push(recorded);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => recorded.push(chunk));
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay has no address');
  return {
    port: address.port,
    contentHeaders() {
      const headers: Buffer[] = [];
      for (const chunks of streams) {
        const buf = Buffer.concat(chunks);
        let pos = 0;
        for (let head = readFrameHead(buf, pos); head !== undefined; head = readFrameHead(buf, pos)) {
          if (pos + head.size + FRAME_OVERHEAD > buf.length) break;
          if (head.type === FRAME_HEADER) headers.push(buf.subarray(pos + 7, pos + 7 + head.size));
          pos += head.size + FRAME_OVERHEAD;
        }
      }
      return headers;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
