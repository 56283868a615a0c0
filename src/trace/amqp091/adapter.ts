import { Method } from '../../amqp/constants';
import {
  decodeBasicAck, decodeBasicCancel, decodeBasicCancelOk, decodeBasicConsume, decodeBasicConsumeOk, decodeBasicGet, decodeBasicGetOk,
  decodeBasicNack, decodeBasicReject, decodeBasicReturn, decodeQueueDeclare, decodeQueueDeclareOk, locateBasicDeliver, locateBasicPublish,
} from '../../amqp/methods';
import type { ScannerHooks } from '../../amqp/scanner';
import { ByteBudget } from '../byteBudget';
import { epochOf } from '../clock';
import { DEFAULT_CONNECTION_STATE_MAX_BYTES } from '../limits';
import type { Routing } from '../lifecycle';
import { MessageTracer, ProcessTracing } from '../messageTracer';
import type { DestinationKind } from '../semconv';
import type { TracingOptions } from '../tracingOptions';
import { ChannelModel } from './channelModel';
import { MessageFrame } from './messageView';

type MethodHandler = (channel: number, payload: Buffer) => void;

/**
 * What the proxy tells the adapter of its connection (proxy/session.ts's SessionInfo, which
 * satisfies it: the proxy's contract is met by shape, so trace/ does not import proxy/).
 */
export interface ConnectionInfo {
  readonly upstream: { readonly host: string; readonly port: number };
  /** frame_max as negotiated, 0 until then and when neither side has a limit. */
  readonly control: { readonly frameMax: number };
}

/**
 * What a channel's model costs the connection's budget before it remembers anything
 * (measured: about 2.1 KB of heap per channel, 2.4 KB with a consumer, for 2047 and 20000 channels on one
 * connection of test/support/tracerHarness.ts, heapUsed after gc).
 */
export const CHANNEL_BYTES = 2560;

/** A content header with no method before it on its channel (the scanner only sends one after one). */
const NO_ROUTING: Routing = Object.freeze({ exchange: '', routingKey: '' });

/**
 * The AMQP 0-9-1 adapter of one connection: turns the frames the scanners hand it into the
 * tracing core's events (messageTracer.ts), and keeps what 0-9-1 spreads over frames: one
 * ChannelModel per channel (what each direction waits for, consumers, declared queues,
 * confirm numbering, copies of mandatory publishes). Methods are dispatched by table.
 */
export class Amqp091Adapter {
  readonly clientHooks: ScannerHooks;
  readonly serverHooks: ScannerHooks;
  /** By channel number (small integers from 1: an array is cheaper than a Map, looked up several times per message). */
  private readonly channels: (ChannelModel | undefined)[] = [];
  /** The consumer tag of the previous delivery: usually the next one's too (see locateBasicDeliver). */
  private lastConsumerTag = '';
  /**
   * Bytes of what the adapter keeps of the connection's structure: channel models, consumers,
   * requests awaiting replies. As much as --connection-state-max-bytes, apart from the
   * message-derived state: unacked records filling their budget must not leave a channel
   * opened later untraced, nor can one connection's channels take another's room. How many
   * connections there are is --max-connections' to bound.
   */
  private readonly structure: ByteBudget;

  constructor(private readonly tracer: MessageTracer, private readonly info: ConnectionInfo) {
    this.structure = new ByteBudget(tracer.options.connectionStateMaxBytes ?? DEFAULT_CONNECTION_STATE_MAX_BYTES);
    const client = new Map<number, MethodHandler>([
      [Method.ConfirmSelect, (c) => this.channel(c)?.confirmSelect()],
      [Method.BasicPublish, (c, p) => this.channel(c)?.publish(locateBasicPublish(p))],
      [Method.BasicConsume, (c, p) => this.channel(c)?.consumers.consume(decodeBasicConsume(p))],
      [Method.QueueDeclare, (c, p) => this.onQueueDeclare(c, p)],
      [Method.BasicGet, (c, p) => this.channel(c)?.consumers.getting(decodeBasicGet(p), epochOf(tracer.clock.now()))],
      [Method.BasicCancel, (c, p) => this.onCancel(c, p, true)],
      [Method.BasicAck, (c, p) => { const a = decodeBasicAck(p); this.settled(c, a.deliveryTag, a.multiple, 'ack'); }],
      [Method.BasicNack, (c, p) => { const a = decodeBasicNack(p); this.settled(c, a.deliveryTag, a.multiple, 'nack', a.requeue); }],
      [Method.BasicReject, (c, p) => { const a = decodeBasicReject(p); this.settled(c, a.deliveryTag, false, 'reject', a.requeue); }],
      [Method.ChannelClose, (c) => this.closeChannel(c, 'channel_closed')],
    ]);
    const server = new Map<number, MethodHandler>([
      [Method.QueueDeclareOk, (c, p) => this.onQueueDeclareOk(c, p)],
      [Method.BasicConsumeOk, (c, p) => this.channels[c]?.consumers.consumeOk(decodeBasicConsumeOk(p).consumerTag)],
      // The server cancels a consumer itself when its queue goes (consumer cancel notification).
      [Method.BasicCancel, (c, p) => this.onCancel(c, p, false)],
      [Method.BasicCancelOk, (c, p) => this.channels[c]?.consumers.cancelOk(decodeBasicCancelOk(p).consumerTag)],
      [Method.BasicDeliver, (c, p) => this.onDeliver(c, p)],
      [Method.BasicGetOk, (c, p) => this.onGetOk(c, p)],
      [Method.BasicGetEmpty, (c) => this.channels[c]?.consumers.gotten()],
      [Method.BasicReturn, (c, p) => this.channel(c)?.returned(decodeBasicReturn(p))],
      [Method.BasicAck, (c, p) => { const a = decodeBasicAck(p); this.confirmed(c, a.deliveryTag, a.multiple, 'ack'); }],
      [Method.BasicNack, (c, p) => { const a = decodeBasicNack(p); this.confirmed(c, a.deliveryTag, a.multiple, 'nack'); }],
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

  /**
   * The channel's model, made at its first traced frame. Each costs CHANNEL_BYTES of the
   * connection's structure budget: the broker bounds open channels by channel_max (RabbitMQ: 2047), but
   * frames on any of 65535 channels reach the proxy before the broker closes a connection
   * for using one it never opened. A channel that does not fit goes untraced (counted) until
   * there is room again; its frames are forwarded all the same.
   */
  private channel(id: number): ChannelModel | undefined {
    const ch = this.channels[id];
    return ch !== undefined ? ch : this.openChannel(id);
  }

  private openChannel(id: number): ChannelModel | undefined {
    const { tracer } = this;
    if (!this.structure.tryTake(CHANNEL_BYTES)) {
      tracer.options.metrics.inflightEvicted('channel');
      return undefined;
    }
    const ch = new ChannelModel(tracer.scope(), tracer.options.inflightCapacity, tracer.totals, tracer.budget, this.structure);
    this.channels[id] = ch;
    tracer.totals.add('channel', 1);
    return ch;
  }

  private closeChannel(id: number, reason: string): void {
    const ch = this.channels[id];
    if (ch === undefined) return;
    this.channels[id] = undefined;
    ch.clear();
    this.structure.give(CHANNEL_BYTES);
    this.tracer.totals.add('channel', -1);
    this.tracer.closed(ch.scope, reason);
  }

  private get frameMax(): number {
    return this.info.control.frameMax;
  }

  // ----- publishing: client → broker -------------------------------------------------------

  private onPublishHeader(channel: number, payload: Buffer): Buffer | undefined {
    const { metrics } = this.tracer.options;
    metrics.messagePublished();
    const ch = this.channel(channel);
    if (ch === undefined) return undefined;
    const publish = ch.takePublish();
    if (!this.tracer.tracing) {
      metrics.traceContext('bypassed');
      return undefined;
    }
    // A mandatory publish's rewrite is kept, to give a basic.return back as the client sent it.
    const onRewrite = publish?.mandatory === true
      ? (original: Buffer, frame: Buffer) => ch.returnableCopies().remember(publish.tag, original, frame)
      : undefined;
    const message = new MessageFrame(channel, payload, this.frameMax, onRewrite);
    this.tracer.publishing.published(ch.scope, message, publish?.routing ?? NO_ROUTING, publish?.tag ?? 0);
    return message.rewritten;
  }

  private confirmed(channel: number, tag: number, multiple: boolean, outcome: 'ack' | 'nack'): void {
    const ch = this.channels[channel];
    if (ch === undefined) return;
    // An ack or nack for tag N comes after every publish up to N was routed (or returned).
    ch.returnable?.settle(tag === 0 && multiple ? Number.MAX_SAFE_INTEGER : tag);
    this.tracer.publishing.confirmed(ch.scope, tag, multiple, outcome);
  }

  /** basic.return: the core's event, and the message handed back as the publisher sent it (see ReturnableCopies). */
  private onReturnHeader(channel: number, payload: Buffer): Buffer | undefined {
    this.tracer.options.metrics.messageReturned();
    const ch = this.channel(channel);
    if (ch === undefined) return undefined;
    const returned = ch.takeReturn();
    const message = this.tracer.tracing && returned !== undefined ? new MessageFrame(channel, payload, this.frameMax) : undefined;
    if (message !== undefined) this.tracer.publishing.returned(ch.scope, message, returned!);
    // The client's own frame fitted frame_max on the way in; checked again all the same.
    const restored = ch.returnable?.restore(channel, payload, message?.contentHeader);
    return restored !== undefined && (this.frameMax === 0 || restored.length <= this.frameMax) ? restored : undefined;
  }

  // ----- consuming: broker → client --------------------------------------------------------

  private onQueueDeclare(channel: number, payload: Buffer): void {
    const args = decodeQueueDeclare(payload);
    // Policies can give a queue a dead-letter exchange too; those the proxy never sees (docs/CONVENTIONS.md).
    if (args.deadLetterExchange && !args.passive) this.tracer.attempts.declaredWithDeadLetters(args.queue);
    const temporary = args.exclusive || args.autoDelete || args.expires;
    const kind: DestinationKind | undefined = args.passive ? undefined : { temporary, anonymous: args.queue === '' };
    if (args.noWait) {
      // No declare-ok will come: a named queue is known now (a server-named one cannot be no-wait).
      if (kind !== undefined) this.tracer.queueKinds.declared(args.queue, kind);
      return;
    }
    if (this.channel(channel)?.consumers.declaring(kind) === false) this.tracer.options.metrics.inflightEvicted('queue');
  }

  private onQueueDeclareOk(channel: number, payload: Buffer): void {
    const { queue } = decodeQueueDeclareOk(payload);
    const kind = this.channels[channel]?.consumers.declared(queue);
    if (kind !== undefined) this.tracer.queueKinds.declared(queue, kind);
  }

  private onCancel(channel: number, payload: Buffer, fromClient: boolean): void {
    const { consumerTag, noWait } = decodeBasicCancel(payload);
    this.channels[channel]?.consumers.cancel(consumerTag, noWait, fromClient);
  }

  private onDeliver(channel: number, payload: Buffer): void {
    const args = locateBasicDeliver(payload, this.lastConsumerTag);
    this.lastConsumerTag = args.consumerTag;
    const ch = this.channel(channel);
    if (ch === undefined) return;
    const consumer = ch.consumers.consumerOf(args.consumerTag);
    ch.deliver({
      kind: 'delivery', tag: args.deliveryTag, routing: args.routing,
      queue: consumer?.queue ?? '', noAck: consumer?.noAck ?? false, operation: 'deliver', redelivered: args.redelivered,
    });
  }

  private onGetOk(channel: number, payload: Buffer): void {
    const args = decodeBasicGetOk(payload);
    const ch = this.channel(channel);
    if (ch === undefined) return;
    const get = ch.consumers.gotten();
    ch.deliver({
      kind: 'delivery', tag: args.deliveryTag, routing: { exchange: args.exchange, routingKey: args.routingKey },
      queue: get?.queue ?? '', noAck: get?.noAck ?? false, operation: 'get', requestedAt: get?.requestedAt,
      redelivered: args.redelivered,
    });
  }

  private onDeliveryHeader(channel: number, payload: Buffer): Buffer | undefined {
    this.tracer.options.metrics.messageDelivered();
    const ch = this.channels[channel];
    const delivery = ch?.takeDelivery();
    if (!this.tracer.tracing || delivery === undefined) return undefined;
    const message = new MessageFrame(channel, payload, this.frameMax);
    this.tracer.delivering.delivered(ch!.scope, message, delivery);
    return message.rewritten;
  }

  private settled(channel: number, tag: number, multiple: boolean, outcome: 'ack' | 'nack' | 'reject', requeue = false): void {
    const ch = this.channels[channel];
    if (ch !== undefined) this.tracer.delivering.settled(ch.scope, tag, multiple, outcome, requeue);
  }
}

/** One adapter per client connection (the proxy's ConnectionSession), over the tracing state the process shares. */
export function tracingSessions(options: TracingOptions): (info: ConnectionInfo) => Amqp091Adapter {
  const process = new ProcessTracing(options);
  return (info) => new Amqp091Adapter(process.connection(info.upstream), info);
}
