import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FRAME_BODY, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, Method, PROTOCOL_HEADER, describeProtocolHeader } from '../../../src/amqp/constants';
import { encodeFrame } from '../../../src/amqp/frame';
import { FailOpenReason, FrameScanner, ScannerHooks } from '../../../src/amqp/scanner';
import { referenceContentHeader, referenceMethodPayload } from '../../support/amqpVectors';

const PUBLISH_ID = Method.BasicPublish;
const MARK = Buffer.from('REWRITTEN');

function publishFrames(channel: number, body: Buffer): Buffer[] {
  return [
    encodeFrame(FRAME_METHOD, channel, referenceMethodPayload(PUBLISH_ID, {
      ticket: 0, exchange: 'ex', routingKey: `rk${channel}`, mandatory: false, immediate: false,
    })),
    encodeFrame(FRAME_HEADER, channel, referenceContentHeader({ headers: { n: channel } }, body.length)),
    ...(body.length ? [encodeFrame(FRAME_BODY, channel, body)] : []),
  ];
}

/** A client stream: protocol header, interleaved publishes on three channels, a heartbeat. */
function clientStream(): Buffer {
  const [a1, a2, a3] = publishFrames(1, Buffer.alloc(300, 1));
  const [b1, b2, b3] = publishFrames(2, Buffer.alloc(5, 2));
  const [c1, c2] = publishFrames(3, Buffer.alloc(0));
  const ack = encodeFrame(FRAME_METHOD, 1, referenceMethodPayload(Method.BasicAck, { deliveryTag: 1, multiple: false }));
  return Buffer.concat([PROTOCOL_HEADER, a1!, b1!, a2!, b2!, encodeFrame(FRAME_HEARTBEAT, 0, Buffer.alloc(0)), a3!, c1!, b3!, ack, c2!]);
}

interface Recorder {
  hooks: ScannerHooks;
  headers: number[];
  methods: number[];
  failures: FailOpenReason[];
}

function recorder(rewrite: boolean): Recorder {
  const r: Recorder = { headers: [], methods: [], failures: [], hooks: undefined as unknown as ScannerHooks };
  r.hooks = {
    inspect: new Set([PUBLISH_ID, Method.BasicAck]),
    onMethod: (channel) => { r.methods.push(channel); },
    onContentHeader: (channel, method, payload) => {
      assert.is(method, PUBLISH_ID);
      r.headers.push(channel);
      return rewrite ? encodeFrame(FRAME_HEADER, channel, Buffer.concat([payload, MARK])) : undefined;
    },
  };
  return r;
}

function run(chunks: Buffer[], rewrite: boolean): { out: Buffer; rec: Recorder; writes: number } {
  const rec = recorder(rewrite);
  const scanner = new FrameScanner(rec.hooks, true, (reason) => rec.failures.push(reason));
  const out: Buffer[] = [];
  let writes = 0;
  for (const c of chunks) {
    const before = out.length;
    scanner.push(c, out);
    writes += out.length - before;
  }
  return { out: Buffer.concat(out), rec, writes };
}

function splitAt(buf: Buffer, offsets: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const o of offsets) {
    chunks.push(buf.subarray(from, o));
    from = o;
  }
  chunks.push(buf.subarray(from));
  return chunks;
}

test('unchanged stream passes byte for byte, as one write per chunk', () => {
  const input = clientStream();
  const { out, rec, writes } = run([input], false);
  assert.ok(out.equals(input));
  assert.is(writes, 1);
  assert.equal(rec.headers, [1, 2, 3]);
  assert.equal(rec.methods, [1, 2, 3, 1]);
  assert.equal(rec.failures, []);
});

test('split at every byte offset: same bytes out, same hooks called', () => {
  const input = clientStream();
  const reference = run([input], true);
  for (let i = 0; i <= input.length; i++) {
    const { out, rec } = run(splitAt(input, [i]), true);
    assert.ok(out.equals(reference.out), `split at ${i}`);
    assert.equal(rec.headers, [1, 2, 3], `split at ${i}`);
    assert.equal(rec.failures, []);
  }
});

test('one byte per chunk, and random multi-way splits', () => {
  const input = clientStream();
  const reference = run([input], true).out;
  const bytes = [...input].map((b) => Buffer.from([b]));
  assert.ok(run(bytes, true).out.equals(reference));
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  for (let round = 0; round < 300; round++) {
    const offsets = [...new Set(Array.from({ length: 1 + rand(12) }, () => rand(input.length)))].sort((a, b) => a - b);
    assert.ok(run(splitAt(input, offsets), true).out.equals(reference), `offsets ${offsets}`);
  }
});

test('rewrite replaces only the content header frames, with correct sizes', () => {
  const input = clientStream();
  const { out } = run([input], true);
  assert.is(out.length, input.length + 3 * MARK.length);
  // Re-scan the output: every header frame ends with the mark and a frame-end octet.
  let pos = PROTOCOL_HEADER.length;
  let headers = 0;
  while (pos < out.length) {
    const type = out[pos]!;
    const size = out.readUInt32BE(pos + 3);
    assert.is(out[pos + 7 + size], 0xce);
    if (type === FRAME_HEADER) {
      headers++;
      assert.ok(out.subarray(pos + 7 + size - MARK.length, pos + 7 + size).equals(MARK));
    }
    pos += size + 8;
  }
  assert.is(headers, 3);
});

test('unknown protocol header: opaque from the first byte', () => {
  const input = Buffer.concat([Buffer.from('AMQP\x03\x01\x00\x00', 'latin1'), Buffer.from('anything at all')]);
  const { out, rec } = run(splitAt(input, [3, 9]), true);
  assert.ok(out.equals(input));
  assert.equal(rec.failures, ['unknown_protocol']);
});

test('a protocol header that is not 0-9-1 is named in the fail-open detail', () => {
  for (const [header, detail] of [
    ['AMQP\x03\x01\x00\x00', 'AMQP 1.0, SASL layer'],
    ['AMQP\x00\x01\x00\x00', 'AMQP 1.0'],
    ['AMQP\x02\x01\x00\x00', 'AMQP 1.0, TLS layer'],
    ['AMQP\x01\x01\x00\x0a', 'AMQP protocol id 1 version 1-0-10, not 0-9-1'],
    ['GET / HTTP/1.1\r\n', 'not AMQP'],
  ] as const) {
    assert.is(describeProtocolHeader(Buffer.from(header, 'latin1')), detail, JSON.stringify(header));
  }
});

test('garbage after the protocol header fails open and passes everything after it', () => {
  const tail = clientStream().subarray(PROTOCOL_HEADER.length);
  const input = Buffer.concat([PROTOCOL_HEADER, Buffer.from([0x41, 0, 1, 0, 0, 0, 2, 9, 9, 0xce]), tail]);
  const { out, rec } = run([input], true);
  assert.ok(out.equals(input));
  assert.equal(rec.failures, ['bad_frame_type']);
  assert.equal(rec.headers, []);
});

test('bad frame-end octet fails open without changing a byte', () => {
  const good = encodeFrame(FRAME_BODY, 1, Buffer.from('abc'));
  const bad = Buffer.from(good);
  bad[bad.length - 1] = 0x00;
  const input = Buffer.concat([PROTOCOL_HEADER, bad, clientStream().subarray(PROTOCOL_HEADER.length)]);
  const { out, rec } = run(splitAt(input, [12]), true);
  assert.ok(out.equals(input));
  assert.equal(rec.failures, ['bad_frame_end']);
});

test('oversized frame fails open', () => {
  const input = Buffer.concat([PROTOCOL_HEADER, Buffer.from([FRAME_BODY, 0, 1, 0x7f, 0xff, 0xff, 0xff]), Buffer.alloc(100)]);
  const { out, rec } = run([input], true);
  assert.ok(out.equals(input));
  assert.equal(rec.failures, ['oversized_frame']);
});

test('a content header without a preceding publish passes through unread', () => {
  const stray = encodeFrame(FRAME_HEADER, 9, referenceContentHeader({ headers: { a: 1 } }, 0));
  const input = Buffer.concat([PROTOCOL_HEADER, stray]);
  const { out, rec } = run([input], true);
  assert.ok(out.equals(input));
  assert.equal(rec.headers, []);
  assert.equal(rec.failures, []);
});

test('a hook that throws: that frame goes out as it came, the frames after it are still read and rewritten', () => {
  const input = clientStream();
  const rec = recorder(true);
  const unread: [number, string][] = [];
  let headers = 0;
  const hooks: ScannerHooks = {
    ...rec.hooks,
    onContentHeader: (channel, method, payload) => {
      if (headers++ === 0) throw new Error('bad table');
      return rec.hooks.onContentHeader(channel, method, payload);
    },
  };
  const scanner = new FrameScanner(hooks, true, (r) => rec.failures.push(r), (method, err) => unread.push([method, (err as Error).message]));
  const out: Buffer[] = [];
  for (const chunk of splitAt(input, [20, 21, 400])) scanner.push(chunk, out);
  assert.equal(rec.failures, []);
  assert.equal(unread, [[PUBLISH_ID, 'bad table']]);
  assert.not.ok(scanner.opaque);
  // Channel 1's header (the first) is as it came; channels 2 and 3 got the rewrite.
  const written = Buffer.concat(out);
  const marks = (buf: Buffer): number => buf.toString('latin1').split(MARK.toString('latin1')).length - 1;
  assert.is(marks(written), 2);
  assert.is(written.length, input.length + 2 * MARK.length);
  assert.equal(rec.headers, [2, 3]);
});

test('a method hook that throws: the frame goes out as it came and scanning goes on', () => {
  const input = clientStream();
  const rec = recorder(false);
  const unread: number[] = [];
  const scanner = new FrameScanner({ ...rec.hooks, onMethod: () => { throw new Error('bad method'); } }, true,
    (r) => rec.failures.push(r), (method) => unread.push(method));
  const out: Buffer[] = [];
  scanner.push(input, out);
  assert.ok(Buffer.concat(out).equals(input));
  assert.equal(rec.failures, []);
  assert.equal(unread, [PUBLISH_ID, PUBLISH_ID, PUBLISH_ID, Method.BasicAck]);
  assert.equal(rec.headers, [1, 2, 3]);
});

test('limits: a frame over the frame limit fails open; Infinity (frame_max 0) means none', () => {
  const rec = recorder(false);
  const scanner = new FrameScanner(rec.hooks, false, (r) => rec.failures.push(r));
  scanner.setLimits({ frame: 4096, hold: 4096 });
  const out: Buffer[] = [];
  scanner.push(encodeFrame(FRAME_BODY, 1, Buffer.alloc(5000)), out);
  assert.equal(rec.failures, ['oversized_frame']);
  const unlimited = new FrameScanner(rec.hooks, false, (r) => rec.failures.push(r));
  unlimited.setLimits({ frame: Infinity, hold: 4096 });
  unlimited.push(encodeFrame(FRAME_BODY, 1, Buffer.alloc(1_000_000)), out);
  assert.is(rec.failures.length, 1);
});

test('before tuning, a frame the scanner would hold is bounded by frame-min-size; frames it streams are not', () => {
  const rec = recorder(false);
  const scanner = new FrameScanner(rec.hooks, false, (r) => rec.failures.push(r));
  const out: Buffer[] = [];
  // Not inspected (a large start-ok, say): it streams, the scanner goes on.
  const streamed = encodeFrame(FRAME_METHOD, 0, Buffer.concat([Buffer.from([0, 10, 0, 11]), Buffer.alloc(60_000)]));
  scanner.push(streamed.subarray(0, 100), out);
  scanner.push(streamed.subarray(100), out);
  assert.equal(rec.failures, []);
  assert.ok(Buffer.concat(out).equals(streamed));
  // Inspected and over 4096 bytes: not held, the connection goes opaque at its head.
  const held = encodeFrame(FRAME_METHOD, 1, Buffer.concat([referenceMethodPayload(Method.BasicAck, { deliveryTag: 1, multiple: false }), Buffer.alloc(4096)]));
  scanner.push(held.subarray(0, 20), out);
  assert.equal(rec.failures, ['oversized_frame']);
  assert.equal(rec.methods, []);
  // What the connection's limits allow once it is open, it holds.
  const open = new FrameScanner(rec.hooks, false, (r) => rec.failures.push(r));
  open.setLimits({ frame: 131_072, hold: 131_072 });
  open.push(held, out);
  assert.equal(rec.methods, [1]);
  assert.is(rec.failures.length, 1);
});

test('stopAtBoundary finishes the frame in progress, then forwards nothing', () => {
  const rec = recorder(false);
  const scanner = new FrameScanner(rec.hooks, false, () => undefined);
  const body = encodeFrame(FRAME_BODY, 1, Buffer.alloc(100, 7));
  const next = encodeFrame(FRAME_HEARTBEAT, 0, Buffer.alloc(0));
  const out: Buffer[] = [];
  scanner.push(body.subarray(0, 50), out);
  assert.ok(scanner.stopAtBoundary());
  assert.not.ok(scanner.stopped);
  scanner.push(Buffer.concat([body.subarray(50), next]), out);
  assert.ok(scanner.stopped);
  assert.ok(Buffer.concat(out).equals(body));
  scanner.push(next, out);
  assert.ok(Buffer.concat(out).equals(body));
});

test('after a held partial frame, the rest of the next chunk is forwarded without a copy', () => {
  const input = clientStream();
  const cut = PROTOCOL_HEADER.length + 5; // inside the first publish method frame, which is held
  // Buffer.alloc never shares the small-buffer pool, so `.buffer` identifies each chunk.
  const first = Buffer.alloc(cut);
  input.copy(first, 0, 0, cut);
  const second = Buffer.alloc(input.length - cut);
  input.copy(second, 0, cut);
  const rec = recorder(false);
  const scanner = new FrameScanner(rec.hooks, true, () => undefined);
  const out: Buffer[] = [];
  scanner.push(first, out);
  scanner.push(second, out);
  assert.ok(Buffer.concat(out).equals(input));
  const copied = out.filter((b) => b.buffer !== first.buffer && b.buffer !== second.buffer);
  const copiedBytes = copied.reduce((n, b) => n + b.length, 0);
  assert.ok(copiedBytes < 100, `only the held frame is copied (${copiedBytes} bytes copied)`);
});

test('a body frame streams: its bytes are forwarded as they arrive, not when the frame is complete', () => {
  const body = Buffer.alloc(128 * 1024 - 8, 7);
  const [method, header, bodyFrame] = publishFrames(1, body);
  const input = Buffer.concat([PROTOCOL_HEADER, method!, header!, bodyFrame!]);
  const rec = recorder(true);
  const scanner = new FrameScanner(rec.hooks, true, () => undefined);
  const out: Buffer[] = [];
  // The method, the content header and the first 1,000 bytes of a 128 KiB body frame.
  const firstCut = PROTOCOL_HEADER.length + method!.length + header!.length + 7 + 1000;
  scanner.push(input.subarray(0, firstCut), out);
  const forwarded = Buffer.concat(out);
  assert.is(rec.headers.length, 1, 'the header was rewritten');
  assert.ok(forwarded.subarray(forwarded.length - 1000 - 7).equals(bodyFrame!.subarray(0, 1007)), 'the body frame head and its first bytes went out');
  out.length = 0;
  scanner.push(input.subarray(firstCut, firstCut + 50_000), out);
  assert.ok(Buffer.concat(out).equals(input.subarray(firstCut, firstCut + 50_000)), 'the next 50,000 body bytes went out at once, as they came');
});

test.run();
