import type { ProxyConfig } from '../config/config';
import type { Logger } from '../log/logger';
import type { ProxyMetrics } from '../metrics/metrics';
import { ByteBudget } from './byteBudget';
import { Clock, SYSTEM_CLOCK } from './clock';
import { tracingSessions } from './amqp091/adapter';
import { Continuation } from './continuation';
import { outcomeExport } from './outcome';
import type { Telemetry } from './telemetry';
import type { ModeSwitch } from './tracingOptions';

/** The options the tracer is made from. */
export type TracingConfig = Pick<ProxyConfig,
  | 'continuation' | 'continuationCapacity' | 'rewriteOnDelivery' | 'inflightCapacity' | 'publishStamp' | 'publishStampMaxAgeMs'
  | 'stateMaxBytes' | 'connectionStateMaxBytes'
  | 'outcomeExport' | 'outcomeRulesOff' | 'outcomeConfirmOverMs' | 'outcomeBrokerHopOverMs' | 'outcomeProcessOverMs' | 'outcomeRateLimit'>;

/** What the tracer is given besides options: where spans go, what it counts and logs, the mode switch. */
export interface TracingParts {
  readonly telemetry: Pick<Telemetry, 'sink' | 'keep' | 'sampled' | 'sampledNewTrace' | 'parentDecides'>;
  readonly metrics: ProxyMetrics;
  readonly logger: Logger;
  readonly mode: ModeSwitch;
  /** Where the tracer reads time: SYSTEM_CLOCK unless a test moves it. */
  readonly clock?: Clock;
  /** Queue names whose kind the tracer remembers (tests make it small); the tracer's default otherwise. */
  readonly queueKindCapacity?: number;
}

/**
 * The one way to wire the tracer: the proxy (app.ts), the hot-path benchmark and the unit
 * tests' harness all make their sessions here, so what they measure and test is what runs.
 */
export function createTracing(config: TracingConfig, parts: TracingParts): ReturnType<typeof tracingSessions> {
  const { telemetry, metrics, logger, mode } = parts;
  const clock = parts.clock ?? SYSTEM_CLOCK;
  const stateBudget = new ByteBudget(config.stateMaxBytes);
  return tracingSessions({
    telemetry,
    clock,
    metrics,
    logger,
    mode,
    continuation: config.continuation ? new Continuation(config.continuationCapacity, metrics, stateBudget) : undefined,
    rewriteOnDelivery: config.rewriteOnDelivery,
    inflightCapacity: config.inflightCapacity,
    publishStamp: config.publishStamp,
    publishStampMaxAgeMs: config.publishStampMaxAgeMs,
    stateBudget,
    connectionStateMaxBytes: config.connectionStateMaxBytes,
    outcome: outcomeExport(config, telemetry, metrics, clock),
    ...(parts.queueKindCapacity === undefined ? {} : { queueKindCapacity: parts.queueKindCapacity }),
  });
}
