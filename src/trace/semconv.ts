/**
 * The OpenTelemetry semantic conventions the proxy's spans follow, and the rules they give
 * for RabbitMQ destinations and span names. The version is stated here and nowhere else in
 * the code (the README and docs/CONVENTIONS.md name it too; a test keeps them in step).
 *
 * Sources, at that version: docs/messaging/messaging-spans.md ("Span name", "Operation
 * types", "Span kind", "Temporary and anonymous destinations") and docs/messaging/rabbitmq.md
 * (note [1] on `messaging.destination.name`). Where the proxy departs from them, the reason
 * is in docs/CONVENTIONS.md.
 */
export const SEMCONV_VERSION = '1.44.0';
/** Sent as the instrumentation scope's schema URL, so a backend knows which conventions to expect. */
export const SEMCONV_SCHEMA_URL = `https://opentelemetry.io/schemas/${SEMCONV_VERSION}`;

/** RabbitMQ maps the default exchange's blank name to this one (its access-control docs); so do the conventions. */
export const DEFAULT_EXCHANGE = 'amq.default';

/** `messaging.operation.type` values (messaging-spans.md, "Operation types"). */
export type OperationType = 'send' | 'receive' | 'process' | 'settle';

/**
 * What the proxy knows about a queue: temporary (may be gone once its messages are
 * processed: exclusive, auto-delete, a reply queue) and anonymous (named by the server).
 */
export interface DestinationKind {
  readonly temporary: boolean;
  readonly anonymous: boolean;
}

export const NAMED: DestinationKind = Object.freeze({ temporary: false, anonymous: false });

/**
 * The fixed words that stand in a span name for a queue whose name grows with traffic (the
 * conventions omit the destination then; a word keeps the name readable and says why).
 */
export const TEMPORARY_WORD = '(temporary)';
export const ANONYMOUS_WORD = '(anonymous)';

/**
 * Producer-side `messaging.destination.name`: `{exchange}:{routing key}`, only the non-empty
 * one when the other is empty, `amq.default` when both are.
 */
export function producerDestination(exchange: string, routingKey: string): string {
  if (exchange !== '' && routingKey !== '') return `${exchange}:${routingKey}`;
  return exchange || routingKey || DEFAULT_EXCHANGE;
}

/**
 * Consumer-side `messaging.destination.name`: `{exchange}:{routing key}:{queue}` with empty
 * parts left out and the routing key left out when it equals the queue. With nothing known
 * at all (the default exchange, no routing key, no queue) it is `amq.default`.
 */
export function consumerDestination(exchange: string, routingKey: string, queue: string): string {
  return joinParts(joinParts(exchange, routingKey === queue ? '' : routingKey), queue) || DEFAULT_EXCHANGE;
}

/** The word for a queue that must not appear in a span name, or undefined for a named one. */
export function wordFor(kind: DestinationKind): string | undefined {
  return kind.temporary ? TEMPORARY_WORD : kind.anonymous ? ANONYMOUS_WORD : undefined;
}

/**
 * The `{destination}` of a producer span's name. A routing key is left out: the proxy cannot
 * know that a topic's routing keys are few (`user.1234.updated` is one per user). For the
 * default exchange the routing key is a queue name, used unless that queue is temporary or
 * anonymous (`kind` is the routing key's, read as a queue).
 */
export function producerSpanDestination(exchange: string, routingKey: string, kind: DestinationKind): string {
  if (exchange !== '') return exchange;
  if (routingKey === '') return DEFAULT_EXCHANGE;
  return wordFor(kind) ?? routingKey;
}

/**
 * The `{destination}` of a consumer span's name: `{exchange}:{queue}` with empty parts left
 * out, a temporary or anonymous queue replaced by its word, and the routing key never in it
 * (it equals the queue in the common case, which the destination rule already collapses).
 */
export function consumerSpanDestination(exchange: string, queue: string, kind: DestinationKind): string {
  return joinParts(exchange, queue === '' ? '' : (wordFor(kind) ?? queue)) || DEFAULT_EXCHANGE;
}

/** `a:b`, or the non-empty one alone (no arrays: these run for every sampled delivery). */
function joinParts(a: string, b: string): string {
  return a === '' ? b : b === '' ? a : `${a}:${b}`;
}

/** `{messaging.operation.name} {destination}` (messaging-spans.md, "Span name"). */
export function spanName(operationName: string, destination: string): string {
  return `${operationName} ${destination}`;
}

/**
 * Queue names the broker reserves for names it makes up: server-named queues
 * (`amq.gen-…`) and direct reply-to (`amq.rabbitmq.reply-to`, and the
 * `amq.rabbitmq.reply-to.…` value a requester's `reply_to` becomes).
 */
export function reservedKind(name: string): DestinationKind | undefined {
  if (name.startsWith('amq.gen-')) return { temporary: false, anonymous: true };
  if (name.startsWith('amq.rabbitmq.reply-to')) return { temporary: true, anonymous: true };
  return undefined;
}
