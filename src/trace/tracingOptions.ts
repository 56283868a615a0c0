import type { Logger } from '../log/logger';
import type { ProxyMetrics } from '../metrics/metrics';
import type { ByteBudget } from './byteBudget';
import type { Clock } from './clock';
import type { Continuation } from './continuation';
import type { OutcomeExport } from './outcome';
import type { Telemetry } from './telemetry';

/** The runtime switch shared by every connection: false = bypass (no rewrite, no spans). */
export interface ModeSwitch {
  tracing: boolean;
}

/** What the tracer is built from (app.ts, bench/hotpath.ts and the test harness build it). */
export interface TracingOptions {
  readonly telemetry: Pick<Telemetry, 'sink' | 'sampled' | 'sampledNewTrace' | 'parentDecides'>;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  readonly mode: ModeSwitch;
  readonly continuation: Continuation | undefined;
  readonly rewriteOnDelivery: boolean;
  readonly inflightCapacity: number;
  /** Queue names whose kind (temporary, anonymous) the proxy remembers; default QUEUE_KIND_CAPACITY. */
  readonly queueKindCapacity?: number;
  /** Add x-trace-proxy-published-us to each publish (--publish-stamp). */
  readonly publishStamp: boolean;
  /** Deliveries whose stamp is older are not timed (--publish-stamp-max-age-ms); default DEFAULT_STAMP_MAX_AGE_MS. */
  readonly publishStampMaxAgeMs?: number;
  /** Outcome-based export of unsampled messages (outcome.ts); undefined = off. */
  readonly outcome?: OutcomeExport;
  /**
   * Bytes of message-derived state the process holds (--state-max-bytes): every connection's
   * budget draws on it, and so do the process-wide maps; the continuation's is given it too.
   */
  readonly stateBudget?: ByteBudget;
  /** Bytes of message-derived state one connection holds (--connection-state-max-bytes). */
  readonly connectionStateMaxBytes?: number;
  /** Every time the tracer reads (SYSTEM_CLOCK; a test's fake one). */
  readonly clock: Clock;
}
