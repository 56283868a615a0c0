/**
 * An AMQP client written by hand, so a test can say things no library would (hostile
 * frames) or stop reading its socket (a stalled consumer).
 */
import { Socket, connect as netConnect } from 'node:net';
import { FRAME_BODY, FRAME_METHOD, Method, PROTOCOL_HEADER, methodKey } from '../../../src/amqp/constants';
import { encodeFrame } from '../../../src/amqp/frame';
import { referenceMethodPayload } from '../../support/amqpVectors';
import { waitFor } from './helpers';

export const FRAME_MAX = 131_072;

export class RawClient {
  private pending = Buffer.alloc(0);
  private readonly methods: number[] = [];
  /** The first 4 bytes of every body frame, read as a number: the tests' message ids. */
  readonly bodyIds: number[] = [];
  /** Every byte received, as it came. */
  readonly received: Buffer[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.received.push(d);
      this.parse(d);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => { this.closed = true; });
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = netConnect({ host: '127.0.0.1', port });
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new RawClient(socket);
  }

  /** Handshake as guest/guest and open channel 1. */
  static async open(port: number): Promise<RawClient> {
    const c = await RawClient.connect(port);
    c.socket.write(PROTOCOL_HEADER);
    await c.method(methodKey(10, 10));
    c.sendMethod(0, methodKey(10, 11), {
      clientProperties: {}, mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US',
    });
    await c.method(Method.ConnectionTune);
    c.sendMethod(0, Method.ConnectionTuneOk, { channelMax: 16, frameMax: FRAME_MAX, heartbeat: 0 });
    c.sendMethod(0, Method.ConnectionOpen, { virtualHost: '/', capabilities: '', insist: false });
    await c.method(methodKey(10, 41));
    c.sendMethod(1, Method.ChannelOpen, { outOfBand: '' });
    await c.method(methodKey(20, 11));
    return c;
  }

  sendMethod(channel: number, key: number, fields: Record<string, unknown>): void {
    this.socket.write(encodeFrame(FRAME_METHOD, channel, referenceMethodPayload(key, fields)));
  }

  /** Waits until a method frame with `key` has arrived (anywhere in what was received). */
  async method(key: number): Promise<void> {
    await waitFor(`method ${key.toString(16)}`, () => this.methodsReceived().includes(key), 5000);
  }

  methodsReceived(): number[] {
    return this.methods;
  }

  private parse(chunk: Buffer): void {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    while (pos + 7 <= buf.length) {
      const size = buf.readUInt32BE(pos + 3);
      if (pos + size + 8 > buf.length) break;
      if (buf[pos] === FRAME_METHOD && size >= 4) this.methods.push(buf.readUInt32BE(pos + 7));
      if (buf[pos] === FRAME_BODY && size >= 4) this.bodyIds.push(buf.readUInt32BE(pos + 7));
      pos += size + 8;
    }
    this.pending = Buffer.from(buf.subarray(pos));
    buf = this.pending;
  }
}
