/**
 * The event-loop delay gauges (nodejs_eventloop_lag_*), with prom-client's names and help,
 * from a monitor that rests when the proxy has nothing to do. prom-client's own samples the
 * loop all the time: ten wake-ups a second at 100 ms, most of an idle sidecar's CPU on a host
 * where a wake-up costs about 125 µs (issue 24, docs/PERFORMANCE.md). Here traffic starts the
 * monitor (`touch`, one flag write per chunk once it runs) and a window of `restAfterMs`
 * without any stops it, so a proxy at rest wakes for nothing. A scrape over a rest reads 0 for
 * the histogram's gauges: no delay was measured because nothing was waiting.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Gauge, type Registry } from './promClient';

/** How long the monitor keeps sampling after the last chunk of traffic. */
export const EVENT_LOOP_REST_AFTER_MS = 10_000;

const NS = 1e9;

export class EventLoopDelay {
  private readonly histogram: IntervalHistogram;
  private running = false;
  private active = false;
  private restCheck: NodeJS.Timeout | undefined;

  constructor(registry: Registry, resolutionMs: number, private readonly restAfterMs = EVENT_LOOP_REST_AFTER_MS) {
    this.histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    const registers = [registry];
    const gauge = (name: string, help: string): Gauge => new Gauge({ name: `nodejs_eventloop_lag_${name}seconds`, help, registers });
    const lag = new Gauge({
      name: 'nodejs_eventloop_lag_seconds', help: 'Lag of event loop in seconds.', registers,
      collect: () => {
        // As prom-client: one setImmediate timed from the scrape, read at the next scrape.
        const start = process.hrtime.bigint();
        setImmediate(() => lag.set(Number(process.hrtime.bigint() - start) / NS));
        this.report();
      },
    });
    const min = gauge('min_', 'The minimum recorded event loop delay.');
    const max = gauge('max_', 'The maximum recorded event loop delay.');
    const mean = gauge('mean_', 'The mean of the recorded event loop delays.');
    const stddev = gauge('stddev_', 'The standard deviation of the recorded event loop delays.');
    const p50 = gauge('p50_', 'The 50th percentile of the recorded event loop delays.');
    const p90 = gauge('p90_', 'The 90th percentile of the recorded event loop delays.');
    const p99 = gauge('p99_', 'The 99th percentile of the recorded event loop delays.');
    this.report = () => {
      const h = this.histogram;
      const any = h.count > 0;
      min.set(any ? h.min / NS : 0);
      max.set(any ? h.max / NS : 0);
      mean.set(any ? h.mean / NS : 0);
      stddev.set(any ? h.stddev / NS : 0);
      p50.set(any ? h.percentile(50) / NS : 0);
      p90.set(any ? h.percentile(90) / NS : 0);
      p99.set(any ? h.percentile(99) / NS : 0);
      h.reset();
    };
  }

  /** Sets the gauges from the samples since the last scrape, and starts a new window. */
  private readonly report: () => void;

  /** Traffic went through: sampling runs (or starts) and goes on for restAfterMs more. */
  touch(): void {
    this.active = true;
    if (!this.running) this.start();
  }

  get sampling(): boolean {
    return this.running;
  }

  close(): void {
    this.rest();
  }

  private start(): void {
    this.running = true;
    this.histogram.enable();
    this.restCheck = setInterval(() => {
      if (this.active) this.active = false;
      else this.rest();
    }, this.restAfterMs).unref();
  }

  private rest(): void {
    this.running = false;
    this.active = false;
    this.histogram.disable();
    if (this.restCheck) clearInterval(this.restCheck);
    this.restCheck = undefined;
  }
}
