import { FRAME_HEADER_SIZE } from '../amqp/constants';
import { parseContentHeader } from '../amqp/contentHeader';
import type { ProcessOutcome, ProxyMetrics, TraceOutcome } from '../metrics/metrics';
import { Clock, SYSTEM_CLOCK } from './clock';
import type { MessageContext } from './messageSpans';
import { OUTCOME_RULES, REASON_OF, type OutcomeRule } from './outcomeNames';
import type { SpanSink } from './recordedSpan';
import type { Telemetry } from './telemetry';
import { TraceHeaders } from './traceHeaders';

/**
 * Outcome-based export ("keep the failures"): the spans of a message whose trace the head
 * sampler did not pick are still exported when its outcome is worth seeing: an error
 * (nacked, returned, rejected, redelivered, cut off by a close) or a latency above a
 * threshold. The proxy is the one place that sees every outcome as it happens, so it can
 * decide after the fact what a tail-sampling collector would need every span of a trace
 * routed to it and held for a window to decide.
 *
 * An unsampled message costs a small record in the in-flight maps the proxy already keeps
 * (confirms and acks, bounded and counted per channel); spans are made from that record,
 * with the message's real times and ids, only when an outcome says keep. The traceparent a
 * consumer saw is never changed: the decision comes after the message has gone on.
 */

export interface OutcomeOptions {
  /** The rules in force (OUTCOME_RULES minus those switched off). */
  readonly rules: ReadonlySet<OutcomeRule>;
  readonly confirmOverMs: number;
  readonly brokerHopOverMs: number;
  readonly processOverMs: number;
  /** Messages whose spans may be kept per second, all rules together; the rest are counted as dropped. */
  readonly perSecond: number;
}

/** What the rules count (ProxyMetrics declares and implements it). */
export type OutcomeMetrics = Pick<ProxyMetrics, 'outcomeKept' | 'outcomeDropped'>;

/**
 * A token bucket: up to `perSecond` admissions in any one-second burst, refilled
 * continuously. The clock is injected so tests control time.
 */
export class KeepLimiter {
  private tokens: number;
  private last: number;

  constructor(private readonly perSecond: number, private readonly now: () => number = () => performance.now()) {
    this.tokens = perSecond;
    this.last = now();
  }

  admit(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Decides which outcomes keep a message, and admits keeps through the rate limit. Shared
 * by every connection of the process, so the limit holds for the proxy as a whole.
 */
export class OutcomeRules {
  private readonly limiter: KeepLimiter;

  constructor(readonly options: OutcomeOptions, private readonly metrics: OutcomeMetrics, now?: () => number) {
    this.limiter = new KeepLimiter(options.perSecond, now);
  }

  /** A publish settled by the broker's confirm (or nack), `elapsedMs` after it went out. */
  atConfirm(outcome: 'ack' | 'nack', returned: boolean, elapsedMs: number): OutcomeRule | undefined {
    // A rule switched off lets the next one decide (an error still kept as slow, say).
    const error = outcome === 'nack' ? this.on('publish_nack') : returned ? this.on('publish_returned') : undefined;
    if (error !== undefined) return error;
    return elapsedMs > this.options.confirmOverMs ? this.on('confirm_latency') : undefined;
  }

  /** At delivery: what is known before the consumer sees the message. */
  atDelivery(redelivered: boolean, hopMs: number | undefined): OutcomeRule | undefined {
    if (redelivered && this.on('redelivered') !== undefined) return 'redelivered';
    return hopMs !== undefined && hopMs > this.options.brokerHopOverMs ? this.on('broker_hop_latency') : undefined;
  }

  /** A delivery settled by the consumer, or cut off by a close, `elapsedMs` after delivery. */
  atSettle(outcome: ProcessOutcome, elapsedMs: number): OutcomeRule | undefined {
    const rule = SETTLE_RULES[outcome];
    if (rule !== undefined && this.on(rule) !== undefined) return rule;
    return elapsedMs > this.options.processOverMs ? this.on('process_latency') : undefined;
  }

  /** Whether a rule that fired may keep its message now; counted either way. */
  admit(rule: OutcomeRule): boolean {
    if (!this.limiter.admit()) {
      this.metrics.outcomeDropped(rule);
      return false;
    }
    this.metrics.outcomeKept(REASON_OF[rule], rule);
    return true;
  }

  private on(rule: OutcomeRule): OutcomeRule | undefined {
    return this.options.rules.has(rule) ? rule : undefined;
  }
}

const SETTLE_RULES: Readonly<Record<ProcessOutcome, OutcomeRule | undefined>> = {
  ack: undefined,
  auto_ack: undefined,
  nack: 'delivery_nack',
  reject: 'delivery_reject',
  closed: 'delivery_closed',
};

/** Exchange and routing key. */
export interface Routing {
  readonly exchange: string;
  readonly routingKey: string;
}

/**
 * A content header larger than this is not recorded, and its message cannot be kept: a
 * record copies its header, and headers may be as large as frame_max.
 */
export const MAX_RECORDED_HEADER_BYTES = 16 * 1024;

/**
 * A record's own copy of bytes it keeps. The originals are views of socket reads (which
 * also hold message bodies) or of the frame just forwarded; a long-lived view would keep
 * all of that alive for as long as the message is in flight.
 */
function ownCopy(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafe(bytes.length);
  bytes.copy(copy);
  return copy;
}

/**
 * An unsampled publish awaiting its confirm: the content header as forwarded (its
 * traceparent names the trace and, for a context the proxy created, the publish span's own
 * id), the routing, and how the context was found.
 */
export class PublishRecord {
  private written: MessageContext | undefined;

  private constructor(
    /** The content header payload as forwarded. */
    readonly payload: Buffer,
    readonly context: TraceOutcome,
    /** The context a continuation found (continued_by_*), the publish span's parent. */
    readonly parent: MessageContext | undefined,
    readonly routing: Routing,
  ) {}

  /**
   * `rewritten` is the frame the proxy forwarded instead of `payload` (the client's content
   * header payload), if it changed it. Undefined when the header is too large to record.
   */
  static of(
    payload: Buffer, rewritten: Buffer | undefined, context: TraceOutcome, parent: MessageContext | undefined, routing: Routing,
  ): PublishRecord | undefined {
    const forwarded = rewritten === undefined ? payload : rewritten.subarray(FRAME_HEADER_SIZE, rewritten.length - 1);
    if (forwarded.length > MAX_RECORDED_HEADER_BYTES) return undefined;
    return new PublishRecord(ownCopy(forwarded), context, parent, { exchange: routing.exchange, routingKey: routing.routingKey });
  }

  /** The traceparent the proxy forwarded (always valid: it wrote or checked it). */
  get traceparent(): MessageContext {
    if (this.written === undefined) {
      const payload = this.payload;
      const found = new TraceHeaders(payload, parseContentHeader(payload).headersOffset);
      this.written = { ...found.traceContext!, traceState: found.tracestate };
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

/** What the proxy knows of a delivery from its basic.deliver or basic.get-ok. */
export interface DeliveryHead {
  readonly tag: number;
  readonly routing: Routing;
  readonly queue: string;
  readonly operation: 'deliver' | 'get';
  /** basic.get only: when the client asked, in ms since the epoch (the receive span's start). */
  readonly requestedAt?: number;
}

/**
 * An unsampled delivery awaiting the consumer's ack: its method's fields and a copy of its
 * content header, the times, and the contexts a consumer or a continuation may already have
 * seen, so that kept spans carry those very ids.
 */
export interface DeliveryRecord extends DeliveryHead {
  readonly payload: Buffer;
  /** Epoch ms: the publish stamp, when trusted, and the delivery. */
  readonly publishedAt: number | undefined;
  readonly deliveredAt: number;
  readonly hop: MessageContext | undefined;
  readonly process: MessageContext | undefined;
  /** The new trace of a delivery that came without a valid traceparent. */
  readonly traceId: string | undefined;
}

/** A delivery's record, or undefined when its header is too large to record. */
export function deliveryRecord(
  head: DeliveryHead, payload: Buffer, publishedAt: number | undefined, deliveredAt: number,
  hop: MessageContext | undefined, process: MessageContext | undefined, traceId: string | undefined,
): DeliveryRecord | undefined {
  if (payload.length > MAX_RECORDED_HEADER_BYTES) return undefined;
  return {
    tag: head.tag, routing: { exchange: head.routing.exchange, routingKey: head.routing.routingKey }, queue: head.queue,
    operation: head.operation, requestedAt: head.requestedAt,
    payload: ownCopy(payload), publishedAt, deliveredAt, hop, process, traceId,
  };
}

/** What the tracer needs for outcome-based export: the rules, and where kept spans go. */
export interface OutcomeExport {
  readonly rules: OutcomeRules;
  readonly sink: SpanSink;
}

interface OutcomeConfig {
  outcomeExport: boolean; outcomeRulesOff: readonly OutcomeRule[]; outcomeConfirmOverMs: number; outcomeBrokerHopOverMs: number;
  outcomeProcessOverMs: number; outcomeRateLimit: number;
}

/** What ConnectionTracer needs for outcome-based export; undefined when it is off or no spans are exported. */
export function outcomeExport(
  config: OutcomeConfig, telemetry: Pick<Telemetry, 'keep'>, metrics: ProxyMetrics, clock: Clock = SYSTEM_CLOCK,
): OutcomeExport | undefined {
  return config.outcomeExport && telemetry.keep
    ? { rules: new OutcomeRules(outcomeOptions(config), metrics, () => clock.now()), sink: telemetry.keep }
    : undefined;
}

/** The outcome options of the config, as the rules take them. */
export function outcomeOptions(config: OutcomeConfig): OutcomeOptions {
  return {
    rules: new Set(OUTCOME_RULES.filter((r) => !config.outcomeRulesOff.includes(r))),
    confirmOverMs: config.outcomeConfirmOverMs,
    brokerHopOverMs: config.outcomeBrokerHopOverMs,
    processOverMs: config.outcomeProcessOverMs,
    perSecond: config.outcomeRateLimit,
  };
}
