import type { ProcessOutcome, ProxyMetrics, TraceOutcome } from '../metrics/metrics';
import { epochOf } from './clock';
import type { ConfirmOutcome, Delivery, MessageInFlight, MessageView, Routing } from './lifecycle';
import type { Pending } from './inflight';
import { MessageContext, OpenSpan, SpanFactory, incomingContext } from './messageSpans';
import type { OutcomeExport } from './outcome';
import type { OutcomeRule } from './outcomeNames';
import { DeliveryRecord, PublishRecord, deliveryRecord } from './outcomeRecords';
import { KeepShape, KeptSpans } from './outcomeSpans';
import type { PublishedSpans } from './publishedSpans';
import type { SpanRecorder } from './spanRecorder';

/**
 * Outcome-based export in one room (outcome.ts has the rules): what an unsampled message
 * leaves behind, and the spans made from it when an outcome says keep. Publishing and
 * delivering call the keeper at each step of a message's life and read the same whether the
 * feature is on (OutcomeKeeping) or off (NOT_KEEPING, which keeps nothing).
 */
export interface OutcomeKeeper {
  /** What an unsampled publish leaves to await its confirm; called after any rewrite. */
  publishRecord(message: MessageInFlight, context: TraceOutcome, parent: MessageContext | undefined, routing: Routing): PublishRecord | undefined;
  /** Whether unsampled publishes whose context the proxy created are remembered (PublishedSpans). */
  readonly remembersPublished: boolean;
  /** An unsampled publish settled as it was forwarded (no confirms), `at` epoch ms. */
  publishedUnconfirmed(spanId: string, at: number, context: TraceOutcome, parent: MessageContext | undefined): void;
  /** A recorded publish confirmed `now` (monotonic ms): its kept span, open, or undefined. */
  confirmed(p: Pending, record: PublishRecord, outcome: ConfirmOutcome, now: number): OpenSpan | undefined;
  /** A publish's return when its span already ended, when kept: where its return span is made. */
  returnSpans(): SpanFactory | undefined;
  /** Spans for an unsampled delivery whose outcome is known as it arrives (redelivered, a slow hop). */
  atDelivery(delivery: Delivery, publishedAt: number | undefined, wallNow: number): KeptSpans | undefined;
  /** A kept delivery: the publish span of its unsampled publish, if this process remembers one. */
  ownPublish(parent: MessageContext | undefined, message: MessageView, routing: Routing, rule: OutcomeRule): void;
  /** What an unsampled delivery leaves to await its settle; called before any rewrite. */
  deliveryRecord(
    delivery: Delivery, message: MessageInFlight, publishedAt: number | undefined, deliveredAt: number,
    hop: MessageContext | undefined, process: MessageContext | undefined, traceId: string | undefined,
  ): DeliveryRecord | undefined;
  /** A recorded delivery settled (or cut off), `elapsedMs` after it arrived: its kept process span, open. */
  settled(record: DeliveryRecord, outcome: ProcessOutcome, elapsedMs: number): OpenSpan | undefined;
  /** A recorded publish whose channel or connection closed `now` (monotonic ms): its kept span, open. */
  closedPublish(p: Pending, record: PublishRecord, now: number): OpenSpan | undefined;
}

/** Outcome-based export off: nothing is recorded, so nothing is ever kept. */
export const NOT_KEEPING: OutcomeKeeper = {
  publishRecord: () => undefined,
  remembersPublished: false,
  publishedUnconfirmed: () => undefined,
  confirmed: () => undefined,
  returnSpans: () => undefined,
  atDelivery: () => undefined,
  ownPublish: () => undefined,
  deliveryRecord: () => undefined,
  settled: () => undefined,
  closedPublish: () => undefined,
};

/** One connection's keeper; the rules, their rate limit and the remembered publishes are the process's. */
export class OutcomeKeeping implements OutcomeKeeper {
  readonly remembersPublished = true;

  constructor(
    private readonly outcome: OutcomeExport,
    private readonly published: PublishedSpans,
    private readonly recorder: SpanRecorder,
    private readonly metrics: ProxyMetrics,
    private readonly server: { host: string; port: number },
  ) {}

  publishRecord(message: MessageInFlight, context: TraceOutcome, parent: MessageContext | undefined, routing: Routing): PublishRecord | undefined {
    return PublishRecord.of(message, context, parent, routing);
  }

  publishedUnconfirmed(spanId: string, at: number, context: TraceOutcome, parent: MessageContext | undefined): void {
    this.published.remember(spanId, { startedAt: at, endedAt: at, context, parent });
  }

  confirmed(p: Pending, record: PublishRecord, outcome: ConfirmOutcome, now: number): OpenSpan | undefined {
    const returned = p.returned !== undefined;
    const span = this.keptPublish(p, record, this.outcome.rules.atConfirm(outcome, returned, now - p.startedAt));
    // Confirmed, not kept: remembered, should a consumer's outcome keep one of its deliveries.
    if (span === undefined && outcome === 'ack' && !returned) this.rememberPublished(p, record, now);
    return span;
  }

  returnSpans(): SpanFactory | undefined {
    const rules = this.outcome.rules;
    const rule = rules.atConfirm('ack', true, 0);
    return rule !== undefined && rules.admit(rule) ? this.keptSpans({ rule }) : undefined;
  }

  atDelivery(delivery: Delivery, publishedAt: number | undefined, wallNow: number): KeptSpans | undefined {
    const rules = this.outcome.rules;
    const rule = rules.atDelivery(delivery.redelivered, publishedAt === undefined ? undefined : wallNow - publishedAt);
    return rule !== undefined && rules.admit(rule) ? this.keptSpans({ rule }) : undefined;
  }

  /**
   * The publish span of a kept delivery whose traceparent names an unsampled publish this
   * process created and remembered: made now with its real times, once. A publisher's own
   * traceparent is never in the map, so it gets none.
   */
  ownPublish(parent: MessageContext | undefined, message: MessageView, routing: Routing, rule: OutcomeRule): void {
    if (parent === undefined) return;
    const published = this.published.take(parent.spanId);
    if (published === undefined) return;
    // The delivery carries the publish's exchange, routing key and headers.
    const spans = this.keptSpans({ rule, publishStart: published.startedAt, publishEnd: published.endedAt, publishSpanId: parent.spanId });
    this.guarded(() => this.recorder.publish(message, routing, published.context, published.parent, parent.traceId, spans)?.end());
  }

  deliveryRecord(
    delivery: Delivery, message: MessageInFlight, publishedAt: number | undefined, deliveredAt: number,
    hop: MessageContext | undefined, process: MessageContext | undefined, traceId: string | undefined,
  ): DeliveryRecord | undefined {
    return delivery.noAck ? undefined : deliveryRecord(delivery, message, publishedAt, deliveredAt, hop, process, traceId);
  }

  /**
   * The spans of an unsampled delivery whose settling keeps it, made from its record: real
   * times, and the ids a consumer or a continuation was given.
   */
  settled(record: DeliveryRecord, outcome: ProcessOutcome, elapsedMs: number): OpenSpan | undefined {
    const rules = this.outcome.rules;
    const rule = rules.atSettle(outcome, elapsedMs);
    if (rule === undefined || !rules.admit(rule)) return undefined;
    return this.guarded(() => {
      const headers = record.message.headers;
      const parent = headers.traceFlags >= 0 ? incomingContext(headers) : undefined;
      const spans = this.keptSpans({
        rule, deliveredAt: record.deliveredAt, hopSpanId: record.hop?.spanId, processSpanId: record.process?.spanId,
      });
      const process = this.recorder.delivery(record.message, record, parent, record.publishedAt, record.traceId, spans, record.timing).process;
      this.ownPublish(parent, record.message, record.routing, rule);
      return process;
    });
  }

  closedPublish(p: Pending, record: PublishRecord, now: number): OpenSpan | undefined {
    return this.keptPublish(p, record, this.outcome.rules.atClose(now - p.startedAt));
  }

  /**
   * The publish span of an unsampled message whose outcome keeps it, made from its record
   * with its real start. A context the proxy created (injected, continued_by_*) is the
   * traceparent it forwarded, so the span takes that id; under a publisher's own
   * traceparent it is a child, as when sampled.
   */
  private keptPublish(p: Pending, record: PublishRecord, rule: OutcomeRule | undefined): OpenSpan | undefined {
    if (rule === undefined || !this.outcome.rules.admit(rule)) return undefined;
    return this.guarded(() => {
      const forwarded = record.traceparent;
      const continued = record.context === 'continued';
      const span = this.recorder.publish(
        record.message, record.routing, record.context, continued ? forwarded : record.parent, forwarded.traceId,
        this.keptSpans({ rule, publishStart: epochOf(p.startedAt), publishSpanId: continued ? undefined : forwarded.spanId }),
      );
      if (p.returned !== undefined) span?.event('basic.return', p.returned);
      return span;
    });
  }

  private rememberPublished(p: Pending, record: PublishRecord, now: number): void {
    const spanId = p.createdSpanId;
    if (spanId === undefined) return;
    this.guarded(() => this.published.remember(spanId, {
      startedAt: epochOf(p.startedAt), endedAt: epochOf(now), context: record.context, parent: record.parent,
    }));
  }

  /** Kept spans are telemetry: whatever goes wrong making them is counted, never thrown into forwarding. */
  private guarded<T>(make: () => T): T | undefined {
    try {
      return make();
    } catch {
      this.metrics.telemetryError('outcome_keep');
      return undefined;
    }
  }

  private keptSpans(shape: KeepShape): KeptSpans {
    return new KeptSpans(this.outcome.sink, this.metrics, this.server, shape);
  }
}
