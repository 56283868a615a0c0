import type { BasicReturnArgs, RoutingFields } from '../../amqp/methods';
import { ByteBudget } from '../byteBudget';
import type { InflightScope, InflightTotals } from '../inflight';
import type { Delivery } from '../lifecycle';
import { ChannelConsumers } from './consumers';
import { MAX_RETURNABLE_BYTES, ReturnableCopies } from './returnable';

/**
 * What one direction of a channel waits for: the content header of the content method just
 * seen (spec 4.2.6), one slot with a kind, as the scanner's ChannelState (src/amqp/
 * channelState.ts). The two directions are apart: a client may be publishing on a channel
 * while the broker delivers on it.
 *
 *   to the broker:  idle ──basic.publish──► publish ──content header──► idle
 *   to the client:  idle ──basic.deliver / get-ok──► delivery ──content header──► idle
 *                   idle ──basic.return──► return ──content header──► idle
 */
export type Idle = { readonly kind: 'idle' };
export type AwaitingPublish = { readonly kind: 'publish'; readonly routing: RoutingFields; readonly tag: number; readonly mandatory: boolean };
export type AwaitingDelivery = Delivery & { readonly kind: 'delivery' };
export type AwaitingReturn = { readonly kind: 'return'; readonly returned: BasicReturnArgs };

export type ToBroker = Idle | AwaitingPublish;
export type ToClient = Idle | AwaitingDelivery | AwaitingReturn;

export const IDLE: Idle = Object.freeze({ kind: 'idle' });

/** What the proxy tracks per channel; created on first use, dropped on channel.close. */
export class ChannelModel {
  toBroker: ToBroker = IDLE;
  toClient: ToClient = IDLE;
  /** In confirm mode the broker numbers publishes per channel from 1 (RabbitMQ confirms doc). */
  private confirm = false;
  private nextPublishTag = 1;
  /** Mandatory publishes the proxy rewrote, kept to give a basic.return back as sent; made at the first. */
  private copies: ReturnableCopies | undefined;
  readonly consumers: ChannelConsumers;

  /**
   * `budget`: the connection's for message-derived state (returnable copies); `structure`:
   * its budget for what it keeps of channels and consumers. Both shared by its channels.
   */
  constructor(
    readonly scope: InflightScope, private readonly capacity: number, private readonly totals: InflightTotals, private readonly budget: ByteBudget,
    structure: ByteBudget,
  ) {
    this.consumers = new ChannelConsumers(
      capacity, structure, () => totals.metrics.inflightEvicted('consumer'), (delta) => totals.add('consumer', delta),
    );
  }

  confirmSelect(): void {
    this.confirm = true;
  }

  publish(routing: RoutingFields): void {
    this.toBroker = { kind: 'publish', routing, tag: this.confirm ? this.nextPublishTag++ : 0, mandatory: routing.mandatory };
  }

  /** The publish whose content header this is, if a basic.publish came before it; the slot is idle again. */
  takePublish(): AwaitingPublish | undefined {
    const state = this.toBroker;
    this.toBroker = IDLE;
    return state.kind === 'publish' ? state : undefined;
  }

  deliver(delivery: AwaitingDelivery): void {
    this.toClient = delivery;
  }

  returned(returned: BasicReturnArgs): void {
    this.toClient = { kind: 'return', returned };
  }

  takeDelivery(): AwaitingDelivery | undefined {
    const state = this.toClient;
    this.toClient = IDLE;
    return state.kind === 'delivery' ? state : undefined;
  }

  takeReturn(): BasicReturnArgs | undefined {
    const state = this.toClient;
    this.toClient = IDLE;
    return state.kind === 'return' ? state.returned : undefined;
  }

  get returnable(): ReturnableCopies | undefined {
    return this.copies;
  }

  /** The channel closed: what it remembers goes, its bytes back to the connection's budget. */
  clear(): void {
    this.copies?.clear();
    this.consumers.clear();
  }

  /** The copies of mandatory publishes, made at the first one rewritten. */
  returnableCopies(): ReturnableCopies {
    this.copies ??= new ReturnableCopies(this.capacity, this.totals, new ByteBudget(MAX_RETURNABLE_BYTES, this.budget));
    return this.copies;
  }
}
