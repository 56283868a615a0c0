/**
 * Property-based fuzzing of the frame scanner and the headers splice, shared by the fuzz
 * script (millions of inputs) and a bounded unit test.
 *
 * Each input is a client byte stream: mostly well-formed frames (publishes with random
 * properties and headers, other methods, bodies, heartbeats), then sometimes damaged (bytes
 * flipped, cut, inserted). It is fed to a FrameScanner in random chunks, with a hook that
 * does what the tracer does: parse the content header and splice a traceparent in. The
 * output must equal what an independent whole-buffer model of the scanner predicts: the
 * input byte for byte, except for content headers the hook rewrote, up to the first thing
 * the scanner cannot parse, and verbatim from there on (fail open). Rewritten headers are
 * parsed again and must carry every original property and entry plus the added one.
 */
import { CONTENT_METHODS, FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD, Method, PROTOCOL_HEADER } from '../../src/amqp/constants';
import { parseContentHeader, spliceHeaders, spliceHeadersFrame } from '../../src/amqp/contentHeader';
import { AmqpDecodeError } from '../../src/amqp/errors';
import { encodeFrame } from '../../src/amqp/frame';
import { FrameScanner, ScannerHooks } from '../../src/amqp/scanner';
import { referenceContentHeader, referenceDecodeProperties, referenceMethodPayload } from '../support/amqpVectors';

const FRAME_LIMIT = 128 * 1024;
const ADDED: readonly [string, string][] = [['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']];

/** A small, fast, seedable PRNG (mulberry32), so a failing case can be replayed by seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;
const text = (r: Rand, max: number): string => Array.from({ length: int(r, max) }, () => String.fromCharCode(32 + int(r, 95))).join('');

function randomHeaders(r: Rand): Record<string, unknown> {
  const h: Record<string, unknown> = {};
  const n = int(r, 5);
  for (let i = 0; i < n; i++) {
    const kind = int(r, 6);
    const name = pick(r, ['traceparent', 'tracestate', 'x', `k${i}`, 'id', 'parent_id']);
    h[name] = kind === 0 ? int(r, 1e6) : kind === 1 ? text(r, 40) : kind === 2 ? r() < 0.5
      : kind === 3 ? { nested: text(r, 10) } : kind === 4 ? [1, 'a'] : Buffer.from(text(r, 8));
  }
  return h;
}

function randomProperties(r: Rand): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  if (r() < 0.5) p.contentType = text(r, 20);
  if (r() < 0.7) p.headers = randomHeaders(r);
  if (r() < 0.5) p.deliveryMode = 1 + int(r, 2);
  if (r() < 0.3) p.correlationId = text(r, 30);
  if (r() < 0.3) p.replyTo = text(r, 30);
  if (r() < 0.3) p.messageId = text(r, 30);
  if (r() < 0.2) p.timestamp = int(r, 2e9);
  if (r() < 0.2) p.appId = text(r, 10);
  return p;
}

/** A well-formed client stream of `n` frames-ish, interleaving up to three channels. */
function validStream(r: Rand): Buffer {
  const parts: Buffer[] = [PROTOCOL_HEADER];
  const messages = 1 + int(r, 6);
  for (let m = 0; m < messages; m++) {
    const channel = 1 + int(r, 3);
    const choice = int(r, 10);
    if (choice < 7) {
      const bodySize = pick(r, [0, 1, 10, 300, 5000]);
      parts.push(encodeFrame(FRAME_METHOD, channel, referenceMethodPayload(Method.BasicPublish, {
        ticket: 0, exchange: text(r, 10), routingKey: text(r, 20), mandatory: r() < 0.5, immediate: false,
      })));
      parts.push(encodeFrame(FRAME_HEADER, channel, referenceContentHeader(randomProperties(r), bodySize)));
      let left = bodySize;
      while (left > 0) {
        const n = Math.min(left, 1 + int(r, 4000));
        parts.push(encodeFrame(FRAME_BODY, channel, Buffer.alloc(n, int(r, 256))));
        left -= n;
      }
    } else if (choice < 8) {
      parts.push(encodeFrame(FRAME_HEARTBEAT, 0, Buffer.alloc(0)));
    } else if (choice < 9) {
      parts.push(encodeFrame(FRAME_METHOD, channel, referenceMethodPayload(Method.BasicAck, { deliveryTag: int(r, 1000), multiple: false })));
    } else {
      parts.push(encodeFrame(FRAME_METHOD, channel, referenceMethodPayload(Method.ChannelClose, {
        replyCode: 200, replyText: 'bye', classId: 0, methodId: 0,
      })));
    }
  }
  return Buffer.concat(parts);
}

/** Damage: flip bytes, cut the tail, insert junk, or overwrite a frame's size. */
function damage(r: Rand, input: Buffer): Buffer {
  const buf = Buffer.from(input);
  const what = int(r, 5);
  if (what === 0) {
    for (let i = 0, n = 1 + int(r, 4); i < n; i++) buf[int(r, buf.length)] = int(r, 256);
    return buf;
  }
  if (what === 1) return buf.subarray(0, int(r, buf.length));
  if (what === 2) {
    const at = int(r, buf.length);
    return Buffer.concat([buf.subarray(0, at), Buffer.from(Array.from({ length: 1 + int(r, 16) }, () => int(r, 256))), buf.subarray(at)]);
  }
  if (what === 3 && buf.length > 20) {
    buf.writeUInt32BE(int(r, 0xffffffff), 8 + 3);
    return buf;
  }
  return Buffer.from(Array.from({ length: int(r, 64) }, () => int(r, 256)));
}

/** The tracer's rewrite, reduced to its byte work: parse, then splice a traceparent in. */
function rewrite(payload: Buffer): Buffer {
  return spliceHeaders(payload, parseContentHeader(payload), { remove: ['traceparent'], add: ADDED });
}

/** The same rewrite as the scanner hook returns it: a whole frame. */
function rewriteFrame(channel: number, payload: Buffer): Buffer {
  return spliceHeadersFrame(channel, payload, parseContentHeader(payload), { remove: ['traceparent'], add: ADDED });
}

const hooks: ScannerHooks = {
  inspect: new Set([Method.BasicPublish]),
  onMethod: () => undefined,
  onContentHeader: (channel, _method, payload) => rewriteFrame(channel, payload),
};

/** What the scanner must output for `input`, computed over the whole buffer at once. */
export function expectedOutput(input: Buffer): { out: Buffer; rewritten: [Buffer, Buffer][] } {
  const rewritten: [Buffer, Buffer][] = [];
  if (input.length < PROTOCOL_HEADER.length) return { out: Buffer.alloc(0), rewritten };
  if (!input.subarray(0, 8).equals(PROTOCOL_HEADER)) return { out: input, rewritten };
  const out: Buffer[] = [PROTOCOL_HEADER];
  const awaiting = new Set<number>();
  const done = (): { out: Buffer; rewritten: [Buffer, Buffer][] } => ({ out: Buffer.concat(out), rewritten });
  const rest = (pos: number): { out: Buffer; rewritten: [Buffer, Buffer][] } => {
    out.push(input.subarray(pos));
    return done();
  };
  let pos = 8;
  const len = input.length;
  while (pos < len) {
    if (len - pos < 7) return done(); // held: not a whole frame head yet
    const type = input[pos]!;
    const channel = input.readUInt16BE(pos + 1);
    const size = input.readUInt32BE(pos + 3);
    const whole = size + 8;
    if (whole > FRAME_LIMIT) return rest(pos);
    const complete = len - pos >= whole;
    const endOk = complete && input[pos + whole - 1] === FRAME_END;
    if (type === FRAME_METHOD) {
      if (size < 4) return rest(pos);
      if (len - pos < 11) return done();
      const key = input.readUInt32BE(pos + 7);
      if (key === Method.BasicPublish) {
        if (!complete) return done();
        if (!endOk) return rest(pos);
        awaiting.add(channel);
        out.push(input.subarray(pos, pos + whole));
        pos += whole;
        continue;
      }
      if (CONTENT_METHODS.has(key)) awaiting.add(channel);
      else awaiting.delete(channel);
    } else if (type === FRAME_HEADER && awaiting.has(channel)) {
      if (!complete) return done();
      if (!endOk || size < 14) return rest(pos);
      awaiting.delete(channel);
      const payload = input.subarray(pos + 7, pos + whole - 1);
      let replacement: Buffer;
      try {
        replacement = rewrite(payload);
      } catch {
        // A complete frame the hook cannot read goes out as it came; scanning goes on.
        out.push(input.subarray(pos, pos + whole));
        pos += whole;
        continue;
      }
      rewritten.push([payload, replacement]);
      out.push(encodeFrame(FRAME_HEADER, channel, replacement));
      pos += whole;
      continue;
    } else if (type === FRAME_BODY) {
      // A body frame where a content header was due is a protocol error the broker will
      // reject; the scanner stops waiting for a header on that channel (channelState.afterBody).
      awaiting.delete(channel);
    } else if (type !== FRAME_HEADER && type !== FRAME_HEARTBEAT) {
      return rest(pos);
    }
    if (!complete) return rest(pos); // streamed: partial frames go out as they arrive
    if (!endOk) return rest(pos);
    out.push(input.subarray(pos, pos + whole));
    pos += whole;
  }
  return done();
}

/** Feeds `input` to a scanner in random chunks and returns everything it wrote. */
export function scanInChunks(r: Rand, input: Buffer): Buffer {
  const scanner = new FrameScanner(hooks, true, () => undefined);
  // A stream after the handshake: the model knows one limit for every frame.
  scanner.setLimits({ frame: FRAME_LIMIT, hold: FRAME_LIMIT });
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < input.length) {
    const n = r() < 0.2 ? 1 + int(r, 8) : 1 + int(r, input.length);
    scanner.push(input.subarray(pos, pos + n), out);
    pos += n;
  }
  return Buffer.concat(out);
}

/** A rewritten header keeps every property and header entry and gains exactly the added one. */
function checkSplice(original: Buffer, replacement: Buffer): string | undefined {
  const before = referenceDecodeProperties(original);
  const after = referenceDecodeProperties(replacement);
  const beforeHeaders = { ...(before.headers as Record<string, unknown> | undefined ?? {}) };
  delete beforeHeaders.traceparent;
  const expected = { ...before, headers: { ...beforeHeaders, traceparent: ADDED[0]![1] } };
  const a = JSON.stringify(after, replacer);
  const e = JSON.stringify(expected, replacer);
  return a === e ? undefined : `splice changed properties:\n  expected ${e}\n  got      ${a}`;
}

function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

export interface FuzzFailure {
  readonly seed: number;
  readonly input: string;
  readonly problem: string;
}

/** One input from one seed; returns a description of what went wrong, if anything did. */
export function fuzzOne(seed: number): FuzzFailure | undefined {
  const r = prng(seed);
  const valid = validStream(r);
  const input = r() < 0.5 ? valid : damage(r, valid);
  const fail = (problem: string): FuzzFailure => ({ seed, input: input.toString('hex'), problem });
  let expected: ReturnType<typeof expectedOutput>;
  let actual: Buffer;
  try {
    expected = expectedOutput(input);
    actual = scanInChunks(r, input);
  } catch (err) {
    if (err instanceof AmqpDecodeError) return fail(`AmqpDecodeError escaped the scanner: ${err.message}`);
    return fail(`crash: ${(err as Error).stack ?? String(err)}`);
  }
  if (!actual.equals(expected.out)) {
    return fail(`output differs from the model (expected ${expected.out.length} bytes, got ${actual.length})`);
  }
  if (input === valid) {
    for (const [original, replacement] of expected.rewritten) {
      const problem = checkSplice(original, replacement);
      if (problem) return fail(problem);
    }
  }
  return undefined;
}
