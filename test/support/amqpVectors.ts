/**
 * Byte vectors for the codec's unit tests: small builders for hand-made (and deliberately
 * malformed) bytes, and typed wrappers over amqplib's own encoder and decoder, used as an
 * independent reference for well-formed bytes.
 */

import * as path from 'node:path';
import * as assert from 'uvu/assert';
import { FRAME_HEADER_SIZE } from '../../src/amqp/constants';
import { AmqpDecodeError, type AmqpDecodeErrorCode } from '../../src/amqp/errors';

type PlainTable = Record<string, unknown>;

/** The parts of amqplib's untyped lib/codec.js the tests use. */
type AmqplibCodec = {
  encodeTable(buffer: Buffer, value: PlainTable, offset: number): number;
  decodeFields(slice: Buffer): PlainTable;
};

/** The parts of amqplib's generated lib/defs.js the tests use. */
type AmqplibDefs = {
  encodeMethod(id: number, channel: number, fields: PlainTable): Buffer;
  encodeProperties(classId: number, channel: number, size: number, fields: PlainTable): Buffer;
  decode(id: number, args: Buffer): PlainTable;
};

/** The parts of amqplib's lib/frame.js the tests use. */
type AmqplibFrame = {
  parseFrame(bin: Buffer, max?: number): { type: number; channel: number; size: number; payload: Buffer; rest: Buffer } | false;
  HEARTBEAT_BUF: Buffer;
};

/** amqplib's package "exports" hides lib/, so its files are loaded by path from the package root. */
const amqplibRoot = path.dirname(require.resolve('amqplib'));
export const amqplibCodec = require(path.join(amqplibRoot, 'lib/codec.js')) as AmqplibCodec;
export const amqplibDefs = require(path.join(amqplibRoot, 'lib/defs.js')) as AmqplibDefs;
export const amqplibFrame = require(path.join(amqplibRoot, 'lib/frame.js')) as AmqplibFrame;

const BASIC_PROPERTIES = 60;

// ---- amqplib as reference encoder / decoder ----------------------------------------------

/** A field table (length field included) as amqplib encodes it. */
export function referenceTable(value: PlainTable): Buffer {
  const scratch = Buffer.alloc(64 * 1024);
  const size = amqplibCodec.encodeTable(scratch, value, 0);
  return Buffer.from(scratch.subarray(0, size));
}

/** amqplib's decoding of a table given with its length field. */
export function referenceDecodeTable(table: Buffer): PlainTable {
  return amqplibCodec.decodeFields(table.subarray(4, 4 + table.readUInt32BE(0)));
}

/** The payload (class-id onward) of a method frame amqplib encodes. */
export function referenceMethodPayload(methodId: number, fields: PlainTable): Buffer {
  return framePayload(amqplibDefs.encodeMethod(methodId, 1, fields));
}

/** amqplib's decoding of a method payload (class-id onward). */
export function referenceDecodeMethod(payload: Buffer): PlainTable {
  return amqplibDefs.decode(payload.readUInt32BE(0), payload.subarray(4));
}

/** The payload of a basic content header frame amqplib encodes. */
export function referenceContentHeader(properties: PlainTable, bodySize = 0): Buffer {
  return framePayload(amqplibDefs.encodeProperties(BASIC_PROPERTIES, 1, bodySize, properties));
}

/** amqplib's decoding of the properties in a content header payload (first flags word only). */
export function referenceDecodeProperties(payload: Buffer): PlainTable {
  return amqplibDefs.decode(payload.readUInt16BE(0), payload.subarray(12));
}

function framePayload(frame: Buffer): Buffer {
  return Buffer.from(frame.subarray(FRAME_HEADER_SIZE, frame.length - 1));
}

/**
 * A headers table with one value of every RabbitMQ field type, in amqplib's input notation
 * (`{ '!': type, value }` forces a type), and the tag each entry must carry on the wire.
 */
export const EVERY_FIELD_TYPE: readonly { name: string; tag: string; input: unknown }[] = [
  { name: 'bool', tag: 't', input: true },
  { name: 'int8', tag: 'b', input: { '!': 'int8', value: -7 } },
  { name: 'uint8', tag: 'B', input: { '!': 'uint8', value: 250 } },
  { name: 'int16', tag: 's', input: { '!': 'int16', value: -1234 } },
  { name: 'uint16', tag: 'u', input: { '!': 'uint16', value: 65000 } },
  { name: 'int32', tag: 'I', input: { '!': 'int32', value: -123456789 } },
  { name: 'uint32', tag: 'i', input: { '!': 'uint32', value: 4000000000 } },
  { name: 'int64', tag: 'l', input: { '!': 'int64', value: -5000000000 } },
  { name: 'float', tag: 'f', input: { '!': 'float', value: 1.5 } },
  { name: 'double', tag: 'd', input: 3.25 },
  { name: 'decimal', tag: 'D', input: { '!': 'decimal', value: { places: 2, digits: 12345 } } },
  { name: 'longstr', tag: 'S', input: 'h\u00e9llo w\u00f6rld' },
  { name: 'bytes', tag: 'x', input: Buffer.from([0x00, 0xff, 0xce, 0x01]) },
  { name: 'array', tag: 'A', input: [1, 'two', false, null, [300]] },
  { name: 'timestamp', tag: 'T', input: { '!': 'timestamp', value: 1700000000 } },
  { name: 'table', tag: 'F', input: { inner: 'yes', depth: { n: 70000 } } },
  { name: 'void', tag: 'V', input: null },
];

export function everyFieldTypeInput(): PlainTable {
  return Object.fromEntries(EVERY_FIELD_TYPE.map(({ name, input }) => [name, input]));
}

// ---- hand-built bytes --------------------------------------------------------------------

export function u8(value: number): Buffer {
  return Buffer.from([value]);
}

export function u16(value: number): Buffer {
  const buf = Buffer.alloc(2);
  buf.writeUInt16BE(value);
  return buf;
}

export function u32(value: number): Buffer {
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(value);
  return buf;
}

export function u64(value: number | bigint): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt(value));
  return buf;
}

/** A shortstr; `declaredLength` lets a test lie about the length. */
export function shortstr(text: string, declaredLength?: number): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([u8(declaredLength ?? bytes.length), bytes]);
}

export function longstr(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  return Buffer.concat([u32(bytes.length), bytes]);
}

/** One field-table entry: shortstr name, tag character, value bytes. */
export function entry(name: string, tag: string, value: Buffer): Buffer {
  return Buffer.concat([shortstr(name), Buffer.from(tag, 'latin1'), value]);
}

/** A field table: length field + entries; `declaredLength` lets a test lie about the length. */
export function table(entries: readonly Buffer[], declaredLength?: number): Buffer {
  const body = Buffer.concat(entries);
  return Buffer.concat([u32(declaredLength ?? body.length), body]);
}

/** A content header payload with explicit flag words and property bytes. */
export function contentHeaderPayload(flagWords: readonly number[], properties: Buffer, bodySize = 0, classId = BASIC_PROPERTIES): Buffer {
  return Buffer.concat([u16(classId), u16(0), u64(bodySize), ...flagWords.map(u16), properties]);
}

// ---- hostile frames (test/integration/adversarial/corpus.test.ts, hardening/hostile-input) -----

/** A frame with an explicit type, channel and declared size, any payload and any end byte. */
export function rawFrame(type: number, channel: number, declaredSize: number, payload: Buffer = Buffer.alloc(0), end: number | undefined = 0xce): Buffer {
  const head = Buffer.alloc(7);
  head[0] = type;
  head.writeUInt16BE(channel, 1);
  head.writeUInt32BE(declaredSize, 3);
  return Buffer.concat([head, payload, ...(end === undefined ? [] : [u8(end)])]);
}

/** The head of a method frame that claims `declaredSize` bytes, with its class and method ids: what a scanner reads first. */
export function methodFrameHead(channel: number, key: number, declaredSize: number): Buffer {
  return rawFrame(1, channel, declaredSize, u32(key), undefined);
}

/** connection.tune-ok as a whole frame on channel 0. */
export function tuneOkFrame(frameMax: number, channelMax = 16, heartbeat = 0): Buffer {
  const payload = referenceMethodPayload(0x000a001f, { channelMax, frameMax, heartbeat });
  return rawFrame(1, 0, payload.length, payload);
}

/** `count` heartbeat frames on `channel` (0 is the only right one). */
export function heartbeats(count: number, channel = 0): Buffer {
  return Buffer.concat(Array.from({ length: count }, () => rawFrame(8, channel, 0)));
}

// ---- assertions --------------------------------------------------------------------------

/** Asserts that `run` throws an AmqpDecodeError with `code`. */
export function expectDecodeError(run: () => unknown, code: AmqpDecodeErrorCode): void {
  try {
    run();
  } catch (error) {
    assert.instance(error, AmqpDecodeError);
    assert.is((error as AmqpDecodeError).code, code);
    return;
  }
  assert.unreachable(`expected AmqpDecodeError ${code}`);
}
