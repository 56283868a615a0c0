import type { ProcessOutcome } from '../metrics/metrics';
import { AttemptTiming, attemptKey } from './attempts';
import { Attr, Header } from './attributes';
import { epochOf, publishTime } from './clock';
import { NO_HISTORY } from './deliveryHistory';
import { DEFAULT_STAMP_MAX_AGE_MS } from './limits';
import type { InflightScope } from './inflight';
import type { Delivery, MessageInFlight, MessageView, SettleOutcome, TraceHeaderView } from './lifecycle';
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
    const stamped = this.publishedAt(headers.publishedAtMicros, wallNow);
    // A first, plain delivery carries no history: nothing more is read or looked up.
    const history = headers.history(delivery.redelivered);
    const timing = history === NO_HISTORY ? undefined : this.timing(history, headers, stamped, wallNow, delivery.queue);
    // A dead letter's hop starts when it was dead-lettered, not at its first publish.
    const publishedAt = timing?.hopStart ?? stamped;
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
      const span = c.recorder.delivery(message, delivery, parent, publishedAt, fresh?.traceId, kept, timing);
      if (kept) c.keeper.ownPublish(parent, message, delivery.routing, kept.rule);
      hop = span.hop;
      process = span.process?.context;
      // A recorded attempt's identity, should it end without an ack and come back (attempts.ts).
      this.track(scope, delivery, span.process, now, undefined, timing, span.process ? attemptKey(headers) : undefined, headers.taskId);
    } else {
      // Most messages: nothing records, so contexts are made only for what reads them.
      if (needsContexts) {
        const traceId = parent?.traceId ?? fresh!.traceId;
        if (rewriteOnDelivery) hop = new UnsampledContext(traceId, parent?.traceState);
        if (continuation) process = new UnsampledContext(traceId, parent?.traceState);
      }
      // What kept spans would be made from, should the consumer's answer keep them (outcomeKeeper.ts).
      const made = c.keeper.deliveryRecord(delivery, message, publishedAt, wallNow, hop, process, fresh?.traceId);
      const record = made && timing ? { ...made, timing } : made;
      this.track(scope, delivery, undefined, now, record, timing);
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

  /**
   * The consumer's ack, nack or reject of delivery `tag`, or of every one up to it. The
   * process time is the work's: from an eta the worker held the message for, when it had one.
   */
  settled(scope: InflightScope, tag: number, multiple: boolean, outcome: SettleOutcome, requeue = false): void {
    const { c } = this;
    const { metrics } = c.options;
    const now = c.clock.now();
    for (const p of scope.acks.settle(tag, multiple)) {
      const worked = Math.max(0, now - p.startedAt);
      if (p.waitFrom !== undefined) metrics.observeScheduledWait((Math.min(now, p.startedAt) - p.waitFrom) / 1000, 'worker_hold', p.destination);
      const span = p.span ?? (p.deliveryRecord && c.keeper.settled(p.deliveryRecord, outcome, worked));
      if (outcome !== 'ack' && p.span !== undefined) {
        if (!requeue && p.deadLetters === true) p.span.mark?.(Attr.deadLettered, true);
        if (p.attemptKey !== undefined) c.attempts.ended(p.attemptKey, epochOf(now), p.span.context);
      }
      if (p.taskId !== undefined && p.span !== undefined) c.attempts.attemptClosed(p.taskId, p.span);
      span?.end(outcome === 'ack' ? undefined : outcome);
      metrics.observeProcess(worked / 1000, outcome, p.destination);
    }
  }

  /** What a delivery's history changes (attempts.ts); the continuation's context of the same task is the attempt before a retry. */
  private timing(
    history: ReturnType<TraceHeaderView['history']>, headers: TraceHeaderView, publishedAt: number | undefined, wallNow: number, queue: string,
  ): AttemptTiming {
    const { c } = this;
    const taskId = (history.celery?.retries ?? 0) > 0 ? headers.taskId : undefined;
    const previousTask = taskId ? c.options.continuation?.parentTask(taskId) : undefined;
    const key = history.redelivered || history.deadLetter !== undefined ? attemptKey(headers) : undefined;
    return c.attempts.timing(history, key, publishedAt, wallNow, (q) => c.recorder.queueLabel(q), queue, previousTask);
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

  private track(
    scope: InflightScope, delivery: Delivery, process: OpenSpan | undefined, now: number, deliveryRecord?: DeliveryRecord,
    timing?: AttemptTiming, attemptKey?: number, taskId?: string,
  ): void {
    const destination = this.c.recorder.queueLabel(delivery.queue);
    if (delivery.noAck) {
      process?.end();
      this.c.options.metrics.observeProcess(0, 'auto_ack' satisfies ProcessOutcome, destination);
      return;
    }
    // Held until the eta: the work, and the process time, start there (both clocks in ms).
    const wait = timing?.waitUntil === undefined ? 0 : timing.waitUntil - timing.deliveredAt;
    const deadLetters = process !== undefined && this.c.attempts.deadLetters(delivery.queue);
    const openTask = process !== undefined && taskId ? taskId : undefined;
    if (openTask !== undefined) this.c.attempts.attemptOpened(openTask, process!);
    // Every field given, absent ones undefined: one object shape for every delivery (no spreads).
    scope.acks.add(delivery.tag, {
      span: process, startedAt: now + wait, destination, deliveryRecord,
      waitFrom: wait > 0 ? now : undefined, attemptKey, deadLetters: deadLetters || undefined, taskId: openTask,
    });
  }
}
