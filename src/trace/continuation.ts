import type { ProxyMetrics } from '../metrics/metrics';
import { BoundedMap } from './boundedMap';
import { ByteBudget, ENTRY_OVERHEAD, UNLIMITED, contextBytes } from './byteBudget';
import type { MessageContext } from './messageSpans';

/**
 * The longest task id remembered. A Celery task id is a UUID (36 characters); a longer one
 * is not kept at all, and counted as evicted: 60 KiB ids were 120 MB held for good.
 */
export const MAX_TASK_ID_LENGTH = 255;

const entryBytes = (key: string, context: MessageContext): number => ENTRY_OVERHEAD + key.length + contextBytes(context);

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

  /** Both maps draw on `budget` (the process's): reply_to and correlation_id are shortstrs, 255 bytes at most. */
  constructor(capacity: number, private readonly metrics: ProxyMetrics, budget: ByteBudget = UNLIMITED) {
    this.tasks = new BoundedMap(capacity, () => metrics.inflightEvicted('task'), { budget, sizeOf: entryBytes });
    this.replies = new BoundedMap(capacity, () => metrics.inflightEvicted('rpc'), { budget, sizeOf: entryBytes });
  }

  rememberTask(taskId: string, context: MessageContext): void {
    if (taskId.length > MAX_TASK_ID_LENGTH || !this.tasks.set(taskId, context)) this.metrics.inflightEvicted('task');
    this.metrics.inflight('task', this.tasks.size);
  }

  rememberReply(replyTo: string, correlationId: string, context: MessageContext): void {
    if (!this.replies.set(replyKey(replyTo, correlationId), context)) this.metrics.inflightEvicted('rpc');
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
