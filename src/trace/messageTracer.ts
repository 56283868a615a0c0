/**
 * The tracing core: it knows messages and the events of their lives, not frames. A protocol
 * adapter (amqp091/ for AMQP 0-9-1) reads frames, keeps the per-channel model, and calls
 * one MessageTracer per connection. One message's life:
 *
 *   frames (0-9-1 adapter)             events (this core)          spans
 *   ───────────────────────            ──────────────────          ─────
 *   basic.publish + header      ──►    published(view)      ──►    publish (send), ended now,
 *                                        │ rewrite(traceparent,    or open until the confirm
 *                                        │  stamp) on the bytes
 *   basic.return + header       ──►    returned(view)       ──►    event on the open publish,
 *                                        │                         or a `return` span
 *   basic.ack / basic.nack (broker) ►  confirmed(tag)       ──►    publish span ends (nack: error)
 *   basic.deliver|get-ok + header ──►  delivered(view)      ──►    broker_hop (publish stamp →
 *                                        │                         now), [receive], process
 *                                        │                         (open)
 *   basic.ack / nack / reject  ──►     settled(tag)         ──►    process span ends
 *   channel.close, lost socket ──►     closed(reason)       ──►    open spans end with the reason
 *
 * Each content header is read once, into a MessageView (lifecycle.ts) that every step
 * reads. An unsampled message leaves a record instead of spans; the OutcomeKeeper makes
 * its spans from it when an outcome keeps it (outcome.ts), and does nothing when
 * outcome-based export is off.
 */
import { ATTEMPT_CAPACITY, Attempts } from './attempts';
import { ByteBudget } from './byteBudget';
import { type Clock, epochOf } from './clock';
import { Delivering } from './delivering';
import { InflightScope, InflightTotals } from './inflight';
import { DEFAULT_CONNECTION_STATE_MAX_BYTES, DEFAULT_STATE_MAX_BYTES } from './limits';
import { CLOSE_REASONS, MessageView, TraceHeaderView } from './lifecycle';
import { MessageSpans, incomingContext } from './messageSpans';
import { NOT_KEEPING, OutcomeKeeper, OutcomeKeeping } from './outcomeKeeper';
import { PUBLISHED_CAPACITY, PublishedSpans } from './publishedSpans';
import { Publishing } from './publishing';
import { ConnectionQueueKinds, QUEUE_KIND_CAPACITY, QueueKinds } from './queueKinds';
import { SpanRecorder } from './spanRecorder';
import type { TracingOptions } from './tracingOptions';
import type { ConnectionTracing } from './connectionTracing';

/** What the tracer holds for the whole process: shared by every connection. */
export class ProcessTracing {
  readonly totals: InflightTotals;
  readonly budget: ByteBudget;
  readonly queueKinds: QueueKinds;
  /** Unsampled publishes this process created the context of; with outcome-based export. */
  readonly published: PublishedSpans | undefined;
  readonly attempts: Attempts;

  constructor(readonly options: TracingOptions) {
    this.totals = new InflightTotals(options.metrics);
    this.budget = options.stateBudget ?? new ByteBudget(DEFAULT_STATE_MAX_BYTES);
    this.queueKinds = new QueueKinds(options.queueKindCapacity ?? QUEUE_KIND_CAPACITY, options.metrics, this.budget);
    this.published = options.outcome ? new PublishedSpans(PUBLISHED_CAPACITY, options.metrics, this.budget) : undefined;
    this.attempts = new Attempts(ATTEMPT_CAPACITY, options.metrics, this.budget);
  }

  /** The tracer of one client connection; `server` is the broker it talks to (span attributes). */
  connection(server: { host: string; port: number }): MessageTracer {
    return new MessageTracer(this, server);
  }
}

/** One connection's tracing: the events a protocol adapter reports, and the scopes it opens. */
export class MessageTracer implements ConnectionTracing {
  readonly options: TracingOptions;
  readonly clock: Clock;
  readonly spans: MessageSpans;
  readonly recorder: SpanRecorder;
  readonly keeper: OutcomeKeeper;
  /** The process's queue kinds, and what this connection's own messages say (reply_to). */
  readonly queueKinds: ConnectionQueueKinds;
  /** Bytes of message-derived state this connection holds, drawn from the process's budget. */
  readonly budget: ByteBudget;
  /** The process's sizes of the in-flight maps (gauges). */
  readonly totals: InflightTotals;
  readonly publishing: Publishing;
  readonly delivering: Delivering;
  readonly attempts: Attempts;

  constructor(process: ProcessTracing, server: { host: string; port: number }) {
    const options = process.options;
    this.options = options;
    this.clock = options.clock;
    this.spans = new MessageSpans(options.telemetry, options.metrics, server, options.clock);
    this.totals = process.totals;
    this.budget = new ByteBudget(options.connectionStateMaxBytes ?? DEFAULT_CONNECTION_STATE_MAX_BYTES, process.budget);
    this.queueKinds = new ConnectionQueueKinds(process.queueKinds, options.metrics, this.budget);
    this.attempts = process.attempts;
    this.recorder = new SpanRecorder(this.spans, this.queueKinds);
    this.keeper = options.outcome && process.published
      ? new OutcomeKeeping(options.outcome, process.published, this.recorder, options.metrics, server)
      : NOT_KEEPING;
    this.publishing = new Publishing(this);
    this.delivering = new Delivering(this);
  }

  /** Whether messages are traced now (the runtime mode switch); false: bypass, nothing read or rewritten. */
  get tracing(): boolean {
    return this.options.mode.tracing;
  }

  /** A scope of tags (a 0-9-1 channel) for the messages in flight in it. */
  scope(): InflightScope {
    return new InflightScope(this.options.inflightCapacity, this.totals, this.budget);
  }

  /**
   * The scope (channel) or its connection went away, or the connection went opaque
   * (fail_open): what is in flight ends with `reason`. Only a close fails the messages, so
   * only a close keeps them.
   */
  closed(scope: InflightScope, reason: string): void {
    const now = this.clock.now();
    const keeps = CLOSE_REASONS.has(reason);
    for (const p of scope.confirms.abandon(reason)) {
      if (keeps && p.publishRecord) this.keeper.closedPublish(p, p.publishRecord, now)?.end(reason);
    }
    for (const p of scope.acks.abandon(reason)) {
      // Closed while held for an eta: no work was done.
      const worked = Math.max(0, now - p.startedAt);
      this.options.metrics.observeProcess(worked / 1000, 'closed', p.destination);
      if (keeps && p.deliveryRecord) this.keeper.settled(p.deliveryRecord, 'closed', worked)?.end(reason);
      if (keeps && p.span !== undefined && p.attemptKey !== undefined) this.attempts.ended(p.attemptKey, epochOf(now), p.span.context);
      if (p.taskId !== undefined && p.span !== undefined) this.attempts.attemptClosed(p.taskId, p.span);
    }
  }

  learnReplyQueue(message: MessageView): void {
    if (!message.hasReplyTo) return;
    const replyTo = message.replyTo;
    if (replyTo) this.queueKinds.replyQueue(replyTo);
  }

  parentRecords(flags: number, headers: TraceHeaderView): boolean {
    const { telemetry } = this.options;
    // Only the trace-id ratio sampler (not parent-based) reads the trace id of a parent.
    return telemetry.sampled(flags, telemetry.parentDecides ? '' : incomingContext(headers).traceId);
  }
}
