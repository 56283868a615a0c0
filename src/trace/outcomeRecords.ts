import type { AttemptTiming } from './attempts';
import type { TraceOutcome } from '../metrics/metrics';
import type { DeliveryHead, MessageInFlight, MessageView, Routing } from './lifecycle';
import type { MessageContext } from './recordedSpan';

/**
 * What an unsampled message leaves in the in-flight maps, so that its spans can still be
 * made, with its real times and ids, if its outcome keeps it (outcome.ts, outcomeKeeper.ts).
 */

/**
 * A message view larger than this is not recorded, and its message cannot be kept: a
 * record copies its header, and headers may be as large as the protocol's frame limit.
 */
export const MAX_RECORDED_HEADER_BYTES = 16 * 1024;

/**
 * An unsampled publish awaiting its confirm: the message as forwarded (its traceparent names
 * the trace and, for a context the proxy created, the publish span's own id), the routing,
 * and how the context was found.
 */
export class PublishRecord {
  private written: MessageContext | undefined;

  private constructor(
    /** The message as forwarded, over the record's own copy. */
    readonly message: MessageView,
    readonly context: TraceOutcome,
    /** The context a continuation found (continued_by_*), the publish span's parent. */
    readonly parent: MessageContext | undefined,
    readonly routing: Routing,
  ) {}

  /** Called after any rewrite: the record keeps what was forwarded. Undefined when too large to record. */
  static of(message: MessageInFlight, context: TraceOutcome, parent: MessageContext | undefined, routing: Routing): PublishRecord | undefined {
    const kept = message.retain(MAX_RECORDED_HEADER_BYTES);
    if (kept === undefined) return undefined;
    return new PublishRecord(kept, context, parent, { exchange: routing.exchange, routingKey: routing.routingKey });
  }

  /** The traceparent the proxy forwarded (always valid: it wrote or checked it). */
  get traceparent(): MessageContext {
    if (this.written === undefined) {
      const headers = this.message.headers;
      this.written = { ...headers.traceContext!, traceState: headers.tracestate };
    }
    return this.written;
  }

  /** Whether a basic.return quoting this span id is this publish's (never throws: it runs on forwarding). */
  quotes(spanId: string): boolean {
    try {
      return this.traceparent.spanId === spanId;
    } catch {
      return false;
    }
  }
}

/**
 * An unsampled delivery awaiting the consumer's ack: its method's fields and a copy of the
 * message, the times, and the contexts a consumer or a continuation may already have seen,
 * so that kept spans carry those very ids.
 */
export interface DeliveryRecord extends DeliveryHead {
  readonly message: MessageView;
  /** Epoch ms: the publish stamp, when trusted, and the delivery. */
  readonly publishedAt: number | undefined;
  readonly deliveredAt: number;
  readonly hop: MessageContext | undefined;
  readonly process: MessageContext | undefined;
  /** The new trace of a delivery that came without a valid traceparent. */
  readonly traceId: string | undefined;
  /** What its history changed (attempts.ts): kept spans show the same eta wait, dead-letter hop and links. */
  readonly timing?: AttemptTiming;
}

/** A delivery's record (made before any rewrite: it keeps what the broker sent), or undefined when too large to record. */
export function deliveryRecord(
  head: DeliveryHead, message: MessageInFlight, publishedAt: number | undefined, deliveredAt: number,
  hop: MessageContext | undefined, process: MessageContext | undefined, traceId: string | undefined,
): DeliveryRecord | undefined {
  const kept = message.retain(MAX_RECORDED_HEADER_BYTES);
  if (kept === undefined) return undefined;
  return {
    tag: head.tag, routing: { exchange: head.routing.exchange, routingKey: head.routing.routingKey }, queue: head.queue,
    operation: head.operation, requestedAt: head.requestedAt,
    message: kept, publishedAt, deliveredAt, hop, process, traceId,
  };
}
