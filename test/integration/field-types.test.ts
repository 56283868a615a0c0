/**
 * Every field-table value type, in message headers published by a hand-written client,
 * through the tracing proxy and directly, compared byte for byte as the consumer receives
 * them. A type the proxy cannot walk past must cost that one message its trace, never the
 * connection: the broker, not the proxy, decides whether the message is acceptable.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as amqp from 'amqplib';
import { FRAME_BODY, FRAME_HEADER, FRAME_METHOD, Method, PROTOCOL_HEADER, methodKey } from '../../src/amqp/constants';
import { parseContentHeader } from '../../src/amqp/contentHeader';
import { findTableEntries } from '../../src/amqp/fieldTable';
import { encodeFrame } from '../../src/amqp/frame';
import { Header } from '../../src/trace/attributes';
import { parseTraceParent } from '../../src/trace/traceparent';
import { contentHeaderPayload, entry, shortstr, table, u8, u16, u32, u64 } from '../support/amqpVectors';
import { BROKER_HOST, BROKER_PORT, BROKER_URL, requireBroker } from '../support/broker';
import { TestProxy, startTestProxy } from '../support/proxy';
import { RecordingRelay, startRecordingRelay } from '../support/recordingRelay';
import { waitFor } from './hardening/helpers';
import { FRAME_MAX, RawClient } from './hardening/rawClient';
import { sleep } from '../support/wait';

const longstr = (bytes: Buffer): Buffer => Buffer.concat([u32(bytes.length), bytes]);
const float = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeFloatBE(v); return b; };
const double = (v: number): Buffer => { const b = Buffer.alloc(8); b.writeDoubleBE(v); return b; };

/** One value per tag, as a client would write it; `refused`: RabbitMQ 3.10 closes the connection. */
const VALUES: readonly { tag: string; value: Buffer; refused?: boolean }[] = [
  { tag: 't', value: u8(1) },
  { tag: 'b', value: u8(0xf9) },
  { tag: 'B', value: u8(250) },
  { tag: 's', value: u16(0xfb2e) },
  { tag: 'u', value: u16(65000) },
  { tag: 'U', value: u16(0x8001), refused: true },
  { tag: 'I', value: u32(0xf8a432eb) },
  { tag: 'i', value: u32(4_000_000_000) },
  { tag: 'l', value: u64(5_000_000_000n) },
  { tag: 'L', value: u64(0x8000000000000001n) },
  { tag: 'f', value: float(1.5) },
  { tag: 'd', value: double(3.25) },
  { tag: 'D', value: Buffer.from([2, 0, 0, 0x30, 0x39]) },
  { tag: 'T', value: u64(1_700_000_000) },
  { tag: 'S', value: longstr(Buffer.from('h\u00e9llo')) },
  { tag: 'x', value: longstr(Buffer.from([0, 0xff, 0xce, 0x01])) },
  { tag: 'A', value: longstr(Buffer.concat([Buffer.from('I'), u32(1), Buffer.from('L'), u64(2), Buffer.from('x'), longstr(Buffer.from([9]))])) },
  { tag: 'F', value: table([entry('inner', 'S', longstr(Buffer.from('yes'))), entry('n', 'L', u64(7))]) },
  { tag: 'V', value: Buffer.alloc(0) },
  // No type at all: its size is unknown, so nothing after it can be read.
  { tag: 'Z', value: u32(0x01020304), refused: true },
];

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** Headers with the value between two ordinary entries, optionally ending with a traceparent. */
function headersWith(tag: string, value: Buffer, traceparent?: string): Buffer {
  const entries = [entry('before', 'S', longstr(Buffer.from('a'))), entry('v', tag, value), entry('after', 't', u8(0))];
  if (traceparent) entries.push(entry(Header.traceparent, 'S', longstr(Buffer.from(traceparent))));
  return contentHeaderPayload([0x2000], table(entries), 4);
}

const PLAIN = contentHeaderPayload([0], Buffer.alloc(0), 4);

interface Sent {
  /** Content headers the consumer received, in order. */
  readonly received: Buffer[];
  /** Whether the broker closed the publishing connection (connection.close). */
  readonly closed: boolean;
}

/**
 * Publishes `headers` and then a message without properties on one connection to `port`,
 * then reads the queue through the recording relay.
 */
async function send(port: number, relay: RecordingRelay, ch: amqp.Channel, headers: Buffer): Promise<Sent> {
  const queue = (await ch.assertQueue('', { exclusive: false, autoDelete: false })).queue;
  const publisher = await RawClient.open(port);
  try {
    for (const [i, header] of [headers, PLAIN].entries()) {
      publisher.sendMethod(1, Method.BasicPublish, { ticket: 0, exchange: '', routingKey: queue, mandatory: false, immediate: false });
      publisher.socket.write(Buffer.concat([encodeFrame(FRAME_HEADER, 1, header), encodeFrame(FRAME_BODY, 1, u32(i))]));
    }
    publisher.sendMethod(1, Method.ChannelClose, { replyCode: 200, replyText: 'done', classId: 0, methodId: 0 });
    const closed = (): boolean => publisher.methodsReceived().includes(Method.ConnectionClose);
    await waitFor('channel.close-ok or connection.close', () => closed() || publisher.methodsReceived().includes(Method.ChannelCloseOk), 5000);
    const before = relay.contentHeaders().length;
    const count = (await ch.checkQueue(queue)).messageCount;
    if (count > 0) {
      const consumer = await RawClient.open(relay.port);
      for (let i = 0; i < count; i++) consumer.sendMethod(1, Method.BasicGet, { ticket: 0, queue, noAck: true });
      await waitFor(`${count} messages read`, () => relay.contentHeaders().length - before === count, 5000);
      consumer.socket.destroy();
    }
    return { received: relay.contentHeaders().slice(before), closed: closed() };
  } finally {
    publisher.socket.destroy();
    await ch.deleteQueue(queue);
  }
}

/** The headers table of a received content header with the named entries cut out. */
function tableWithout(header: Buffer, names: readonly string[]): { rest: Buffer; cut: string[] } {
  const { headersOffset } = parseContentHeader(header);
  const { end, entries } = findTableEntries(header, headersOffset!, names);
  const kept: Buffer[] = [];
  let at = headersOffset! + 4;
  for (const e of entries) {
    kept.push(header.subarray(at, e.start));
    at = e.end;
  }
  kept.push(header.subarray(at, end));
  return { rest: Buffer.concat(kept), cut: entries.map((e) => e.name) };
}

async function metric(proxy: TestProxy, name: string, label: string): Promise<number> {
  const text = await (await fetch(`${proxy.metricsUrl}/metrics`)).text();
  return Number(new RegExp(`amqp_trace_proxy_${name}\\{${label}\\} (\\d+)`).exec(text)?.[1] ?? 'NaN');
}

const types = suite<{ proxy: TestProxy; relay: RecordingRelay; conn: amqp.ChannelModel; ch: amqp.Channel }>('field types through the proxy');

types.before(async (ctx) => {
  await requireBroker();
  ctx.proxy = await startTestProxy();
  ctx.relay = await startRecordingRelay(BROKER_HOST, BROKER_PORT);
  ctx.conn = await amqp.connect(BROKER_URL);
  ctx.ch = await ctx.conn.createChannel();
});

types.after(async (ctx) => {
  await ctx.conn.close();
  await ctx.relay.close();
  await ctx.proxy.stop();
});

for (const { tag, value, refused } of VALUES) {
  types(`'${tag}' in headers: what the broker does with it directly, it does through the proxy; accepted ones arrive byte-exact and traced`, async (ctx) => {
    const unreadBefore = await metric(ctx.proxy, 'fail_open_total', 'reason="decode_error"');
    for (const incoming of [undefined, VALID]) {
      const headers = headersWith(tag, value, incoming);
      const direct = await send(BROKER_PORT, ctx.relay, ctx.ch, headers);
      const proxied = await send(ctx.proxy.port, ctx.relay, ctx.ch, headers);
      assert.is(proxied.closed, direct.closed, 'the broker closes the connection through the proxy exactly when it does directly');
      assert.is(direct.closed, refused === true, `RabbitMQ ${refused ? 'refuses' : 'accepts'} '${tag}'`);
      assert.is(proxied.received.length, direct.received.length);
      if (refused) continue;
      const [directFirst] = direct.received;
      const [proxiedFirst, proxiedPlain] = proxied.received;
      const added = [Header.traceparent, Header.publishedAt];
      const d = tableWithout(directFirst!, incoming ? [] : added);
      const p = tableWithout(proxiedFirst!, incoming ? [Header.publishedAt] : added);
      assert.ok(p.rest.equals(d.rest), `'${tag}': the table minus the proxy's entries is what the direct publish delivered, byte for byte`);
      assert.equal(p.cut.sort(), (incoming ? [Header.publishedAt] : added).sort(), 'the proxy added its entries');
      assert.ok(directFirst!.subarray(0, 14).equals(proxiedFirst!.subarray(0, 14)), 'class, body size and flags unchanged');
      // The message after it on the same connection is traced too: the connection is still read.
      assert.ok(parseTraceParent(readTraceparent(proxiedPlain!)), 'the next message got a traceparent');
    }
    assert.is(await metric(ctx.proxy, 'fail_open_total', 'reason="decode_error"'), unreadBefore, 'no connection went opaque');
  });
}

types('a type of unknown size is counted as an unread frame, and the frame reaches the broker as it was sent', async (ctx) => {
  // The broker's answer to the bytes (a connection.close) is the proof they reached it unchanged;
  // the counter is buffered for up to a second.
  const unread = (): Promise<number> => metric(ctx.proxy, 'unread_frames_total', 'reason="unknown_field_type"');
  const before = await unread();
  const sent = await send(ctx.proxy.port, ctx.relay, ctx.ch, headersWith('Z', u32(0)));
  assert.ok(sent.closed);
  await waitFor('the unread frame counted', async () => (await unread()) > before, 5000, 50);
  assert.is(await unread(), before + 1);
});

/**
 * Opens a connection to `port` whose connection.start-ok client properties hold `value`
 * (built by hand: no client library writes every tag), and if the broker goes on to
 * connection.tune, finishes the handshake. Whether connection.open-ok came back.
 */
async function openWithClientProperty(port: number, tag: string, value: Buffer): Promise<RawClient | undefined> {
  const c = await RawClient.connect(port);
  c.socket.write(PROTOCOL_HEADER);
  await c.method(Method.ConnectionStart);
  const properties = table([entry('product', 'S', longstr(Buffer.from('field-types'))), entry('v', tag, value)]);
  const startOk = Buffer.concat([u32(methodKey(10, 11)), properties, shortstr('PLAIN'), longstr(Buffer.from('\0guest\0guest')), shortstr('en_US')]);
  c.socket.write(encodeFrame(FRAME_METHOD, 0, startOk));
  await waitFor('connection.tune or the end', () => c.closed || c.methodsReceived().includes(Method.ConnectionTune)
    || c.methodsReceived().includes(Method.ConnectionClose), 5000);
  if (!c.methodsReceived().includes(Method.ConnectionTune)) {
    c.socket.destroy();
    return undefined;
  }
  c.sendMethod(0, Method.ConnectionTuneOk, { channelMax: 16, frameMax: FRAME_MAX, heartbeat: 0 });
  c.sendMethod(0, Method.ConnectionOpen, { virtualHost: '/', capabilities: '', insist: false });
  c.sendMethod(1, Method.ChannelOpen, { outOfBand: '' });
  await c.method(methodKey(20, 11));
  return c;
}

types('every tag in connection.start-ok client properties: the broker accepts or refuses it as it does directly, and an accepted connection is traced', async (ctx) => {
  for (const { tag, value } of VALUES) {
    const direct = await openWithClientProperty(BROKER_PORT, tag, value);
    direct?.socket.destroy();
    const proxied = await openWithClientProperty(ctx.proxy.port, tag, value);
    assert.is(proxied !== undefined, direct !== undefined, `'${tag}': open through the proxy exactly when directly`);
    if (process.env.FIELD_TYPES_DEBUG) console.log(`start-ok '${tag}': ${direct ? 'accepted' : 'refused'}`);
    if (proxied === undefined) continue;
    const queue = (await ctx.ch.assertQueue('', { exclusive: false, autoDelete: false })).queue;
    try {
      proxied.sendMethod(1, Method.BasicPublish, { ticket: 0, exchange: '', routingKey: queue, mandatory: false, immediate: false });
      proxied.socket.write(Buffer.concat([encodeFrame(FRAME_HEADER, 1, PLAIN), encodeFrame(FRAME_BODY, 1, u32(1))]));
      let got: amqp.GetMessage | false = false;
      for (const until = Date.now() + 3000; got === false && Date.now() < until;) {
        got = await ctx.ch.get(queue, { noAck: true });
        if (got === false) await sleep(50);
      }
      assert.ok(got && parseTraceParent(String(got.properties.headers?.[Header.traceparent])), `'${tag}': the connection's publish got a traceparent`);
    } finally {
      proxied.socket.destroy();
      await ctx.ch.deleteQueue(queue);
    }
  }
});

function readTraceparent(header: Buffer): string {
  const { headersOffset } = parseContentHeader(header);
  if (headersOffset === undefined) return '';
  const [found] = findTableEntries(header, headersOffset, [Header.traceparent]).entries;
  return found ? header.toString('utf8', found.valueStart + 4, found.end) : '';
}

types.run();
