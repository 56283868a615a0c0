import type { ProxyMetrics } from '../metrics/metrics';
import { BoundedMap } from './boundedMap';
import type { MessageContext } from './messageSpans';

/**
 * Continues traces across hops whose messages carry no trace context, shared by every
 * connection of the process (a worker usually consumes on one connection and publishes on
 * another):
 *
 * - Celery sub-tasks: a delivered task message's `id` header is remembered with the context
 *   of its process span; a later publish whose `parent_id` header names it continues there.
 * - RPC replies: a delivered message's `reply_to` + `correlation_id` are remembered; a later
 *   publish to the default exchange with routing key `reply_to` and the same correlation id
 *   is the reply, and continues there (Celery's rpc:// backend, hand-written RPC).
 */
export class Continuation {
  private readonly tasks: BoundedMap<string, MessageContext>;
  private readonly replies: BoundedMap<string, MessageContext>;

  constructor(capacity: number, private readonly metrics: ProxyMetrics) {
    this.tasks = new BoundedMap(capacity, () => metrics.inflightEvicted('task'));
    this.replies = new BoundedMap(capacity, () => metrics.inflightEvicted('rpc'));
  }

  rememberTask(taskId: string, context: MessageContext): void {
    this.tasks.set(taskId, context);
    this.metrics.inflight('task', this.tasks.size);
  }

  rememberReply(replyTo: string, correlationId: string, context: MessageContext): void {
    this.replies.set(replyKey(replyTo, correlationId), context);
    this.metrics.inflight('rpc', this.replies.size);
  }

  parentTask(parentId: string): MessageContext | undefined {
    return this.tasks.get(parentId);
  }

  /** Replies go to the default exchange with the requester's queue as routing key. */
  replyTo(exchange: string, routingKey: string, correlationId: string): MessageContext | undefined {
    return exchange === '' ? this.replies.get(replyKey(routingKey, correlationId)) : undefined;
  }
}

function replyKey(replyTo: string, correlationId: string): string {
  return `${replyTo}\u0000${correlationId}`;
}
