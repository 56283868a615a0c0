import type { ProcessOutcome } from '../metrics/metrics';
import { Header } from './attributes';
import { epochOf, publishTime } from './clock';
import { DEFAULT_STAMP_MAX_AGE_MS } from './limits';
import type { InflightScope } from './inflight';
import type { Delivery, MessageInFlight, MessageView, SettleOutcome } from './lifecycle';
import { MessageContext, OpenSpan, UnsampledContext, incomingContext } from './messageSpans';
import type { ConnectionTracing } from './connectionTracing';
import type { DeliveryRecord } from './outcomeRecords';
import { NewTraceContext, formatTraceParent } from './traceparent';

/** A new trace for a delivery that came without one; drawn and read within one call, so shared. */
const NEW_TRACE = new NewTraceContext();

/**
 * The consumer's side of a message's life: delivered (the broker-hop span, and the process
 * span that stays open), then settled by the consumer's ack, nack or reject.
 */
export class Delivering {
  constructor(private readonly c: ConnectionTracing) {}

  /** A message on its way to a consumer; with --rewrite-on-delivery its traceparent becomes the hop's. */
  delivered(scope: InflightScope, message: MessageInFlight, delivery: Delivery): void {
    const { c } = this;
    const { metrics, continuation, rewriteOnDelivery } = c.options;
    const headers = message.headers;
    c.learnReplyQueue(message);
    const now = c.clock.now();
    const wallNow = epochOf(now);
    const publishedAt = this.publishedAt(headers.publishedAtMicros, wallNow);
    if (publishedAt !== undefined) metrics.observeBrokerHop((wallNow - publishedAt) / 1000, c.recorder.queueLabel(delivery.queue));

    // Decided once for the message (hop and process share it); ids become strings only when read.
    const flags = headers.traceFlags;
    const fresh = flags >= 0 ? undefined : NEW_TRACE.draw();
    const records = fresh ? c.options.telemetry.sampledNewTrace(fresh) : c.parentRecords(flags, headers);
    // An unsampled delivery whose outcome is known now (redelivered, a slow hop) records as if sampled.
    const kept = records ? undefined : c.keeper.atDelivery(delivery, publishedAt, wallNow);
    const needsContexts = !records && !kept && this.needsContexts(message);
    const parent = flags >= 0 && (records || kept || needsContexts) ? incomingContext(headers) : undefined;
    let hop: MessageContext | undefined;
    let process: MessageContext | undefined;
    if (records || kept) {
      const span = c.recorder.delivery(message, delivery, parent, publishedAt, fresh?.traceId, kept);
      if (kept) c.keeper.ownPublish(parent, message, delivery.routing, kept.rule);
      hop = span.hop;
      process = span.process?.context;
      this.track(scope, delivery, span.process, now);
    } else {
      // Most messages: nothing records, so contexts are made only for what reads them.
      if (needsContexts) {
        const traceId = parent?.traceId ?? fresh!.traceId;
        if (rewriteOnDelivery) hop = new UnsampledContext(traceId, parent?.traceState);
        if (continuation) process = new UnsampledContext(traceId, parent?.traceState);
      }
      // What kept spans would be made from, should the consumer's answer keep them (outcomeKeeper.ts).
      const record = c.keeper.deliveryRecord(delivery, message, publishedAt, wallNow, hop, process, fresh?.traceId);
      this.track(scope, delivery, undefined, now, record);
    }

    if (continuation && process) {
      if (headers.taskId) continuation.rememberTask(headers.taskId, process);
      const replyTo = message.replyTo;
      const correlationId = message.correlationId;
      if (replyTo && correlationId) continuation.rememberReply(replyTo, correlationId, process);
    }
    if (!rewriteOnDelivery || hop === undefined) return;
    const add: [string, string][] = [[Header.traceparent, formatTraceParent(hop)]];
    if (hop.traceState) add.push([Header.tracestate, hop.traceState]);
    message.rewrite({ remove: [Header.traceparent, Header.tracestate].filter((n) => headers.has(n)), add });
  }

  /** The consumer's ack, nack or reject of delivery `tag`, or of every one up to it. */
  settled(scope: InflightScope, tag: number, multiple: boolean, outcome: SettleOutcome): void {
    const { c } = this;
    const now = c.clock.now();
    for (const p of scope.acks.settle(tag, multiple)) {
      const span = p.span ?? (p.deliveryRecord && c.keeper.settled(p.deliveryRecord, outcome, now - p.startedAt));
      span?.end(outcome === 'ack' ? undefined : outcome);
      c.options.metrics.observeProcess((now - p.startedAt) / 1000, outcome, p.destination);
    }
  }

  /** A delivery's publish time from its stamp, when the stamp is trusted; counted when not. */
  private publishedAt(micros: number | undefined, wallNow: number): number | undefined {
    if (micros === undefined) return undefined;
    const at = publishTime(micros, wallNow, this.c.options.publishStampMaxAgeMs ?? DEFAULT_STAMP_MAX_AGE_MS);
    if (typeof at === 'number') return at;
    this.c.options.metrics.publishStampIgnored(at);
    return undefined;
  }

  /** An unsampled delivery still needs its contexts for a delivery rewrite or a continuation. */
  private needsContexts(message: MessageView): boolean {
    const { rewriteOnDelivery, continuation } = this.c.options;
    return rewriteOnDelivery || (continuation !== undefined && (message.headers.has(Header.celeryTaskId) || message.hasReplyTo));
  }

  private track(scope: InflightScope, delivery: Delivery, process: OpenSpan | undefined, now: number, deliveryRecord?: DeliveryRecord): void {
    const destination = this.c.recorder.queueLabel(delivery.queue);
    if (delivery.noAck) {
      process?.end();
      this.c.options.metrics.observeProcess(0, 'auto_ack' satisfies ProcessOutcome, destination);
      return;
    }
    scope.acks.add(delivery.tag, { span: process, startedAt: now, destination, deliveryRecord });
  }
}
