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
