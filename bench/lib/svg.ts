/**
 * A small SVG writer, enough for grouped bar charts: no dependencies, plain strings,
 * every text node escaped. chartSvg() draws bench/results/latest.svg from the results.
 */
import { TARGET_IDS, hasMiddleHop, type TargetId, type WorkloadId } from './config';
import { cellOf, type BenchResults, type Cell } from './results';

type Attrs = Record<string, string | number>;

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

export function el(tag: string, attrs: Attrs, ...children: string[]): string {
  const a = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`)
    .join('');
  return children.length === 0 ? `<${tag}${a}/>` : `<${tag}${a}>${children.join('')}</${tag}>`;
}

export function text(x: number, y: number, content: string, attrs: Attrs = {}): string {
  return el('text', { x, y, ...attrs }, escapeXml(content));
}

export interface Series {
  name: string;
  color: string;
  values: (number | undefined)[];
}

export interface BarChart {
  title: string;
  groups: string[];
  series: Series[];
  format: (v: number) => string;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** An axis maximum of four equal "nice" steps (1, 2, 2.5 or 5 times a power of ten each). */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= rough) return 4 * step * power;
  return 40 * power;
}

export function barChart(c: BarChart): string {
  const top = c.y + 28;
  const bottom = c.y + c.height - 28;
  const left = c.x + 64;
  const right = c.x + c.width - 8;
  const values = c.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const axisMax = niceMax(Math.max(0, ...values));
  const scaleY = (v: number): number => bottom - ((bottom - top) * v) / axisMax;
  const parts: string[] = [text(c.x, c.y + 14, c.title, { 'font-size': 14, 'font-weight': 'bold' })];
  for (let i = 0; i <= 4; i++) {
    const v = (axisMax * i) / 4;
    const y = scaleY(v);
    parts.push(el('line', { x1: left, y1: y, x2: right, y2: y, stroke: '#ddd' }));
    parts.push(text(left - 6, y + 4, c.format(v), { 'text-anchor': 'end', 'font-size': 10, fill: '#555' }));
  }
  const groupWidth = (right - left) / Math.max(1, c.groups.length);
  const barWidth = Math.min(36, (groupWidth - 16) / Math.max(1, c.series.length));
  c.groups.forEach((group, g) => {
    const groupLeft = left + g * groupWidth + (groupWidth - barWidth * c.series.length) / 2;
    c.series.forEach((s, i) => {
      const v = s.values[g];
      const x = groupLeft + i * barWidth;
      if (v === undefined || !Number.isFinite(v)) {
        parts.push(text(x + barWidth / 2, bottom - 4, 'n/a', { 'text-anchor': 'middle', 'font-size': 8, fill: '#999' }));
        return;
      }
      const y = scaleY(v);
      parts.push(el('rect', { x: x + 1, y, width: barWidth - 2, height: Math.max(0, bottom - y), fill: s.color }, el('title', {}, escapeXml(`${s.name}: ${c.format(v)}`))));
      parts.push(text(x + barWidth / 2, y - 3, c.format(v), { 'text-anchor': 'middle', 'font-size': 8, fill: '#333' }));
    });
    parts.push(text(left + g * groupWidth + groupWidth / 2, bottom + 16, group, { 'text-anchor': 'middle', 'font-size': 11 }));
  });
  parts.push(el('line', { x1: left, y1: bottom, x2: right, y2: bottom, stroke: '#333' }));
  return el('g', {}, ...parts);
}

const LEGEND_PER_ROW = 5;

function legend(series: { name: string; color: string }[], x: number, y: number): string {
  return el(
    'g',
    {},
    ...series.map((s, i) =>
      el(
        'g',
        {},
        el('rect', { x: x + (i % LEGEND_PER_ROW) * 180, y: y + Math.floor(i / LEGEND_PER_ROW) * 16, width: 12, height: 12, fill: s.color }),
        text(x + (i % LEGEND_PER_ROW) * 180 + 16, y + Math.floor(i / LEGEND_PER_ROW) * 16 + 10, s.name, { 'font-size': 11 }),
      ),
    ),
  );
}

const COLORS: Record<TargetId, string> = {
  direct: '#4d4d4d',
  otel10: '#8c564b',
  otel100: '#e377c2',
  relay: '#1f77b4',
  haproxy: '#2ca02c',
  bypass: '#9467bd',
  trace10: '#ff7f0e',
  'trace10-no-outcome': '#ffbb78',
  trace100: '#d62728',
};

const SHORT: Record<WorkloadId, string> = {
  'throughput-1k': '1 KiB',
  'throughput-16k': '16 KiB',
  'confirm-1k': '1 KiB confirms',
  latency: 'latency 500/s',
  mixed: 'mixed',
  'fan-in': 'fan-in',
  idle: 'idle',
  sidecar: 'sidecar',
};

export function chartSvg(results: BenchResults): string {
  const targets = TARGET_IDS.filter((t) => results.targets[t]?.available);
  const throughput = (['throughput-1k', 'throughput-16k', 'confirm-1k', 'fan-in'] as const).filter((w) => results.workloads[w] !== undefined);
  const cell = (w: WorkloadId, t: TargetId): Cell => cellOf(results.rows, w, t);
  const width = 960;
  const panel = 280;
  const panels: string[] = [];
  let y = 58 + 16 * Math.ceil(targets.length / LEGEND_PER_ROW);
  const add = (chart: Omit<BarChart, 'x' | 'y' | 'width' | 'height'>): void => {
    panels.push(barChart({ ...chart, x: 16, y, width: width - 32, height: panel }));
    y += panel + 10;
  };
  const series = (ids: readonly TargetId[], value: (t: TargetId, group: number) => number | undefined, groups: number): Series[] =>
    ids.map((t) => ({ name: results.targets[t]!.label, color: COLORS[t], values: Array.from({ length: groups }, (_, g) => value(t, g)) }));
  const thousands = (v: number): string => (v >= 1000 ? `${(v / 1000).toFixed(v >= 10000 || v % 1000 === 0 ? 0 : 1)}k` : v.toFixed(0));

  if (throughput.length > 0) {
    add({
      title: 'Throughput (messages/s, published and consumed with acks)',
      groups: throughput.map((w) => SHORT[w]),
      series: series(targets, (t, g) => cell(throughput[g]!, t).msgsPerSec, throughput.length),
      format: thousands,
    });
    // Only targets with a process between clients and broker have a middle hop to draw.
    add({
      title: 'Middle hop CPU per message (µs, both directions, utime+stime from /proc/<pid>/stat)',
      groups: throughput.map((w) => SHORT[w]),
      series: series(targets.filter(hasMiddleHop), (t, g) => cell(throughput[g]!, t).cpuUsPerMsg, throughput.length),
      format: (v) => v.toFixed(v >= 10 ? 0 : 1),
    });
    add({
      title: 'Whole-system CPU per message (µs: clients + middle hop + broker)',
      groups: throughput.map((w) => SHORT[w]),
      series: series(targets, (t, g) => cell(throughput[g]!, t).systemUsPerMsg, throughput.length),
      format: (v) => v.toFixed(v >= 10 ? 0 : 1),
    });
  }
  if (results.workloads.latency !== undefined) {
    const picks = [(c: Cell) => c.p50Ms, (c: Cell) => c.p99Ms, (c: Cell) => c.p999Ms];
    add({
      title: `Publish-to-delivery latency at ${results.config.latencyRate} msgs/s (ms)`,
      groups: ['p50', 'p99', 'p99.9'],
      series: series(targets, (t, g) => picks[g]!(cell('latency', t)), picks.length),
      format: (v) => v.toFixed(v >= 10 ? 0 : v >= 1 ? 1 : 2),
    });
  }
  if (results.workloads.mixed !== undefined) {
    const picks = [(c: Cell) => c.p50Ms, (c: Cell) => c.p99Ms];
    add({
      title: `Latency under mixed load: ${results.config.mixedRate} msgs/s, 1 KiB and every 100th 200 KB, persistent, confirms (ms)`,
      groups: ['p50', 'p99'],
      series: series(targets, (t, g) => picks[g]!(cell('mixed', t)), picks.length),
      format: (v) => v.toFixed(v >= 10 ? 0 : v >= 1 ? 1 : 2),
    });
  }
  const height = y + 6;
  const m = results.machine;
  const body: string[] = [
    el('rect', { x: 0, y: 0, width, height, fill: '#fff' }),
    text(16, 22, 'amqp-trace-proxy benchmark: the same workloads through each target', { 'font-size': 16, 'font-weight': 'bold' }),
    text(16, 40, `${results.startedAt.slice(0, 10)} · ${m.cpuModel}, ${m.cores} cores · Node ${m.node} · RabbitMQ ${m.rabbitmq} · scale ${results.config.scale}`, {
      'font-size': 11,
      fill: '#555',
    }),
    legend(targets.map((t) => ({ name: results.targets[t]!.label, color: COLORS[t] })), 16, 50),
    ...panels,
  ];
  return `${el('svg', { xmlns: 'http://www.w3.org/2000/svg', width, height, viewBox: `0 0 ${width} ${height}`, 'font-family': 'sans-serif' }, ...body)}\n`;
}
