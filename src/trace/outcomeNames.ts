/**
 * The names of outcome-based export (src/trace/outcome.ts decides with them): the rules and
 * the reasons they keep for. This file imports nothing: config (--outcome-rules-off) and
 * metrics (the `rule` and `reason` labels) read the names here without pulling in the tracer.
 */

/** Each rule can be switched off on its own (--outcome-rules-off). */
export const OUTCOME_RULES = [
  'publish_nack', 'publish_returned', 'publish_closed', 'confirm_latency',
  'delivery_nack', 'delivery_reject', 'delivery_closed', 'redelivered', 'broker_hop_latency', 'process_latency',
] as const;
export type OutcomeRule = (typeof OUTCOME_RULES)[number];

/** The value of the `amqp_trace_proxy.kept` attribute and of the metrics' `reason` label. */
export const KEEP_REASONS = ['error', 'latency'] as const;
export type KeepReason = (typeof KEEP_REASONS)[number];

export const REASON_OF: Readonly<Record<OutcomeRule, KeepReason>> = {
  publish_nack: 'error',
  publish_returned: 'error',
  publish_closed: 'error',
  confirm_latency: 'latency',
  delivery_nack: 'error',
  delivery_reject: 'error',
  delivery_closed: 'error',
  // A redelivery means an earlier delivery of the message failed (nack or reject with
  // requeue, or a consumer that went away): an error, even if this one succeeds.
  redelivered: 'error',
  broker_hop_latency: 'latency',
  process_latency: 'latency',
};
