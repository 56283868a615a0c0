import type { CeleryAttempt } from './celeryAttempt';
import type { DeadLetterHistory } from './deadLetter';

/**
 * What a delivery carries about earlier attempts, read by the protocol adapter from the
 * message's headers and delivery method, and handed to the core with the delivery. Every
 * field is absent on a first, plain delivery: reading it costs the happy path nothing.
 */
export interface DeliveryHistory {
  /** The broker's redelivered flag: the message was delivered before and returned (requeue, close). */
  readonly redelivered: boolean;
  /** Quorum queues' `x-delivery-count` (absent on the first delivery; RabbitMQ ≥ 4.3: failed deliveries only). */
  readonly deliveryCount: number | undefined;
  /** RabbitMQ ≥ 4.3's `x-acquired-count`: every return to the queue. */
  readonly acquiredCount: number | undefined;
  /** `x-death`, when the message was dead-lettered at least once. */
  readonly deadLetter: DeadLetterHistory | undefined;
  /** Celery's `retries` and `eta`, when the message is a retry (retries above 0) or has an eta. */
  readonly celery: CeleryAttempt | undefined;
}

/** A first delivery without any of the headers: shared, nothing allocated. */
export const NO_HISTORY: DeliveryHistory = Object.freeze({
  redelivered: false, deliveryCount: undefined, acquiredCount: undefined, deadLetter: undefined, celery: undefined,
});

/** Redelivered, and nothing else known. */
export const REDELIVERED: DeliveryHistory = Object.freeze({ ...NO_HISTORY, redelivered: true });

/** Whether the delivery says anything beyond a first delivery. */
export function hasHistory(history: DeliveryHistory): boolean {
  return history.redelivered || history.deliveryCount !== undefined || history.acquiredCount !== undefined
    || history.deadLetter !== undefined || history.celery !== undefined;
}
