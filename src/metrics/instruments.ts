/**
 * The instruments metrics.ts builds the proxy's metrics from: counters that add into plain
 * numbers and hand prom-client the sums when the registry is read, and histograms whose
 * buckets live in typed arrays (see the cost notes at the top of metrics.ts).
 */
import { Counter, Registry } from './promClient';

/** 1 ms to 60 s: a broker hop is usually milliseconds, a consumer's work can take up to a minute. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];
/** Label value for destinations past the cap, and for dynamic labels past theirs. */
export const OTHER_LABEL_VALUE = '__other__';
/** Label value when a caller with destination labels on does not know the queue (undefined or ''). */
export const UNKNOWN_LABEL_VALUE = '__unknown__';
export const DESTINATION_LABELS = ['queue', 'exchange'] as const;
export type DestinationLabel = (typeof DESTINATION_LABELS)[number];


const isCount = (n: number): boolean => n > 0 && n < Infinity;
export const isDuration = (s: number): boolean => s >= 0 && s < Infinity;

/**
 * A counter over a fixed label set (or none) whose increment is a plain add; prom-client
 * receives the accumulated delta when the registry is read. Every series exists from the
 * start at 0, so `rate()` and `increase()` see the first event. `indexOf` over at most
 * seven interned strings beats a keyed lookup, which turns megamorphic across instances.
 */
export class BufferedCounter<V extends string> {
  private readonly pending: Float64Array;

  constructor(registry: Registry, name: string, label: string | undefined, private readonly values: readonly V[], help: string) {
    const pending = new Float64Array(values.length);
    this.pending = pending;
    const labelSets = values.map((v) => (label === undefined ? {} : { [label]: v }));
    const counter = new Counter({
      name,
      help,
      labelNames: label === undefined ? [] : [label],
      registers: [registry],
      collect() {
        for (let i = 0; i < pending.length; i++) {
          if (pending[i]! > 0) {
            this.inc(labelSets[i]!, pending[i]!);
            pending[i] = 0;
          }
        }
      },
    });
    for (const labels of labelSets) counter.inc(labels, 0);
  }

  add(value: V, n: number): void {
    if (isCount(n)) this.pending[this.values.indexOf(value)]! += n;
  }
}

/** Admits the first `cap` distinct values of a label; every later one becomes `__other__`. */
export class CappedLabel {
  private readonly admitted = new Set<string>();

  constructor(
    private readonly cap: number,
    private readonly onOverflow?: () => void,
    /** Values that may have a label value of their own at all; others are `__other__`, uncounted. */
    private readonly named: (value: string) => boolean = () => true,
  ) {}

  resolve(value: string): string {
    if (this.admitted.has(value)) return value;
    if (!this.named(value)) return OTHER_LABEL_VALUE;
    if (this.admitted.size < this.cap) {
      this.admitted.add(value);
      return value;
    }
    this.onOverflow?.();
    return OTHER_LABEL_VALUE;
  }
}

/**
 * Whether a destination is one the operator named: exactly, or by a prefix written with a
 * trailing `*`. No names: every destination may be labelled (the first ones seen are).
 */
export function destinationNamed(names: readonly string[]): (value: string) => boolean {
  if (names.length === 0) return () => true;
  const exact = new Set(names.filter((n) => !n.endsWith('*')));
  const prefixes = names.filter((n) => n.endsWith('*')).map((n) => n.slice(0, -1));
  return (value) => exact.has(value) || prefixes.some((p) => value.startsWith(p));
}

/** One label set of a LocalHistogram: per-bucket counts (not cumulative), +Inf last. */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly labels: Readonly<Record<string, string>>, private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Callers pass finite, non-negative values only (see `isDuration`). */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    // A bucket's bound is inclusive ("le"), as in prom-client.
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

type ExportedValue = {
  labels: Record<string, string | number>;
  sharedLabels: Readonly<Record<string, string>>;
  value: number;
  metricName: string;
  exemplar: null | undefined;
};

/**
 * A histogram that prom-client's Registry reads like one of its own: `getForPromString` and
 * `get` return the same values, labels, order and names as prom-client's Histogram
 * (lib/histogram.js), which test/unit/metrics checks sample by sample. Observing is a bucket
 * search and three adds; all formatting happens at scrape time.
 */
export class LocalHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series: HistogramSeries[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    registry: Registry,
    /** The label names its series carry (besides `le`), as prom-client's metrics list theirs. */
    readonly labelNames: readonly string[] = [],
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** A new series for one label set, exported from now on (at 0 until observed). */
  createSeries(labels: Readonly<Record<string, string>>): HistogramSeries {
    const series = new HistogramSeries(labels, this.bounds);
    this.series.push(series);
    return series;
  }

  async getForPromString(): Promise<{ name: string; help: string; type: string; values: ExportedValue[]; aggregator: string }> {
    const bucketName = `${this.name}_bucket`;
    const values: ExportedValue[] = [];
    for (const s of this.series) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i]!;
        values.push({ labels: { le }, sharedLabels: s.labels, value: cumulative, metricName: bucketName, exemplar: null });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count, metricName: bucketName, exemplar: null },
        { labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${this.name}_count`, exemplar: undefined },
      );
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The JSON form: shared labels merged into each value's own, after them. */
  async get(): Promise<{ name: string; help: string; type: string; values: Omit<ExportedValue, 'sharedLabels'>[]; aggregator: string }> {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })),
    };
  }
}

/**
 * A latency histogram with an optional fixed `outcome` label and, when destination labels
 * are on, a capped `queue` or `exchange` label. Without destination labels that label does
 * not exist at all. Children are created once per (destination, outcome) and reused.
 */
export class LatencyHistogram<O extends string> {
  private readonly histogram: LocalHistogram;
  private readonly plain: Record<O, HistogramSeries> | undefined;
  private readonly byDestination = new Map<string, Record<O, HistogramSeries>>();

  constructor(
    registry: Registry,
    name: string,
    private readonly outcomeLabel: string | undefined,
    private readonly outcomes: readonly O[],
    private readonly destination: { label: DestinationLabel; values: CappedLabel } | undefined,
    help: string,
  ) {
    const labelNames = [outcomeLabel, destination?.label].filter((l): l is string => l !== undefined);
    this.histogram = new LocalHistogram(name, help, LATENCY_BUCKETS, registry, labelNames);
    if (destination === undefined) this.plain = this.createChildren(undefined);
  }

  observe(seconds: number, outcome: O, destination: string | undefined): void {
    const children = this.plain ?? this.childrenFor(destination);
    children[outcome].observe(seconds);
  }

  private childrenFor(destination: string | undefined): Record<O, HistogramSeries> {
    const value = destination === undefined ? UNKNOWN_LABEL_VALUE : this.destination!.values.resolve(destination);
    let children = this.byDestination.get(value);
    if (children === undefined) {
      children = this.createChildren(value);
      this.byDestination.set(value, children);
    }
    return children;
  }

  private createChildren(destination: string | undefined): Record<O, HistogramSeries> {
    const children = {} as Record<O, HistogramSeries>;
    for (const outcome of this.outcomes) {
      const labels: Record<string, string> = {};
      if (this.outcomeLabel !== undefined) labels[this.outcomeLabel] = outcome;
      if (destination !== undefined) labels[this.destination!.label] = destination;
      children[outcome] = this.histogram.createSeries(labels);
    }
    return children;
  }
}


/**
 * A counter of rare events (retries, dead letters, redeliveries: prom-client's own counter is
 * cheap enough for them) with an optional fixed label and, when destination labels are on,
 * the latency histograms' capped `queue` label. Without it, every series starts at 0.
 */
export class QueueCounter<V extends string> {
  private readonly counter: Counter<string>;

  constructor(
    registry: Registry,
    name: string,
    private readonly label: string | undefined,
    values: readonly V[],
    private readonly queue: CappedLabel | undefined,
    help: string,
  ) {
    const labelNames = [label, queue === undefined ? undefined : 'queue'].filter((l): l is string => l !== undefined);
    this.counter = new Counter({ name, help, labelNames, registers: [registry] });
    if (queue === undefined) for (const value of values) this.counter.inc(label === undefined ? {} : { [label]: value }, 0);
  }

  inc(value: V, queue: string | undefined): void {
    const labels: Record<string, string> = {};
    if (this.label !== undefined) labels[this.label] = value;
    if (this.queue !== undefined) labels['queue'] = queue ? this.queue.resolve(queue) : UNKNOWN_LABEL_VALUE;
    this.counter.inc(labels);
  }
}
