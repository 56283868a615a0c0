/**
 * The proxy's Prometheus metrics, one registry per proxy instance.
 *
 * Every name starts with `amqp_trace_proxy_`; Node's process metrics keep prom-client's
 * standard names (process_*, nodejs_*) so stock Node dashboards work. Each metric's help text
 * here is its one description: docs/METRICS.md's table is generated from this registry
 * (`npm run docs`), and test/unit/metrics checks the dashboard and the alert rules against it.
 *
 * Cost on the data path: prom-client hashes the label set on every labelled `inc`
 * (about 90 ns, plus garbage) and every histogram `observe` (about 250 ns). The fixed-label
 * counters called per socket chunk or per message therefore add into plain numbers and hand
 * the sums to prom-client in its `collect` hook, which runs only when the registry is read
 * (a few ns per call). Histograms, observed up to three times per message, keep their
 * buckets in typed arrays and are exported by `LocalHistogram` in prom-client's own format.
 */
import { EventLoopDelay } from './eventLoopDelay';
import { Counter, Gauge, Registry, collectDefaultMetricsExcept } from './promClient';
import type { AmqpDecodeErrorCode } from '../amqp/errors';
import { HANDSHAKE_ANOMALIES, type HandshakeAnomaly } from '../amqp/handshake';
import { FAIL_OPEN_REASONS, type FailOpenReason } from '../amqp/scanner';
import { DEAD_LETTER_REASONS, type DeadLetterReason } from '../trace/deadLetter';
import { OUTCOME_RULES, REASON_OF, type KeepReason, type OutcomeRule } from '../trace/outcomeNames';
import {
  BufferedCounter, CappedLabel, DESTINATION_LABELS, LatencyHistogram, QueueCounter, destinationNamed, isDuration, type DestinationLabel,
} from './instruments';

// Each label set is written once, as the array of its values; its type is derived from it.
const DIRECTIONS = ['client_to_broker', 'broker_to_client'] as const;
export type Direction = (typeof DIRECTIONS)[number];
const TRACE_OUTCOMES = [
  'injected', 'continued', 'replaced_invalid', 'skipped_frame_max', 'bypassed',
  'continued_by_correlation', 'continued_by_parent_task',
] as const;
export type TraceOutcome = (typeof TRACE_OUTCOMES)[number];
/** The codec's AmqpDecodeError codes in lower case; `other`: a tracer error on a readable frame. */
export type UnreadFrameReason = Lowercase<AmqpDecodeErrorCode> | 'other';
const REFUSAL_REASONS = ['max_connections', 'handshake_timeout', 'idle_timeout', 'draining', 'upstream_unavailable'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];
/** `queue`: the queue names known to be temporary or anonymous (trace/queueKinds.ts). */
const INFLIGHT_MAPS = ['confirm', 'ack', 'task', 'rpc', 'queue', 'return', 'published', 'attempt', 'consumer', 'channel'] as const;
export type InflightMap = (typeof INFLIGHT_MAPS)[number];
const CONFIRM_OUTCOMES = ['ack', 'nack'] as const;
export type ConfirmOutcome = (typeof CONFIRM_OUTCOMES)[number];
/** Why a delivery's publish stamp was not trusted (trace/clock.ts publishTime). */
const IGNORED_STAMP_REASONS = ['future', 'too_old'] as const;
export type IgnoredStampReason = (typeof IGNORED_STAMP_REASONS)[number];
const PROCESS_OUTCOMES = ['ack', 'nack', 'reject', 'auto_ack', 'closed'] as const;
export type ProcessOutcome = (typeof PROCESS_OUTCOMES)[number];
/** How a message waited for its scheduled time: held unacked by the worker (Celery's eta), or in the broker (Kombu's native delayed delivery). */
const SCHEDULED_WAITS = ['worker_hold', 'broker_delay'] as const;
export type ScheduledWait = (typeof SCHEDULED_WAITS)[number];
const DEAD_LETTER_LABELS: readonly DeadLetterReason[] = [...DEAD_LETTER_REASONS, 'other'];

export interface MetricsOptions {
  /** Adds a `queue` / `exchange` label to the latency histograms. */
  destinationLabels: boolean;
  /** Distinct values per destination label; later ones are reported as `__other__`. */
  maxDestinationLabels: number;
  /**
   * The queues and exchanges that get their own label value (a name ending in `*` is a
   * prefix); the others are `__other__`. Empty or absent: the first maxDestinationLabels seen.
   */
  destinationLabelNames?: readonly string[];
  /** Node process metrics on the same registry (default true). */
  collectDefault?: boolean;
}

export interface ProxyMetrics {
  readonly registry: Registry;
  connectionAccepted(): void;
  connectionClosed(): void;
  connectionRefused(reason: RefusalReason): void;
  /** `upstream` is "host:port" from the configured list. */
  upstreamConnectFailed(upstream: string): void;
  /** Called once per socket chunk. */
  traffic(direction: Direction, frames: number, bytes: number): void;
  messagePublished(): void;
  messageDelivered(): void;
  messageReturned(): void;
  traceContext(outcome: TraceOutcome): void;
  failOpen(reason: FailOpenReason): void;
  unreadFrame(reason: UnreadFrameReason): void;
  handshakeAnomaly(anomaly: HandshakeAnomaly): void;
  spansExported(n: number): void;
  spansDropped(n: number): void;
  /** Current size of one bounded map (open spans awaiting a confirm or an ack, or a continuation map). */
  inflight(map: InflightMap, size: number): void;
  inflightEvicted(map: InflightMap, n?: number): void;
  observeBrokerHop(seconds: number, queue?: string): void;
  publishStampIgnored(reason: IgnoredStampReason): void;
  observePublishConfirm(seconds: number, outcome: ConfirmOutcome, exchange?: string): void;
  observeProcess(seconds: number, outcome: ProcessOutcome, queue?: string): void;
  /** A delivery with the redelivered flag, by the queue it came from. */
  messageRedelivered(queue?: string): void;
  /** A delivery dead-lettered since its publish, by the latest death's reason and the queue it died in. */
  messageDeadLettered(reason: DeadLetterReason, queue?: string): void;
  /** A delivered task message that is a retry (Celery `retries` > 0), by the queue it came from. */
  taskRetried(queue?: string): void;
  observeScheduledWait(seconds: number, mechanism: ScheduledWait, queue?: string): void;
  setMode(mode: 'tracing' | 'bypass'): void;
  /** `where` comes from a small fixed set chosen by callers. */
  telemetryError(where: string): void;
  /** A message's spans kept for its outcome (src/trace/outcome.ts), or dropped by the rate limit. */
  outcomeKept(reason: KeepReason, rule: OutcomeRule): void;
  outcomeDropped(rule: OutcomeRule): void;
}

export const METRIC_PREFIX = 'amqp_trace_proxy_';
/** The default exchange is the empty name, which Prometheus cannot tell from "no label". */
export const DEFAULT_EXCHANGE_LABEL_VALUE = 'amq.default';
/** Safety caps for labels whose values come from config or callers, not from traffic. */
const MAX_UPSTREAM_LABELS = 64;
const MAX_WHERE_LABELS = 32;

/** Every reason, so a decode error code added to the codec fails to compile until it is listed here. */
const UNREAD_FRAME_REASONS = Object.keys({
  unknown_field_type: true, truncated: true, bad_shortstr: true, unexpected_method: true, other: true,
} satisfies Record<UnreadFrameReason, true>) as UnreadFrameReason[];
const NO_LABEL = ['all'] as const;
/** prom-client default metrics that are gauges despite their _total suffix. */
export const NON_COUNTER_TOTALS: readonly string[] = [
  'nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total',
];

/**
 * How often the event-loop delay monitor (`monitorEventLoopDelay`, behind the
 * nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds gauges) samples while
 * traffic flows (eventLoopDelay.ts: it rests without traffic). prom-client's default, 10 ms,
 * woke an idle proxy 100 times a second: 3.5 of the 4.5 ms/s of CPU it spent doing nothing
 * (issue 24). Every value it records includes this period, so those gauges read about 0.1 s
 * with nothing to delay them, not 0.01; a stall of 100 ms or more is still recorded whole, a
 * shorter one only when a sample falls due inside it. docs/METRICS.md says how to read them.
 */
export const EVENT_LOOP_MONITOR_MS = 100;

export function createMetrics(options: MetricsOptions): ProxyMetrics {
  const { destinationLabels, maxDestinationLabels } = options;
  const named = destinationNamed(options.destinationLabelNames ?? []);
  if (!Number.isInteger(maxDestinationLabels) || maxDestinationLabels < 0) {
    throw new RangeError(`maxDestinationLabels must be a non-negative integer, got ${maxDestinationLabels}`);
  }
  const registry = new Registry();
  let eventLoop: EventLoopDelay | undefined;
  if (options.collectDefault !== false) {
    // prom-client's event-loop monitor samples at rest too; the proxy's own rests (eventLoopDelay.ts).
    collectDefaultMetricsExcept(['eventLoopLag'], { register: registry });
    eventLoop = new EventLoopDelay(registry, EVENT_LOOP_MONITOR_MS);
    // Gauges named *_total break `promtool check metrics` (a scrape CI linters reject). Each
    // is the sum of a labelled gauge prom-client also exports: nodejs_active_handles{type}
    // and friends, so sum(nodejs_active_handles) gives the same number.
    for (const name of NON_COUNTER_TOTALS) registry.removeSingleMetric(name);
  }
  const n = (name: string): string => METRIC_PREFIX + name;

  const connections = new Gauge({
    name: n('client_connections'), help: 'Client connections currently open through the proxy.', registers: [registry],
  });
  const accepted = new BufferedCounter(registry, n('client_connections_accepted_total'), undefined, NO_LABEL,
    'Client connections accepted.');
  const closed = new BufferedCounter(registry, n('client_connections_closed_total'), undefined, NO_LABEL,
    'Client connections closed, for any reason.');
  const refused = new BufferedCounter(registry, n('connections_refused_total'), 'reason', REFUSAL_REASONS,
    'Client connections refused or cut by the proxy itself, by reason.');
  const upstreamFailures = new Counter({
    name: n('upstream_connect_failures_total'), labelNames: ['upstream'], registers: [registry],
    help: 'Failed connection attempts to a configured upstream broker, by upstream host:port.',
  });
  const frames = new BufferedCounter(registry, n('frames_total'), 'direction', DIRECTIONS,
    'AMQP frames forwarded, by direction (counted while the proxy still finds frame boundaries; opaque pass-through adds bytes only).');
  const bytes = new BufferedCounter(registry, n('bytes_total'), 'direction', DIRECTIONS,
    'Bytes forwarded, by direction.');
  const published = new BufferedCounter(registry, n('messages_published_total'), undefined, NO_LABEL,
    'basic.publish messages forwarded to the broker.');
  const delivered = new BufferedCounter(registry, n('messages_delivered_total'), undefined, NO_LABEL,
    'basic.deliver and basic.get-ok messages forwarded to clients.');
  const returned = new BufferedCounter(registry, n('messages_returned_total'), undefined, NO_LABEL,
    'basic.return messages (unroutable publishes) forwarded to clients.');
  const traceContext = new BufferedCounter(registry, n('trace_context_total'), 'outcome', TRACE_OUTCOMES,
    'Published messages by what happened to their trace context.');
  const failOpen = new BufferedCounter(registry, n('fail_open_total'), 'reason', FAIL_OPEN_REASONS,
    'Connections that stopped being inspected and now pass bytes through untouched, by reason.');
  const unreadFrames = new BufferedCounter(registry, n('unread_frames_total'), 'reason', UNREAD_FRAME_REASONS,
    'Complete frames the proxy could not read (a field-table type of unknown size, a field running past its frame), by reason: each was forwarded untouched, its message untraced, and the connection stays traced.');
  const handshakeAnomalies = new BufferedCounter(registry, n('handshake_anomalies_total'), 'kind', HANDSHAKE_ANOMALIES,
    'connection.tune-ok frames the proxy did not take at their word, by kind: tune_ok_unasked (before the broker\'s connection.tune, or a second one: its frame_max is ignored), '
    + 'frame_max_above_broker (asking for more than the broker offered: the proxy holds frames up to the broker\'s value). A broker closes such connections; '
    + 'a count that grows points at a client probing the proxy.');
  const spansExported = new BufferedCounter(registry, n('spans_exported_total'), undefined, NO_LABEL,
    'Spans handed to the exporter successfully.');
  const spansDropped = new BufferedCounter(registry, n('spans_dropped_total'), undefined, NO_LABEL,
    'Spans lost: export queue full or export failed.');
  const evictions = new BufferedCounter(registry, n('inflight_evictions_total'), 'map', INFLIGHT_MAPS,
    'Entries pushed out of a full bounded map before they completed, or not kept at all (over the byte budgets, a task id over 255 characters), by map (confirm and ack: the span ends with error evicted; task and rpc: a later hop starts a new trace; queue: a temporary queue seen again is learned again, meanwhile its name could reach a span name; return: if that publish is returned after all, its publisher gets it with the proxy\'s headers; published: a consumer failure of that message later gets no publish span, its broker hop\'s parent shows as missing; under steady traffic this one grows all the time, it holds the most recent publishes only; attempt: a redelivery or dead letter of that message is not linked to the attempt before it, and its hop starts at x-death\'s time; consumer: a consumer, or a consume or get awaiting its reply, not kept, its deliveries are traced without their queue; channel: a channel not traced until its connection\'s budget has room, its frames forwarded as they are).');
  const ignoredStamps = new BufferedCounter(registry, n('publish_stamps_ignored_total'), 'reason', IGNORED_STAMP_REASONS,
    'Deliveries whose publish stamp was not trusted, by reason (future: ahead of this host\'s clock by more than 1 s; too_old: older than --publish-stamp-max-age-ms): no broker hop is timed from it, for the histogram, the hop span or the outcome rules. Anyone who can publish can write a stamp; a steady rate means clocks disagree or a publisher forges them.');
  const overflow = new BufferedCounter(registry, n('destination_labels_overflow_total'), 'label', DESTINATION_LABELS,
    'Histogram observations reported as __other__ because the destination label cap was reached, by label.');
  const telemetryErrors = new Counter({
    name: n('telemetry_errors_total'), labelNames: ['where'], registers: [registry],
    help: 'Errors inside telemetry (spans, metrics, logging) that were contained, by where they happened.',
  });
  const tracingEnabled = new Gauge({
    name: n('tracing_enabled'), registers: [registry],
    help: '1 while the proxy injects trace context and emits spans, 0 in bypass mode.',
  });

  // Keeps are rare (rate-limited), so plain prom-client counters; every series starts at 0.
  const outcomeKept = new Counter({
    name: n('outcome_kept_total'), labelNames: ['reason', 'rule'], registers: [registry],
    help: 'Unsampled messages whose spans were exported for their outcome, by reason (error, latency) and rule.',
  });
  const outcomeDropped = new Counter({
    name: n('outcome_dropped_total'), labelNames: ['rule'], registers: [registry],
    help: 'Unsampled messages whose outcome would have kept their spans, refused by the rate limit, by rule.',
  });
  for (const rule of OUTCOME_RULES) {
    outcomeKept.inc({ reason: REASON_OF[rule], rule }, 0);
    outcomeDropped.inc({ rule }, 0);
  }

  const inflightSizes = {} as Record<InflightMap, number>;
  for (const map of INFLIGHT_MAPS) inflightSizes[map] = 0;
  new Gauge({
    name: n('inflight_spans'),
    help: 'Entries held in each bounded map, summed over the process: confirm and ack are open spans awaiting a publisher confirm or a consumer ack (per channel, --inflight-capacity each); task and rpc are the continuation maps of delivered Celery task ids and RPC reply addresses (--continuation-capacity each); queue is the names of queues known to be temporary or server-named, kept out of span names (50,000); return holds the original content headers of mandatory publishes until the broker routes or returns them (per channel, --inflight-capacity each and at most 4 MiB; without confirms the oldest are dropped uncounted, nothing says they were routed); published holds the most recent unsampled publishes whose trace context the proxy created, so that a consumer failure kept later also gets its publish span (10,000; outcome-based export only); attempt holds how recorded deliveries ended without an ack (nack, reject, close) until the message comes back, redelivered or dead-lettered, and the queues declared with a dead-letter exchange (10,000 each); channel is the channels the 0-9-1 adapter follows and consumer their consumers by tag (per channel, --inflight-capacity). Every map is also bounded by bytes: --connection-state-max-bytes per client connection, --state-max-bytes for the process (docs/SECURITY.md).',
    labelNames: ['map'],
    registers: [registry],
    collect() {
      for (const map of INFLIGHT_MAPS) this.set({ map }, inflightSizes[map]);
    },
  });

  const whereLabel = new CappedLabel(MAX_WHERE_LABELS);
  const countTelemetryError = (where: string): void => telemetryErrors.inc({ where: whereLabel.resolve(where) });
  const upstreamLabel = new CappedLabel(MAX_UPSTREAM_LABELS, () => countTelemetryError('metrics_label_cap'));
  const destination = (label: DestinationLabel) =>
    destinationLabels ? { label, values: new CappedLabel(maxDestinationLabels, () => overflow.add(label, 1), named) } : undefined;
  const queueDestination = destination('queue');
  const brokerHop = new LatencyHistogram(registry, n('broker_hop_seconds'), undefined, NO_LABEL, queueDestination,
    "Time from a message's publish (stamped by the publishing proxy) to its delivery passing this proxy, mostly time queued in the broker; compares two hosts' clocks when publisher and consumer run on different hosts.");
  const publishConfirm = new LatencyHistogram(registry, n('publish_confirm_seconds'), 'outcome', CONFIRM_OUTCOMES, destination('exchange'),
    "Time from a publish to the broker's confirm (basic.ack or basic.nack), by outcome, for channels in confirm mode.");
  const processing = new LatencyHistogram(registry, n('process_seconds'), 'outcome', PROCESS_OUTCOMES, queueDestination,
    'Time from a delivery to the consumer settling it, by outcome (auto_ack: a no-ack consumer, settled by the broker on delivery and recorded as 0; closed: the channel or connection closed first).');

  const queueLabel = queueDestination?.values;
  const redelivered = new QueueCounter(registry, n('messages_redelivered_total'), undefined, NO_LABEL, queueLabel,
    'Deliveries the broker flagged redelivered (delivered before, then returned by a requeue, a nack or reject with requeue, or a channel or connection closing), by queue.');
  const deadLettered = new QueueCounter(registry, n('messages_dead_lettered_total'), 'reason', DEAD_LETTER_LABELS, queueLabel,
    "Deliveries of messages dead-lettered since their publish, by the latest death's reason in x-death (rejected, expired, maxlen, delivery_limit, other) and the queue they died in, counted on their first delivery after it. Kombu's native delayed delivery (expiry through the celery_delayed_* queues) is a delay, not counted here.");
  const retries = new QueueCounter(registry, n('task_retries_total'), undefined, NO_LABEL, queueLabel,
    'Deliveries of Celery task messages that are retries (retries header above 0, not redelivered), by queue.');
  const scheduledWait = new LatencyHistogram(registry, n('scheduled_wait_seconds'), 'mechanism', SCHEDULED_WAITS, queueDestination,
    "Time a message waited for its scheduled time, by mechanism (worker_hold: a Celery worker held the delivery unacked until its eta or countdown; broker_delay: Kombu's native delayed delivery kept it in the broker). This time is in neither process_seconds nor broker_hop_seconds.");

  const observe = <O extends string>(histogram: LatencyHistogram<O>, seconds: number, outcome: O, dest: string | undefined): void => {
    if (isDuration(seconds)) histogram.observe(seconds, outcome, dest);
    else countTelemetryError('metrics_invalid_duration');
  };

  return {
    registry,
    connectionAccepted() {
      connections.inc();
      accepted.add('all', 1);
    },
    connectionClosed() {
      connections.dec();
      closed.add('all', 1);
    },
    connectionRefused: (reason) => refused.add(reason, 1),
    upstreamConnectFailed: (upstream) => upstreamFailures.inc({ upstream: upstreamLabel.resolve(upstream) }),
    traffic(direction, frameCount, byteCount) {
      eventLoop?.touch();
      frames.add(direction, frameCount);
      bytes.add(direction, byteCount);
    },
    messagePublished: () => published.add('all', 1),
    messageDelivered: () => delivered.add('all', 1),
    messageReturned: () => returned.add('all', 1),
    traceContext: (outcome) => traceContext.add(outcome, 1),
    failOpen: (reason) => failOpen.add(reason, 1),
    unreadFrame: (reason) => unreadFrames.add(reason, 1),
    handshakeAnomaly: (anomaly) => handshakeAnomalies.add(anomaly, 1),
    spansExported: (count) => spansExported.add('all', count),
    spansDropped: (count) => spansDropped.add('all', count),
    inflight(map, size) {
      if (size >= 0 && size < Infinity) inflightSizes[map] = size;
    },
    inflightEvicted: (map, count = 1) => evictions.add(map, count),
    publishStampIgnored: (reason) => ignoredStamps.add(reason, 1),
    observeBrokerHop: (seconds, queue) => observe(brokerHop, seconds, 'all', queue || undefined),
    observePublishConfirm: (seconds, outcome, exchange) =>
      observe(publishConfirm, seconds, outcome, exchange === '' ? DEFAULT_EXCHANGE_LABEL_VALUE : exchange),
    observeProcess: (seconds, outcome, queue) => observe(processing, seconds, outcome, queue || undefined),
    messageRedelivered: (queue) => redelivered.inc('all', queue),
    messageDeadLettered: (reason, queue) => deadLettered.inc(reason, queue),
    taskRetried: (queue) => retries.inc('all', queue),
    observeScheduledWait: (seconds, mechanism, queue) => observe(scheduledWait, seconds, mechanism, queue || undefined),
    setMode: (mode) => tracingEnabled.set(mode === 'tracing' ? 1 : 0),
    outcomeKept: (reason, rule) => outcomeKept.inc({ reason, rule }),
    outcomeDropped: (rule) => outcomeDropped.inc({ rule }),
    telemetryError: countTelemetryError,
  };
}
