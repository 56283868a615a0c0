import type { Attributes } from '@opentelemetry/api';
import type { TraceOutcome } from '../metrics/metrics';
import { Header, sanitize } from './attributes';
import { MicrosStamp, epochOf } from './clock';
import type { InflightScope } from './inflight';
import type { AsciiBytes, ConfirmOutcome, HeaderEdit, MessageInFlight, MessageView, ReturnedBy, Routing, TraceHeaderView } from './lifecycle';
import { MessageContext, OpenSpan, incomingContext } from './messageSpans';
import type { ConnectionTracing } from './connectionTracing';
import { NewTraceContext, formatTraceParent, randomSpanId, spanIdOfFormatted } from './traceparent';

/**
 * The ids of each new trace, drawn and written within one synchronous call (published), so
 * every connection can share one instance.
 */
const NEW_TRACE = new NewTraceContext();
/** The publish stamp, shared the same way. */
const STAMP = new MicrosStamp();
const NOTHING: readonly string[] = Object.freeze([]);
const TRACE_AND_STAMP = Object.freeze([Header.traceparent, Header.tracestate, Header.publishedAt]);
const STAMP_ONLY = Object.freeze([Header.publishedAt]);
/** The additions of the common publishes: a new unsampled trace, a continued one (shared values). */
const ADD_NEW_TRACE = Object.freeze([[Header.traceparent, NEW_TRACE], [Header.publishedAt, STAMP]] as const);
const ADD_STAMP = Object.freeze([[Header.publishedAt, STAMP]] as const);
/** The same without the publish stamp (--publish-stamp false). */
const ADD_NEW_TRACE_UNSTAMPED = Object.freeze([[Header.traceparent, NEW_TRACE]] as const);
const ADD_NOTHING = Object.freeze([] as const);

/** The span id of the traceparent a publish edit adds under a continuation's parent. */
function forwardedSpanId(edit: HeaderEdit): string | undefined {
  const traceparent = edit.add[0]?.[1];
  return typeof traceparent === 'string' ? spanIdOfFormatted(traceparent) : undefined;
}

/**
 * The publisher's side of a message's life: published (what context it carries, its publish
 * span), then confirmed or nacked by the broker, or returned.
 */
export class Publishing {
  constructor(private readonly c: ConnectionTracing) {}

  /**
   * A message on its way to the broker. `tag` numbers it for the broker's confirm (0 when
   * none will come). Rewrites the message's headers through `message.rewrite`.
   */
  published(scope: InflightScope, message: MessageInFlight, routing: Routing, tag: number): void {
    const { c } = this;
    const { metrics, telemetry } = c.options;
    const headers = message.headers;
    c.learnReplyQueue(message);

    // A valid incoming traceparent is continued; its strings are decoded only if a span records.
    const incomingFlags = headers.traceFlags;
    let parent: MessageContext | undefined;
    let outcome: TraceOutcome = incomingFlags >= 0 ? 'continued' : headers.has(Header.traceparent) ? 'replaced_invalid' : 'injected';
    if (outcome === 'injected') {
      ({ parent, outcome } = this.continuationFor(message, routing));
    }
    c.attempts.published(headers);

    let span: OpenSpan | undefined;
    let fresh: NewTraceContext | undefined;
    if (outcome === 'continued') {
      if (c.parentRecords(incomingFlags, headers)) {
        parent = incomingContext(headers);
        span = c.recorder.publish(message, routing, outcome, parent, undefined);
      }
    } else if (parent !== undefined) {
      if (c.spans.records(parent, parent.traceId)) span = c.recorder.publish(message, routing, outcome, parent, undefined);
    } else {
      // A new trace stays bytes unless its publish span records (see NewTraceContext).
      fresh = NEW_TRACE.draw();
      if (telemetry.sampledNewTrace(fresh)) span = c.recorder.publish(message, routing, outcome, undefined, fresh.traceId);
    }

    // One clock read per publish: the stamp, the confirm's start and the remembered publish share it.
    const now = c.clock.now();
    if (c.options.publishStamp) STAMP.at(now);
    const edit = this.publishEdit(headers, outcome, span, parent, fresh);
    // A continued trace without the stamp has nothing to change: the message goes as it came.
    if ((edit.add.length !== 0 || edit.remove.length !== 0) && !message.rewrite(edit)) {
      metrics.traceContext('skipped_frame_max');
      span?.end('frame_max_exceeded');
      return;
    }
    metrics.traceContext(outcome);
    // An unsampled publish whose context the proxy created: its publish span's id, the one
    // the forwarded traceparent names (PublishedSpans), known here without reading it back.
    const createdSpanId = span === undefined && c.keeper.remembersPublished && outcome !== 'continued'
      ? (parent === undefined ? fresh?.spanId : forwardedSpanId(edit))
      : undefined;
    if (tag > 0) {
      const ids = span ? [span.context.spanId, ...(parent ? [parent.spanId] : [])] : NOTHING;
      // Unsampled: what was forwarded is all a kept publish span needs (outcomeKeeper.ts).
      const publishRecord = span === undefined ? c.keeper.publishRecord(message, outcome, parent, routing) : undefined;
      scope.confirms.add(tag, { span, startedAt: now, destination: routing.exchange, ids, publishRecord, createdSpanId });
    } else {
      span?.end();
      // Without confirms an unsampled publish is settled as it is forwarded.
      if (createdSpanId !== undefined) c.keeper.publishedUnconfirmed(createdSpanId, epochOf(now), outcome, parent);
    }
  }

  /** The broker's confirm (basic.ack or basic.nack) of the publish `tag`, or of every one up to it. */
  confirmed(scope: InflightScope, tag: number, multiple: boolean, outcome: ConfirmOutcome): void {
    const { c } = this;
    const now = c.clock.now();
    for (const p of scope.confirms.settle(tag, multiple)) {
      const span = p.span ?? (p.publishRecord && c.keeper.confirmed(p, p.publishRecord, outcome, now));
      span?.end(outcome === 'nack' ? 'nack' : p.returned !== undefined ? 'unroutable' : undefined);
      c.options.metrics.observePublishConfirm((now - p.startedAt) / 1000, outcome, p.destination);
    }
  }

  /**
   * A publish handed back unroutable: an event on its publish span when it is still open
   * (awaiting its confirm), else a return span of its own.
   */
  returned(scope: InflightScope, message: MessageView, returned: ReturnedBy): void {
    const parsed = message.headers.traceContext;
    const attrs: Attributes = { 'amqp.reply_code': returned.replyCode, 'amqp.reply_text': sanitize(returned.replyText) };
    const pending = parsed ? scope.confirms.find(parsed.spanId) : undefined;
    if (pending) {
      pending.span?.event('basic.return', attrs);
      pending.returned = attrs;
    } else if (parsed) {
      // The publish span already ended (no confirms): the return is its own span.
      const spans = this.c.spans.records(parsed, parsed.traceId) ? this.c.spans : this.c.keeper.returnSpans();
      if (spans !== undefined) this.c.recorder.returned(spans, message, returned, attrs, parsed);
    }
  }

  /**
   * What a publish's headers lose and gain. The common cases (a new unsampled trace, a
   * continued one) use constant lists: their values are the shared NEW_TRACE and STAMP.
   */
  private publishEdit(
    headers: TraceHeaderView, outcome: TraceOutcome, span: OpenSpan | undefined, parent: MessageContext | undefined,
    fresh: NewTraceContext | undefined,
  ): HeaderEdit {
    const replacing = outcome !== 'continued';
    const stamp = this.c.options.publishStamp;
    // A stamp already in the message is stale (a republished delivery, say) and is removed
    // even when this proxy adds none: a consumer-side proxy would time the hop from it.
    const remove = headers.has(Header.publishedAt) || (replacing && (headers.has(Header.traceparent) || headers.has(Header.tracestate)))
      ? (replacing ? TRACE_AND_STAMP : STAMP_ONLY).filter((n) => headers.has(n))
      : NOTHING;
    if (!replacing) return { remove, add: stamp ? ADD_STAMP : ADD_NOTHING };
    if (span === undefined && parent === undefined) return { remove, add: stamp ? ADD_NEW_TRACE : ADD_NEW_TRACE_UNSTAMPED };
    // The proxy's span is the message's creation context; an invalid incoming one and its
    // tracestate are dropped, as the W3C spec asks of a receiver.
    const ctx = span?.context ?? (parent ? { traceId: parent.traceId, spanId: randomSpanId(), traceFlags: 0, traceState: parent.traceState } : undefined);
    const add: [string, string | AsciiBytes][] = [[Header.traceparent, ctx ? formatTraceParent(ctx) : fresh!]];
    if (ctx?.traceState) add.push([Header.tracestate, ctx.traceState]);
    if (stamp) add.push([Header.publishedAt, STAMP]);
    return { remove, add };
  }

  private continuationFor(message: MessageView, routing: Routing): { parent: MessageContext | undefined; outcome: TraceOutcome } {
    const continuation = this.c.options.continuation;
    if (continuation === undefined) return { parent: undefined, outcome: 'injected' };
    const parentTaskId = message.headers.parentTaskId;
    if (parentTaskId !== undefined) {
      const parent = continuation.parentTask(parentTaskId);
      if (parent) return { parent, outcome: 'continued_by_parent_task' };
    }
    const correlationId = message.correlationId;
    if (correlationId !== undefined) {
      const parent = continuation.replyTo(routing.exchange, routing.routingKey, correlationId);
      if (parent) return { parent, outcome: 'continued_by_correlation' };
    }
    return { parent: undefined, outcome: 'injected' };
  }
}
