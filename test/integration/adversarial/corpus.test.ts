/**
 * The hostile-frame corpus, sent twice: straight to the broker and through the proxy. The
 * proxy is transparent when the client cannot tell the two apart: the same bytes back (the
 * broker's connection.close with its reply code and text, or nothing), and the socket closed
 * by the other side, or left open, the same way. None of these cases carries a message, so
 * there are no added header entries to discount: the bytes must be equal.
 *
 * All cases run at once (RabbitMQ waits about 3 s before closing a connection that broke the
 * handshake), so the whole corpus takes one observation window, both ways.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FRAME_BODY, FRAME_HEADER, FRAME_METHOD, Method, PROTOCOL_HEADER, methodKey } from '../../../src/amqp/constants';
import { encodeFrame } from '../../../src/amqp/frame';
import { BROKER_PORT, requireBroker } from '../../support/broker';
import {
  heartbeats, methodFrameHead, rawFrame, referenceContentHeader, referenceMethodPayload, tuneOkFrame,
} from '../../support/amqpVectors';
import { TestProxy, startTestProxy } from '../../support/proxy';
import { sleep, waitFor } from '../../support/wait';
import { FRAME_MAX, RawClient } from '../hardening/rawClient';

/** The class and method ids of connection.close, as they appear in a frame, hex. */
const CONNECTION_CLOSE = '000a0032';
/** Long enough for RabbitMQ's delayed close of a broken handshake (3 s) and then some. */
const WINDOW_MS = 5000;

/** How far the client gets, well-behaved, before the hostile bytes. */
type Stage = 'tcp' | 'header' | 'tune' | 'open';

interface HostileCase {
  readonly name: string;
  readonly stage: Stage;
  /** Sent after the stage; a list is sent piece by piece, `gapMs` apart. */
  readonly bytes: () => Buffer | Buffer[];
  readonly gapMs?: number;
  /** Half-close the client's side after sending (FIN, keep reading). */
  readonly halfClose?: boolean;
}

const startOk = (): Buffer => encodeFrame(FRAME_METHOD, 0, referenceMethodPayload(methodKey(10, 11), {
  clientProperties: {}, mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US',
}));
const method = (channel: number, key: number, fields: Record<string, unknown>): Buffer =>
  encodeFrame(FRAME_METHOD, channel, referenceMethodPayload(key, fields));
const publish = (channel = 1): Buffer => method(channel, Method.BasicPublish, { ticket: 0, exchange: '', routingKey: 'nowhere', mandatory: false, immediate: false });

export const CORPUS: readonly HostileCase[] = [
  // Before any frame.
  { name: 'a wrong protocol version', stage: 'tcp', bytes: () => Buffer.from('AMQP\x00\x00\x09\x00', 'latin1') },
  { name: 'HTTP instead of AMQP', stage: 'tcp', bytes: () => Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n') },
  { name: 'a half-open socket before the protocol header', stage: 'tcp', bytes: () => Buffer.alloc(0), halfClose: true },
  { name: 'a half-open socket after the protocol header', stage: 'header', bytes: () => Buffer.alloc(0), halfClose: true },
  // Before tune: nothing authenticated.
  { name: 'tune-ok before tune, frame_max 0xFFFFFFFF', stage: 'header', bytes: () => tuneOkFrame(0xffffffff) },
  { name: 'tune-ok before tune, then a ~4 GiB method frame head', stage: 'header',
    bytes: () => Buffer.concat([tuneOkFrame(0xffffffff), methodFrameHead(1, Method.BasicPublish, 0xfffffff0), Buffer.alloc(64 * 1024, 0x41)]) },
  { name: 'a method frame over frame-min-size before tune (start-ok with 5000 bytes of properties)', stage: 'header',
    bytes: () => encodeFrame(FRAME_METHOD, 0, referenceMethodPayload(methodKey(10, 11), {
      clientProperties: { big: 'x'.repeat(5000) }, mechanism: 'PLAIN', response: Buffer.from('\0guest\0guest'), locale: 'en_US',
    })) },
  { name: 'a method frame of absurd size on channel 0 before tune', stage: 'header', bytes: () => Buffer.concat([methodFrameHead(0, methodKey(10, 11), 0x7ffffff0), Buffer.alloc(1024)]) },
  { name: 'a bad frame-end on start-ok', stage: 'header', bytes: () => { const f = startOk(); f[f.length - 1] = 0; return f; } },
  { name: 'channel.open on channel 1 before connection.open', stage: 'header', bytes: () => method(1, Method.ChannelOpen, { outOfBand: '' }) },
  { name: 'a publish on channel 3 before connection.open', stage: 'header', bytes: () => publish(3) },
  { name: '20,000 heartbeats before start-ok', stage: 'header', bytes: () => heartbeats(20_000) },
  { name: 'connection.start-ok on channel 1', stage: 'header', bytes: () => { const f = startOk(); f.writeUInt16BE(1, 1); return f; } },
  { name: 'a slow start-ok, 1 byte at a time', stage: 'header', bytes: () => [...startOk().subarray(0, 12)].map((b) => Buffer.from([b])), gapMs: 100 },
  // After tune (credentials accepted), before open.
  { name: 'tune-ok with frame_max 0', stage: 'tune', bytes: () => tuneOkFrame(0) },
  { name: 'tune-ok with frame_max 0xFFFFFFFF, then connection.open', stage: 'tune',
    bytes: () => Buffer.concat([tuneOkFrame(0xffffffff), method(0, Method.ConnectionOpen, { virtualHost: '/', capabilities: '', insist: false })]) },
  { name: 'tune-ok with frame_max below frame-min-size', stage: 'tune', bytes: () => tuneOkFrame(1000) },
  { name: 'two tune-oks, then connection.open', stage: 'tune',
    bytes: () => Buffer.concat([tuneOkFrame(FRAME_MAX), tuneOkFrame(0xffffffff), method(0, Method.ConnectionOpen, { virtualHost: '/', capabilities: '', insist: false })]) },
  // After open, channel 1 open.
  { name: 'a body frame far over frame_max', stage: 'open', bytes: () => Buffer.concat([rawFrame(FRAME_BODY, 1, FRAME_MAX * 16), Buffer.alloc(100)]) },
  { name: 'a publish frame with a bad frame-end', stage: 'open', bytes: () => { const f = publish(); f[f.length - 1] = 0; return f; } },
  { name: 'a publish method frame of absurd size', stage: 'open', bytes: () => Buffer.concat([methodFrameHead(1, Method.BasicPublish, 0x10000000), Buffer.alloc(1024)]) },
  { name: 'a content header over frame_max after a publish', stage: 'open',
    bytes: () => Buffer.concat([publish(), rawFrame(FRAME_HEADER, 1, FRAME_MAX + 100, Buffer.alloc(1024), undefined)]) },
  { name: 'a content header without a publish', stage: 'open', bytes: () => encodeFrame(FRAME_HEADER, 1, referenceContentHeader({ headers: { a: 1 } }, 0)) },
  { name: 'an unknown frame type', stage: 'open', bytes: () => rawFrame(9, 1, 3, Buffer.from('???')) },
  { name: 'a heartbeat on channel 1', stage: 'open', bytes: () => heartbeats(1, 1) },
  { name: 'a basic.publish on channel 0', stage: 'open', bytes: () => publish(0) },
  { name: 'connection.open on channel 1 after open', stage: 'open', bytes: () => method(1, Method.ConnectionOpen, { virtualHost: '/', capabilities: '', insist: false }) },
  { name: 'a tune-ok after open, frame_max 0xFFFFFFFF', stage: 'open', bytes: () => tuneOkFrame(0xffffffff) },
  { name: '20,000 heartbeats, then channel.open on channel 2', stage: 'open',
    bytes: () => Buffer.concat([heartbeats(20_000), method(2, Method.ChannelOpen, { outOfBand: '' })]) },
];

interface Observed {
  /** Every byte the client received after its stage, hex. */
  readonly bytes: string;
  readonly closed: boolean;
}

async function reach(port: number, stage: Stage): Promise<RawClient> {
  if (stage === 'open') return RawClient.open(port);
  const c = await RawClient.connect(port);
  if (stage === 'tcp') return c;
  c.socket.write(PROTOCOL_HEADER);
  await c.method(Method.ConnectionStart);
  if (stage === 'tune') {
    c.socket.write(startOk());
    await c.method(Method.ConnectionTune);
  }
  return c;
}

async function observe(port: number, c: HostileCase): Promise<Observed> {
  const client = await reach(port, c.stage);
  const mark = client.received.length;
  const bytes = c.bytes();
  for (const piece of Array.isArray(bytes) ? bytes : [bytes]) {
    if (!client.socket.destroyed) client.socket.write(piece);
    if (c.gapMs) await sleep(c.gapMs);
  }
  if (c.halfClose) client.socket.end();
  await waitFor('the window', () => client.closed, WINDOW_MS).catch(() => undefined);
  client.socket.destroy();
  return { bytes: Buffer.concat(client.received.slice(mark)).toString('hex'), closed: client.closed };
}

const corpus = suite<{ proxy: TestProxy }>('adversarial: hostile frames, directly and through the proxy', { proxy: undefined as unknown as TestProxy });

corpus.before(async (ctx) => {
  await requireBroker();
  ctx.proxy = await startTestProxy();
});
corpus.after(async (ctx) => ctx.proxy.stop());

corpus(`${CORPUS.length} hostile cases: the client sees the same bytes and the same close either way`, async ({ proxy }) => {
  const results = await Promise.all(CORPUS.map(async (c) => {
    const [direct, proxied] = await Promise.all([observe(BROKER_PORT, c), observe(proxy.port, c)]);
    return { c, direct, proxied };
  }));
  const differ = results.filter(({ direct, proxied }) => direct.bytes !== proxied.bytes || direct.closed !== proxied.closed);
  const show = (o: Observed): string => `${o.closed ? 'closed' : 'open'}, ${o.bytes.length / 2} bytes ${o.bytes.slice(0, 120)}`;
  assert.equal(differ.map(({ c, direct, proxied }) => `${c.name}\n    direct: ${show(direct)}\n    proxy:  ${show(proxied)}`), []);
  if (process.env.CORPUS_DEBUG) for (const { c, direct } of results) console.log(`${c.name}: ${show(direct)}`);
  // The corpus means something only if the broker reacts to it: it closes the socket (before
  // open, after a delay) or sends connection.close (after open, then waits for close-ok).
  const reacted = results.filter(({ direct }) => direct.closed || direct.bytes.includes(CONNECTION_CLOSE));
  assert.ok(reacted.length >= CORPUS.length - 3, `the broker refuses all but the slow start-ok and the heartbeat floods (${reacted.length} of ${CORPUS.length})`);
  await waitFor('the proxy drops every pair', () => proxy.app.server.connections.size === 0, 5000);
});

corpus('slowloris: a start-ok dribbled a byte at a time is cut at the proxy\'s handshake deadline, long before the broker\'s', async () => {
  const deadlineMs = 1000;
  const strict = await startTestProxy({ PROXY_HANDSHAKE_TIMEOUT_MS: String(deadlineMs) });
  try {
    const dribble = async (port: number): Promise<RawClient> => {
      const c = await reach(port, 'header');
      void (async () => {
        for (const b of startOk()) {
          if (c.closed) return;
          c.socket.write(Buffer.from([b]));
          await sleep(100);
        }
      })();
      return c;
    };
    const [direct, proxied] = await Promise.all([dribble(BROKER_PORT), dribble(strict.port)]);
    await waitFor('the proxy cuts the dribbling client', () => proxied.closed, deadlineMs * 4);
    assert.not.ok(direct.closed, 'the broker alone still waits (its handshake_timeout is 10 s)');
    direct.socket.destroy();
  } finally {
    await strict.stop();
  }
});

corpus.run();
