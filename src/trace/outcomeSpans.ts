import { SpanKind } from '@opentelemetry/api';
import type { ProxyMetrics } from '../metrics/metrics';
import { Attr } from './attributes';
import {
  LazyAttributes, LazyName, MessageContext, OpenSpan, ProcessPlace, SpanFactory, SpanPlace, recordSpan, withServer,
} from './messageSpans';
import { KeepReason, OutcomeRule, REASON_OF } from './outcomeNames';
import { RecordedSpan, SpanSink, sinkNow } from './recordedSpan';

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
 * The spans of one message kept for its outcome, recorded whatever the sampler said,
 * through the same calls as sampled spans, so they get the same
 * names and attributes, plus `amqp_trace_proxy.kept` (error or latency) and the rule.
 *
 * The contexts they hand back keep the message's own trace flags (unsampled): a rewrite on
 * delivery or a continuation that reads them passes on the decision the head sampler
 * made, not this one.
 */
export class KeptSpans implements SpanFactory {
  private readonly reason: KeepReason;

  constructor(
    private readonly sink: SpanSink,
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
    const span = this.start(name, kind, attributes, {
      parent, traceId, spanId: this.shape.publishSpanId, traceFlags: parent?.traceFlags ?? 0, startMs: this.shape.publishStart, creation,
    });
    const publishEnd = this.shape.publishEnd;
    if (span === undefined || publishEnd === undefined) return span;
    // A publish made after the fact ends when it was settled, whenever the caller ends it.
    return { context: span.context, end: (errorType) => span.end(errorType, publishEnd), event: (n, a) => span.event(n, a) };
  }

  brokerHop(
    name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, publishedAtMs: number | undefined, traceId?: string,
  ): MessageContext | undefined {
    const deliveredAt = this.shape.deliveredAt ?? sinkNow(this.sink);
    const span = this.start(name, SpanKind.CONSUMER, attributes, {
      parent, traceId, spanId: this.shape.hopSpanId, traceFlags: parent?.traceFlags ?? 0, startMs: publishedAtMs ?? deliveredAt, creation: undefined,
    });
    span?.end(undefined, deliveredAt);
    return span?.context;
  }

  receive(
    name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, requestedAtMs: number | undefined, creation?: MessageContext,
  ): void {
    const deliveredAt = this.shape.deliveredAt ?? sinkNow(this.sink);
    this.start(name, SpanKind.CLIENT, attributes, {
      parent, traceId: undefined, spanId: undefined, traceFlags: parent?.traceFlags ?? 0, startMs: requestedAtMs ?? deliveredAt, creation,
    })?.end(undefined, deliveredAt);
  }

  process(name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, creation?: MessageContext, at?: ProcessPlace): OpenSpan | undefined {
    return this.start(name, SpanKind.CONSUMER, attributes, {
      parent, traceId: undefined, spanId: this.shape.processSpanId, traceFlags: parent?.traceFlags ?? 0,
      startMs: at?.startMs ?? this.shape.deliveredAt, creation, previous: at?.previous,
    });
  }

  scheduledWait(name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, startMs: number, endMs: number): void {
    this.start(name, SpanKind.INTERNAL, attributes, {
      parent, traceId: undefined, spanId: undefined, traceFlags: parent?.traceFlags ?? 0, startMs, creation: undefined,
    })?.end(undefined, endMs);
  }

  private start(name: LazyName, kind: SpanKind, attributes: LazyAttributes, place: SpanPlace): RecordedSpan | undefined {
    try {
      const all = withServer(attributes, this.server);
      all[Attr.kept] = this.reason;
      all[Attr.keptRule] = this.shape.rule;
      return recordSpan(this.sink, name, kind, all, place);
    } catch {
      this.metrics.telemetryError('span_start');
      return undefined;
    }
  }
}
