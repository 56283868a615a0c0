import type { BasicConsumeArgs, BasicGetArgs } from '../../amqp/methods';
import { BoundedMap } from '../boundedMap';
import { type ByteBudget, ENTRY_OVERHEAD } from '../byteBudget';
import type { DestinationKind } from '../semconv';
import { InOrderReplies } from './replies';

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

/** A non-nowait basic.consume awaiting its consume-ok, which names the consumer (the broker picks the tag when it is empty). */
type PendingConsume = Consumer;

/**
 * Requests of each kind awaiting their replies on one channel. Clients pipeline a few at
 * most; a client that pipelines more only loses the tracing of those over it.
 */
export const MAX_PENDING_REPLIES = 256;

const consumerBytes = (tag: string, c: Consumer): number => ENTRY_OVERHEAD + tag.length + c.queue.length;

/**
 * What a channel remembers of its consumers, bounded by `capacity` per map and by the
 * connection's byte budget (RabbitMQ does not bound consumers per channel by default): a
 * consumer that does not fit is not known, its deliveries are traced without their queue.
 * `onEvicted` counts each entry dropped or not kept.
 */
export class ChannelConsumers {
  /** Consumers by tag. Removed at basic.cancel-ok, or at once when no cancel-ok will come. */
  private readonly byTag: BoundedMap<string, Consumer>;
  /** Consumers the client cancelled, until the cancel-ok (by then the tag may name a new consumer). */
  private readonly cancelling: BoundedMap<string, Consumer>;
  private readonly pendingConsumes: InOrderReplies<PendingConsume>;
  /**
   * No-wait consumes with an empty tag: the broker names them and says the name to nobody
   * (no consume-ok), so a delivery's tag that no consumer of the channel has is one of these.
   */
  private unnamed: Consumer[] = [];
  private readonly pendingDeclares: InOrderReplies<PendingDeclare>;
  /** The last queue declared on the channel: an empty queue name in consume or get means it (spec, queue-name domain). */
  private lastQueue = '';
  /** basic.get requests awaiting their get-ok or get-empty. */
  private readonly gets: InOrderReplies<BasicGet>;

  /** byTag's size as last reported through onSize. */
  private reported = 0;

  /** `onSize`: the change in the number of consumers known, for the process's gauge. */
  constructor(capacity: number, budget: ByteBudget, private readonly onEvicted: () => void, private readonly onSize: (delta: number) => void) {
    const sizes = { budget, sizeOf: consumerBytes };
    this.byTag = new BoundedMap(capacity, onEvicted, sizes);
    this.cancelling = new BoundedMap(capacity, onEvicted, sizes);
    this.pendingConsumes = new InOrderReplies(MAX_PENDING_REPLIES, budget);
    this.pendingDeclares = new InOrderReplies(MAX_PENDING_REPLIES, budget);
    this.gets = new InOrderReplies(MAX_PENDING_REPLIES, budget);
  }

  consume(args: BasicConsumeArgs): void {
    const consumer = { queue: args.queue || this.lastQueue, noAck: args.noAck };
    if (!args.noWait) {
      if (!this.pendingConsumes.request(consumer, consumerBytes('', consumer))) this.onEvicted();
    } else if (args.consumerTag !== '') {
      this.known(args.consumerTag, consumer);
      this.counted();
    } else if (this.unnamed.length < 2) {
      // Two are as many as it takes: with two or more, none is ever picked (consumerOf).
      this.unnamed.push(consumer);
    }
  }

  /** The consume-ok names the consumer of the consume it answers, its tag the client's or the broker's. */
  consumeOk(consumerTag: string): void {
    const consumer = this.pendingConsumes.reply();
    if (consumer !== undefined) this.known(consumerTag, consumer);
    this.counted();
  }

  private known(consumerTag: string, consumer: Consumer): void {
    if (!this.byTag.set(consumerTag, consumer)) this.onEvicted();
  }

  private counted(): void {
    const size = this.byTag.size;
    if (size === this.reported) return;
    this.onSize(size - this.reported);
    this.reported = size;
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
    else if (!this.cancelling.set(consumerTag, consumer)) this.onEvicted();
    this.counted();
  }

  /** Forgets the cancelled consumer, not one the client started under the same tag meanwhile. */
  cancelOk(consumerTag: string): void {
    const cancelled = this.cancelling.delete(consumerTag);
    if (cancelled !== undefined && this.byTag.get(consumerTag) === cancelled) this.byTag.delete(consumerTag);
    this.counted();
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
    this.known(consumerTag, consumer);
    this.counted();
    return consumer;
  }

  getting(args: BasicGetArgs, requestedAt: number): void {
    const get = { queue: args.queue || this.lastQueue, noAck: args.noAck, requestedAt };
    if (!this.gets.request(get, ENTRY_OVERHEAD + get.queue.length)) this.onEvicted();
  }

  /** The basic.get a get-ok or a get-empty answers (both answer one, in order). */
  gotten(): BasicGet | undefined {
    return this.gets.reply();
  }

  /** A queue.declare awaiting its declare-ok; false when it was not kept (the caller counts it). */
  declaring(kind: DestinationKind | undefined): boolean {
    return this.pendingDeclares.request({ kind }, ENTRY_OVERHEAD);
  }

  /**
   * Declare-oks answer a channel's declares in order (spec 4.7: methods on a channel are
   * processed in order). Returns the kind the declaration gave the queue, if it gave one.
   */
  declared(queue: string): DestinationKind | undefined {
    this.lastQueue = queue;
    return this.pendingDeclares.reply()?.kind;
  }

  /** The channel closed: its consumers and requests end, their bytes go back to the connection. */
  clear(): void {
    this.byTag.clear();
    this.counted();
    this.cancelling.clear();
    this.pendingConsumes.clear();
    this.pendingDeclares.clear();
    this.gets.clear();
    this.unnamed = [];
  }
}
