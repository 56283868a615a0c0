/**
 * Decoders for the method frames the proxy looks inside, and the one method it writes.
 *
 *   method frame payload (spec 4.2.4):
 *   0          2           4
 *   +----------+-----------+---------------- - -
 *   | class-id | method-id | arguments
 *   +----------+-----------+---------------- - -
 *     short      short
 *
 * Arguments are concatenated without tags in the order of amqp0-9-1.xml; consecutive `bit`
 * arguments share one octet, first bit in the least significant position (spec 4.2.5.2).
 * `reserved-*` arguments are skipped and not returned. Every other method is forwarded
 * as opaque bytes and has no decoder here.
 */

import { FRAME_METHOD, Method, SHORTSTR_MAX_BYTES, methodKey } from './constants';
import { AmqpDecodeError, ensureAvailable } from './errors';
import { decodeTable, skipShortStr, type FieldTable } from './fieldTable';
import { encodeFrame } from './frame';

export type BasicPublishArgs = { exchange: string; routingKey: string; mandatory: boolean; immediate: boolean };
export type BasicReturnArgs = { replyCode: number; replyText: string; exchange: string; routingKey: string };
export type BasicDeliverArgs = {
  consumerTag: string;
  deliveryTag: number;
  redelivered: boolean;
  exchange: string;
  routingKey: string;
};
export type BasicGetArgs = { queue: string; noAck: boolean };
export type BasicGetOkArgs = {
  deliveryTag: number;
  redelivered: boolean;
  exchange: string;
  routingKey: string;
  messageCount: number;
};
export type BasicAckArgs = { deliveryTag: number; multiple: boolean };
export type BasicNackArgs = { deliveryTag: number; multiple: boolean; requeue: boolean };
export type BasicRejectArgs = { deliveryTag: number; requeue: boolean };
export type BasicConsumeArgs = {
  queue: string;
  consumerTag: string;
  noLocal: boolean;
  noAck: boolean;
  exclusive: boolean;
  noWait: boolean;
  arguments: FieldTable;
};
export type BasicConsumeOkArgs = { consumerTag: string };
/**
 * queue.declare; of its `arguments` only whether `x-expires` (delete when unused) and
 * `x-dead-letter-exchange` (a reject without requeue, an expiry or an overflow dead-letters) are there.
 */
export type QueueDeclareArgs = {
  queue: string; passive: boolean; durable: boolean; exclusive: boolean; autoDelete: boolean; noWait: boolean; expires: boolean;
  deadLetterExchange: boolean;
};
export type QueueDeclareOkArgs = { queue: string; messageCount: number; consumerCount: number };
export type BasicCancelArgs = { consumerTag: string; noWait: boolean };
export type BasicCancelOkArgs = { consumerTag: string };
export type ConnectionTuneArgs = { channelMax: number; frameMax: number; heartbeat: number };
export type CloseArgs = { replyCode: number; replyText: string; classId: number; methodId: number };

/** The method's (classId << 16) | methodId, comparable with `Method` from constants.ts. */
export function methodKeyOf(payload: Buffer): number {
  ensureAvailable(0, 4, payload.length, 'method class-id and method-id');
  return methodKey(payload.readUInt16BE(0), payload.readUInt16BE(2));
}

/** Sequential, bounds-checked reads over one method's arguments. */
class ArgumentReader {
  constructor(
    private readonly payload: Buffer,
    private offset: number,
  ) {}

  skip(size: number): void {
    this.advance(size, 'reserved argument');
  }

  octet(): number {
    return this.payload[this.advance(1, 'octet argument')];
  }

  short(): number {
    return this.payload.readUInt16BE(this.advance(2, 'short argument'));
  }

  long(): number {
    return this.payload.readUInt32BE(this.advance(4, 'long argument'));
  }

  /** Two 32-bit reads, exact below 2^53; delivery tags never get near that. */
  longlong(): number {
    const at = this.advance(8, 'longlong argument');
    return this.payload.readUInt32BE(at) * 2 ** 32 + this.payload.readUInt32BE(at + 4);
  }

  shortstr(): string {
    const start = this.offset;
    this.offset = skipShortStr(this.payload, start);
    return this.payload.toString('utf8', start + 1, this.offset);
  }

  /**
   * shortstr(), but returns `known` without decoding when the bytes spell it: a consumer
   * tag repeats on every delivery. Only an ASCII `known` is compared (for ASCII, bytes and
   * char codes are the same thing).
   */
  shortstrLike(known: string): string {
    const start = this.offset;
    this.offset = skipShortStr(this.payload, start);
    const length = this.offset - start - 1;
    if (length !== known.length) return this.payload.toString('utf8', start + 1, this.offset);
    for (let i = 0; i < length; i++) {
      const c = known.charCodeAt(i);
      if (c > 0x7f || this.payload[start + 1 + i] !== c) return this.payload.toString('utf8', start + 1, this.offset);
    }
    return known;
  }

  /** Checks a shortstr's bounds and moves past it without decoding; returns its offset. */
  skipShortstr(): number {
    const start = this.offset;
    this.offset = skipShortStr(this.payload, start);
    return start;
  }

  table(): FieldTable {
    const { value, end } = decodeTable(this.payload, this.offset);
    this.offset = end;
    return value;
  }

  /** Returns the offset of `size` bytes and moves past them. */
  private advance(size: number, what: string): number {
    const at = this.offset;
    ensureAvailable(at, size, this.payload.length, what);
    this.offset = at + size;
    return at;
  }
}

function bit(bits: number, index: number): boolean {
  return (bits & (1 << index)) !== 0;
}

/** A reader positioned at the arguments, after checking the payload is the `expected` method (or `alternative`). */
function argumentsOf(payload: Buffer, expected: number, alternative: number = expected): ArgumentReader {
  const key = methodKeyOf(payload);
  if (key !== expected && key !== alternative) {
    throw new AmqpDecodeError('UNEXPECTED_METHOD', `method ${key >>> 16}.${key & 0xffff} handed to the wrong decoder`, 0);
  }
  return new ArgumentReader(payload, 4);
}

export function decodeBasicPublish(payload: Buffer): BasicPublishArgs {
  const args = argumentsOf(payload, Method.BasicPublish);
  args.skip(2);
  const exchange = args.shortstr();
  const routingKey = args.shortstr();
  const bits = args.octet();
  return { exchange, routingKey, mandatory: bit(bits, 0), immediate: bit(bits, 1) };
}

/**
 * A content method's exchange and routing key, located (and bounds-checked) when the method
 * arrives but decoded on first read: most messages never need them as strings (only spans
 * that record, confirm bookkeeping and RPC continuation do), and decoding two strings per
 * message was a measurable share of the proxy's CPU. Holds the method payload until then.
 */
export class RoutingFields {
  private exchangeText: string | undefined;
  private routingKeyText: string | undefined;

  constructor(
    private readonly payload: Buffer,
    private readonly exchangeAt: number,
    private readonly routingKeyAt: number,
    /** basic.publish's mandatory bit: an unroutable message comes back as basic.return. */
    readonly mandatory = false,
  ) {}

  get exchange(): string {
    this.exchangeText ??= shortstrAt(this.payload, this.exchangeAt);
    return this.exchangeText;
  }

  get routingKey(): string {
    this.routingKeyText ??= shortstrAt(this.payload, this.routingKeyAt);
    return this.routingKeyText;
  }
}

function shortstrAt(payload: Buffer, offset: number): string {
  return payload.toString('utf8', offset + 1, offset + 1 + payload[offset]!);
}

/** decodeBasicPublish's checks, with the exchange and routing key left undecoded. */
export function locateBasicPublish(payload: Buffer): RoutingFields {
  const args = argumentsOf(payload, Method.BasicPublish);
  args.skip(2);
  const exchangeAt = args.skipShortstr();
  const routingKeyAt = args.skipShortstr();
  const bits = args.octet();
  return new RoutingFields(payload, exchangeAt, routingKeyAt, bit(bits, 0));
}

export type BasicDeliverHead = { consumerTag: string; deliveryTag: number; redelivered: boolean; routing: RoutingFields };

/**
 * decodeBasicDeliver's checks, with the exchange and routing key left undecoded; the
 * consumer tag is `previousTag` itself when its bytes are the same (see shortstrLike).
 */
export function locateBasicDeliver(payload: Buffer, previousTag = ''): BasicDeliverHead {
  const args = argumentsOf(payload, Method.BasicDeliver);
  const consumerTag = args.shortstrLike(previousTag);
  const deliveryTag = args.longlong();
  const redelivered = bit(args.octet(), 0);
  const exchangeAt = args.skipShortstr();
  const routingKeyAt = args.skipShortstr();
  return { consumerTag, deliveryTag, redelivered, routing: new RoutingFields(payload, exchangeAt, routingKeyAt) };
}

export function decodeBasicReturn(payload: Buffer): BasicReturnArgs {
  const args = argumentsOf(payload, Method.BasicReturn);
  const replyCode = args.short();
  const replyText = args.shortstr();
  const exchange = args.shortstr();
  const routingKey = args.shortstr();
  return { replyCode, replyText, exchange, routingKey };
}

export function decodeBasicDeliver(payload: Buffer): BasicDeliverArgs {
  const args = argumentsOf(payload, Method.BasicDeliver);
  const consumerTag = args.shortstr();
  const deliveryTag = args.longlong();
  const redelivered = bit(args.octet(), 0);
  const exchange = args.shortstr();
  const routingKey = args.shortstr();
  return { consumerTag, deliveryTag, redelivered, exchange, routingKey };
}

export function decodeBasicGet(payload: Buffer): BasicGetArgs {
  const args = argumentsOf(payload, Method.BasicGet);
  args.skip(2);
  const queue = args.shortstr();
  const noAck = bit(args.octet(), 0);
  return { queue, noAck };
}

export function decodeBasicGetOk(payload: Buffer): BasicGetOkArgs {
  const args = argumentsOf(payload, Method.BasicGetOk);
  const deliveryTag = args.longlong();
  const redelivered = bit(args.octet(), 0);
  const exchange = args.shortstr();
  const routingKey = args.shortstr();
  const messageCount = args.long();
  return { deliveryTag, redelivered, exchange, routingKey, messageCount };
}

export function decodeBasicAck(payload: Buffer): BasicAckArgs {
  const args = argumentsOf(payload, Method.BasicAck);
  const deliveryTag = args.longlong();
  return { deliveryTag, multiple: bit(args.octet(), 0) };
}

export function decodeBasicNack(payload: Buffer): BasicNackArgs {
  const args = argumentsOf(payload, Method.BasicNack);
  const deliveryTag = args.longlong();
  const bits = args.octet();
  return { deliveryTag, multiple: bit(bits, 0), requeue: bit(bits, 1) };
}

export function decodeBasicReject(payload: Buffer): BasicRejectArgs {
  const args = argumentsOf(payload, Method.BasicReject);
  const deliveryTag = args.longlong();
  return { deliveryTag, requeue: bit(args.octet(), 0) };
}

export function decodeBasicConsume(payload: Buffer): BasicConsumeArgs {
  const args = argumentsOf(payload, Method.BasicConsume);
  args.skip(2);
  const queue = args.shortstr();
  const consumerTag = args.shortstr();
  const bits = args.octet();
  return {
    queue,
    consumerTag,
    noLocal: bit(bits, 0),
    noAck: bit(bits, 1),
    exclusive: bit(bits, 2),
    noWait: bit(bits, 3),
    arguments: args.table(),
  };
}

export function decodeBasicConsumeOk(payload: Buffer): BasicConsumeOkArgs {
  return { consumerTag: argumentsOf(payload, Method.BasicConsumeOk).shortstr() };
}

export function decodeBasicCancelOk(payload: Buffer): BasicCancelOkArgs {
  return { consumerTag: argumentsOf(payload, Method.BasicCancelOk).shortstr() };
}

export function decodeBasicCancel(payload: Buffer): BasicCancelArgs {
  const args = argumentsOf(payload, Method.BasicCancel);
  const consumerTag = args.shortstr();
  return { consumerTag, noWait: bit(args.octet(), 0) };
}

export function decodeQueueDeclare(payload: Buffer): QueueDeclareArgs {
  const args = argumentsOf(payload, Method.QueueDeclare);
  args.skip(2);
  const queue = args.shortstr();
  const bits = args.octet();
  // Declarations are rare (not per message), so the table is decoded whole.
  const table = args.table();
  const expires = table['x-expires'] !== undefined;
  const deadLetterExchange = table['x-dead-letter-exchange'] !== undefined;
  return {
    queue, passive: bit(bits, 0), durable: bit(bits, 1), exclusive: bit(bits, 2), autoDelete: bit(bits, 3), noWait: bit(bits, 4), expires,
    deadLetterExchange,
  };
}

export function decodeQueueDeclareOk(payload: Buffer): QueueDeclareOkArgs {
  const args = argumentsOf(payload, Method.QueueDeclareOk);
  const queue = args.shortstr();
  const messageCount = args.long();
  return { queue, messageCount, consumerCount: args.long() };
}

/** connection.tune and connection.tune-ok share their arguments. */
export function decodeConnectionTune(payload: Buffer): ConnectionTuneArgs {
  const args = argumentsOf(payload, Method.ConnectionTune, Method.ConnectionTuneOk);
  const channelMax = args.short();
  const frameMax = args.long();
  const heartbeat = args.short();
  return { channelMax, frameMax, heartbeat };
}

/** connection.close and channel.close share their arguments. */
export function decodeClose(payload: Buffer): CloseArgs {
  const args = argumentsOf(payload, Method.ConnectionClose, Method.ChannelClose);
  const replyCode = args.short();
  const replyText = args.shortstr();
  const classId = args.short();
  const methodId = args.short();
  return { replyCode, replyText, classId, methodId };
}

/**
 * A whole connection.close frame on channel 0. A reply text longer than a shortstr is cut
 * at 255 bytes, never inside a UTF-8 character.
 */
export function encodeConnectionClose(replyCode: number, replyText: string, classId: number, methodId: number): Buffer {
  const payload = Buffer.allocUnsafe(4 + 2 + 1 + SHORTSTR_MAX_BYTES + 2 + 2);
  let at = payload.writeUInt32BE(Method.ConnectionClose, 0);
  at = payload.writeUInt16BE(replyCode, at);
  // Buffer#write never writes a partial character when the length limit cuts one.
  const textLength = payload.write(replyText, at + 1, SHORTSTR_MAX_BYTES, 'utf8');
  payload[at] = textLength;
  at += 1 + textLength;
  at = payload.writeUInt16BE(classId, at);
  at = payload.writeUInt16BE(methodId, at);
  return encodeFrame(FRAME_METHOD, 0, payload.subarray(0, at));
}
