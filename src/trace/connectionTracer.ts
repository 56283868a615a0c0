import type { Attributes } from '@opentelemetry/api';
import { Method } from '../amqp/constants';
import { ContentHeader, HeadersEdit, hasProperty, parseContentHeader, readShortStrProperty, spliceHeadersFrame } from '../amqp/contentHeader';
import type { AsciiValue } from '../amqp/fieldTableWrite';
import {
  decodeBasicAck, decodeBasicCancel, decodeBasicCancelOk, decodeBasicConsume, decodeBasicConsumeOk, decodeBasicGet, decodeBasicGetOk, decodeBasicNack,
  decodeBasicReject, decodeBasicReturn, decodeQueueDeclare, decodeQueueDeclareOk, locateBasicDeliver,
  locateBasicPublish, type BasicReturnArgs,
} from '../amqp/methods';
import type { ScannerHooks } from '../amqp/scanner';
import type { Logger } from '../log/logger';
import type { ProcessOutcome, ProxyMetrics, TraceOutcome } from '../metrics/metrics';
import type { ConnectionSession, SessionFactory, SessionInfo } from '../proxy/session';
import { Attr, Header, sanitize } from './attributes';
import { ByteBudget } from './byteBudget';
import { Clock, MicrosStamp, TIME_ORIGIN_MS, publishTime } from './clock';
import { DEFAULT_CONNECTION_STATE_MAX_BYTES, DEFAULT_STAMP_MAX_AGE_MS, DEFAULT_STATE_MAX_BYTES } from './limits';
import type { Continuation } from './continuation';
import { InflightTotals, Pending, PendingByTag } from './inflight';
import { MessageContext, MessageSpans, OpenSpan, SpanFactory, UnsampledContext } from './messageSpans';
import { DeliveryHead, DeliveryRecord, OutcomeExport, PublishRecord, Routing, deliveryRecord } from './outcome';
import type { OutcomeRule } from './outcomeNames';
import { KeepShape, KeptSpans } from './outcomeSpans';
import { PUBLISHED_CAPACITY, PublishedSpans } from './publishedSpans';
import { ConnectionQueueKinds, QueueKinds } from './queueKinds';
import {
  DestinationKind, NAMED, consumerDestination, consumerSpanDestination, producerDestination, producerSpanDestination, spanName, wordFor,
} from './semconv';
import type { Telemetry } from './telemetry';
import { TraceHeaders } from './traceHeaders';
import { MAX_RETURNABLE_BYTES, ReturnableCopies } from './returnable';
import { NewTraceContext, formatTraceParent, randomSpanId, spanIdOfFormatted } from './traceparent';

/** The runtime switch shared by every connection: false = bypass (no rewrite, no spans). */
export interface ModeSwitch {
  tracing: boolean;
}

export interface TracingOptions {
  readonly telemetry: Pick<Telemetry, 'sink' | 'sampled' | 'sampledNewTrace' | 'parentDecides'>;
  /** Every time the tracer reads (SYSTEM_CLOCK; a test's fake one). */
  readonly clock: Clock;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  readonly mode: ModeSwitch;
  readonly continuation: Continuation | undefined;
  readonly rewriteOnDelivery: boolean;
  readonly inflightCapacity: number;
  /** Queue names whose kind (temporary, anonymous) the proxy remembers; default QUEUE_KIND_CAPACITY. */
  readonly queueKindCapacity?: number;
  /** Add x-trace-proxy-published-us to each publish (--publish-stamp). */
  readonly publishStamp: boolean;
  /** Deliveries whose stamp is older are not timed (--publish-stamp-max-age-ms); default DEFAULT_STAMP_MAX_AGE_MS. */
  readonly publishStampMaxAgeMs?: number;
  /** Outcome-based export of unsampled messages (outcome.ts); undefined = off. */
  readonly outcome?: OutcomeExport;
  /**
   * Bytes of message-derived state the process holds (--state-max-bytes): every connection's
   * budget draws on it, and so do the process-wide maps; the continuation's is given it too.
   */
  readonly stateBudget?: ByteBudget;
  /** Bytes of message-derived state one connection holds (--connection-state-max-bytes). */
  readonly connectionStateMaxBytes?: number;
}

/** The channel or connection went away: a message still in flight ended badly. */
const CLOSE_REASONS: ReadonlySet<string> = new Set(['channel_closed', 'connection_closed']);

/**
 * Enough for every temporary queue alive at once on a busy broker (one per RPC client
 * process or thread, one per exclusive subscriber); a name evicted early is learned again.
 */
export const QUEUE_KIND_CAPACITY = 50_000;
/** queue.declare frames awaiting their declare-ok on one channel (clients pipeline a few at most). */
const MAX_PENDING_DECLARES = 256;

/** A content header with no method before it on its channel (the scanner only sends one after one). */
const NO_ROUTING: Routing = { exchange: '', routingKey: '' };
/** The broker-hop span's operation name and marker: no operation of the conventions, a word of the proxy's own. */
const BROKER_HOP = 'broker_hop';
/** The destination of an RPC reply (publish continued by correlation): a reply queue. */
const REPLY_KIND: DestinationKind = Object.freeze({ temporary: true, anonymous: false });
/** The span of a basic.return without confirms: no operation of the conventions (docs/CONVENTIONS.md). */
const RETURN = 'return';
/**
 * The ids of each new trace, drawn and written within one synchronous call (onPublishHeader),
 * so every connection can share one instance.
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

interface Delivery extends DeliveryHead {
  readonly noAck: boolean;
  readonly redelivered: boolean;
}

interface Consumer {
  readonly queue: string;
  readonly noAck: boolean;
}

interface BasicGet {
  readonly queue: string;
  readonly noAck: boolean;
  readonly requestedAt: number;
}

/** A queue.declare waiting for its declare-ok; passive ones only check, so they teach nothing. */
interface PendingDeclare {
  readonly kind: DestinationKind | undefined;
}

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
  /** Undefined only for the return span: basic.return is no operation of the conventions. */
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

/** What the proxy tracks per channel; created on first use, dropped on channel.close. */
class ChannelTrace {
  confirm = false;
  nextPublishTag = 1;
  publish: { routing: Routing; tag: number; mandatory: boolean } | undefined;
  delivery: Delivery | undefined;
  returned: BasicReturnArgs | undefined;
  /** Mandatory publishes the proxy rewrote, kept to give a basic.return back as sent. */
  returnable: ReturnableCopies | undefined;
  get: BasicGet | undefined;
  /**
   * Consumers by tag: tags are unique per channel only (spec, basic.consume), and closing
   * the channel ends them, so they live here. Removed at basic.cancel-ok.
   */
  readonly consumers = new Map<string, Consumer>();
  /** Consumers the client cancelled, until the cancel-ok (by then the tag may name a new consumer). */
  readonly cancelling = new Map<string, Consumer>();
  /** Consumes with an empty tag, in order, awaiting the consume-ok that names them. */
  pendingConsumes: Consumer[] = [];
  /**
   * No-wait consumes with an empty tag: the broker names them and says the name to nobody
   * (no consume-ok), so a delivery's tag that no consumer of the channel has is one of these.
   */
  unnamedConsumers: Consumer[] = [];
  pendingDeclares: PendingDeclare[] = [];
  /** The last queue declared on the channel: an empty queue name in consume or get means it (spec, queue-name domain). */
  lastQueue = '';
  readonly confirms: PendingByTag;
  readonly acks: PendingByTag;

  /** `budget`: the connection's, shared by its channels. */
  constructor(capacity: number, totals: InflightTotals, readonly budget: ByteBudget) {
    this.confirms = new PendingByTag('confirm', capacity, totals, budget);
    this.acks = new PendingByTag('ack', capacity, totals, budget);
  }
}

/** The span id of the traceparent a publish edit adds under a continuation's parent. */
function forwardedSpanId(edit: HeadersEdit): string | undefined {
  const traceparent = edit.add[0]?.[1];
  return typeof traceparent === 'string' ? spanIdOfFormatted(traceparent) : undefined;
}

/** The parent context of a message whose traceparent is known to be valid. */
function incomingContext(found: TraceHeaders): MessageContext {
  // Fields copied, not spread: a spread of the getter's object was 5 % of the CPU at 100 % sampling.
  const { traceId, spanId, traceFlags } = found.traceContext!;
  return { traceId, spanId, traceFlags, traceState: found.tracestate };
}

/**
 * One connection's view of its messages: decides what each published message carries and
 * which spans describe it. Everything here runs on the forwarding path, so it does the
 * minimum per frame and never waits.
 */
export class ConnectionTracer implements ConnectionSession {
  readonly clientHooks: ScannerHooks;
  readonly serverHooks: ScannerHooks;
  /** By channel number (small integers from 1: an array is cheaper than a Map, looked up several times per message). */
  private readonly channels: (ChannelTrace | undefined)[] = [];
  private readonly spans: MessageSpans;
  /** The process's queue kinds, and what this connection's own messages say (reply_to). */
  private readonly queueKinds: ConnectionQueueKinds;
  /** Bytes of message-derived state this connection holds, drawn from the process's budget. */
  private readonly budget: ByteBudget;
  /** The consumer tag of the previous delivery: usually the next one's too (see locateBasicDeliver). */
  private lastConsumerTag = '';

  constructor(
    private readonly options: TracingOptions,
    private readonly info: SessionInfo,
    private readonly totals: InflightTotals,
    queueKinds: QueueKinds,
    /** Unsampled publishes this process created the context of; set with outcome-based export. */
    private readonly published?: PublishedSpans,
    processBudget?: ByteBudget,
  ) {
    this.spans = new MessageSpans(options.telemetry, options.metrics, info.upstream);
    this.budget = new ByteBudget(options.connectionStateMaxBytes ?? DEFAULT_CONNECTION_STATE_MAX_BYTES, processBudget);
    this.queueKinds = new ConnectionQueueKinds(queueKinds, options.metrics, this.budget);
    const client = new Map<number, (channel: number, payload: Buffer) => void>([
      [Method.ConfirmSelect, (c) => { this.channel(c).confirm = true; }],
      [Method.BasicPublish, (c, p) => this.onPublish(c, p)],
      [Method.BasicConsume, (c, p) => this.onConsume(c, p)],
      [Method.QueueDeclare, (c, p) => this.onQueueDeclare(c, p)],
      [Method.BasicGet, (c, p) => this.onGet(c, p)],
      [Method.BasicCancel, (c, p) => this.onCancel(c, p, true)],
      [Method.BasicAck, (c, p) => { const a = decodeBasicAck(p); this.settleDeliveries(c, a.deliveryTag, a.multiple, 'ack'); }],
      [Method.BasicNack, (c, p) => { const a = decodeBasicNack(p); this.settleDeliveries(c, a.deliveryTag, a.multiple, 'nack'); }],
      [Method.BasicReject, (c, p) => { const a = decodeBasicReject(p); this.settleDeliveries(c, a.deliveryTag, false, 'reject'); }],
      [Method.ChannelClose, (c) => this.closeChannel(c, 'channel_closed')],
    ]);
    const server = new Map<number, (channel: number, payload: Buffer) => void>([
      [Method.QueueDeclareOk, (c, p) => this.onQueueDeclareOk(c, p)],
      [Method.BasicConsumeOk, (c, p) => this.onConsumeOk(c, p)],
      // The server cancels a consumer itself when its queue goes (consumer cancel notification).
      [Method.BasicCancel, (c, p) => this.onCancel(c, p, false)],
      [Method.BasicCancelOk, (c, p) => this.onCancelOk(c, p)],
      [Method.BasicDeliver, (c, p) => this.onDeliver(c, p)],
      [Method.BasicGetOk, (c, p) => this.onGetOk(c, p)],
      [Method.BasicReturn, (c, p) => { this.channel(c).returned = decodeBasicReturn(p); }],
      [Method.BasicAck, (c, p) => { const a = decodeBasicAck(p); this.settleConfirms(c, a.deliveryTag, a.multiple, 'ack'); }],
      [Method.BasicNack, (c, p) => { const a = decodeBasicNack(p); this.settleConfirms(c, a.deliveryTag, a.multiple, 'nack'); }],
      [Method.ChannelClose, (c) => this.closeChannel(c, 'channel_closed')],
    ]);
    this.clientHooks = {
      inspect: new Set(client.keys()),
      onMethod: (channel, key, payload) => client.get(key)?.(channel, payload),
      onContentHeader: (channel, _method, payload) => this.onPublishHeader(channel, payload),
    };
    this.serverHooks = {
      inspect: new Set(server.keys()),
      onMethod: (channel, key, payload) => server.get(key)?.(channel, payload),
      onContentHeader: (channel, method, payload) =>
        method === Method.BasicReturn ? this.onReturnHeader(channel, payload) : this.onDeliveryHeader(channel, payload),
    };
  }

  close(reason: string): void {
    for (let channel = 0; channel < this.channels.length; channel++) this.closeChannel(channel, reason);
  }

  private channel(id: number): ChannelTrace {
    let ch = this.channels[id];
    if (ch === undefined) {
      ch = new ChannelTrace(this.options.inflightCapacity, this.totals, this.budget);
      this.channels[id] = ch;
    }
    return ch;
  }

  private closeChannel(id: number, reason: string): void {
    const ch = this.channels[id];
    if (ch === undefined) return;
    this.channels[id] = undefined;
    ch.returnable?.clear();
    const now = this.options.clock.now();
    // A connection that went opaque (fail_open) has not failed its messages: only a close keeps them.
    const keeps = this.outcome !== undefined && CLOSE_REASONS.has(reason);
    for (const p of ch.confirms.abandon(reason)) {
      if (keeps && p.publishRecord) this.keptPublish(p, 'publish_closed')?.end(reason);
    }
    for (const p of ch.acks.abandon(reason)) {
      this.options.metrics.observeProcess((now - p.startedAt) / 1000, 'closed', p.destination);
      if (keeps && p.deliveryRecord) this.keptDelivery(p.deliveryRecord, this.outcome!.rules.atSettle('closed', now - p.startedAt))?.end(reason);
    }
  }

  private get outcome(): OutcomeExport | undefined {
    return this.options.outcome;
  }

  /** A rewritten header frame must still fit the negotiated frame_max (0 = no limit). */
  private fits(frame: Buffer): boolean {
    const { frameMax } = this.info.control;
    return frameMax === 0 || frame.length <= frameMax;
  }

  // ----- publishing: client → broker -------------------------------------------------------

  private onPublish(channel: number, payload: Buffer): void {
    const ch = this.channel(channel);
    const routing = locateBasicPublish(payload);
    // In confirm mode the broker numbers publishes per channel from 1 (RabbitMQ confirms doc).
    ch.publish = { routing, tag: ch.confirm ? ch.nextPublishTag++ : 0, mandatory: routing.mandatory };
  }

  private onPublishHeader(channel: number, payload: Buffer): Buffer | undefined {
    const { metrics, mode } = this.options;
    metrics.messagePublished();
    const ch = this.channel(channel);
    const publish = ch.publish;
    ch.publish = undefined;
    if (!mode.tracing) {
      metrics.traceContext('bypassed');
      return undefined;
    }
    const header = parseContentHeader(payload);
    const found = new TraceHeaders(payload, header.headersOffset);
    const routing = publish?.routing ?? NO_ROUTING;
    this.learnReplyQueue(payload, header);

    // A valid incoming traceparent is continued; its strings are decoded only if a span records.
    const incomingFlags = found.traceFlags;
    let parent: MessageContext | undefined;
    let outcome: TraceOutcome = incomingFlags >= 0 ? 'continued' : found.has(Header.traceparent) ? 'replaced_invalid' : 'injected';
    if (outcome === 'injected') {
      ({ parent, outcome } = this.continuationFor(payload, header, found, routing));
    }

    let span: OpenSpan | undefined;
    let fresh: NewTraceContext | undefined;
    if (outcome === 'continued') {
      if (this.parentRecords(incomingFlags, found)) {
        parent = incomingContext(found);
        span = this.recordPublish(payload, header, found, routing, outcome, parent, undefined);
      }
    } else if (parent !== undefined) {
      if (this.spans.records(parent, parent.traceId)) span = this.recordPublish(payload, header, found, routing, outcome, parent, undefined);
    } else {
      // A new trace stays bytes unless its publish span records (see NewTraceContext).
      fresh = NEW_TRACE.draw();
      if (this.options.telemetry.sampledNewTrace(fresh)) span = this.recordPublish(payload, header, found, routing, outcome, undefined, fresh.traceId);
    }

    // One clock read per publish: the stamp, the confirm's start and the remembered publish share it.
    const now = this.options.clock.now();
    if (this.options.publishStamp) STAMP.at(now);
    const edit = this.publishEdit(found, outcome, span, parent, fresh);
    // A continued trace without the stamp has nothing to change: the frame goes as it came.
    const rewritten = edit.add.length === 0 && edit.remove.length === 0 ? undefined : spliceHeadersFrame(channel, payload, header, edit);
    if (rewritten !== undefined && !this.fits(rewritten)) {
      metrics.traceContext('skipped_frame_max');
      span?.end('frame_max_exceeded');
      return undefined;
    }
    metrics.traceContext(outcome);
    if (publish?.mandatory && rewritten !== undefined) {
      ch.returnable ??= new ReturnableCopies(this.options.inflightCapacity, this.totals, new ByteBudget(MAX_RETURNABLE_BYTES, ch.budget));
      ch.returnable.remember(publish.tag, payload, rewritten);
    }
    // An unsampled publish whose context the proxy created: its publish span's id, the one
    // the forwarded traceparent names (PublishedSpans), known here without reading it back.
    const createdSpanId = span === undefined && this.published !== undefined && outcome !== 'continued'
      ? (parent === undefined ? fresh?.spanId : forwardedSpanId(edit))
      : undefined;
    if (publish !== undefined && publish.tag > 0) {
      const ids = span ? [span.context.spanId, ...(parent ? [parent.spanId] : [])] : NOTHING;
      // Unsampled: what was forwarded is all a kept publish span needs (outcome.ts).
      const publishRecord = span === undefined && this.outcome !== undefined
        ? PublishRecord.of(payload, rewritten, outcome, parent, routing)
        : undefined;
      ch.confirms.add(publish.tag, { span, startedAt: now, destination: routing.exchange, ids, publishRecord, createdSpanId });
    } else {
      span?.end();
      // Without confirms an unsampled publish is settled as it is forwarded.
      if (createdSpanId !== undefined) {
        const at = TIME_ORIGIN_MS + now;
        this.published!.remember(createdSpanId, { startedAt: at, endedAt: at, context: outcome, parent });
      }
    }
    return rewritten;
  }

  /**
   * What a publish's headers lose and gain. The common cases (a new unsampled trace, a
   * continued one) use constant lists: their values are the shared NEW_TRACE and STAMP.
   */
  private publishEdit(
    found: TraceHeaders, outcome: TraceOutcome, span: OpenSpan | undefined, parent: MessageContext | undefined, fresh: NewTraceContext | undefined,
  ): HeadersEdit {
    const replacing = outcome !== 'continued';
    const stamp = this.options.publishStamp;
    // A stamp already in the message is stale (a republished delivery, say) and is removed
    // even when this proxy adds none: a consumer-side proxy would time the hop from it.
    const remove = found.has(Header.publishedAt) || (replacing && (found.has(Header.traceparent) || found.has(Header.tracestate)))
      ? (replacing ? TRACE_AND_STAMP : STAMP_ONLY).filter((n) => found.has(n))
      : NOTHING;
    if (!replacing) return { remove, add: stamp ? ADD_STAMP : ADD_NOTHING };
    if (span === undefined && parent === undefined) return { remove, add: stamp ? ADD_NEW_TRACE : ADD_NEW_TRACE_UNSTAMPED };
    // The proxy's span is the message's creation context; an invalid incoming one and its
    // tracestate are dropped, as the W3C spec asks of a receiver.
    const ctx = span?.context ?? (parent ? { traceId: parent.traceId, spanId: randomSpanId(), traceFlags: 0, traceState: parent.traceState } : undefined);
    const add: [string, string | AsciiValue][] = [[Header.traceparent, ctx ? formatTraceParent(ctx) : fresh!]];
    if (ctx?.traceState) add.push([Header.tracestate, ctx.traceState]);
    if (stamp) add.push([Header.publishedAt, STAMP]);
    return { remove, add };
  }

  private recordPublish(
    payload: Buffer, header: ContentHeader, found: TraceHeaders, routing: Routing, outcome: TraceOutcome, parent: MessageContext | undefined,
    traceId: string | undefined, spans: SpanFactory = this.spans,
  ): OpenSpan | undefined {
    // Only called for a span that records, so the name and attributes are built at once.
    const fields = this.producerFields(payload, header, found, routing, outcome);
    const name = this.producerSpanName('publish', routing, fields.kind);
    // A continued traceparent is the publisher's creation context, not this span's.
    return spans.publish(name, spanAttributes(fields), parent, traceId, outcome !== 'continued');
  }

  /** The fields of a publish span; the return span of the same message shares its destination and message ones. */
  private producerFields(
    payload: Buffer, header: ContentHeader, found: TraceHeaders, routing: Routing, outcome: TraceOutcome | undefined,
  ): SpanFields {
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
      bodySize: header.bodySize,
      context: outcome,
      message: this.messageFields(payload, header, found),
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

  private continuationFor(
    payload: Buffer, header: ContentHeader, found: TraceHeaders, routing: Routing,
  ): { parent: MessageContext | undefined; outcome: TraceOutcome } {
    const continuation = this.options.continuation;
    if (continuation === undefined) return { parent: undefined, outcome: 'injected' };
    if (found.parentTaskId !== undefined) {
      const parent = continuation.parentTask(found.parentTaskId);
      if (parent) return { parent, outcome: 'continued_by_parent_task' };
    }
    const correlationId = readShortStrProperty(payload, header, 'correlationId');
    if (correlationId !== undefined) {
      const parent = continuation.replyTo(routing.exchange, routing.routingKey, correlationId);
      if (parent) return { parent, outcome: 'continued_by_correlation' };
    }
    return { parent: undefined, outcome: 'injected' };
  }

  private messageFields(payload: Buffer, header: ContentHeader, found: TraceHeaders): MessageFields {
    const messageId = readShortStrProperty(payload, header, 'messageId');
    const correlationId = readShortStrProperty(payload, header, 'correlationId');
    // A Celery task id is what people have in hand (logs, Flower, AsyncResult): on every
    // span of a task message so a trace can be found from it.
    const celery = found.taskId !== undefined && found.taskName !== undefined && found.taskId !== '' && found.taskName !== '';
    return {
      messageId: messageId ? sanitize(messageId) : undefined,
      conversationId: correlationId ? sanitize(correlationId) : undefined,
      taskId: celery ? sanitize(found.taskId!) : undefined,
      taskName: celery ? sanitize(found.taskName!) : undefined,
    };
  }

  private settleConfirms(channel: number, tag: number, multiple: boolean, outcome: 'ack' | 'nack'): void {
    const ch = this.channels[channel];
    if (ch === undefined) return;
    ch.returnable?.settle(tag === 0 && multiple ? Number.MAX_SAFE_INTEGER : tag);
    const now = this.options.clock.now();
    for (const p of ch.confirms.settle(tag, multiple)) {
      const span = p.span ?? (p.publishRecord && this.keptPublish(p, this.outcome!.rules.atConfirm(outcome, p.returned !== undefined, now - p.startedAt)));
      span?.end(outcome === 'nack' ? 'nack' : p.returned !== undefined ? 'unroutable' : undefined);
      if (span === undefined && outcome === 'ack' && p.returned === undefined && p.publishRecord) this.rememberPublished(p, now);
      this.options.metrics.observePublishConfirm((now - p.startedAt) / 1000, outcome, p.destination);
    }
  }

  /**
   * The publish span of an unsampled message whose outcome keeps it, made from its record
   * with its real start; the caller ends it. A context the proxy created (injected,
   * continued_by_*) is the traceparent it forwarded, so the span takes that id; under a
   * publisher's own traceparent it is a child, as when sampled.
   */
  private keptPublish(p: Pending, rule: OutcomeRule | undefined): OpenSpan | undefined {
    if (rule === undefined || !this.outcome!.rules.admit(rule)) return undefined;
    return this.guarded(() => this.makeKeptPublish(p, rule));
  }

  private makeKeptPublish(p: Pending, rule: OutcomeRule): OpenSpan | undefined {
    const record = p.publishRecord!;
    const payload = record.payload;
    const header = parseContentHeader(payload);
    const found = new TraceHeaders(payload, header.headersOffset);
    const forwarded = record.traceparent;
    const continued = record.context === 'continued';
    const span = this.recordPublish(
      payload, header, found, record.routing, record.context, continued ? forwarded : record.parent, forwarded.traceId,
      this.keptSpans({ rule, publishStart: TIME_ORIGIN_MS + p.startedAt, publishSpanId: continued ? undefined : forwarded.spanId }),
    );
    if (p.returned !== undefined) span?.event('basic.return', p.returned);
    return span;
  }

  /**
   * An unsampled publish confirmed without being kept, whose context the proxy created:
   * remembered, should a consumer's outcome keep one of its deliveries (PublishedSpans).
   */
  private rememberPublished(p: Pending, now: number): void {
    const record = p.publishRecord!;
    const spanId = p.createdSpanId;
    if (spanId === undefined) return;
    this.guarded(() => this.published!.remember(spanId, {
      startedAt: TIME_ORIGIN_MS + p.startedAt, endedAt: TIME_ORIGIN_MS + now, context: record.context, parent: record.parent,
    }));
  }

  /**
   * The publish span of a kept delivery whose traceparent names an unsampled publish this
   * process created and remembered: made now with its real times, once. A publisher's own
   * traceparent is never in the map, so it gets none.
   */
  private keptOwnPublish(
    parent: MessageContext | undefined, payload: Buffer, header: ContentHeader, found: TraceHeaders, routing: Routing, rule: OutcomeRule,
  ): void {
    if (parent === undefined || this.published === undefined) return;
    const published = this.published.take(parent.spanId);
    if (published === undefined) return;
    // The delivery carries the publish's exchange, routing key and content header.
    const spans = this.keptSpans({ rule, publishStart: published.startedAt, publishEnd: published.endedAt, publishSpanId: parent.spanId });
    this.guarded(() => this.recordPublish(payload, header, found, routing, published.context, published.parent, parent.traceId, spans)?.end());
  }

  /** Kept spans are telemetry: whatever goes wrong making them is counted, never thrown into forwarding. */
  private guarded<T>(make: () => T): T | undefined {
    try {
      return make();
    } catch {
      this.options.metrics.telemetryError('outcome_keep');
      return undefined;
    }
  }

  private keptSpans(shape: KeepShape): KeptSpans {
    return new KeptSpans(this.outcome!.sink, this.options.metrics, this.info.upstream, shape);
  }

  /**
   * basic.return: an event on the publish span when it is still open (confirm channels), and
   * the message handed back as the publisher sent it (see ReturnableCopies).
   */
  private onReturnHeader(channel: number, payload: Buffer): Buffer | undefined {
    this.options.metrics.messageReturned();
    const ch = this.channel(channel);
    const returned = ch.returned;
    ch.returned = undefined;
    if (this.options.mode.tracing && returned !== undefined) this.recordReturn(ch, payload, returned);
    // The client's own frame fitted frame_max on the way in; checked again all the same.
    const restored = ch.returnable?.restore(channel, payload);
    return restored !== undefined && this.fits(restored) ? restored : undefined;
  }

  private recordReturn(ch: ChannelTrace, payload: Buffer, returned: BasicReturnArgs): void {
    const header = parseContentHeader(payload);
    const found = new TraceHeaders(payload, header.headersOffset);
    const parsed = found.traceContext;
    const attrs = { 'amqp.reply_code': returned.replyCode, 'amqp.reply_text': sanitize(returned.replyText) };
    const pending = parsed ? ch.confirms.find(parsed.spanId) : undefined;
    if (pending) {
      pending.span?.event('basic.return', attrs);
      pending.returned = attrs;
    } else if (parsed) {
      // The publish span already ended (no confirms): record the return as its own span,
      // with its publish's destination (basic.return names the exchange and routing key).
      const spans = this.spans.records(parsed, parsed.traceId) ? this.spans : this.keptReturn();
      // Named as its publish span is, `return` for `publish`: the same bounded destination.
      spans?.publish(() => this.producerSpanName(RETURN, returned, this.producerKind(returned)), () => {
        const fields = this.producerFields(payload, header, found, returned, undefined);
        fields.operationType = undefined;
        fields.operationName = undefined;
        fields.proxySpan = RETURN;
        return Object.assign(spanAttributes(fields), attrs);
      }, parsed)?.end('unroutable');
    }
  }

  /** An unsampled publish returned without confirms: its return span, if kept. */
  private keptReturn(): SpanFactory | undefined {
    const rules = this.outcome?.rules;
    const rule = rules?.atConfirm('ack', true, 0);
    return rule !== undefined && rules!.admit(rule) ? this.keptSpans({ rule }) : undefined;
  }

  // ----- consuming: broker → client --------------------------------------------------------

  private onQueueDeclare(channel: number, payload: Buffer): void {
    const args = decodeQueueDeclare(payload);
    const temporary = args.exclusive || args.autoDelete || args.expires;
    const kind: DestinationKind | undefined = args.passive ? undefined : { temporary, anonymous: args.queue === '' };
    if (args.noWait) {
      // No declare-ok will come: a named queue is known now (a server-named one cannot be no-wait).
      if (kind !== undefined) this.queueKinds.declared(args.queue, kind);
      return;
    }
    const pending = this.channel(channel).pendingDeclares;
    if (pending.length >= MAX_PENDING_DECLARES) {
      pending.shift();
      this.options.metrics.inflightEvicted('queue');
    }
    pending.push({ kind });
  }

  /** Declare-oks answer a channel's declares in order (spec 4.7: methods on a channel are processed in order). */
  private onQueueDeclareOk(channel: number, payload: Buffer): void {
    const { queue } = decodeQueueDeclareOk(payload);
    const ch = this.channel(channel);
    const declared = ch.pendingDeclares.shift();
    ch.lastQueue = queue;
    if (declared?.kind !== undefined) this.queueKinds.declared(queue, declared.kind);
  }

  private onGet(channel: number, payload: Buffer): void {
    const args = decodeBasicGet(payload);
    const ch = this.channel(channel);
    ch.get = { queue: args.queue || ch.lastQueue, noAck: args.noAck, requestedAt: TIME_ORIGIN_MS + this.options.clock.now() };
  }

  private onConsume(channel: number, payload: Buffer): void {
    const args = decodeBasicConsume(payload);
    const ch = this.channel(channel);
    const consumer = { queue: args.queue || ch.lastQueue, noAck: args.noAck };
    if (args.consumerTag !== '') ch.consumers.set(args.consumerTag, consumer);
    else if (!args.noWait) ch.pendingConsumes.push(consumer);
    // Two are as many as it takes: with two or more, none is ever picked (unnamedConsumer).
    else if (ch.unnamedConsumers.length < 2) ch.unnamedConsumers.push(consumer);
  }

  /**
   * The consumer of a delivery whose tag the channel has not seen: the broker-named one of a
   * no-wait consume with an empty tag, when there is exactly one; with several the proxy
   * cannot tell which, so the queue stays unknown rather than another's.
   */
  private unnamedConsumer(ch: ChannelTrace, consumerTag: string): Consumer | undefined {
    if (ch.unnamedConsumers.length !== 1) return undefined;
    const consumer = ch.unnamedConsumers.pop()!;
    ch.consumers.set(consumerTag, consumer);
    return consumer;
  }

  private onConsumeOk(channel: number, payload: Buffer): void {
    const { consumerTag } = decodeBasicConsumeOk(payload);
    const ch = this.channel(channel);
    if (ch.consumers.has(consumerTag)) return;
    const consumer = ch.pendingConsumes.shift();
    if (consumer) ch.consumers.set(consumerTag, consumer);
  }

  /**
   * A client's basic.cancel: deliveries may still arrive until its cancel-ok, so the consumer
   * is forgotten then, or now when no cancel-ok will come (no-wait). The server's own cancel
   * ends the consumer at once.
   */
  private onCancel(channel: number, payload: Buffer, fromClient: boolean): void {
    const { consumerTag, noWait } = decodeBasicCancel(payload);
    const ch = this.channels[channel];
    const consumer = ch?.consumers.get(consumerTag);
    if (ch === undefined || consumer === undefined) return;
    if (!fromClient || noWait) ch.consumers.delete(consumerTag);
    else ch.cancelling.set(consumerTag, consumer);
  }

  /** Forgets the cancelled consumer, not one the client started under the same tag meanwhile. */
  private onCancelOk(channel: number, payload: Buffer): void {
    const { consumerTag } = decodeBasicCancelOk(payload);
    const ch = this.channels[channel];
    const cancelled = ch?.cancelling.get(consumerTag);
    if (ch === undefined || cancelled === undefined) return;
    ch.cancelling.delete(consumerTag);
    if (ch.consumers.get(consumerTag) === cancelled) ch.consumers.delete(consumerTag);
  }

  private onDeliver(channel: number, payload: Buffer): void {
    const args = locateBasicDeliver(payload, this.lastConsumerTag);
    this.lastConsumerTag = args.consumerTag;
    const ch = this.channel(channel);
    const consumer = ch.consumers.get(args.consumerTag) ?? this.unnamedConsumer(ch, args.consumerTag);
    ch.delivery = {
      tag: args.deliveryTag, routing: args.routing,
      queue: consumer?.queue ?? '', noAck: consumer?.noAck ?? false, operation: 'deliver', redelivered: args.redelivered,
    };
  }

  private onGetOk(channel: number, payload: Buffer): void {
    const args = decodeBasicGetOk(payload);
    const ch = this.channel(channel);
    ch.delivery = {
      tag: args.deliveryTag, routing: { exchange: args.exchange, routingKey: args.routingKey },
      queue: ch.get?.queue ?? '', noAck: ch.get?.noAck ?? false, operation: 'get', requestedAt: ch.get?.requestedAt,
      redelivered: args.redelivered,
    };
    ch.get = undefined;
  }

  private onDeliveryHeader(channel: number, payload: Buffer): Buffer | undefined {
    const { metrics, mode, continuation } = this.options;
    metrics.messageDelivered();
    const ch = this.channel(channel);
    const delivery = ch.delivery;
    ch.delivery = undefined;
    if (!mode.tracing || delivery === undefined) return undefined;
    const header = parseContentHeader(payload);
    const found = new TraceHeaders(payload, header.headersOffset);
    this.learnReplyQueue(payload, header);
    const now = this.options.clock.now();
    const wallNow = TIME_ORIGIN_MS + now;
    const publishedAt = this.publishedAt(found.publishedAtMicros, wallNow);
    if (publishedAt !== undefined) metrics.observeBrokerHop((wallNow - publishedAt) / 1000, this.queueLabel(delivery.queue));

    // Decided once for the message (hop and process share it); ids become strings only when read.
    const flags = found.traceFlags;
    const fresh = flags >= 0 ? undefined : NEW_TRACE.draw();
    const records = fresh ? this.options.telemetry.sampledNewTrace(fresh) : this.parentRecords(flags, found);
    // An unsampled delivery whose outcome is known now (redelivered, a slow hop) records as if sampled.
    const kept = records ? undefined : this.keptAtDelivery(delivery, publishedAt, wallNow);
    const needsContexts = !records && !kept && this.needsContexts(found, header);
    const parent = flags >= 0 && (records || kept || needsContexts) ? incomingContext(found) : undefined;
    let hop: MessageContext | undefined;
    let process: MessageContext | undefined;
    if (records || kept) {
      const span = this.recordDelivery(payload, header, found, delivery, parent, publishedAt, fresh?.traceId, kept);
      if (kept) this.keptOwnPublish(parent, payload, header, found, delivery.routing, kept.rule);
      hop = span.hop;
      process = span.process?.context;
      this.track(ch, delivery, span.process, now);
    } else {
      // Most messages: nothing records, so contexts are made only for what reads them.
      if (needsContexts) {
        const traceId = parent?.traceId ?? fresh!.traceId;
        if (this.options.rewriteOnDelivery) hop = new UnsampledContext(traceId, parent?.traceState);
        if (continuation) process = new UnsampledContext(traceId, parent?.traceState);
      }
      // What kept spans would be made from, should the consumer's answer keep them (outcome.ts).
      const record = this.outcome === undefined || delivery.noAck
        ? undefined
        : deliveryRecord(delivery, payload, publishedAt, wallNow, hop, process, fresh?.traceId);
      this.track(ch, delivery, undefined, now, record);
    }

    if (continuation && process) {
      if (found.taskId) continuation.rememberTask(found.taskId, process);
      const replyTo = readShortStrProperty(payload, header, 'replyTo');
      const correlationId = readShortStrProperty(payload, header, 'correlationId');
      if (replyTo && correlationId) continuation.rememberReply(replyTo, correlationId, process);
    }
    if (!this.options.rewriteOnDelivery || hop === undefined) return undefined;
    const add: [string, string][] = [[Header.traceparent, formatTraceParent(hop)]];
    if (hop.traceState) add.push([Header.tracestate, hop.traceState]);
    const rewritten = spliceHeadersFrame(channel, payload, header, {
      remove: [Header.traceparent, Header.tracestate].filter((n) => found.has(n)), add,
    });
    return this.fits(rewritten) ? rewritten : undefined;
  }

  /**
   * The broker-hop span (ended at once), for `basic.get` the receive span (ended at once),
   * and the open process span of a delivery that records. Only called for spans that
   * record, so names and attributes are built at once.
   */
  private recordDelivery(
    payload: Buffer, header: ContentHeader, found: TraceHeaders, delivery: DeliveryHead, parent: MessageContext | undefined,
    publishedAt: number | undefined, traceId: string | undefined, spans: SpanFactory = this.spans,
  ): { hop: MessageContext | undefined; process: OpenSpan | undefined } {
    const { routing: { exchange, routingKey }, queue } = delivery;
    const kind = this.queueKinds.kindOf(queue);
    const destination = sanitize(consumerSpanDestination(exchange, queue, kind));
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
      bodySize: header.bodySize,
      context: undefined,
      message: this.messageFields(payload, header, found),
    };
    const hop = spans.brokerHop(spanName(BROKER_HOP, destination), spanAttributes(fields), parent, publishedAt, traceId);
    if (delivery.operation === 'get') {
      fields.operationType = 'receive';
      fields.operationName = 'get';
      fields.proxySpan = 'receive';
      spans.receive(spanName('get', destination), spanAttributes(fields), hop ?? parent, delivery.requestedAt, parent);
    }
    fields.operationType = 'process';
    fields.operationName = 'process';
    fields.proxySpan = 'process';
    // `parent` is the message's creation context (its traceparent), when it carried one.
    const process = spans.process(spanName('process', destination), spanAttributes(fields), hop ?? parent, parent);
    return { hop, process };
  }

  /** A delivery's publish time from its stamp, when the stamp is trusted; counted when not. */
  private publishedAt(micros: number | undefined, wallNow: number): number | undefined {
    if (micros === undefined) return undefined;
    const at = publishTime(micros, wallNow, this.options.publishStampMaxAgeMs ?? DEFAULT_STAMP_MAX_AGE_MS);
    if (typeof at === 'number') return at;
    this.options.metrics.publishStampIgnored(at);
    return undefined;
  }

  /** A message's `reply_to` names a reply queue: temporary, kept out of span names. */
  private learnReplyQueue(payload: Buffer, header: ContentHeader): void {
    if (!hasProperty(header, 'replyTo')) return;
    const replyTo = readShortStrProperty(payload, header, 'replyTo');
    if (replyTo) this.queueKinds.replyQueue(replyTo);
  }

  /** The `queue` label of the latency histograms: a temporary queue's word, not its name. */
  private queueLabel(queue: string): string {
    return wordFor(this.queueKinds.kindOf(queue)) ?? queue;
  }

  /** Whether spans under a valid incoming traceparent with these flags record. */
  private parentRecords(flags: number, found: TraceHeaders): boolean {
    const { telemetry } = this.options;
    // Only the trace-id ratio sampler (not parent-based) reads the trace id of a parent.
    return telemetry.sampled(flags, telemetry.parentDecides ? '' : incomingContext(found).traceId);
  }

  /** An unsampled delivery still needs its contexts for a delivery rewrite or a continuation. */
  private needsContexts(found: TraceHeaders, header: ContentHeader): boolean {
    return this.options.rewriteOnDelivery
      || (this.options.continuation !== undefined && (found.has(Header.celeryTaskId) || hasProperty(header, 'replyTo')));
  }

  private track(ch: ChannelTrace, delivery: Delivery, process: OpenSpan | undefined, now: number, deliveryRecord?: DeliveryRecord): void {
    if (delivery.noAck) {
      process?.end();
      this.options.metrics.observeProcess(0, 'auto_ack', this.queueLabel(delivery.queue));
      return;
    }
    ch.acks.add(delivery.tag, { span: process, startedAt: now, destination: this.queueLabel(delivery.queue), deliveryRecord });
  }

  /** Spans for an unsampled delivery whose outcome already keeps it; undefined for most. */
  private keptAtDelivery(delivery: Delivery, publishedAt: number | undefined, wallNow: number): KeptSpans | undefined {
    const rules = this.outcome?.rules;
    if (rules === undefined) return undefined;
    const rule = rules.atDelivery(delivery.redelivered, publishedAt === undefined ? undefined : wallNow - publishedAt);
    return rule !== undefined && rules.admit(rule) ? this.keptSpans({ rule }) : undefined;
  }

  /**
   * The spans of an unsampled delivery whose settling keeps it, made from its record: real
   * times, and the ids a consumer or a continuation was given. The process span is
   * returned open; the caller ends it.
   */
  private keptDelivery(record: DeliveryRecord, rule: OutcomeRule | undefined): OpenSpan | undefined {
    if (rule === undefined || !this.outcome!.rules.admit(rule)) return undefined;
    return this.guarded(() => this.makeKeptDelivery(record, rule));
  }

  private makeKeptDelivery(record: DeliveryRecord, rule: OutcomeRule): OpenSpan | undefined {
    const payload = record.payload;
    const header = parseContentHeader(payload);
    const found = new TraceHeaders(payload, header.headersOffset);
    const parent = found.traceFlags >= 0 ? incomingContext(found) : undefined;
    const spans = this.keptSpans({
      rule, deliveredAt: record.deliveredAt, hopSpanId: record.hop?.spanId, processSpanId: record.process?.spanId,
    });
    const process = this.recordDelivery(payload, header, found, record, parent, record.publishedAt, record.traceId, spans).process;
    this.keptOwnPublish(parent, payload, header, found, record.routing, rule);
    return process;
  }

  private settleDeliveries(channel: number, tag: number, multiple: boolean, outcome: ProcessOutcome): void {
    const ch = this.channels[channel];
    if (ch === undefined) return;
    const now = this.options.clock.now();
    const settled: Pending[] = ch.acks.settle(tag, multiple);
    for (const p of settled) {
      const span = p.span ?? (p.deliveryRecord && this.keptDelivery(p.deliveryRecord, this.outcome!.rules.atSettle(outcome, now - p.startedAt)));
      span?.end(outcome === 'ack' ? undefined : outcome);
      this.options.metrics.observeProcess((now - p.startedAt) / 1000, outcome, p.destination);
    }
  }
}

export function tracingSessions(options: TracingOptions): SessionFactory {
  const totals = new InflightTotals(options.metrics);
  const budget = options.stateBudget ?? new ByteBudget(DEFAULT_STATE_MAX_BYTES);
  const queueKinds = new QueueKinds(options.queueKindCapacity ?? QUEUE_KIND_CAPACITY, options.metrics, budget);
  const published = options.outcome ? new PublishedSpans(PUBLISHED_CAPACITY, options.metrics, budget) : undefined;
  return (info) => new ConnectionTracer(options, info, totals, queueKinds, published, budget);
}
