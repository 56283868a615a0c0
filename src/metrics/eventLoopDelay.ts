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
    const lag = new Gauge({
      name: 'nodejs_eventloop_lag_seconds', help: 'Lag of event loop in seconds.', registers,
      collect: () => {
        // As prom-client: one setImmediate timed from the scrape, read at the next scrape.
        const start = process.hrtime.bigint();
        setImmediate(() => lag.set(Number(process.hrtime.bigint() - start) / NS));
        this.report();
      },
    });
    // Each histogram gauge: its name's middle, its help, and how it reads the histogram.
    const stats: readonly [string, string, (h: IntervalHistogram) => number][] = [
      ['min', 'The minimum recorded event loop delay.', (h) => h.min],
      ['max', 'The maximum recorded event loop delay.', (h) => h.max],
      ['mean', 'The mean of the recorded event loop delays.', (h) => h.mean],
      ['stddev', 'The standard deviation of the recorded event loop delays.', (h) => h.stddev],
      ['p50', 'The 50th percentile of the recorded event loop delays.', (h) => h.percentile(50)],
      ['p90', 'The 90th percentile of the recorded event loop delays.', (h) => h.percentile(90)],
      ['p99', 'The 99th percentile of the recorded event loop delays.', (h) => h.percentile(99)],
    ];
    this.gauges = stats.map(([name, help, read]) => ({ gauge: new Gauge({ name: `nodejs_eventloop_lag_${name}_seconds`, help, registers }), read }));
  }

  private readonly gauges: readonly { readonly gauge: Gauge; readonly read: (h: IntervalHistogram) => number }[];

  /** Sets the gauges from the samples since the last scrape (0 when there were none), and starts a new window. */
  private report(): void {
    const h = this.histogram;
    const any = h.count > 0;
    for (const { gauge, read } of this.gauges) gauge.set(any ? read(h) / NS : 0);
    h.reset();
  }

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
