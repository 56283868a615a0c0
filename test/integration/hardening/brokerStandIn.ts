/**
 * Just enough of an AMQP 0-9-1 server for amqplib to connect, open confirm channels and
 * publish: it acks every message and remembers its body. It stands in for RabbitMQ where a
 * test needs more connections than the shared broker allows (RabbitMQ's socket limit here
 * is about 830, shared with everyone's tests). Frames are encoded by amqplib's own codec.
 */
import { Server, Socket, createServer } from 'node:net';
import { FRAME_BODY, FRAME_HEADER, FRAME_METHOD, Method, PROTOCOL_HEADER_SIZE, methodKey } from '../../../src/amqp/constants';
import { amqplibDefs, amqplibFrame } from '../../support/amqpVectors';

export interface BrokerStandIn {
  readonly port: number;
  readonly bodies: string[];
  readonly openSockets: () => number;
  close(): Promise<void>;
}

const REPLIES = new Map<number, [number, Record<string, unknown>]>([
  [methodKey(10, 11), [Method.ConnectionTune, { channelMax: 2047, frameMax: 131_072, heartbeat: 0 }]],
  [Method.ConnectionOpen, [methodKey(10, 41), { knownHosts: '' }]],
  [Method.ChannelOpen, [methodKey(20, 11), { channelId: Buffer.alloc(0) }]],
  [Method.ConfirmSelect, [Method.ConfirmSelectOk, { nowait: false }]],
  [Method.ChannelClose, [Method.ChannelCloseOk, {}]],
  [Method.ConnectionClose, [Method.ConnectionCloseOk, {}]],
]);

export function startBrokerStandIn(): Promise<BrokerStandIn> {
  const bodies: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf: Buffer = Buffer.alloc(0);
    let started = false;
    const publishTags = new Map<number, number>();
    const send = (channel: number, key: number, fields: Record<string, unknown>): void => {
      socket.write(amqplibDefs.encodeMethod(key, channel, fields));
    };
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!started) {
        if (buf.length < PROTOCOL_HEADER_SIZE) return;
        buf = buf.subarray(PROTOCOL_HEADER_SIZE);
        started = true;
        send(0, methodKey(10, 10), {
          versionMajor: 0, versionMinor: 9, serverProperties: {}, mechanisms: Buffer.from('PLAIN'), locales: Buffer.from('en_US'),
        });
      }
      for (let frame = amqplibFrame.parseFrame(buf, 1 << 20); frame; frame = amqplibFrame.parseFrame(buf, 1 << 20)) {
        buf = frame.rest;
        if (frame.type === FRAME_METHOD) {
          const key = frame.payload.readUInt32BE(0);
          const reply = REPLIES.get(key);
          if (reply) send(frame.channel, reply[0], reply[1]);
          if (key === Method.ConnectionCloseOk || key === Method.ConnectionClose) socket.end();
        } else if (frame.type === FRAME_HEADER && Number(frame.payload.readBigUInt64BE(4)) === 0) {
          acknowledge(frame.channel, '');
        } else if (frame.type === FRAME_BODY) {
          acknowledge(frame.channel, frame.payload.toString());
        }
      }
    });
    // One body frame per message: the tests publish small bodies.
    const acknowledge = (channel: number, body: string): void => {
      bodies.push(body);
      const tag = (publishTags.get(channel) ?? 0) + 1;
      publishTags.set(channel, tag);
      send(channel, Method.BasicAck, { deliveryTag: tag, multiple: false });
    };
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as { port: number }).port,
    bodies,
    openSockets: () => sockets.size,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  })));
}
