import { SpanKind } from '@opentelemetry/api';
import type { ProxyMetrics } from '../metrics/metrics';
import { Attr } from './attributes';
import { TIME_ORIGIN_MS } from './clock';
import {
  LazyAttributes, LazyName, MessageContext, OpenSpan, SpanFactory, guardSpan, linksTo, nameOf, remoteParent, withServer,
} from './messageSpans';
import { KeepReason, OutcomeRule, REASON_OF } from './outcome';
import type { KeepTracer } from './telemetry';

/** Epoch milliseconds now, on the clock the publish stamps and the in-flight maps use. */
export const epochNow = (): number => TIME_ORIGIN_MS + performance.now();

/**
 * Where and when the spans of one kept message lie. Times are epoch ms; an unset time is
 * "now", as for a sampled span (a message kept at delivery is recorded as it happens).
 * Span ids are those a consumer or a continuation may already hold; unset ones are new.
 */
export interface KeepShape {
  readonly rule: OutcomeRule;
  readonly publishStart?: number;
  readonly publishSpanId?: string;
  /** End of a publish span made after the fact (a publish remembered in PublishedSpans). */
  readonly publishEnd?: number;
  /** End of the broker hop and start of processing. */
  readonly deliveredAt?: number;
  readonly hopSpanId?: string;
  readonly processSpanId?: string;
}

/**
 * The spans of one message kept for its outcome, made on the keep tracer (they record
 * whatever the sampler said) through the same calls as sampled spans, so they get the same
 * names and attributes, plus `amqp_trace_proxy.kept` (error or latency) and the rule.
 *
 * The contexts they hand back keep the message's own trace flags (unsampled): a rewrite on
 * delivery or a continuation that reads them passes on the decision the head sampler
 * made, not this one.
 */
export class KeptSpans implements SpanFactory {
  private readonly reason: KeepReason;

  constructor(
    private readonly tracer: KeepTracer,
    private readonly metrics: ProxyMetrics,
    private readonly server: { host: string; port: number },
    private readonly shape: KeepShape,
  ) {
    this.reason = REASON_OF[shape.rule];
  }

  get rule(): OutcomeRule {
    return this.shape.rule;
  }

  publish(
    name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, traceId?: string, creationContext = true,
  ): OpenSpan | undefined {
    const kind = creationContext ? SpanKind.PRODUCER : SpanKind.CLIENT;
    const creation = creationContext ? undefined : parent;
    const publishEnd = this.shape.publishEnd;
    const end = publishEnd === undefined ? epochNow : () => publishEnd;
    return this.start(name, kind, attributes, parent, traceId, this.shape.publishStart, this.shape.publishSpanId, end, creation);
  }

  brokerHop(
    name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, publishedAtMs: number | undefined, traceId?: string,
  ): MessageContext | undefined {
    const deliveredAt = this.shape.deliveredAt ?? epochNow();
    const span = this.start(name, SpanKind.CONSUMER, attributes, parent, traceId, publishedAtMs ?? deliveredAt, this.shape.hopSpanId, () => deliveredAt);
    span?.end();
    return span?.context;
  }

  receive(
    name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, requestedAtMs: number | undefined, creation?: MessageContext,
  ): void {
    const deliveredAt = this.shape.deliveredAt ?? epochNow();
    this.start(name, SpanKind.CLIENT, attributes, parent, undefined, requestedAtMs ?? deliveredAt, undefined, () => deliveredAt, creation)?.end();
  }

  process(name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, creation?: MessageContext): OpenSpan | undefined {
    return this.start(name, SpanKind.CONSUMER, attributes, parent, undefined, this.shape.deliveredAt, this.shape.processSpanId, epochNow, creation);
  }

  private start(
    name: LazyName, kind: SpanKind, attributes: LazyAttributes, parent: MessageContext | undefined, traceId: string | undefined,
    startTime: number | undefined, spanId: string | undefined, endTime: () => number = epochNow, creation?: MessageContext,
  ): OpenSpan | undefined {
    try {
      const all = withServer(attributes, this.server);
      all[Attr.kept] = this.reason;
      all[Attr.keptRule] = this.shape.rule;
      const options = { kind, startTime: startTime ?? epochNow(), attributes: all, links: linksTo(creation) };
      const span = this.tracer.startSpan(nameOf(name), options, remoteParent(parent), { traceId, spanId });
      const sc = span.spanContext();
      const context = { traceId: sc.traceId, spanId: sc.spanId, traceFlags: parent?.traceFlags ?? 0, traceState: parent?.traceState };
      return guardSpan(span, context, this.metrics, endTime);
    } catch {
      this.metrics.telemetryError('span_start');
      return undefined;
    }
  }
}
