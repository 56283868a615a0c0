import {
  Attributes, Context, Link, ROOT_CONTEXT, Span, SpanContext, SpanKind, SpanStatusCode, TraceFlags, Tracer, trace,
} from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import type { ProxyMetrics } from '../metrics/metrics';
import { Attr, MESSAGING_SYSTEM } from './attributes';
import type { Telemetry } from './telemetry';
import { TraceParent, randomSpanId, randomTraceId } from './traceparent';

/**
 * Attributes (a fresh object: the span start adds to it), or a function that builds them. Spans are mostly unsampled (10 % by default),
 * so attribute objects are only built for spans that record: building them for every
 * message cost more CPU than everything else the proxy does per message.
 */
export type LazyAttributes = Attributes | (() => Attributes);
/** A span name, built only for spans that record, for the same reason as LazyAttributes. */
export type LazyName = string | (() => string);

/** A message's trace context: the `traceparent` fields plus its raw `tracestate`. */
export interface MessageContext extends TraceParent {
  readonly traceState?: string;
}

export interface OpenSpan {
  readonly context: MessageContext;
  end(errorType?: string): void;
  event(name: string, attributes: Attributes): void;
}

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
  process(name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, creation?: MessageContext): OpenSpan | undefined;
}

/** A message's context as a span context: always remote, since it came in a message. */
function remoteSpanContext(context: MessageContext): SpanContext {
  return {
    traceId: context.traceId,
    spanId: context.spanId,
    traceFlags: context.traceFlags & TraceFlags.SAMPLED,
    isRemote: true,
    traceState: context.traceState ? new TraceState(context.traceState) : undefined,
  };
}

/** The SDK context of a message's parent. */
export function remoteParent(parent: MessageContext | undefined): Context {
  return parent ? trace.setSpanContext(ROOT_CONTEXT, remoteSpanContext(parent)) : ROOT_CONTEXT;
}

/**
 * The links of a span that does not carry the message's creation context itself: receive,
 * process, and a send span under the publisher's own context (messaging-spans.md, "Trace
 * structure": links are the conventions' default way to reach the producer).
 */
export function linksTo(creation: MessageContext | undefined): Link[] | undefined {
  return creation === undefined ? undefined : [{ context: remoteSpanContext(creation) }];
}

export const nameOf = (name: LazyName): string => (typeof name === 'function' ? name() : name);

/**
 * A span's attributes with the ones every span of the proxy carries. Assigned, not spread
 * (see spanAttributes in connectionTracer.ts): the object is the caller's fresh one.
 */
export function withServer(attributes: LazyAttributes, server: { host: string; port: number }): Attributes {
  const all = typeof attributes === 'function' ? attributes() : attributes;
  all[Attr.messagingSystem] = MESSAGING_SYSTEM;
  all[Attr.serverAddress] = server.host;
  all[Attr.serverPort] = server.port;
  return all;
}

/**
 * An SDK span as an OpenSpan whose calls never throw. `endTime` (epoch ms), when given,
 * is read at the end: kept spans carry times taken on the proxy's own clock.
 */
export function guardSpan(span: Span, context: MessageContext, metrics: ProxyMetrics, endTime?: () => number): OpenSpan {
  return {
    context,
    end(errorType?: string): void {
      try {
        if (errorType !== undefined) {
          span.setAttribute(Attr.errorType, errorType);
          span.setStatus({ code: SpanStatusCode.ERROR, message: errorType });
        }
        span.end(endTime?.());
      } catch {
        metrics.telemetryError('span_end');
      }
    },
    event(name: string, attributes: Attributes): void {
      try {
        span.addEvent(name, attributes);
      } catch {
        metrics.telemetryError('span_event');
      }
    },
  };
}

/**
 * The spans of a message's journey (publish, broker hop, receive for `basic.get`, process),
 * built on an OpenTelemetry tracer. Every call is
 * guarded: a telemetry failure is counted and the message goes on as if spans were off.
 */
export class MessageSpans implements SpanFactory {

  private readonly tracer: Tracer;

  constructor(
    private readonly telemetry: Pick<Telemetry, 'tracer' | 'sampled' | 'useTraceIdOnce'>,
    private readonly metrics: ProxyMetrics,
    private readonly server: { host: string; port: number },
  ) {
    this.tracer = telemetry.tracer;
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
  process(name: LazyName, attributes: LazyAttributes, parent: MessageContext | undefined, creation?: MessageContext): OpenSpan | undefined {
    return this.start(name, SpanKind.CONSUMER, attributes, parent, undefined, undefined, creation);
  }

  private start(
    name: LazyName, kind: SpanKind, attributes: LazyAttributes, parent: MessageContext | undefined, startTime: number | undefined,
    rootTraceId: string | undefined, creation?: MessageContext,
  ): OpenSpan | undefined {
    try {
      const traceId = parent?.traceId ?? rootTraceId ?? randomTraceId();
      if (!this.telemetry.sampled(parent?.traceFlags, traceId)) {
        // Not sampled: the SDK would make a non-recording span with new ids; making the ids
        // here costs a fraction of that, and this is most messages.
        return unsampled(new UnsampledContext(traceId, parent?.traceState));
      }
      if (parent === undefined) this.telemetry.useTraceIdOnce(traceId);
      // Attributes go in at span start, where a sampler sees them (the conventions ask this
      // of the destination, operation and server attributes). They are built only here, for
      // spans the decision above already let through.
      const attributesAtStart = withServer(attributes, this.server);
      const links = linksTo(creation);
      const span = this.tracer.startSpan(nameOf(name), { kind, startTime, attributes: attributesAtStart, links }, remoteParent(parent));
      const sc = span.spanContext();
      return guardSpan(span, { traceId: sc.traceId, spanId: sc.spanId, traceFlags: sc.traceFlags, traceState: parent?.traceState }, this.metrics);
    } catch {
      this.metrics.telemetryError('span_start');
      return undefined;
    }
  }
}

const ignore = (): void => undefined;

function unsampled(context: MessageContext): OpenSpan {
  return { context, end: ignore, event: ignore };
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
