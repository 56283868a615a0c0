import {
  Attributes, AttributeValue, HrTime, Link, SpanContext, SpanKind, SpanStatus, SpanStatusCode, TraceFlags, TraceState as ApiTraceState,
} from '@opentelemetry/api';
import { InstrumentationScope, TraceState, hrTimeDuration, millisToHrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanLimits, TimedEvent } from '@opentelemetry/sdk-trace';
import { Attr } from './attributes';
import { type Clock, SYSTEM_CLOCK, epochOf } from './clock';
import type { TraceParent } from './traceparent';


/** A message's trace context: the `traceparent` fields plus its raw `tracestate`. */
export interface MessageContext extends TraceParent {
  readonly traceState?: string;
}

/** A span of a message, open until `end`. Calls never throw (SpanSink.end counts a failure). */
export interface OpenSpan {
  readonly context: MessageContext;
  end(errorType?: string): void;
  event(name: string, attributes: Attributes): void;
  /** An attribute only known at the end (a reject that dead-letters); before `end`. */
  mark?(key: string, value: boolean): void;
}

/**
 * Where the proxy's spans go when they end: the SDK's span processors (the batch processor
 * and the OTLP gRPC exporter), with the resource and instrumentation scope every span
 * shares. Sharing them by identity is also what lets the OTLP serializer group a batch
 * into one ResourceSpans and one ScopeSpans.
 */
export interface SpanSink {
  readonly resource: Resource;
  readonly scope: InstrumentationScope;
  /** Span limits set through OTEL_* variables; undefined when they are the SDK's defaults, which the proxy's spans never reach. */
  readonly limits: Required<SpanLimits> | undefined;
  /** Where a span reads "now" when it is not given a time: the tracer's clock (tests move it); the system clock when unset. */
  readonly clock?: Clock;
  end(span: ReadableSpan): void;
}

/** Epoch milliseconds now on the sink's clock, the clock the publish stamps and the in-flight maps use. */
export const sinkNow = (sink: SpanSink): number => epochOf((sink.clock ?? SYSTEM_CLOCK).now());

/** `sink` with spans timed on `clock`: the same resource and scope objects, so batches still group by identity. */
export function onClock(sink: SpanSink, clock: Clock): SpanSink {
  return sink.clock === clock ? sink : { ...sink, clock };
}

/** A message's context as the SDK's span context: always remote, since it came in a message. */
export function remoteSpanContext(context: MessageContext): SpanContext {
  return {
    traceId: context.traceId,
    spanId: context.spanId,
    traceFlags: context.traceFlags & TraceFlags.SAMPLED,
    isRemote: true,
    traceState: context.traceState ? new TraceState(context.traceState) : undefined,
  };
}

const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });
const NO_LINKS: Link[] = [];
const NO_EVENTS: TimedEvent[] = [];

/**
 * One span of the proxy, built as the SDK's ReadableSpan and handed to the span processors
 * when it ends. The proxy knows everything about its spans when it starts them (sampled or
 * kept, ids, parent, attributes, and for the broker hop both times), so the SDK's Tracer
 * and SpanImpl (sampling again, sanitizing the attributes twice, copying them, the
 * processors' onStart) would only repeat work: at 100 % sampling they were about 15 µs of
 * each message's CPU (docs/PERFORMANCE.md, "Fourth round").
 *
 * What reaches the exporter is what the SDK's span would carry: the same fields, the
 * parent as a remote span context, a link without attributes, status UNSET unless ended
 * with an error, the SDK's span limits when set (SpanSink.limits).
 */
export class RecordedSpan implements ReadableSpan, OpenSpan {
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
  readonly startTime: HrTime;
  endTime: HrTime = [0, 0];
  ended = false;
  status: SpanStatus = UNSET;
  events: TimedEvent[] = NO_EVENTS;
  droppedAttributesCount = 0;
  droppedEventsCount = 0;
  droppedLinksCount = 0;
  private readonly own: SpanContext;

  /**
   * `startMs` and the end's time are epoch ms (sinkNow's clock); `context` is what the
   * proxy hands on (its flags are the message's, which for a kept span are unsampled).
   */
  constructor(
    private readonly sink: SpanSink,
    readonly name: string,
    readonly kind: SpanKind,
    public attributes: Attributes,
    readonly context: MessageContext,
    traceState: ApiTraceState | undefined,
    readonly parentSpanContext: SpanContext | undefined,
    public links: Link[] = NO_LINKS,
    private readonly startMs: number = sinkNow(sink),
  ) {
    this.resource = sink.resource;
    this.instrumentationScope = sink.scope;
    this.startTime = millisToHrTime(startMs);
    // Exported spans are sampled ones, whatever the message carries on (see KeptSpans). A
    // sampled context without trace state already is that span context (one object fewer).
    this.own = traceState === undefined && context.traceFlags === TraceFlags.SAMPLED && context.traceState === undefined
      ? (context as Omit<MessageContext, 'traceState'> as SpanContext)
      : { traceId: context.traceId, spanId: context.spanId, traceFlags: TraceFlags.SAMPLED, traceState };
  }

  spanContext(): SpanContext {
    return this.own;
  }

  get duration(): HrTime {
    return this.ended ? hrTimeDuration(this.startTime, this.endTime) : [-1, -1];
  }

  /** Ends at `endMs` (epoch ms, default now on the sink's clock); an end before the start is clamped to it, as the SDK does. */
  end(errorType?: string, endMs: number = sinkNow(this.sink)): void {
    if (this.ended) return;
    if (errorType !== undefined) {
      this.attributes[Attr.errorType] = errorType;
      this.status = { code: SpanStatusCode.ERROR, message: errorType };
    }
    this.endTime = endMs < this.startMs ? [this.startTime[0], this.startTime[1]] : millisToHrTime(endMs);
    this.ended = true;
    if (this.sink.limits !== undefined) applyLimits(this, this.sink.limits);
    this.sink.end(this);
  }

  mark(key: string, value: boolean): void {
    if (!this.ended) this.attributes[key] = value;
  }

  event(name: string, attributes: Attributes): void {
    if (this.ended) return;
    if (this.events === NO_EVENTS) this.events = [];
    this.events.push({ name, attributes, time: millisToHrTime(sinkNow(this.sink)), droppedAttributesCount: 0 });
  }
}

/**
 * The SDK's span limits (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT and the like), applied as SpanImpl
 * applies them while a span is built: the first attributes kept, values truncated, the
 * newest links and events kept.
 */
export function applyLimits(span: RecordedSpan, limits: Required<SpanLimits>): void {
  const limited = limitAttributes(span.attributes, limits.attributeCountLimit, limits.attributeValueLengthLimit);
  span.attributes = limited.attributes;
  span.droppedAttributesCount = limited.dropped;
  const links = newest(span.links, limits.linkCountLimit);
  span.droppedLinksCount = span.links.length - links.length;
  span.links = links;
  const events = newest(span.events, limits.eventCountLimit);
  span.droppedEventsCount = span.events.length - events.length;
  span.events = events.map((e) => {
    const a = limitAttributes(e.attributes ?? {}, limits.attributePerEventCountLimit, limits.attributeValueLengthLimit);
    return { ...e, attributes: a.attributes, droppedAttributesCount: a.dropped };
  });
}

function newest<T>(items: T[], limit: number): T[] {
  return items.length > limit ? items.slice(items.length - Math.max(0, limit)) : items;
}

function limitAttributes(attributes: Attributes, countLimit: number, lengthLimit: number): { attributes: Attributes; dropped: number } {
  const out: Attributes = {};
  let kept = 0;
  let dropped = 0;
  for (const key of Object.keys(attributes)) {
    if (kept >= countLimit) {
      dropped++;
      continue;
    }
    out[key] = truncate(attributes[key], lengthLimit);
    kept++;
  }
  return { attributes: out, dropped };
}

function truncate(value: AttributeValue | undefined, limit: number): AttributeValue | undefined {
  // A limit of 0 or less is invalid and truncates nothing (SpanImpl).
  if (limit <= 0) return value;
  const cut = (v: unknown): unknown => (typeof v === 'string' && v.length > limit ? v.substring(0, limit) : v);
  return Array.isArray(value) ? (value.map(cut) as AttributeValue) : (cut(value) as AttributeValue | undefined);
}
