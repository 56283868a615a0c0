/**
 * The sidecar workload's tables and verdicts (issue 24), from results alone (pure), like
 * report.ts for the flat-out workloads. Every figure is the median over rounds with its
 * spread (min–max) beside it: with five rounds on a shared machine the median alone hides
 * whether two targets differ or only one round was disturbed.
 */
import type { TargetId } from './config';
import type { ResultRow, Verdict } from './results';
import { median } from './stats';
import type { SidecarMeasurement } from './workloads';

/** Issue 24's targets for the proxy as a sidecar, tracing at 10 % with export on. */
export const SIDECAR_GOALS = {
  idleRssMb: 60,
  idleCpuMsPerSec: 1,
  /** The rate the per-message targets are judged at. */
  rate: 500,
  cpuVsRelay: 1.3,
  p99AboveRelayMs: 0.5,
  p999AboveRelayMs: 2,
} as const;

/** The proxy mode the verdicts judge, against the relay. */
const JUDGED: TargetId = 'trace10';

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spreadOf(values: readonly (number | undefined)[]): Spread | undefined {
  const finite = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (finite.length === 0) return undefined;
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), n: finite.length };
}

export interface SidecarRate {
  rate: number;
  cpuUsPerMsg?: Spread;
  p50Ms?: Spread;
  p99Ms?: Spread;
  p999Ms?: Spread;
  rssMb?: Spread;
}

export interface SidecarCell {
  status: ResultRow['status'];
  note?: string;
  rounds: number;
  idleRssMb?: Spread;
  idleCpuMsPerSec?: Spread;
  peakRssMb?: Spread;
  rates: SidecarRate[];
}

/** One target's sidecar rows reduced to medians and spreads over the rounds that succeeded. */
export function sidecarCell(rows: readonly ResultRow[], target: TargetId): SidecarCell {
  const mine = rows.filter((r) => r.workload === 'sidecar' && r.target === target);
  const ok = mine.filter((r) => r.status === 'ok' && r.measurement?.sidecar);
  if (ok.length === 0) {
    const first = mine[0];
    return { status: first?.status ?? 'not run', ...(first?.error ? { note: first.error } : {}), rounds: 0, rates: [] };
  }
  const runs: SidecarMeasurement[] = ok.map((r) => r.measurement!.sidecar!);
  const rateList = [...new Set(runs.flatMap((m) => m.phases.map((p) => p.rate)))].sort((a, b) => a - b);
  const rates = rateList.map((rate): SidecarRate => {
    const phases = runs.map((m) => m.phases.find((p) => p.rate === rate));
    const pick = (f: (p: NonNullable<(typeof phases)[number]>) => number | undefined): Spread | undefined => spreadOf(phases.map((p) => (p ? f(p) : undefined)));
    const out: SidecarRate = { rate };
    const set = <K extends keyof SidecarRate>(key: K, value: SidecarRate[K] | undefined): void => {
      if (value !== undefined) out[key] = value;
    };
    set('cpuUsPerMsg', pick((p) => p.cpuUsPerMsg));
    set('p50Ms', pick((p) => p.latency?.p50Ms));
    set('p99Ms', pick((p) => p.latency?.p99Ms));
    set('p999Ms', pick((p) => p.latency?.p999Ms));
    set('rssMb', pick((p) => p.rssMb));
    return out;
  });
  const cell: SidecarCell = { status: 'ok', rounds: ok.length, rates };
  const idleRss = spreadOf(runs.map((m) => m.idleRssMb));
  const idleCpu = spreadOf(runs.map((m) => m.idleCpuMsPerSec));
  const peak = spreadOf(ok.map((r) => r.measurement!.peakRssMb));
  if (idleRss) cell.idleRssMb = idleRss;
  if (idleCpu) cell.idleCpuMsPerSec = idleCpu;
  if (peak) cell.peakRssMb = peak;
  return cell;
}

const num = (v: number, digits: number): string => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** "0.54 (0.50–0.61)": the median, then the lowest and highest round. */
export function spreadText(s: Spread | undefined, digits: number): string {
  if (!s) return '—';
  return s.n === 1 ? num(s.median, digits) : `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`;
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

export interface SidecarTableInput {
  rows: readonly ResultRow[];
  targets: readonly TargetId[];
  label: (t: TargetId) => string;
}

function statusText(cell: SidecarCell): string | undefined {
  if (cell.status === 'ok') return undefined;
  return cell.status === 'failed' ? 'failed¹' : cell.status;
}

/** The idle table, then one table per rate; ratios and differences are of medians, to the relay's. */
export function sidecarTables(input: SidecarTableInput): string[] {
  const cells = new Map(input.targets.map((t) => [t, sidecarCell(input.rows, t)]));
  const idle = table(
    ['target', 'idle RSS MB', 'idle CPU ms/s', 'peak RSS MB (whole round)'],
    input.targets.map((t) => {
      const c = cells.get(t)!;
      const status = statusText(c);
      if (status) return [input.label(t), status, '', ''];
      return [input.label(t), spreadText(c.idleRssMb, 1), spreadText(c.idleCpuMsPerSec, 2), spreadText(c.peakRssMb, 1)];
    }),
  );
  const relay = cells.get('relay');
  const rates = [...new Set([...cells.values()].flatMap((c) => c.rates.map((r) => r.rate)))].sort((a, b) => a - b);
  const out = [`#### Idle\n\n${idle}`];
  for (const rate of rates) {
    const relayRate = relay?.rates.find((r) => r.rate === rate);
    const rows = input.targets.map((t) => {
      const c = cells.get(t)!;
      const status = statusText(c);
      if (status) return [input.label(t), status, '', '', '', '', '', '', ''];
      const r = c.rates.find((x) => x.rate === rate);
      const vsRelay = (a: Spread | undefined, b: Spread | undefined, asRatio: boolean): string => {
        if (!a || !b) return '—';
        if (asRatio) return b.median > 0 ? `${(a.median / b.median).toFixed(2)}×` : '—';
        const d = a.median - b.median;
        return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(3)}`;
      };
      return [
        input.label(t),
        spreadText(r?.cpuUsPerMsg, 1),
        vsRelay(r?.cpuUsPerMsg, relayRate?.cpuUsPerMsg, true),
        spreadText(r?.p50Ms, 3),
        spreadText(r?.p99Ms, 3),
        spreadText(r?.p999Ms, 3),
        vsRelay(r?.p99Ms, relayRate?.p99Ms, false),
        vsRelay(r?.p999Ms, relayRate?.p999Ms, false),
        spreadText(r?.rssMb, 1),
      ];
    });
    out.push(
      `#### At ${rate.toLocaleString('en-US')} msg/s\n\n` +
        table(['target', 'middle hop CPU µs/msg', 'CPU vs relay', 'p50 ms', 'p99 ms', 'p99.9 ms', 'p99 vs relay ms', 'p99.9 vs relay ms', 'RSS MB'], rows),
    );
  }
  return out;
}

/** The load average over the sidecar rows: the report says how busy the machine was. */
export function sidecarLoad(rows: readonly ResultRow[]): Spread | undefined {
  return spreadOf(rows.filter((r) => r.workload === 'sidecar').map((r) => r.measurement?.sidecar?.loadAverage));
}

export function sidecarVerdicts(rows: readonly ResultRow[]): Verdict[] {
  const proxy = sidecarCell(rows, JUDGED);
  const relay = sidecarCell(rows, 'relay');
  const out: Verdict[] = [];
  const G = SIDECAR_GOALS;
  const missing = (cells: [string, SidecarCell][]): string | undefined => {
    for (const [name, c] of cells) if (c.status !== 'ok') return `${name} sidecar: ${c.status}${c.note ? ` (${c.note})` : ''}`;
    return undefined;
  };
  const verdict = (target: string, need: [string, SidecarCell][], judge: () => { ok: boolean; detail: string } | undefined): void => {
    const why = missing(need);
    const judged = why === undefined ? judge() : undefined;
    if (!judged) out.push({ target, status: 'not measured', detail: why ?? `no ${G.rate} msg/s phase in this run` });
    else out.push({ target, status: judged.ok ? 'met' : 'not met', detail: judged.detail });
  };
  const rounds = proxy.rounds === 1 ? 'one round' : `median of ${proxy.rounds} rounds`;
  verdict(`Idle RSS, tracing at 10%, ≤ ${G.idleRssMb} MB`, [[JUDGED, proxy]], () => {
    const p = proxy.idleRssMb!;
    return { ok: p.median <= G.idleRssMb, detail: `${spreadText(p, 1)} MB (${rounds}; relay ${spreadText(relay.idleRssMb, 1)} MB)` };
  });
  verdict(`Idle CPU, tracing at 10%, ≤ ${G.idleCpuMsPerSec} ms/s`, [[JUDGED, proxy]], () => {
    const p = proxy.idleCpuMsPerSec!;
    return { ok: p.median <= G.idleCpuMsPerSec, detail: `${spreadText(p, 2)} ms/s (${rounds}; relay ${spreadText(relay.idleCpuMsPerSec, 2)} ms/s)` };
  });
  const atRate = (c: SidecarCell): SidecarRate | undefined => c.rates.find((r) => r.rate === G.rate);
  const both = [[JUDGED, proxy], ['relay', relay]] as [string, SidecarCell][];
  verdict(`CPU per message at ${G.rate} msg/s, tracing at 10%, ≤ ${G.cpuVsRelay}× the Node relay`, both, () => {
    const p = atRate(proxy)?.cpuUsPerMsg;
    const r = atRate(relay)?.cpuUsPerMsg;
    if (!p || !r) return undefined;
    return { ok: p.median <= G.cpuVsRelay * r.median, detail: `${spreadText(p, 1)} µs vs ${spreadText(r, 1)} µs = ${(p.median / r.median).toFixed(2)}×` };
  });
  const tail = (name: string, goal: number, pick: (r: SidecarRate) => Spread | undefined): void => {
    verdict(`${name} at ${G.rate} msg/s, tracing at 10%, ≤ relay + ${goal} ms`, both, () => {
      const pr = atRate(proxy);
      const rr = atRate(relay);
      const p = pr && pick(pr);
      const r = rr && pick(rr);
      if (!p || !r) return undefined;
      const d = p.median - r.median;
      return { ok: d <= goal, detail: `${spreadText(p, 3)} ms vs ${spreadText(r, 3)} ms (${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(3)} ms)` };
    });
  };
  tail('p99 latency', G.p99AboveRelayMs, (r) => r.p99Ms);
  tail('p99.9 latency', G.p999AboveRelayMs, (r) => r.p999Ms);
  return out;
}
