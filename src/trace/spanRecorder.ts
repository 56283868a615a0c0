import type { Attributes } from '@opentelemetry/api';
import type { TraceOutcome } from '../metrics/metrics';
import { type AttemptTiming, celeryAttributes, historyAttributes } from './attempts';
import { Attr, sanitize } from './attributes';
import { spanNameExchange } from './deadLetter';
import type { DeliveryHead, MessageView, ReturnedBy, Routing } from './lifecycle';
import type { MessageContext, OpenSpan, SpanFactory } from './messageSpans';
import type { ConnectionQueueKinds } from './queueKinds';
import {
  DestinationKind, NAMED, consumerDestination, consumerSpanDestination, producerDestination, producerSpanDestination, spanName, wordFor,
} from './semconv';

/** The broker-hop span's operation name and marker: no operation of the conventions, a word of the proxy's own. */
const BROKER_HOP = 'broker_hop';
/** The destination of an RPC reply (publish continued by correlation): a reply queue. */
const REPLY_KIND: DestinationKind = Object.freeze({ temporary: true, anonymous: false });
/** The span of a basic.return without confirms: no operation of the conventions (docs/CONVENTIONS.md). */
const RETURN = 'return';
/** A worker holding a delivered message until its eta: no operation of the conventions either. */
const SCHEDULED_WAIT = 'scheduled_wait';

/** Message properties and Celery headers on every span of a message, already sanitized. */
interface MessageFields {
  readonly messageId: string | undefined;
  readonly conversationId: string | undefined;
  readonly taskId: string | undefined;
  readonly taskName: string | undefined;
}

/** What a span says, in fixed fields; `spanAttributes` turns them into its attributes. */
interface SpanFields {
  operationType: string | undefined;
  /** Undefined only for the return span: a return is no operation of the conventions. */
  operationName: string | undefined;
  proxySpan: string;
  readonly destination: string;
  readonly kind: DestinationKind;
  /** Consumer side only, '' when unknown. */
  readonly queue: string;
  readonly routingKey: string;
  readonly deliveryTag: number | undefined;
  readonly bodySize: number;
  readonly context: TraceOutcome | undefined;
  readonly message: MessageFields;
}

/**
 * A fresh attributes object, filled by assignment: object spreads of these dotted keys,
 * once per sampled span, cost more CPU than the span itself (bench/hotpath.ts). Empty
 * values and false flags are left out, as the conventions ask of conditional attributes.
 */
/** A delivery's span attributes, with what its history says when it has one (a function, not a closure per delivery). */
function withHistory(f: SpanFields, timing: AttemptTiming | undefined): Attributes {
  const a = spanAttributes(f);
  if (timing !== undefined) historyAttributes(timing, a);
  return a;
}

function spanAttributes(f: SpanFields): Attributes {
  const a: Attributes = {};
  if (f.operationType !== undefined) a[Attr.operationType] = f.operationType;
  if (f.operationName !== undefined) a[Attr.operationName] = f.operationName;
  a[Attr.destinationName] = f.destination;
  if (f.kind.temporary) a[Attr.destinationTemporary] = true;
  if (f.kind.anonymous) a[Attr.destinationAnonymous] = true;
  if (f.queue !== '') a[Attr.subscriptionName] = f.queue;
  if (f.routingKey !== '') a[Attr.routingKey] = f.routingKey;
  if (f.deliveryTag !== undefined) a[Attr.deliveryTag] = f.deliveryTag;
  a[Attr.bodySize] = f.bodySize;
  a[Attr.proxySpan] = f.proxySpan;
  if (f.context !== undefined) a[Attr.proxyContext] = f.context;
  const m = f.message;
  if (m.messageId) a[Attr.messageId] = m.messageId;
  if (m.conversationId) a[Attr.conversationId] = m.conversationId;
  if (m.taskId) a[Attr.celeryTaskId] = m.taskId;
  if (m.taskName) a[Attr.celeryTaskName] = m.taskName;
  return a;
}

function messageFields(message: MessageView): MessageFields {
  const { messageId, correlationId, headers } = message;
  // A Celery task id is what people have in hand (logs, Flower, AsyncResult): on every
  // span of a task message so a trace can be found from it.
  const taskId = headers.taskId;
  const taskName = headers.taskName;
  const celery = taskId !== undefined && taskName !== undefined && taskId !== '' && taskName !== '';
  return {
    messageId: messageId ? sanitize(messageId) : undefined,
    conversationId: correlationId ? sanitize(correlationId) : undefined,
    taskId: celery ? sanitize(taskId) : undefined,
    taskName: celery ? sanitize(taskName) : undefined,
  };
}

/**
 * Names, kinds and attributes of a message's spans, made through a SpanFactory: the sampled
 * one (MessageSpans) or a kept message's (KeptSpans), so both read the same. Only called
 * for spans that record, so names and attributes are built at once.
 */
export class SpanRecorder {
  constructor(readonly spans: SpanFactory, private readonly queueKinds: ConnectionQueueKinds) {}

  /** The "send" span. A continued traceparent is the publisher's creation context, not this span's. */
  publish(
    message: MessageView, routing: Routing, outcome: TraceOutcome, parent: MessageContext | undefined,
    traceId: string | undefined, spans: SpanFactory = this.spans,
  ): OpenSpan | undefined {
    const fields = this.producerFields(message, routing, outcome);
    const name = this.producerSpanName('publish', routing, fields.kind);
    const attributes = spanAttributes(fields);
    if (fields.message.taskId !== undefined) celeryAttributes(message.headers.history(false), attributes);
    return spans.publish(name, attributes, parent, traceId, outcome !== 'continued');
  }

  /**
   * A returned publish whose span already ended (no confirms): the return as its own span,
   * named as its publish span is (`return` for `publish`: the same bounded destination).
   */
  returned(spans: SpanFactory, message: MessageView, returned: ReturnedBy, attrs: Attributes, parent: MessageContext): void {
    spans.publish(() => this.producerSpanName(RETURN, returned, this.producerKind(returned)), () => {
      const fields = this.producerFields(message, returned, undefined);
      fields.operationType = undefined;
      fields.operationName = undefined;
      fields.proxySpan = RETURN;
      return Object.assign(spanAttributes(fields), attrs);
    }, parent)?.end('unroutable');
  }

  /**
   * The broker-hop span (ended at once), for a get the receive span (ended at once), and
   * the open process span of a delivery. With a history (`timing`, attempts.ts): the hop of
   * a dead letter under the span that rejected it, a scheduled_wait span until an eta with
   * the process span from there, the earlier attempt linked, and the history's attributes.
   */
  delivery(
    message: MessageView, delivery: DeliveryHead, parent: MessageContext | undefined, publishedAt: number | undefined,
    traceId: string | undefined, spans: SpanFactory = this.spans, timing?: AttemptTiming,
  ): { hop: MessageContext | undefined; process: OpenSpan | undefined } {
    const { routing: { exchange, routingKey }, queue } = delivery;
    const kind = this.queueKinds.kindOf(queue);
    const destination = sanitize(consumerSpanDestination(spanNameExchange(exchange), queue, kind));
    // One set of fields; each span gets its own attributes object with its operation.
    const fields: SpanFields = {
      // No operation type: the time in the broker is none of the conventions' operations.
      operationType: undefined,
      operationName: BROKER_HOP,
      proxySpan: BROKER_HOP,
      destination: sanitize(consumerDestination(exchange, routingKey, queue)),
      kind,
      queue: sanitize(queue),
      routingKey: sanitize(routingKey),
      deliveryTag: delivery.tag,
      bodySize: message.bodySize,
      context: undefined,
      message: messageFields(message),
    };
    if (timing?.delayFrom !== undefined && publishedAt !== undefined) {
      // Kombu's native delayed delivery: the delay it asked for, in the broker, before the hop proper.
      fields.operationName = undefined;
      fields.proxySpan = SCHEDULED_WAIT;
      spans.scheduledWait(spanName(SCHEDULED_WAIT, destination), withHistory(fields, timing), parent, timing.delayFrom, publishedAt);
      fields.operationName = BROKER_HOP;
      fields.proxySpan = BROKER_HOP;
    }
    const hop = spans.brokerHop(spanName(BROKER_HOP, destination), withHistory(fields, timing), timing?.hopParent ?? parent, publishedAt, traceId);
    if (delivery.operation === 'get') {
      fields.operationType = 'receive';
      fields.operationName = 'get';
      fields.proxySpan = 'receive';
      spans.receive(spanName('get', destination), withHistory(fields, timing), hop ?? parent, delivery.requestedAt, parent);
    }
    const waitUntil = timing?.waitUntil;
    if (waitUntil !== undefined) {
      fields.operationType = undefined;
      fields.operationName = undefined;
      fields.proxySpan = SCHEDULED_WAIT;
      spans.scheduledWait(spanName(SCHEDULED_WAIT, destination), withHistory(fields, timing), hop ?? parent, timing!.deliveredAt, waitUntil);
    }
    fields.operationType = 'process';
    fields.operationName = 'process';
    fields.proxySpan = 'process';
    // `parent` is the message's creation context (its traceparent), when it carried one.
    const at = timing === undefined ? undefined : { startMs: waitUntil, previous: timing.previous };
    const process = spans.process(spanName('process', destination), withHistory(fields, timing), hop ?? parent, parent, at);
    return { hop, process };
  }

  /** The `queue` label of the latency histograms: a temporary queue's word, not its name. */
  queueLabel(queue: string): string {
    return wordFor(this.queueKinds.kindOf(queue)) ?? queue;
  }

  /** The fields of a publish span; the return span of the same message shares its destination and message ones. */
  private producerFields(message: MessageView, routing: Routing, outcome: TraceOutcome | undefined): SpanFields {
    const { exchange, routingKey } = routing;
    return {
      operationType: 'send',
      operationName: 'publish',
      proxySpan: 'publish',
      destination: sanitize(producerDestination(exchange, routingKey)),
      // A reply found by its correlation id answers a reply_to: that message's queue is temporary.
      kind: outcome === 'continued_by_correlation' ? REPLY_KIND : this.producerKind(routing),
      queue: '',
      routingKey: sanitize(routingKey),
      deliveryTag: undefined,
      bodySize: message.bodySize,
      context: outcome,
      message: messageFields(message),
    };
  }

  /** The kind of a publish's destination: through the default exchange, the routing key is the queue's name. */
  private producerKind({ exchange, routingKey }: Routing): DestinationKind {
    return exchange === '' ? this.queueKinds.kindOf(routingKey) : NAMED;
  }

  /** `{operation} {destination}` of a producer-side span: the publish span and the return span of the same message. */
  private producerSpanName(operation: string, { exchange, routingKey }: Routing, kind: DestinationKind): string {
    return spanName(operation, sanitize(producerSpanDestination(exchange, routingKey, kind)));
  }
}
