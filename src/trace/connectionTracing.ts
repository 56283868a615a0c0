import type { Attempts } from './attempts';
import type { Clock } from './clock';
import type { MessageView, TraceHeaderView } from './lifecycle';
import type { MessageSpans } from './messageSpans';
import type { OutcomeKeeper } from './outcomeKeeper';
import type { SpanRecorder } from './spanRecorder';
import type { TracingOptions } from './tracingOptions';

/** What publishing and delivering share within one connection. */
export interface ConnectionTracing {
  readonly options: TracingOptions;
  readonly clock: Clock;
  readonly spans: MessageSpans;
  readonly recorder: SpanRecorder;
  readonly keeper: OutcomeKeeper;
  /** The process's memory of attempts: retries, redeliveries, dead letters (attempts.ts). */
  readonly attempts: Attempts;
  /** A message's `reply_to` names a reply queue: temporary, kept out of span names. */
  learnReplyQueue(message: MessageView): void;
  /** Whether spans under a valid incoming traceparent with these flags record. */
  parentRecords(flags: number, headers: TraceHeaderView): boolean;
}
