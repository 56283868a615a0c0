/**
 * The messages the harness (bench/run.ts) and its client processes (bench/client.ts)
 * exchange over the Node IPC channel. Clients never decide when a phase starts: the
 * harness does, so that it can read /proc of the target right before and after.
 *
 *   harness                     consumer                 publisher(s)
 *     ── job ──────────────────▶ connect, consume
 *     ◀─ ready ─────────────────
 *     ── job ──────────────────────────────────────────▶ connect N connections
 *     ◀─ ready ─────────────────────────────────────────
 *     ── publish(warmup) ──────────────────────────────▶
 *     ◀─ warm ──────────────────  (warmup messages consumed)
 *        read /proc (start)
 *     ── publish(measured) ────────────────────────────▶
 *     ◀─ progress ──────────────  ── consumed ────────▶  (flow window, optional)
 *     ◀─ published ─────────────────────────────────────
 *     ◀─ done ──────────────────  (all messages consumed)
 *        read /proc (end)
 *     ── stop ─────────────────▶ ──────────────────────▶ close, exit
 */

export type PublishMode =
  /** As fast as the socket takes it: wait for 'drain' whenever publish() returns false. */
  | 'flood'
  /** A confirm channel with at most `confirmWindow` unconfirmed messages per connection. */
  | 'confirm'
  /** A fixed aggregate rate, messages spread evenly over time. */
  | 'rate';

export interface ConsumerJob {
  role: 'consumer';
  url: string;
  queue: string;
  prefetch: number;
  /** Messages that are consumed and acked but not measured. */
  warmup: number;
  /** Measured messages, after the warmup. */
  total: number;
  /** Send a progress message every this many messages (0: never). */
  progressEvery: number;
  /** Read the publish timestamp from the body and keep publish-to-delivery latencies. */
  recordLatency: boolean;
  /** Consuming connections (one channel each) in this process, sharing the counts. */
  connections: number;
}

export interface PublisherJob {
  role: 'publisher';
  url: string;
  queue: string;
  connections: number;
  bodyBytes: number;
  mode: PublishMode;
  confirmWindow: number;
  /** Messages per second for the whole process, for mode 'rate'. */
  ratePerSecond: number;
  /**
   * At most this many messages published but not yet consumed (0: unbounded). Keeps the
   * broker's queue, and so its memory, bounded when the consumer is the slower side.
   */
  flowWindow: number;
  /** Write the publish time (CLOCK_MONOTONIC, ns) into the first 8 bytes of every body. */
  stampBodies: boolean;
  /** Publish on confirm channels in mode 'rate' too (mode 'confirm' always does). */
  confirms: boolean;
  /** deliveryMode 2 instead of 1. */
  persistent: boolean;
  /** Every `largeEvery`-th message (per process) has `largeBytes` of body instead; 0: never. */
  largeEvery: number;
  largeBytes: number;
}

export interface IdleJob {
  role: 'idle';
  url: string;
  connections: number;
  /** Connections opened concurrently. */
  batch: number;
  /** Pause and report when this many connections are open, waiting for 'continue'. */
  checkpoints: number[];
}

export type ClientJob = ConsumerJob | PublisherJob | IdleJob;

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

export type ToClient =
  | { type: 'job'; job: ClientJob }
  /** Publish this many messages on every connection of the process. */
  | { type: 'publish'; perConnection: number; measured: boolean }
  | { type: 'consumed'; count: number }
  | { type: 'continue' }
  | { type: 'stop' };

export type FromClient =
  | { type: 'ready'; connections: number }
  | { type: 'warm' }
  | { type: 'progress'; consumed: number }
  /** A publish phase finished (for 'confirm': every message confirmed). Times are hrtime ns as strings. */
  | { type: 'published'; count: number; firstNs: string; lastNs: string; measured: boolean; cpuUs: number }
  /** cpuUs: the consumer's own CPU from the end of the warm-up to the last message. */
  | { type: 'done'; count: number; lastNs: string; latency: LatencySummary | undefined; cpuUs: number }
  | { type: 'checkpoint'; open: number }
  | { type: 'error'; message: string };
