import type { BasicConsumeArgs, BasicGetArgs } from '../../amqp/methods';
import type { DestinationKind } from '../semconv';

/**
 * Which queue a channel's deliveries come from: its consumers by tag, its basic.get, and the
 * queues it declared. Tags are unique per channel only (spec, basic.consume) and closing the
 * channel ends its consumers, so all of this lives with the channel.
 */

export interface Consumer {
  readonly queue: string;
  readonly noAck: boolean;
}

export interface BasicGet extends Consumer {
  /** Epoch ms when the client asked (the receive span's start). */
  readonly requestedAt: number;
}

/** A queue.declare waiting for its declare-ok; passive ones only check, so they teach nothing. */
interface PendingDeclare {
  readonly kind: DestinationKind | undefined;
}

/** queue.declare frames awaiting their declare-ok on one channel (clients pipeline a few at most). */
export const MAX_PENDING_DECLARES = 256;

export class ChannelConsumers {
  /** Consumers by tag. Removed at basic.cancel-ok, or at once when no cancel-ok will come. */
  private readonly byTag = new Map<string, Consumer>();
  /** Consumers the client cancelled, until the cancel-ok (by then the tag may name a new consumer). */
  private readonly cancelling = new Map<string, Consumer>();
  /** Consumes with an empty tag, in order, awaiting the consume-ok that names them. */
  private pendingConsumes: Consumer[] = [];
  /**
   * No-wait consumes with an empty tag: the broker names them and says the name to nobody
   * (no consume-ok), so a delivery's tag that no consumer of the channel has is one of these.
   */
  private unnamed: Consumer[] = [];
  private pendingDeclares: PendingDeclare[] = [];
  /** The last queue declared on the channel: an empty queue name in consume or get means it (spec, queue-name domain). */
  private lastQueue = '';
  /** A basic.get awaiting its get-ok. */
  private get: BasicGet | undefined;

  consume(args: BasicConsumeArgs): void {
    const consumer = { queue: args.queue || this.lastQueue, noAck: args.noAck };
    if (args.consumerTag !== '') this.byTag.set(args.consumerTag, consumer);
    else if (!args.noWait) this.pendingConsumes.push(consumer);
    // Two are as many as it takes: with two or more, none is ever picked (consumerOf).
    else if (this.unnamed.length < 2) this.unnamed.push(consumer);
  }

  consumeOk(consumerTag: string): void {
    if (this.byTag.has(consumerTag)) return;
    const consumer = this.pendingConsumes.shift();
    if (consumer) this.byTag.set(consumerTag, consumer);
  }

  /**
   * A client's basic.cancel: deliveries may still arrive until its cancel-ok, so the consumer
   * is forgotten then, or now when no cancel-ok will come (no-wait). The server's own cancel
   * (its queue went) ends the consumer at once.
   */
  cancel(consumerTag: string, noWait: boolean, fromClient: boolean): void {
    const consumer = this.byTag.get(consumerTag);
    if (consumer === undefined) return;
    if (!fromClient || noWait) this.byTag.delete(consumerTag);
    else this.cancelling.set(consumerTag, consumer);
  }

  /** Forgets the cancelled consumer, not one the client started under the same tag meanwhile. */
  cancelOk(consumerTag: string): void {
    const cancelled = this.cancelling.get(consumerTag);
    if (cancelled === undefined) return;
    this.cancelling.delete(consumerTag);
    if (this.byTag.get(consumerTag) === cancelled) this.byTag.delete(consumerTag);
  }

  /**
   * The consumer of a delivery. A tag the channel has not seen is the broker-named one of a
   * no-wait consume with an empty tag, when there is exactly one; with several the proxy
   * cannot tell which, so the queue stays unknown rather than another's.
   */
  consumerOf(consumerTag: string): Consumer | undefined {
    const known = this.byTag.get(consumerTag);
    if (known !== undefined || this.unnamed.length !== 1) return known;
    const consumer = this.unnamed.pop()!;
    this.byTag.set(consumerTag, consumer);
    return consumer;
  }

  getting(args: BasicGetArgs, requestedAt: number): void {
    this.get = { queue: args.queue || this.lastQueue, noAck: args.noAck, requestedAt };
  }

  /** The basic.get a get-ok answers. */
  gotten(): BasicGet | undefined {
    const get = this.get;
    this.get = undefined;
    return get;
  }

  /** A queue.declare awaiting its declare-ok; false when the oldest was dropped to make room. */
  declaring(kind: DestinationKind | undefined): boolean {
    const full = this.pendingDeclares.length >= MAX_PENDING_DECLARES;
    if (full) this.pendingDeclares.shift();
    this.pendingDeclares.push({ kind });
    return !full;
  }

  /**
   * Declare-oks answer a channel's declares in order (spec 4.7: methods on a channel are
   * processed in order). Returns the kind the declaration gave the queue, if it gave one.
   */
  declared(queue: string): DestinationKind | undefined {
    const declared = this.pendingDeclares.shift();
    this.lastQueue = queue;
    return declared?.kind;
  }
}
