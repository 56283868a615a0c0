/**
 * Errors raised by the wire codec.
 *
 * The codec only throws for bytes that are wrong inside a *complete* frame payload; "not
 * enough bytes yet" is a return value of the scanner's framing code, never an error. The
 * scanner catches it, forwards that frame untouched and goes on with the next one (see
 * UnreadFrameListener); the `code` is what metrics and logs key on and must stay stable.
 */

export type AmqpDecodeErrorCode =
  /** A fixed-size value, a length-prefixed value or a table runs past the end of its container. */
  | 'TRUNCATED'
  /** A field-table value carries a type tag neither RabbitMQ nor the 0-9-1 spec defines. */
  | 'UNKNOWN_FIELD_TYPE'
  /** A shortstr's length octet points past the end of its container. */
  | 'BAD_SHORTSTR'
  /** A method decoder was handed the payload of a different method. */
  | 'UNEXPECTED_METHOD';

export class AmqpDecodeError extends Error {
  override readonly name = 'AmqpDecodeError';

  constructor(
    readonly code: AmqpDecodeErrorCode,
    message: string,
    /** Offset in the decoded buffer where the problem was found. */
    readonly offset: number,
  ) {
    super(`${message} (at offset ${offset})`);
  }
}

/** Throws TRUNCATED unless `size` bytes are available at `offset` before `limit`. */
export function ensureAvailable(offset: number, size: number, limit: number, what: string): void {
  if (offset + size > limit) {
    throw new AmqpDecodeError('TRUNCATED', `${what} needs ${size} bytes but only ${Math.max(0, limit - offset)} remain`, offset);
  }
}
