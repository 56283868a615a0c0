import type { DeliveryHistory } from './deliveryHistory';
import type { TraceParent } from './traceparent';

/**
 * What a protocol adapter tells the tracing core, and what it hands it: a message's view and
 * the events of its life. Shapes only; this file imports nothing but a type, so the core and
 * every adapter can read it without reading each other (docs/ARCHITECTURE.md, "Tracing").
 */

/** Exchange and routing key: where a publisher sent a message, or where it came from. */
export interface Routing {
  readonly exchange: string;
  readonly routingKey: string;
}

/** Bytes the core asks to write without building a string first (a new traceparent, the publish stamp). */
export interface AsciiBytes {
  readonly byteLength: number;
  /** Writes exactly byteLength bytes at `offset`. */
  writeTo(target: Buffer, offset: number): void;
}

/** Names in `remove` are cut out of the message's headers; `add` entries are written as strings. */
export interface HeaderEdit {
  readonly remove: readonly string[];
  readonly add: readonly (readonly [string, string | AsciiBytes])[];
}

/**
 * The trace headers of one message, located once. Values stay bytes until read: most
 * messages need only a traceparent's flags and the stamp's number.
 */
export interface TraceHeaderView {
  /** Whether the message carries a header of this name (one of attributes.ts's Header), of any type. */
  has(name: string): boolean;
  /** The flags of a valid traceparent, or -1 when absent or invalid. */
  readonly traceFlags: number;
  /** A valid traceparent's fields; undefined when absent or invalid. */
  readonly traceContext: TraceParent | undefined;
  readonly tracestate: string | undefined;
  readonly taskId: string | undefined;
  readonly taskName: string | undefined;
  readonly parentTaskId: string | undefined;
  /** The proxy's publish stamp in µs, when it reads as one. */
  readonly publishedAtMicros: number | undefined;
  /** What the message says of earlier attempts (dead-lettering, delivery counts, Celery retries and eta). */
  history(redelivered: boolean): DeliveryHistory;
}

/**
 * What a message carries that tracing reads, read once from its bytes by the adapter and
 * handed down: every span, record and continuation of the message reads this, never the bytes.
 */
export interface MessageView {
  readonly headers: TraceHeaderView;
  readonly bodySize: number;
  /** Bytes the view keeps alive (a retained copy's share of the state budget). */
  readonly byteLength: number;
  readonly hasReplyTo: boolean;
  /** Properties, decoded on first read and remembered. */
  readonly replyTo: string | undefined;
  readonly correlationId: string | undefined;
  readonly messageId: string | undefined;
}

/** A message on its way through the proxy: its view, and the one change the core may make to its bytes. */
export interface MessageInFlight extends MessageView {
  /**
   * Applies `edit` to the headers of the bytes about to be forwarded; false when the result
   * would not fit the connection's limits (the message then goes as it came).
   */
  rewrite(edit: HeaderEdit): boolean;
  /**
   * A view of the message as it stands (after a rewrite, the forwarded bytes) over its own
   * copy, for a record that outlives the frame; undefined when larger than `maxBytes`.
   */
  retain(maxBytes: number): MessageView | undefined;
}

/** What the adapter knows of a delivery from its deliver (or get) method. */
export interface DeliveryHead {
  readonly tag: number;
  readonly routing: Routing;
  /** The queue it came from, '' when unknown. */
  readonly queue: string;
  readonly operation: 'deliver' | 'get';
  /** get only: when the client asked, in ms since the epoch (the receive span's start). */
  readonly requestedAt?: number;
}

export interface Delivery extends DeliveryHead {
  /** Settled as it is sent (auto-ack): no settle event will follow. */
  readonly noAck: boolean;
  readonly redelivered: boolean;
}

/** A publish the broker handed back (unroutable): its reply and where it was sent. */
export interface ReturnedBy extends Routing {
  readonly replyCode: number;
  readonly replyText: string;
}

/** How the broker settled a publish. */
export type ConfirmOutcome = 'ack' | 'nack';
/** How a consumer settled a delivery. */
export type SettleOutcome = 'ack' | 'nack' | 'reject';
/** The channel or connection went away: what was in flight ended badly. */
export const CLOSE_REASONS: ReadonlySet<string> = new Set(['channel_closed', 'connection_closed']);
