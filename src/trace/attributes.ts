/**
 * Every span attribute and header name the proxy writes, in one place.
 * Attribute names follow the OpenTelemetry messaging semantic conventions for RabbitMQ, at
 * the version in semconv.ts.
 */
export const Attr = {
  messagingSystem: 'messaging.system',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  destinationName: 'messaging.destination.name',
  subscriptionName: 'messaging.destination.subscription.name',
  /** Set (true) only when the queue is known to be temporary / named by the server. */
  destinationTemporary: 'messaging.destination.temporary',
  destinationAnonymous: 'messaging.destination.anonymous',
  routingKey: 'messaging.rabbitmq.destination.routing_key',
  deliveryTag: 'messaging.rabbitmq.message.delivery_tag',
  messageId: 'messaging.message.id',
  conversationId: 'messaging.message.conversation_id',
  bodySize: 'messaging.message.body.size',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  errorType: 'error.type',
  /** Celery message protocol 2 `id` and `task` headers; no semantic convention exists for them. */
  celeryTaskId: 'celery.task.id',
  celeryTaskName: 'celery.task.name',
  /** Which span of a message this is: publish, broker_hop, receive, process or return (the proxy's own). */
  proxySpan: 'amqp_trace_proxy.span',
  /** How the publish span found its parent (TraceOutcome). */
  proxyContext: 'amqp_trace_proxy.context',
  /** On spans of an unsampled message exported for its outcome: `error` or `latency` (src/trace/outcome.ts). */
  kept: 'amqp_trace_proxy.kept',
  /** The rule that kept them, e.g. `delivery_reject` or `process_latency`. */
  keptRule: 'amqp_trace_proxy.kept_rule',
  /**
   * Earlier attempts (issue 23). The conventions (v1.44) define nothing for redelivery,
   * dead-lettering, retries or delays, and reserve `messaging.rabbitmq.*`, so these are the
   * proxy's own; docs/CONVENTIONS.md lists them with their departures.
   */
  /** The delivery's redelivered flag; set (true) only when true, like `.temporary`. */
  redelivered: 'amqp_trace_proxy.redelivered',
  /** Quorum queues' `x-delivery-count` as received (named after `messaging.servicebus.message.delivery_count`). */
  deliveryCount: 'amqp_trace_proxy.delivery_count',
  /** RabbitMQ ≥ 4.3's `x-acquired-count`. */
  acquiredCount: 'amqp_trace_proxy.acquired_count',
  /** From x-death's latest entry: why, from which queue and exchange, how many times. */
  deadLetterReason: 'amqp_trace_proxy.dead_letter.reason',
  deadLetterQueue: 'amqp_trace_proxy.dead_letter.queue',
  deadLetterExchange: 'amqp_trace_proxy.dead_letter.exchange',
  deadLetterCount: 'amqp_trace_proxy.dead_letter.count',
  /** x-death's number of entries, when more than one (a loop through several queues). */
  deadLetterDeaths: 'amqp_trace_proxy.dead_letter.deaths',
  /** On a reject or nack without requeue, at end: the queue was declared with a dead-letter exchange through this proxy. */
  deadLettered: 'amqp_trace_proxy.dead_lettered',
  /** On a Celery attempt's process span, at end: its retry was published while it was open (late acks). */
  retried: 'amqp_trace_proxy.retried',
  /** Kombu's native delayed delivery: the delay in seconds the routing key or x-death gives. */
  delaySeconds: 'amqp_trace_proxy.delay.seconds',
  /** Celery's `retries` header on every span of a retry's message (set only above 0, like `http.request.resend_count`). */
  celeryTaskRetries: 'celery.task.retries',
  /** Celery's `eta` header as sent, when present. */
  celeryTaskEta: 'celery.task.eta',
  /** On a link: what the linked span is to this one (`previous_attempt`). */
  linkRelation: 'amqp_trace_proxy.link',
} as const;

export const MESSAGING_SYSTEM = 'rabbitmq';

/** Header names the proxy reads or writes in a message's `headers` table. */
export const Header = {
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  /** The proxy's own: publish time in microseconds since the epoch, as a decimal string. */
  publishedAt: 'x-trace-proxy-published-us',
  /** Celery message protocol 2: the task's id and the id of the task that sent it. */
  celeryTaskId: 'id',
  celeryParentId: 'parent_id',
  celeryTask: 'task',
  /** Celery: 0 on a task's first attempt, +1 on each `Task.retry()`; `eta`: ISO-8601, set by countdown/eta. */
  celeryRetries: 'retries',
  celeryEta: 'eta',
  /** RabbitMQ's dead-letter history (an array of tables) and its first-death summary. */
  xDeath: 'x-death',
  xFirstDeathQueue: 'x-first-death-queue',
  xFirstDeathReason: 'x-first-death-reason',
  /** Quorum queues' delivery counters. */
  xDeliveryCount: 'x-delivery-count',
  xAcquiredCount: 'x-acquired-count',
} as const;

/**
 * Header values come from publishers and are untrusted: bounded and stripped of control
 * characters before they reach a span attribute.
 */
export const MAX_ATTRIBUTE_LENGTH = 256;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
// eslint-disable-next-line no-control-regex
const CONTROL_ALL = /[\u0000-\u001f\u007f]/g;

export function sanitize(value: string): string {
  // The common case (a clean, short name) returns without allocating.
  if (value.length <= MAX_ATTRIBUTE_LENGTH && !CONTROL.test(value)) return value;
  const clean = value.replace(CONTROL_ALL, '');
  return clean.length > MAX_ATTRIBUTE_LENGTH ? clean.slice(0, MAX_ATTRIBUTE_LENGTH) : clean;
}
