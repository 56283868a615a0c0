import { parseContentHeader } from '../amqp/contentHeader';
import type { ProcessOutcome, ProxyMetrics, TraceOutcome } from '../metrics/metrics';
import type { OutcomeExport } from './connectionTracer';
import type { MessageContext } from './messageSpans';
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

/** Each rule can be switched off on its own (--outcome-rules-off). */
export const OUTCOME_RULES = [
  'publish_nack', 'publish_returned', 'publish_closed', 'confirm_latency',
  'delivery_nack', 'delivery_reject', 'delivery_closed', 'redelivered', 'broker_hop_latency', 'process_latency',
] as const;
export type OutcomeRule = (typeof OUTCOME_RULES)[number];

/** The value of the `amqp_trace_proxy.kept` attribute and of the metrics' `reason` label. */
export type KeepReason = 'error' | 'latency';

export const REASON_OF: Readonly<Record<OutcomeRule, KeepReason>> = {
  publish_nack: 'error',
  publish_returned: 'error',
  publish_closed: 'error',
  confirm_latency: 'latency',
  delivery_nack: 'error',
  delivery_reject: 'error',
  delivery_closed: 'error',
  // A redelivery means an earlier delivery of the message failed (nack or reject with
  // requeue, or a consumer that went away): an error, even if this one succeeds.
  redelivered: 'error',
  broker_hop_latency: 'latency',
  process_latency: 'latency',
};

export interface OutcomeOptions {
  /** The rules in force (OUTCOME_RULES minus those switched off). */
  readonly rules: ReadonlySet<OutcomeRule>;
  readonly confirmOverMs: number;
  readonly brokerHopOverMs: number;
  readonly processOverMs: number;
  /** Messages whose spans may be kept per second, all rules together; the rest are counted as dropped. */
  readonly perSecond: number;
}

export interface OutcomeMetrics {
  outcomeKept(reason: KeepReason, rule: OutcomeRule): void;
  outcomeDropped(rule: OutcomeRule): void;
}

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

/** Exchange and routing key, decoded when read (RoutingFields). */
export interface Routing {
  readonly exchange: string;
  readonly routingKey: string;
}

/**
 * An unsampled publish awaiting its confirm. It holds the content header the proxy
 * forwarded (the rewritten frame, or the client's own payload when nothing was changed;
 * made or received anyway, so keeping it copies nothing): its traceparent names the trace
 * and, for a context the proxy created, the publish span's own id.
 */
export class PublishRecord {
  private written: MessageContext | undefined;

  constructor(
    private readonly forwarded: Buffer,
    /** `forwarded` is a whole frame (the rewrite), not just the payload. */
    private readonly isFrame: boolean,
    readonly context: TraceOutcome,
    /** The context a continuation found (continued_by_*), the publish span's parent. */
    readonly parent: MessageContext | undefined,
    readonly routing: Routing,
  ) {}

  /** The content header's payload: a frame without its 7-byte header and frame-end octet. */
  get payload(): Buffer {
    return this.isFrame ? this.forwarded.subarray(7, this.forwarded.length - 1) : this.forwarded;
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
 * An unsampled delivery awaiting the consumer's ack: its content header and method as
 * they arrived, the times, and the contexts a consumer or a continuation may already have
 * seen, so that kept spans carry those very ids.
 *
 * `payload` and `head.routing` are views of the socket chunks the frames came in (Node
 * gives each read a buffer of its own and the proxy never writes into one): keeping them
 * copies nothing, and holds about as many bytes as the consumer itself holds unacked, for
 * as long as it does (bounded by --inflight-capacity per channel like every entry).
 */
export interface DeliveryRecord {
  readonly head: DeliveryHead;
  readonly payload: Buffer;
  /** Epoch ms: the publish stamp, when trusted, and the delivery. */
  readonly publishedAt: number | undefined;
  readonly deliveredAt: number;
  readonly hop: MessageContext | undefined;
  readonly process: MessageContext | undefined;
  /** The new trace of a delivery that came without a valid traceparent. */
  readonly traceId: string | undefined;
}

interface OutcomeConfig {
  outcomeExport: boolean; outcomeRulesOff: readonly OutcomeRule[]; outcomeConfirmOverMs: number; outcomeBrokerHopOverMs: number;
  outcomeProcessOverMs: number; outcomeRateLimit: number;
}

/** What ConnectionTracer needs for outcome-based export; undefined when it is off or no spans are exported. */
export function outcomeExport(config: OutcomeConfig, telemetry: Pick<Telemetry, 'keep'>, metrics: ProxyMetrics): OutcomeExport | undefined {
  return config.outcomeExport && telemetry.keep ? { rules: new OutcomeRules(outcomeOptions(config), metrics), tracer: telemetry.keep } : undefined;
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
