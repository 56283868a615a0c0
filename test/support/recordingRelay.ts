import { FRAME_HEADER, FRAME_OVERHEAD } from '../../src/amqp/constants';
import { readFrameHead } from '../../src/amqp/frame';
import { startForwarder } from './forwarder';

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
  const forwarder = await startForwarder(host, port, {
    tapFromTarget: () => {
      const recorded: Buffer[] = [];
      streams.push(recorded);
      return (chunk) => recorded.push(chunk);
    },
  });
  return {
    port: forwarder.port,
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
    close: () => forwarder.close(),
  };
}
