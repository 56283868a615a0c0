import { Attributes, Link, SpanKind, TraceFlags } from '@opentelemetry/api';
import type { ProxyMetrics } from '../metrics/metrics';
import { Attr, MESSAGING_SYSTEM } from './attributes';
import type { TraceHeaderView } from './lifecycle';
import type { Clock } from './clock';
import { MessageContext, OpenSpan, RecordedSpan, SpanSink, onClock, remoteSpanContext } from './recordedSpan';
import type { Telemetry } from './telemetry';
import { randomSpanId, randomTraceId } from './traceparent';

export type { MessageContext, OpenSpan } from './recordedSpan';

/**
 * Attributes (a fresh object: the span keeps it), or a function that builds them. Spans are mostly unsampled (10 % by default),
 * so attribute objects are only built for spans that record: building them for every
 * message cost more CPU than everything else the proxy does per message.
 */
export type LazyAttributes = Attributes | (() => Attributes);
/** A span name, built only for spans that record, for the same reason as LazyAttributes. */
export type LazyName = string | (() => string);

/**
 * Makes the spans of a message. MessageSpans makes the sampled ones; a message kept for its
 * outcome gets its spans from KeptSpans (outcomeSpans.ts) through the same calls, so both
 * carry the same names, kinds and attributes.
 */
export interface SpanFactory {
  publish(
    name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, traceId?: string, creationContext?: boolean,
  ): OpenSpan | undefined;
  brokerHop(
    name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, publishedAtMs: number | undefined, traceId?: string,
  ): MessageContext | undefined;
  /** `creation`: the message's creation context (its traceparent), which the span links to. */
  receive(
    name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, requestedAtMs: number | undefined, creation?: MessageContext,
  ): void;
  process(name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, creation?: MessageContext, at?: ProcessPlace): OpenSpan | undefined;
  /** A scheduled wait (a worker holding a message until its eta), from `startMs` to `endMs`, epoch ms; ended at once. */
  scheduledWait(name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, startMs: number, endMs: number): void;
}

/** Where a process span starts when not at the delivery, and the attempt before it. */
export interface ProcessPlace {
  /** Epoch ms: an eta the worker waited for. */
  readonly startMs?: number;
  /** The earlier attempt's process span (a redelivery, a Celery retry), linked as `previous_attempt`. */
  readonly previous?: MessageContext;
}

/** The link attribute value of a previous attempt (Attr.linkRelation). */
export const PREVIOUS_ATTEMPT = 'previous_attempt';

/**
 * The links of a span that does not carry the message's creation context itself: receive,
 * process, and a send span under the publisher's own context (messaging-spans.md, "Trace
 * structure": links are the conventions' default way to reach the producer).
 */
export function linksTo(creation: MessageContext | undefined, previous?: MessageContext): Link[] | undefined {
  const links = creation === undefined ? undefined : [{ context: remoteSpanContext(creation) }];
  if (previous === undefined) return links;
  const link: Link = { context: remoteSpanContext(previous), attributes: { [Attr.linkRelation]: PREVIOUS_ATTEMPT } };
  return links === undefined ? [link] : [...links, link];
}

export const nameOf = (name: LazyName): string => (typeof name === 'function' ? name() : name);

/**
 * A span's attributes with the ones every span of the proxy carries. Assigned, not spread
 * (see spanAttributes in spanRecorder.ts): the object is the caller's fresh one.
 */
export function withServer(attributes: LazyAttributes, server: { host: string; port: number }): Attributes {
  const all = typeof attributes === 'function' ? attributes() : attributes;
  all[Attr.messagingSystem] = MESSAGING_SYSTEM;
  all[Attr.serverAddress] = server.host;
  all[Attr.serverPort] = server.port;
  return all;
}

/** Where a span sits in its trace and what it hands on (MessageSpans and KeptSpans). */
export interface SpanPlace {
  /** Its parent (a message's context, a hop's); undefined for a root span. */
  readonly parent: MessageContext | undefined;
  /** A root span's trace id; unused under a parent. */
  readonly traceId: string | undefined;
  /** Its span id: one a consumer or continuation may already hold; unset for a new one. */
  readonly spanId: string | undefined;
  /** The trace flags of the context it hands on. */
  readonly traceFlags: number;
  /** Epoch ms; unset for now. */
  readonly startMs: number | undefined;
  readonly creation: MessageContext | undefined;
  readonly previous?: MessageContext;
}

/**
 * A recorded span at `place`: in its parent's trace with its trace state (the SDK's rule for a
 * child), a new root trace otherwise.
 */
export function recordSpan(sink: SpanSink, name: LazyName, kind: SpanKind, attributes: Attributes, place: SpanPlace): RecordedSpan {
  const parent = place.parent;
  const parentContext = parent === undefined ? undefined : remoteSpanContext(parent);
  const context: MessageContext = {
    traceId: parent?.traceId ?? place.traceId ?? randomTraceId(),
    spanId: place.spanId ?? randomSpanId(),
    traceFlags: place.traceFlags,
    traceState: parent?.traceState,
  };
  return new RecordedSpan(
    sink, nameOf(name), kind, attributes, context, parentContext?.traceState, parentContext, linksTo(place.creation, place.previous), place.startMs,
  );
}

/**
 * The spans of a message's journey (publish, broker hop, receive for `basic.get`, process),
 * handed to the SDK's span processors as they end (RecordedSpan). The sampling decision
 * is the caller's, once per message (`records`): every span asked for records. Every call is
 * guarded: a telemetry failure is counted and the message goes on as if spans were off.
 */
export class MessageSpans implements SpanFactory {

  private readonly sink: SpanSink;

  constructor(
    private readonly telemetry: Pick<Telemetry, 'sink' | 'sampled'>,
    private readonly metrics: ProxyMetrics,
    private readonly server: { host: string; port: number },
    clock?: Clock,
  ) {
    this.sink = clock === undefined ? telemetry.sink : onClock(telemetry.sink, clock);
  }

  /**
   * Whether spans of a message with this parent record; `traceId` is the parent's, or the
   * one a new trace will get. The samplers decide on the trace id and the parent's flags
   * alone, so one decision holds for every span of the message, and callers can skip
   * building names and attributes (and the closures that would build them) for the ~90 %
   * that do not record.
   */
  records(parent: MessageContext | undefined, traceId: string): boolean {
    return this.telemetry.sampled(parent?.traceFlags, traceId);
  }

  /**
   * The "send" span; with no parent it starts the trace (with `traceId` when given). PRODUCER
   * when its context becomes the message's creation context, CLIENT when the publisher's own
   * context is (messaging-spans.md, "Span kind").
   */
  publish(
    name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, traceId?: string, creationContext = true,
  ): OpenSpan | undefined {
    // A send span links to the creation context it did not make (its parent here).
    const kind = creationContext ? SpanKind.PRODUCER : SpanKind.CLIENT;
    return this.start(name, kind, attributes, parent, undefined, traceId, creationContext ? undefined : parent);
  }

  /**
   * The time the message spent in the broker, from publish to delivery; ended at once. No
   * operation in the conventions describes it; CONSUMER keeps the producer → consumer edge
   * that service graphs draw from span kinds (docs/CONVENTIONS.md).
   */
  brokerHop(
    name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, publishedAtMs: number | undefined, traceId?: string,
  ): MessageContext | undefined {
    const span = this.start(name, SpanKind.CONSUMER, attributes, parent, publishedAtMs, traceId);
    span?.end();
    return span?.context;
  }

  /** The "receive" span of a `basic.get`: CLIENT, from the request to `get-ok`; ended at once. */
  receive(
    name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, requestedAtMs: number | undefined, creation?: MessageContext,
  ): void {
    this.start(name, SpanKind.CLIENT, attributes, parent, requestedAtMs, undefined, creation)?.end();
  }

  /** The "process" span, CONSUMER, from delivery until the consumer's ack, nack or reject. */
  process(name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, creation?: MessageContext, at?: ProcessPlace): OpenSpan | undefined {
    return this.start(name, SpanKind.CONSUMER, attributes, parent, at?.startMs, undefined, creation, at?.previous);
  }

  /** INTERNAL: no message moves while a worker waits for an eta; a child of the broker hop. */
  scheduledWait(name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, startMs: number, endMs: number): void {
    this.start(name, SpanKind.INTERNAL, attributes, parent, startMs, undefined)?.end(undefined, endMs);
  }

  private start(
    name: LazyName, kind: SpanKind, attributes: LazyAttributes, parent: MessageContext | undefined, startMs: number | undefined,
    rootTraceId: string | undefined, creation?: MessageContext, previous?: MessageContext,
  ): RecordedSpan | undefined {
    try {
      // Names and attributes are built only here, for messages `records` let through.
      return recordSpan(this.sink, name, kind, withServer(attributes, this.server), {
        parent, traceId: rootTraceId, spanId: undefined, traceFlags: TraceFlags.SAMPLED, startMs, creation, previous,
      });
    } catch {
      this.metrics.telemetryError('span_start');
      return undefined;
    }
  }
}

/**
 * The context of a span that does not record. Its span id is drawn on first read: a
 * delivery's broker-hop and process ids are only read when a header is rewritten or a
 * continuation remembers them, so most are never needed.
 */
export class UnsampledContext implements MessageContext {
  readonly traceFlags = 0;
  private id: string | undefined;

  constructor(readonly traceId: string, readonly traceState: string | undefined) {}

  get spanId(): string {
    this.id ??= randomSpanId();
    return this.id;
  }
}

/** The parent context of a message whose traceparent is known to be valid. */
export function incomingContext(headers: TraceHeaderView): MessageContext {
  // Fields copied, not spread: a spread of the getter's object was 5 % of the CPU at 100 % sampling.
  const { traceId, spanId, traceFlags } = headers.traceContext!;
  return { traceId, spanId, traceFlags, traceState: headers.tracestate };
}
