import type { ProcessOutcome, ProxyMetrics } from '../metrics/metrics';
import { Clock, SYSTEM_CLOCK } from './clock';
import { OUTCOME_RULES, REASON_OF, type OutcomeRule } from './outcomeNames';
import { type SpanSink, onClock } from './recordedSpan';
import type { Telemetry } from './telemetry';

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

  /** A publish cut off by a close before its confirm, `elapsedMs` after it went out. */
  atClose(elapsedMs: number): OutcomeRule | undefined {
    return this.on('publish_closed') ?? (elapsedMs > this.options.confirmOverMs ? this.on('confirm_latency') : undefined);
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

/** What the tracer needs for outcome-based export: the rules, and where kept spans go. */
export interface OutcomeExport {
  readonly rules: OutcomeRules;
  readonly sink: SpanSink;
}

interface OutcomeConfig {
  outcomeExport: boolean; outcomeRulesOff: readonly OutcomeRule[]; outcomeConfirmOverMs: number; outcomeBrokerHopOverMs: number;
  outcomeProcessOverMs: number; outcomeRateLimit: number;
}

/** What the tracer needs for outcome-based export; undefined when it is off or no spans are exported. */
export function outcomeExport(
  config: OutcomeConfig, telemetry: Pick<Telemetry, 'keep'>, metrics: ProxyMetrics, clock: Clock = SYSTEM_CLOCK,
): OutcomeExport | undefined {
  return config.outcomeExport && telemetry.keep
    ? { rules: new OutcomeRules(outcomeOptions(config), metrics, () => clock.now()), sink: onClock(telemetry.keep, clock) }
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
